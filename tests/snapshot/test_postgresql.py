"""The PostgreSQL source against a real private server: one instant for the dump, the mirror and the counts;
the copies' checks; the drill; and one sentence, without the password, for each way a connection goes wrong."""

from __future__ import annotations

import sqlite3
import subprocess
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import pytest

from pipeline.errors import CannotRun, UsageError
from pipeline.sample import generate
from pipeline.snapshot import open_source
from pipeline.snapshot import postgresql as pg
from pipeline.snapshot.postgresql_client import Target
from pipeline.snapshot.postgresql_copy import line, parse_line
from pipeline.snapshot.postgresql_errors import sentence

JOURNAL_TABLES = {"tickets", "payments", "ticket_lines"}


@pytest.fixture(scope="session")
def server(postgresql_server):
    return postgresql_server


@pytest.fixture(scope="module")
def shop(server, tmp_path_factory):
    """The sample shop, in SQLite (the reference) and loaded into a database of the server."""
    base = tmp_path_factory.mktemp("pg-shop")
    sample = base / "caisse.db"
    counts = generate(sample, days=3, tickets_per_day=30)
    database = server.new_database("shop")
    passfile = server.pgpass(base / "pgpass")
    uri = server.uri(database, passfile=str(passfile))
    loaded = pg.load_sample(sample, uri)
    return SimpleNamespace(sample=sample, counts=counts, loaded=loaded, database=database, passfile=passfile,
                           uri=uri, base=base)


def _read_all(snap, out: Path) -> dict:
    """As the archive does: the stream read on this thread, the mirror and the counts on another."""
    got: dict = {}

    def beside():
        got["mirror"] = snap.journals_db()
        got["counts"] = snap.inspect()["row_counts"]

    t = threading.Thread(target=beside)
    t.start()
    with snap.stream() as f, open(out, "wb") as o:
        while chunk := f.read(1 << 16):
            o.write(chunk)
    snap.finish()
    t.join(60)
    return got


def _rows(path: Path, table: str) -> list:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f'SELECT * FROM "{table}" ORDER BY 1').fetchall()
    finally:
        conn.close()


def test_load_sample_copies_every_row_and_refuses_to_overwrite(shop):
    assert shop.loaded == shop.counts
    with pytest.raises(UsageError) as err:
        pg.load_sample(shop.sample, shop.uri)
    assert "already holds the table" in str(err.value)


