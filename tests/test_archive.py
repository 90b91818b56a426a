"""The archive run end to end, checked with the stock tools a person without Coffre would use."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import stat
import subprocess
import threading
import time

import pytest

from conftest import need_tool, run_coffre

from pipeline.destinations.transaction import CopyOutcome, RunTransaction
from pipeline.destinations.local import LocalDestination

# These tests hold format 1's data files to what they must be (tests/store/ does format 2).
STORE_FORMAT = 1


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


def test_destination_on_database_disk_is_a_missing_copy_and_nothing_is_written_there(sample_db, tmp_path, other_disk):
    """A folder on the till's own disk (often the mount point an unplugged USB key leaves behind) takes no copy:
    that copy is reported missing and the others are written (exit 4), not the whole run refused."""
    same = tmp_path / "same-disk-copy"
    same.mkdir()
    res = run_coffre("init", "--config", tmp_path / "etc" / "c.toml", "--source", f"sqlite:{sample_db}",
                     "--to", other_disk, "--to", same, "--allow-same-disk", "--i-know", "--identity-out", tmp_path / "off" / "id.txt")
    assert res.code == 0, res
    assert "same disk" in res.err  # said at once, not only at the first evening's run
    res = run_coffre("archive", "--config", tmp_path / "etc" / "c.toml", "--yes")
    assert res.code == 4, res
    assert "Traceback" not in res.err and "same disk" in res.err
    assert list(same.iterdir()) == []
    (store_dir,) = [p for p in other_disk.iterdir() if p.is_dir()]
    assert len([p for p in store_dir.iterdir() if p.name != "blocks"]) == 1
    res = run_coffre("archive", "--config", tmp_path / "etc" / "c.toml", "--json")  # a script asks why, on stdout
    said = json.loads(res.out)
    assert res.code == said["exit_code"] == 4 and said["run_id"], res
    assert [c["ok"] for c in said["copies"]] == [True, False] and "same disk" in said["copies"][1]["reason"]
    assert list(same.iterdir()) == []
    res = run_coffre("archive", "--config", tmp_path / "etc" / "c.toml", "--to", same, "--json")
    said = json.loads(res.out)
    assert res.code == said["exit_code"] == 3 and said["run_id"] is None and "same disk" in said["error"], res
    assert list(same.iterdir()) == []
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


def two_copy_run(tmp_path):
    """A run being written to two local copies, A and B, as archive.py drives it (no snapshot, no journals)."""
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    dests = {str(a): LocalDestination(str(a)), str(b): LocalDestination(str(b))}
    copies = {s: CopyOutcome(s) for s in dests}
    return a, b, copies, RunTransaction("shop", "20260101T000000Z-abcdef", dests, copies,
                          lambda m: None)


def refuse(writer, method: str, prefix: str, err: OSError) -> None:
    """writer.method(name) raises `err` for the names that start with `prefix`, as a failing medium would."""
    real = getattr(writer, method)

    def patched(name):
        if name.startswith(prefix):
            raise err
        return real(name)

    setattr(writer, method, patched)


def test_a_copy_failing_in_the_journals_stream_does_not_fail_the_snapshot_stream(tmp_path):
    """The snapshot and the journals are written at once: a copy failing in one stream drops that copy for both,
    without closing the file the other stream is still writing there."""
    a, b, copies, run = two_copy_run(tmp_path)

    # Copy A cannot take one more file (its medium is full, say) when the journals' tar is opened.
    refuse(run.writers[str(a)], "open", "journals", OSError(errno.ENOSPC, "No space left on device"))
    errors = []

    def journals_thread():
        try:
            run.data_file("journals.tar.zst.age", "journals", lambda sink: sink.write(b"journals"))
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    def produce(sink):  # the snapshot, in the main thread, while the journals are sealed beside it
        sink.write(b"x" * 4096)
        t = threading.Thread(target=journals_thread)
        t.start()
        t.join()
        sink.write(b"y" * 4096)
        return "packed"

    assert run.data_file("snap.db.zst.age", "snapshot", produce) == "packed"
    assert not errors
    run.read_back()
    assert not copies[str(a)].ok and copies[str(b)].ok
    assert (b / "shop" / "20260101T000000Z-abcdef" / "snap.db.zst.age").stat().st_size == 8192


def test_a_copy_failing_in_the_snapshot_stream_does_not_fail_the_journals_stream(tmp_path):
    """The other way round: the snapshot's file cannot be committed on A while the journals stream writes."""
    a, b, copies, run = two_copy_run(tmp_path)
    refuse(run.writers[str(a)], "commit", "snap", OSError(errno.EIO, "Input/output error"))
    snapshot_done = threading.Event()
    results = []

    def journals_thread():
        def produce(sink):
            sink.write(b"j" * 4096)
            snapshot_done.wait(10)  # A fails while this stream still has its file open there
            sink.write(b"k" * 4096)
            return "sealed"
        results.append(run.data_file("journals.tar.zst.age", "journals", produce))

    t = threading.Thread(target=journals_thread)
    t.start()
    run.data_file("snap.db.zst.age", "snapshot", lambda sink: sink.write(b"s" * 4096))
    snapshot_done.set()
    t.join()
    assert results == ["sealed"]
    run.read_back()
    assert not copies[str(a)].ok and copies[str(b)].ok
    folder_b = b / "shop" / "20260101T000000Z-abcdef"
    assert (folder_b / "journals.tar.zst.age").stat().st_size == 8192
    assert not (a / "shop" / "20260101T000000Z-abcdef").exists()  # the failed copy's unsigned run is removed


def test_a_copy_failing_while_the_other_stream_commits_there_is_only_removed_after(tmp_path):
    """The journals stream fails copy A just as the snapshot stream commits its file on A: that commit must
    find its file still open (A is cleared once no stream writes), and only A is lost."""
    a, b, copies, run = two_copy_run(tmp_path)
    writer_a = run.writers[str(a)]
    refuse(writer_a, "open", "journals", OSError(errno.ENOSPC, "No space left on device"))
    real_commit = writer_a.commit

    def commit(name):
        if name.startswith("snap"):  # the journals stream fails A in between
            t = threading.Thread(target=run.data_file, args=("journals.tar.zst.age", "journals",
                                                              lambda sink: sink.write(b"journals")))
            t.start()
            t.join()
        return real_commit(name)

    writer_a.commit = commit
    run.data_file("snap.db.zst.age", "snapshot", lambda sink: sink.write(b"s" * 4096))
    run.read_back()
    assert not copies[str(a)].ok and copies[str(b)].ok
    assert not (a / "shop" / "20260101T000000Z-abcdef").exists()
    assert sorted(p.name for p in (b / "shop" / "20260101T000000Z-abcdef").iterdir()) == \
        ["journals.tar.zst.age", "snap.db.zst.age"]
