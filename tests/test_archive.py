"""The archive run end to end, checked with the stock tools a person without Coffre would use."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import subprocess
import threading
import time

import pytest

from conftest import need_tool, run_coffre


def table_counts(db) -> dict[str, int]:
    conn = sqlite3.connect(db)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
        return {t: conn.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
    finally:
        conn.close()


def decrypt_with_stock_tools(age_file, identity, out):
    age, zstd = need_tool("age"), need_tool("zstd")
    with open(out, "wb") as f:
        a = subprocess.Popen([age, "-d", "-i", str(identity), str(age_file)], stdout=subprocess.PIPE)
        z = subprocess.run([zstd, "-d", "-c"], stdin=a.stdout, stdout=f)
        a.stdout.close()
        assert a.wait() == 0 and z.returncode == 0, f"stock age | zstd failed on {age_file}"


def test_archive_copies_check_out_with_stock_tools(store, tmp_path):
    b3sum, minisign = need_tool("b3sum"), need_tool("minisign")
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    assert "Traceback" not in res.err

    b3_lists = []
    for dest in store.destinations:
        (run,) = store.run_dirs(dest)
        assert subprocess.run([b3sum, "--check", "MANIFEST.b3"], cwd=run, capture_output=True).returncode == 0
        sig = subprocess.run([minisign, "-V", "-p", str(store.public_key_file), "-m", "MANIFEST.b3"], cwd=run,
                             capture_output=True, text=True)
        assert sig.returncode == 0, sig.stderr
        listed = {line.split("  ", 1)[1] for line in (run / "MANIFEST.b3").read_text().splitlines()}
        assert listed == {p.name for p in run.iterdir()} - {"MANIFEST.b3", "MANIFEST.b3.minisig"}
        ages = sorted(run.glob("*.age"))
        assert {p.name for p in ages} >= {"snapshot.sqlite.zst.age", "facts.json.zst.age"}
        for f in ages:
            decrypt_with_stock_tools(f, store.identity, tmp_path / f"{dest.name}-{f.name}.plain")
        snap = tmp_path / f"{dest.name}-snapshot.sqlite.zst.age.plain"
        conn = sqlite3.connect(snap)
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        conn.close()
        assert table_counts(snap) == table_counts(store.db)
        facts = json.loads((tmp_path / f"{dest.name}-facts.json.zst.age.plain").read_text())
        assert facts["snapshot"]["row_counts"] == table_counts(store.db)
        b3_lists.append((run / "MANIFEST.b3").read_bytes())
    assert b3_lists[0] == b3_lists[1]


def test_manifest_reveals_no_business_figures_and_matches_schema(store):
    jsonschema = pytest.importorskip("jsonschema")
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    (run,) = store.run_dirs(store.destinations[0])
    manifest = json.loads((run / "manifest.json").read_text())
    schema = json.loads((store.config.parents[2] / "schemas" / "manifest.schema.json").read_text()) \
        if (store.config.parents[2] / "schemas").exists() else None
    from conftest import REPO
    schema = json.loads((REPO / "schemas" / "manifest.schema.json").read_text())
    jsonschema.validate(manifest, schema)
    text = (run / "manifest.json").read_text()
    for table, n in table_counts(store.db).items():
        assert f'"{table}"' not in text
    assert "row_counts" not in text


def test_no_decryption_secret_beside_config_and_key_modes(store):
    etc = store.config.parent
    for p in etc.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            assert b"AGE-SECRET-KEY-" not in data, p
            assert not data.startswith(b"age-encryption.org/v1"), p
    for key in (store.identity, etc / "coffre-signing.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert b"AGE-SECRET-KEY-" in store.identity.read_bytes()
    pub = store.public_key_file.read_text().splitlines()[1]
    assert pub in store.config.read_text()


def test_destination_on_database_disk_is_refused_and_nothing_written(sample_db, tmp_path, other_disk):
    same = tmp_path / "same-disk-copy"
    same.mkdir()
    res = run_coffre("init", "--config", tmp_path / "etc" / "c.toml", "--source", f"sqlite:{sample_db}",
                     "--to", other_disk, "--to", same, "--identity-out", tmp_path / "off" / "id.txt")
    assert res.code == 0, res
    assert "same disk" in res.err  # said at once, not only at the first evening's run
    res = run_coffre("archive", "--config", tmp_path / "etc" / "c.toml", "--yes")
    assert res.code in (2, 3), res
    assert "Traceback" not in res.err and "same disk" in res.err
    assert len(res.err.strip().splitlines()) == 1
    assert list(same.iterdir()) == []
    assert list(other_disk.iterdir()) == []
    res = run_coffre("archive", "--config", tmp_path / "etc" / "c.toml", "--json")  # a script asks why, on stdout
    said = json.loads(res.out)
    assert res.code == said["exit_code"] == 2 and said["run_id"] is None and "same disk" in said["error"]
    assert list(same.iterdir()) == [] and list(other_disk.iterdir()) == []
    res = run_coffre("archive", "--config", tmp_path / "etc" / "c.toml", "--yes", "--allow-same-disk")
    assert res.code == 0, res
    assert "Warning" in res.err


def test_runs_form_a_chain(store):
    from blake3 import blake3

    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    first, second = store.run_dirs(store.destinations[0])
    m1 = json.loads((first / "manifest.json").read_text())
    m2 = json.loads((second / "manifest.json").read_text())
    assert m1["previous_run"] is None
    assert m2["previous_run"] == {"run_id": m1["run_id"], "manifest_blake3": blake3((first / "manifest.json").read_bytes()).hexdigest()}


def test_missing_usb_key_gives_partial_run(store):
    store.destinations[1].rmdir()  # the key is not plugged in
    res = run_coffre("archive", "--config", store.config, "--yes", "--json")
    assert res.code == 4, res
    summary = json.loads(res.out)
    assert [c["ok"] for c in summary["copies"]] == [True, False]
    assert "missing" in summary["copies"][1]["reason"]
    assert not store.destinations[1].exists(), "a missing mount point must never be created"
    assert run_coffre("verify", "--config", store.config, "--from", store.destinations[0]).code == 0


def test_lock_held_by_a_live_run_exits_3_at_once(store):
    import fcntl

    state = store.config.with_name("coffre-state")
    state.mkdir(exist_ok=True)
    fd = os.open(state / "boutique.lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    os.write(fd, b'{"pid": 1, "host": "till", "since": "now"}')
    try:
        t = time.time()
        res = run_coffre("archive", "--config", store.config, "--yes")
        assert res.code == 3, res
        assert "lock" in res.err and time.time() - t < 20
    finally:
        os.close(fd)
    # The holder died (its flock is gone, its note is not): taken over with a message.
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    assert "Taking over the lock" in res.err


def test_snapshot_is_consistent_while_the_till_keeps_selling(store, tmp_path):
    from pipeline.sample import SaleWriter

    before = table_counts(store.db)["tickets"]
    stop = threading.Event()
    waits: list[float] = []
    errors: list[BaseException] = []

    def sell():
        try:
            writer = SaleWriter(str(store.db), seed=7)  # the seed the sample shop was built with
            while not stop.is_set():
                waits.append(writer.commit_ticket())
        except BaseException as e:  # a failed commit is exactly what this test looks for
            errors.append(e)

    t = threading.Thread(target=sell)
    t.start()
    try:
        time.sleep(0.2)
        res = run_coffre("archive", "--config", store.config, "--yes")
    finally:
        stop.set()
        t.join()
    assert res.code == 0, res
    assert not errors, errors
    assert len(waits) > 5 and max(waits) < 0.5
    (run,) = store.run_dirs(store.destinations[0])
    snap = tmp_path / "snap.sqlite"
    decrypt_with_stock_tools(run / "snapshot.sqlite.zst.age", store.identity, snap)
    conn = sqlite3.connect(snap)
    n_tickets = conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    # every ticket in the snapshot has its lines and payments: one instant, not a torn read
    orphans = conn.execute("SELECT count(*) FROM tickets t WHERE NOT EXISTS (SELECT 1 FROM payments p WHERE p.ticket_id=t.id)").fetchone()[0]
    conn.close()
    assert before <= n_tickets <= table_counts(store.db)["tickets"]
    assert orphans == 0


def test_verify_names_a_flipped_byte(store):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    assert run_coffre("verify", "--config", store.config).code == 0
    (run,) = store.run_dirs(store.destinations[0])
    target = run / "snapshot.sqlite.zst.age"
    data = bytearray(target.read_bytes())
    data[len(data) // 2] ^= 0x01
    target.write_bytes(bytes(data))
    res = run_coffre("verify", "--config", store.config)
    assert res.code == 1, res
    assert "snapshot.sqlite.zst.age" in res.err and "Traceback" not in res.err
    assert run_coffre("verify", "--config", store.config, "--from", store.destinations[1]).code == 0


def test_demo_runs_to_the_end(tmp_path):
    res = run_coffre("demo", "--dir", tmp_path / "demo", "--days", "2")
    assert res.code == 0, res
    assert "intact" in res.err
