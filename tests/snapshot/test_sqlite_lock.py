"""A till holding its database locked: the archive waits a bounded time, says so in one sentence, frees the store."""

from __future__ import annotations

import contextlib
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest
import tomli_w

from conftest import run_coffre
from reliability.helpers import init_store, one_sentence_error

LOCKED = "is locked by another program"
NOT_WAL = "is not in WAL mode"

# A second process, as the till would be: it takes its lock, says "ready", and keeps the lock until its stdin closes.
HOLDERS = {
    # rollback-journal mode, a write transaction holding the EXCLUSIVE lock
    "rollback journal, long write": ("delete", "c.execute('BEGIN EXCLUSIVE')"),
    # WAL mode with exclusive locking: the lock stays after the write is committed
    "WAL, exclusive locking mode": ("wal", "c.execute('PRAGMA locking_mode=EXCLUSIVE'); "
                                           "c.execute('BEGIN IMMEDIATE'); c.execute('COMMIT')"),
}


def set_journal_mode(db: Path, mode: str) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute(f"PRAGMA journal_mode={mode}").fetchone()[0] == mode
    finally:
        conn.close()


def header_mode(db: Path) -> bytes:
    return db.read_bytes()[18:20]  # b"\2\2" in WAL mode, b"\1\1" otherwise


