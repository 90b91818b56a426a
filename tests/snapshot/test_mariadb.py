"""MariaDB source against a real private server: the dump, its mirror and counts of one instant, errors, the drill."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time

import pytest

from pipeline.errors import CannotRun, UsageError
from pipeline.sample import generate
from pipeline.snapshot import open_source
from pipeline.snapshot import mariadb


JOURNALS = {"tickets", "ticket_lines", "payments", "closures", "jet", "duplicates", "registers"}


@pytest.fixture(scope="module")
def shop(mariadb_server, tmp_path_factory):
    """A sample shop loaded into a fresh database: (server, sample path, its counts, database, spec)."""
    folder = tmp_path_factory.mktemp("maria")
    sample = folder / "sample.db"
    counts = generate(sample, days=3, tickets_per_day=30)
    database = mariadb_server.new_database()
    spec = mariadb_server.url(database, mariadb_server.option_file(folder / "coffre.cnf"))
    assert mariadb.load_sample(sample, spec) == counts
    return mariadb_server, sample, counts, database, spec


def _rows(path, table):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid').fetchall()
    finally:
        conn.close()


def _take(spec, scratch, wanted=lambda conn: set(JOURNALS), during=None):
    """Reads the snapshot as the archive does: the stream to its end here, journals_db and inspect in a thread."""
    scratch.mkdir(exist_ok=True)
    snap = open_source(spec).take(scratch, wanted=wanted)
    got = {}

    def lead():
        got["journals"] = snap.journals_db()
        got["inspect"] = snap.inspect()
        got["mirror"] = {t: _rows(got["journals"], t) for t in JOURNALS} if got["journals"] else None
        if got["journals"]:
            conn = sqlite3.connect(got["journals"])
            got["schema"] = dict(conn.execute("SELECT name, sql FROM sqlite_master WHERE type='table'").fetchall())
            conn.close()

    side = threading.Thread(target=lead)
    side.start()
    try:
        parts = []
        with snap.stream() as f:
            first = True
            while block := f.read(1 << 16):
                parts.append(block)
                if first and during:
                    during()
                first = False
        snap.finish()
        side.join()
        return snap.facts, b"".join(parts), got
    finally:
        snap.close()


def test_take_gives_a_dump_a_mirror_and_counts_of_the_sample(shop, tmp_path):
    server, sample, counts, database, spec = shop
    facts, dump, got = _take(spec, tmp_path / "scratch")
    assert facts["source_kind"] == "mariadb" and facts["database"] == database
    assert facts["server_version"].startswith("10.") and facts["snapshot_seconds"] >= 0
    assert got["inspect"]["row_counts"] == counts
    for table in JOURNALS:  # the mirror holds exactly what the reference SQLite sample holds
        assert got["mirror"][table] == _rows(sample, table), table
    assert set(got["schema"]) == set(JOURNALS)  # the wanted tables alone: the rest never lands on this disk
    assert '"id" INTEGER PRIMARY KEY' in got["schema"]["tickets"]
    assert not list((tmp_path / "scratch").iterdir())  # close() freed the scratch
    assert mariadb.check_stream(dump[:100], len(dump), {"plain_size": len(dump)}) == []

    # The stock client alone loads the stream into a new database, with the same rows.
    target = server.new_database()
    subprocess.run(["mariadb", "--no-defaults", f"--socket={server.socket}", "--user=root", target],
                   input=dump, check=True)
    for table, n in counts.items():
        assert server.admin(f"SELECT COUNT(*) FROM `{table}`", target) == [[str(n)]]
    again = server.url(target, server.option_file(tmp_path / "again.cnf"))
    assert _take(again, tmp_path / "scratch2")[2]["mirror"] == got["mirror"]


def test_no_wanted_no_mirror(shop, tmp_path):
    _server, _sample, counts, _database, spec = shop
    _facts, _dump, got = _take(spec, tmp_path / "scratch", wanted=None)
    assert got["journals"] is None and got["inspect"]["row_counts"] == counts


def test_a_sale_during_the_snapshot_is_in_all_three_or_none(shop, tmp_path):
    server, _sample, _counts, database, spec = shop
    start = int(server.admin("SELECT MAX(id) FROM tickets", database)[0][0])
    stop = threading.Event()

    def selling():
        n = start
        while not stop.is_set():
            n += 1
            server.admin(f"INSERT INTO tickets SELECT {n}, register_id, number + {n}, type, timestamp, operator_id, "
                         f"NULL, ht_550, tva_550, ht_1000, tva_1000, ht_2000, tva_2000, total_ht, total_tva, "
                         f"total_ttc, previous_signature, signature FROM tickets WHERE id = 1", database)
            time.sleep(0.01)

    till = threading.Thread(target=selling)
    try:
        _facts, dump, got = _take(spec, tmp_path / "scratch", during=till.start)
    finally:
        stop.set()
        till.join()
    reader = mariadb.DumpReader({"tickets"})
    in_dump = [values for _t, values in reader.rows([dump])]
    assert len(in_dump) == got["inspect"]["row_counts"]["tickets"] == len(got["mirror"]["tickets"])
    assert [int(v[0]) for v in in_dump] == [row[0] for row in got["mirror"]["tickets"]]
    assert int(server.admin("SELECT MAX(id) FROM tickets", database)[0][0]) > start  # the till did sell meanwhile


def test_a_failing_wanted_and_a_stream_left_halfway_never_hang(shop, tmp_path):
    _server, _sample, _counts, _database, spec = shop

    def broken(conn):
        raise ValueError("mapping broken")

    with pytest.raises(ValueError, match="mapping broken"):
        open_source(spec).take(tmp_path, wanted=broken)
    snap = open_source(spec).take(tmp_path, wanted=lambda conn: {"tickets"})
    assert snap.stream().read(1000)
    snap.close()
    with pytest.raises(CannotRun, match="was not read to its end"):
        snap.journals_db()
    snap.close()  # idempotent
    assert not list(tmp_path.iterdir())


def test_check_restored_and_drill(shop, tmp_path):
    server, _sample, _counts, _database, spec = shop
    facts, dump, got = _take(spec, tmp_path / "scratch", wanted=None)
    facts["row_counts"] = counts = got["inspect"]["row_counts"]  # the till may have sold since the sample
    good = tmp_path / "snapshot.sql"
    good.write_bytes(dump)
    assert mariadb.check_restored(good, facts, "full") == []
    cut = tmp_path / "cut.sql"
    cut.write_bytes(dump[:len(dump) // 2])
    assert mariadb.check_restored(cut, facts)
    tail = dump.rindex(b"-- Dump completed")
    cut.write_bytes(dump[:tail])
    assert mariadb.check_restored(cut, facts) == [
        'the restored dump is cut: its last line, "-- Dump completed", is missing']
    fewer = dict(facts, row_counts=dict(counts, tickets=counts["tickets"] + 1, gone=3))
    problems = mariadb.check_restored(good, fewer)
    assert "table gone recorded at archive time is missing from the restored database" in problems
    assert f"table tickets has {counts['tickets']} rows, {counts['tickets'] + 1} were recorded at archive time" \
        in problems

    assert mariadb.drill(good, facts, spec, tmp_path) == counts
    assert server.admin("SHOW DATABASES LIKE 'coffre\\_drill\\_%'") == []


def test_drill_without_create_right_names_the_grant(shop, tmp_path):
    server, _sample, _counts, database, _spec = shop
    server.user_with("nodrill", "pw-nodrill-1", [f"SELECT ON `{database}`.*"])
    spec = server.url(database, server.option_file(tmp_path / "n.cnf", "nodrill", "pw-nodrill-1"), user="nodrill")
    (tmp_path / "s.sql").write_bytes(b"-- MariaDB dump\n")
    with pytest.raises(CannotRun) as err:
        mariadb.drill(tmp_path / "s.sql", {}, spec, tmp_path)
    assert "GRANT SELECT, INSERT, CREATE, DROP" in str(err.value) and "`coffre\\_drill\\_%`.*" in str(err.value)


def test_refusals(shop, tmp_path):
    server, sample, _counts, database, spec = shop
    secret = "Sup3r-s3cret-pw"
    bad = server.url(database, server.option_file(tmp_path / "bad.cnf", password=secret))
    with pytest.raises(CannotRun) as err:
        open_source(bad).take(tmp_path)
    assert "wrong password" in str(err.value) and str(tmp_path / "bad.cnf") in str(err.value)
    assert secret not in str(err.value)

    closed = server.url(database, server.option_file(tmp_path / "c.cnf"), port=1)
    with pytest.raises(CannotRun, match="cannot be reached"):
        open_source(closed).check()

    missing = server.url("coffre_test_nothere", server.option_file(tmp_path / "m.cnf"))
    with pytest.raises(CannotRun, match="has no database coffre_test_nothere"):
        open_source(missing).take(tmp_path)

    server.user_with("weak", "pw-weak-1", [f"SHOW VIEW ON `{database}`.*"])
    weak = server.url(database, server.option_file(tmp_path / "w.cnf", "weak", "pw-weak-1"), user="weak")
    with pytest.raises(CannotRun) as err:
        open_source(weak).check()
    assert "lacks the SELECT right" in str(err.value)
    assert f"GRANT SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES ON `{database}`.* TO 'weak'@'127.0.0.1'" \
        in str(err.value)

    with pytest.raises(UsageError) as err:
        open_source(f"mysql://coffre:{secret}@127.0.0.1:{server.port}/{database}")
    assert secret not in str(err.value)
    with pytest.raises(UsageError) as err:
        open_source(f"mariadb://127.0.0.1/{database}?password={secret}")
    assert secret not in str(err.value)
    with pytest.raises(UsageError, match="already holds a table"):
        mariadb.load_sample(sample, spec)


def test_read_side_without_server(tmp_path):
    assert mariadb.check_stream(b"SQLite format 3\0" + bytes(84), 100, {}) == [
        "decrypts to something that is not a MariaDB dump"]
    assert mariadb.check_stream(b"-- MySQL dump 10.13\n", 10, {"plain_size": 11}) == [
        "decompresses to 10 bytes, 11 were recorded at archive time"]
    assert "mariadb restored < snapshot.sql\n" in "".join(mariadb.restore_lines("en"))
    assert mariadb.damaged_at_archive_time({}) is None