def test_one_instant_for_dump_mirror_and_counts(server, shop, tmp_path):
    source = open_source(shop.uri, 30)
    assert source.kind == "postgresql" and source.device() is None
    source.check()
    started = time.monotonic()
    snap = source.take(tmp_path, wanted=lambda conn: set(JOURNAL_TABLES))
    took = time.monotonic() - started
    try:
        # A sale committed after take() and before the stream is read: not in this snapshot, anywhere.
        server.psql("CREATE TEMP TABLE x AS SELECT * FROM tickets ORDER BY id DESC LIMIT 1; "
                    "UPDATE x SET id = id + 1, number = number + 1; INSERT INTO tickets SELECT * FROM x",
                    database=shop.database)
        dump = tmp_path / pg.PLAIN_NAME
        got = _read_all(snap, dump)
        facts = dict(snap.facts, row_counts=got["counts"])
        assert facts["source_kind"] == "postgresql" and facts["database"] == shop.database
        assert facts["server_version"] and facts["snapshot_seconds"] >= 0
        assert got["counts"] == shop.counts
        assert subprocess.run(["pg_restore", "-l", str(dump)], capture_output=True).returncode == 0
        assert pg.check_stream(dump.read_bytes()[:100], dump.stat().st_size, facts) == []
        assert pg.check_restored(dump, facts, "quick") == []  # the dump's own COPY rows: 90 tickets, not 91
        mirror = got["mirror"]
        tables = {r[0] for r in sqlite3.connect(mirror).execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == JOURNAL_TABLES  # the wanted tables alone: the rest never lands on this disk
        for table in JOURNAL_TABLES:
            assert _rows(mirror, table) == _rows(shop.sample, table), table
        key = sqlite3.connect(mirror).execute("SELECT sql FROM sqlite_master WHERE name='tickets'").fetchone()[0]
        assert '"id" INTEGER PRIMARY KEY' in key
    finally:
        snap.close()
    snap.close()  # idempotent
    assert not mirror.exists()
    after = server.psql("SELECT count(*) FROM tickets", database=shop.database).stdout.strip()
    assert int(after) == shop.counts["tickets"] + 1
    server.psql("DELETE FROM tickets WHERE id = (SELECT max(id) FROM tickets)", database=shop.database)
    assert took < 5


def test_closing_without_reading_the_stream_does_not_hang(shop, tmp_path):
    snap = open_source(shop.uri).take(tmp_path, wanted=lambda conn: {"tickets"})
    started = time.monotonic()
    assert len(_rows(snap.journals_db(), "tickets")) == shop.counts["tickets"]
    snap.close()
    assert time.monotonic() - started < 10


def test_copies_checked_without_a_server(shop, tmp_path):
    snap = open_source(shop.uri).take(tmp_path)
    dump = tmp_path / "good.pgdump"
    got = _read_all(snap, dump)
    snap.close()
    assert got["mirror"] is None
    facts = dict(snap.facts, row_counts=got["counts"], plain_size=dump.stat().st_size)
    for integrity in ("none", "quick"):
        assert pg.check_restored(dump, facts, integrity) == []
    cut = tmp_path / "cut.pgdump"
    data = dump.read_bytes()
    cut.write_bytes(data[: len(data) * 3 // 4])
    for integrity in ("none", "quick"):
        assert pg.check_restored(cut, facts, integrity), integrity
    wrong = dict(facts, row_counts=dict(facts["row_counts"], tickets=facts["row_counts"]["tickets"] + 1))
    assert any("tickets" in p for p in pg.check_restored(dump, wrong, "quick"))
    assert pg.check_stream(b"SQLite format 3\0" + bytes(84), len(data), facts) == [
        "decrypts to something that is not a PostgreSQL dump"]
    assert pg.check_stream(data[:100], len(data) - 1, facts)
    assert "pg_restore" in "".join(pg.restore_lines("en"))


def test_drill_restores_counts_and_drops_its_database(server, shop, tmp_path):
    snap = open_source(shop.uri).take(tmp_path)
    dump = tmp_path / "d.pgdump"
    got = _read_all(snap, dump)
    snap.close()
    assert pg.drill(dump, snap.facts, shop.uri, tmp_path) == got["counts"]
    left = server.psql("SELECT count(*) FROM pg_database WHERE datname LIKE 'coffre_drill_%'").stdout.strip()
    assert left == "0"
    server.psql("CREATE ROLE nocreate LOGIN PASSWORD 'nocreate-pw'")
    uri = server.uri(shop.database, user="nocreate",
                     passfile=str(server.pgpass(tmp_path / "p", "nocreate", "nocreate-pw")))
    with pytest.raises(CannotRun) as err:
        pg.drill(dump, snap.facts, uri, tmp_path)
    assert "ALTER ROLE nocreate CREATEDB" in str(err.value)


def test_server_types_mirrored_as_sqlite_holds_them(server, shop, tmp_path):
    database = server.new_database()
    server.psql("CREATE SCHEMA other; CREATE TABLE other.odd (id int PRIMARY KEY, b bytea, f boolean, r float8, "
                "n numeric, t text, d timestamptz, s smallint); "
                "INSERT INTO other.odd VALUES (1, '\\x00ff5c09'::bytea, true, 1.5, 12, "
                "E'tab\\there\\nnew \\\\ back é ☕', '2025-01-02 03:04:05+00', -3), "
                "(2, NULL, false, -0.25, 2.50, '', NULL, NULL); "
                "CREATE TABLE plain (k text PRIMARY KEY); INSERT INTO plain VALUES ('a\\b')", database=database)
    snap = open_source(server.uri(database, passfile=str(shop.passfile))).take(
        tmp_path, wanted=lambda conn: {"other.odd", "plain"})
    try:
        got = _read_all(snap, tmp_path / "d")
        assert got["counts"] == {"other.odd": 2, "plain": 1}
        assert _rows(got["mirror"], "other.odd") == [
            (1, b"\x00\xff\\\t", 1, 1.5, 12, "tab\there\nnew \\ back é ☕", "2025-01-02 03:04:05+00", -3),
            (2, None, 0, -0.25, 2.5, "", None, None)]
        assert _rows(got["mirror"], "plain") == [("a\\b",)]
    finally:
        snap.close()


def test_copy_text_both_ways():
    values = [7, None, "a\tb\nc\\d\re", b"\x00\x01", 1.25, "\\N"]
    assert parse_line(line(values)) == ["7", None, "a\tb\nc\\d\re", "\\x0001", "1.25", "\\N"]
    assert parse_line(b"\\101\\x42\\b\\f\\v\\q\t\\N\n") == ["AB\b\f\vq", None]


SAID: list[str] = []


def _refused(uri: str, tmp_path: Path) -> str:
    with pytest.raises(CannotRun) as err:
        open_source(uri).take(tmp_path)
    assert err.value.exit_code == 3
    assert list(tmp_path.glob("*.sqlite")) == []
    SAID.append(str(err.value))
    return str(err.value)


def test_one_sentence_for_each_refusal(server, shop, tmp_path):
    wrong = server.pgpass(tmp_path / "wrong", password="not-the-password")
    said = _refused(server.uri(shop.database, passfile=str(wrong)), tmp_path)
    assert "refused the password of role coffre" in said and str(wrong) in said
    said = _refused(server.uri(shop.database, passfile=str(tmp_path / "none")), tmp_path)
    assert said.startswith("No password was found for role coffre on 127.0.0.1:") and "none" in said
    said = _refused(server.uri(shop.database, port=1, passfile=str(shop.passfile)), tmp_path)
    assert said == "The PostgreSQL server 127.0.0.1:1 cannot be reached (is it running, and does it accept TCP " \
                   "connections from this machine?)."
    said = _refused(server.uri("nosuchdb", passfile=str(shop.passfile)), tmp_path)
    assert said == f"The PostgreSQL server 127.0.0.1:{server.port} has no database nosuchdb."
    server.psql("CREATE ROLE norights LOGIN PASSWORD 'norights-pw'")
    uri = server.uri(shop.database, user="norights",
                     passfile=str(server.pgpass(tmp_path / "n", "norights", "norights-pw")))
    said = _refused(uri, tmp_path)
    assert "may not read table" in said and "GRANT pg_read_all_data TO norights;" in said
    assert "GRANT SELECT ON ALL TABLES IN SCHEMA public TO norights;" in said
    with pytest.raises(CannotRun):
        open_source(uri).check()
    assert len(SAID) == 5
    for message in SAID:
        assert server.password not in message and "\n" not in message


def test_a_password_in_the_source_is_refused_unshown(server):
    for spec in (f"postgresql://coffre:{server.password}@127.0.0.1:{server.port}/shop",
                 f"postgres://coffre@127.0.0.1/shop?password={server.password}"):
        with pytest.raises(UsageError) as err:
            open_source(spec)
        assert server.password not in str(err.value)
        assert "password file" in str(err.value)


def test_sentences_of_what_a_test_server_does_not_say():
    where = Target("postgresql://caisse@db.shop.example:5433/shop")
    said = 'psql: error: connection to server at "db.shop.example", port 5433 failed: FATAL:  role "caisse" does not exist'
    assert sentence(said, where) == "The PostgreSQL server db.shop.example:5433 has no role caisse."
    said = 'psql: error: could not translate host name "db.shop.example" to address: Name or service not known'
    assert "cannot be reached" in sentence(said, where)
    said = "pg_dump: error: query failed: ERROR:  permission denied for schema compta"
    assert "`GRANT USAGE ON SCHEMA compta TO caisse;`" in sentence(said, where)
    said = "pg_dump: error: query failed: ERROR:  permission denied for sequence compta.seq"
    assert "`GRANT SELECT ON ALL SEQUENCES IN SCHEMA compta TO caisse;`" in sentence(said, where)
    said = "psql:<stdin>:3: ERROR:  out of shared memory\nHINT: ..."
    assert sentence(said, where) == "The PostgreSQL server refused: out of shared memory"
    assert where.describe() == "PostgreSQL database shop on db.shop.example:5433"


def test_a_table_locked_by_another_program_stops_the_snapshot_within_lock_wait(server, shop, tmp_path):
    """An ALTER TABLE under way: pg_dump and the mirror's COPY give up after lock_wait, in one sentence."""
    holder = subprocess.Popen(["psql", "-X", "-q", "-h", str(server.socket_dir), "-p", str(server.port), "-U",
                               "postgres", "-d", shop.database], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                              text=True)
    try:
        holder.stdin.write("BEGIN; LOCK TABLE payments IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(30);\n")
        holder.stdin.flush()
        deadline = time.monotonic() + 10
        while server.psql("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = "
                          "'payments'::regclass", database=shop.database).stdout.strip() != "1":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        snap = open_source(shop.uri, lock_wait=1).take(tmp_path, wanted=lambda conn: {"payments"})
        try:
            with pytest.raises(CannotRun) as err:
                snap.journals_db()
            assert "holds a lock on a table of PostgreSQL database shop" in str(err.value)
            with snap.stream() as f:
                f.read()
            with pytest.raises(CannotRun) as err:
                snap.finish()
            assert "(waited 1 s)" in str(err.value)
        finally:
            snap.close()
    finally:
        holder.kill()
        holder.wait()