@contextlib.contextmanager
def till_holding(db: Path, take_lock: str):
    script = ("import sqlite3, sys\n"
              "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
              f"{take_lock}\n"
              "print('ready', flush=True)\n"
              "sys.stdin.read()\n")
    proc = subprocess.Popen([sys.executable, "-c", script, str(db)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        yield proc
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def shop(sample_db, tmp_path, other_disk):
    """(journal mode) -> a store made by `coffre init` on the sample shop switched to that mode."""

    def make(mode: str):
        set_journal_mode(sample_db, mode)
        dests = [other_disk / "usb-A", other_disk / "disk-B"]
        for d in dests:
            d.mkdir()
        return init_store(tmp_path / "store", sample_db, dests)

    return make


@pytest.mark.parametrize("holder", list(HOLDERS))
def test_a_locked_database_ends_the_archive_in_exit_3_with_the_store_lock_released(shop, holder):
    mode, take_lock = HOLDERS[holder]
    store = shop(mode)
    store.edit_config(lambda doc: doc["archive"].update(source_lock_wait=2))
    with till_holding(store.db, take_lock):
        started = time.monotonic()
        res = store.coffre("archive", "--yes", timeout=30)  # before the bounded wait, this hung
        elapsed = time.monotonic() - started
        one_sentence_error(res, 3, LOCKED, str(store.db), "waited 2 s")
        assert 2 <= elapsed < 8, elapsed
        assert all(store.run_dirs(d) == [] for d in store.destinations)
        assert list(store.scratch.iterdir()) == []  # the scratch copy is gone with the run

        # The store's lock went with the run: the next one gets past it, to the till's lock again.
        again = store.coffre("archive", "--yes", timeout=30)
        one_sentence_error(again, 3, LOCKED)
        assert "holds the lock" not in again.err and "Taking over" not in again.err, again

    # Once the till lets go, the archive runs as on any evening.
    res = store.coffre("archive", "--yes", "--json", timeout=60)
    assert res.code == 0, res
    assert header_mode(store.db) == (b"\2\2" if mode == "wal" else b"\1\1")


def test_sigterm_stops_an_archive_waiting_for_the_till(shop):
    store = shop("delete")  # the default wait, 60 s: SIGTERM must not have to sit it out
    lock_file = store.state_dir / f"{store.store_id}.lock"
    with till_holding(store.db, HOLDERS["rollback journal, long write"][1]):
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", "archive", "--config", str(store.config), "--yes"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 20
            while not (lock_file.is_file() and lock_file.stat().st_size) and time.monotonic() < deadline:
                time.sleep(0.05)  # the lock note is written once the run holds the store: it is now waiting
            assert proc.poll() is None and lock_file.stat().st_size, "the archive did not get to the snapshot"
            time.sleep(1)
            proc.send_signal(signal.SIGTERM)
            signalled = time.monotonic()
            _, err = proc.communicate(timeout=15)  # before the bounded wait, this timed out
            stopped_after = time.monotonic() - signalled
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 3, err
    assert stopped_after < 3, stopped_after
    assert "interrupted" in err and "Traceback" not in err, err
    assert lock_file.stat().st_size == 0  # released in good order, not left for the next run to take over
    assert list(store.scratch.iterdir()) == []


@pytest.mark.parametrize("mode", ["delete", "wal"])
def test_a_database_not_in_wal_mode_is_named_at_init_and_at_every_archive(sample_db, tmp_path, other_disk, mode):
    set_journal_mode(sample_db, mode)
    usb = other_disk / "usb"
    usb.mkdir()
    config = tmp_path / "etc" / "coffre.toml"
    res = run_coffre("init", "--config", config, "--source", f"sqlite:{sample_db}", "--to", usb,
                     "--i-know", "--identity-out", tmp_path / "offline" / "identity.txt", "--store-id", "boutique")
    assert res.code == 0, res
    assert (NOT_WAL in res.err) == (mode == "delete"), res

    for _ in range(2):
        res = run_coffre("archive", "--config", config, "--yes", "--json")
        assert res.code == 0, res
        warnings = json.loads(res.out)["warnings"]
        if mode == "delete":
            (warning,) = [w for w in warnings if NOT_WAL in w]
            assert str(sample_db) in warning and "PRAGMA journal_mode=WAL" in warning
            assert warning in res.err
        else:
            assert not [w for w in warnings if NOT_WAL in w] and NOT_WAL not in res.err, res
    # Read from the header, never switched by Coffre.
    assert header_mode(sample_db) == (b"\1\1" if mode == "delete" else b"\2\2")


def test_the_warning_does_not_wait_for_a_locked_database(shop):
    store = shop("delete")
    store.edit_config(lambda doc: doc["archive"].update(source_lock_wait=1))
    with till_holding(store.db, HOLDERS["rollback journal, long write"][1]):
        res = store.coffre("archive", "--yes", timeout=30)
    one_sentence_error(res, 3, LOCKED)
    assert NOT_WAL in res.err, res


@pytest.mark.parametrize("value", [-1, 3601, "60", 1.5, True])
def test_a_wrong_source_lock_wait_is_exit_2_naming_the_key(store, value):
    doc = tomllib.loads(store.config.read_text())
    doc["archive"]["source_lock_wait"] = value
    store.config.write_text(tomli_w.dumps(doc))
    res = run_coffre("archive", "--config", store.config, "--yes", timeout=60)
    one_sentence_error(res, 2, "archive.source_lock_wait", "from 0 to 3600")
    assert all(store.run_dirs(d) == [] for d in store.destinations)


def test_a_busy_backup_step_is_bounded_too(sample_db, tmp_path):
    """CPython retries a busy backup step forever, in C: the progress callback is what ends it."""
    from pipeline.snapshot.sqlite import _StillLocked, _until

    target = tmp_path / "target.sqlite"
    holder = sqlite3.connect(target, isolation_level=None)
    holder.execute("CREATE TABLE t(x)")
    holder.execute("BEGIN EXCLUSIVE")
    outcome = []

    def back_up() -> None:
        src, dst = sqlite3.connect(sample_db), sqlite3.connect(target, timeout=0.1)
        try:
            src.backup(dst, pages=-1, progress=_until(time.monotonic() + 1), sleep=0.1)
            outcome.append("copied")
        except _StillLocked:
            outcome.append("gave up")
        finally:
            src.close()
            dst.close()

    # In a thread of its own, so that a wait without end fails the test instead of hanging the suite.
    worker = threading.Thread(target=back_up, daemon=True)
    started = time.monotonic()
    worker.start()
    worker.join(timeout=10)
    holder.close()
    assert outcome == ["gave up"] and time.monotonic() - started < 5, outcome
