"""SIGTERM (a service manager) or SIGINT (Ctrl-C) stops a command promptly even while it waits on a remote that
never answers: exit 3, one sentence, no rclone left running, the store lock free for the next run."""

from __future__ import annotations

import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import REPO, need_tool

from .helpers import archived_once, no_traceback, two_copy_store

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1

# A stopped command must be gone well within this (the hard stop comes 5 s after the signal at the latest).
STOP_WITHIN = 8.0

_LISTING = ('<?xml version="1.0" encoding="utf-8"?><D:multistatus xmlns:D="DAV:"><D:response><D:href>{href}</D:href>'
            "<D:propstat><D:prop><D:resourcetype><D:collection/></D:resourcetype>"
            "<D:getlastmodified>Mon, 01 Jan 2024 00:00:00 GMT</D:getlastmodified></D:prop>"
            "<D:status>HTTP/1.1 200 OK</D:status></D:propstat></D:response></D:multistatus>")


class StallServer(http.server.ThreadingHTTPServer):
    """A WebDAV server on 127.0.0.1 that accepts every connection and never answers, except that under /listed/
    it shows empty folders and creates folders (so that an archive gets as far as uploading, and stalls there)."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Stall)
        self.stalled = threading.Event()  # a request is being held
        self.release = threading.Event()  # set at the end of the test: held requests are let go


class _Stall(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def _answer(self):
        if self.path.startswith("/listed") and self.command in ("PROPFIND", "MKCOL"):
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            body = _LISTING.format(href=self.path).encode() if self.command == "PROPFIND" else b""
            status = 201 if self.command == "MKCOL" else 207 if self.path.endswith("/") else 404
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body) if status == 207 else 0))
            self.end_headers()
            if status == 207:
                self.wfile.write(body)
            return
        self.server.stalled.set()
        self.server.release.wait(120)
        self.close_connection = True

    do_GET = do_HEAD = do_PUT = do_PROPFIND = do_MKCOL = do_MOVE = do_DELETE = _answer


@pytest.fixture
def stall(monkeypatch):
    """An rclone remote whose server never answers: `name` is unique to the test, to find its rclone processes."""
    need_tool("rclone")
    server = StallServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    name = "stall" + uuid.uuid4().hex[:10]
    monkeypatch.setenv(f"RCLONE_CONFIG_{name.upper()}_TYPE", "webdav")
    monkeypatch.setenv(f"RCLONE_CONFIG_{name.upper()}_URL", f"http://127.0.0.1:{server.server_address[1]}/")
    server.remote = name
    try:
        yield server
    finally:
        server.release.set()
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with two_copy_store(tmp_path_factory.mktemp("stop"), days=2, tickets_per_day=200, seed=51) as store:
        archived_once(store)
        yield store


def processes_naming(text: str) -> list[int]:
    """Live processes whose command line holds `text` (a zombie's is empty)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if text.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


def stop_while_stalled(store, server, sig, *args) -> tuple[int, str, float]:
    """Starts `coffre ARGS`, waits until the server holds one of its requests, sends `sig` to coffre alone; returns
    (exit code, stderr, seconds from the signal to the end)."""
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", *map(str, args), "--config", str(store.config)],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own group: the cleanup below kills what it left
    try:
        assert server.stalled.wait(60), "the command never reached the remote"
        time.sleep(1.0)  # well stuck
        assert proc.poll() is None, proc.communicate()
        assert processes_naming(server.remote + ":"), "no rclone child is waiting on the remote"
        sent = time.monotonic()
        proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=STOP_WITHIN + 30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"coffre {args[0]} still running {STOP_WITHIN + 30:.0f} s after {sig.name}", pytrace=False)
        return proc.returncode, err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        for pid in processes_naming(server.remote + ":"):  # rclone children a failing run left behind
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


# What a stopped command says depends on what it may have left on the copies (pipeline/interrupt.py).
RUNS_INTACT = "coffre: interrupted; earlier runs are intact and an unfinished run is never counted."
COPIES_UNCHANGED = "coffre: interrupted; nothing was changed on the copies."


def assert_stopped(code: int, err: str, seconds: float, remote: str, sentence: str) -> None:
    assert seconds < STOP_WITHIN, f"ended {seconds:.1f} s after the signal"
    assert code == 3, err
    assert "Traceback" not in err, err
    said = [line for line in err.splitlines() if line.strip()]
    assert said == [sentence], err
    deadline = time.monotonic() + 2
    while processes_naming(remote + ":") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert processes_naming(remote + ":") == [], "an rclone child outlived coffre"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_verify_of_a_remote_that_never_answers_stops(shop, stall, sig):
    code, err, seconds = stop_while_stalled(shop, stall, sig, "verify", "--from", shop.destinations[0],
                                            "--from", f"rclone:{stall.remote}:x")
    assert_stopped(code, err, seconds, stall.remote, COPIES_UNCHANGED)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_archive_to_a_remote_that_never_answers_stops_and_frees_the_lock(shop, stall, sig):
    local = shop.destinations[0]
    before = {p.name for p in shop.run_dirs(local)}
    code, err, seconds = stop_while_stalled(shop, stall, sig, "archive", "--yes", "--to", local,
                                            "--to", f"rclone:{stall.remote}:listed")
    assert_stopped(code, err, seconds, stall.remote, RUNS_INTACT)
    # The interrupted run is not a run: the next archive takes the lock and is the next complete run.
    res = shop.coffre("archive", "--yes", "--to", local)
    no_traceback(res)
    assert res.code == 0, res
    assert "holds the lock" not in res.err, res
    signed = {p.name for p in shop.run_dirs(local) if (p / "MANIFEST.b3.minisig").exists()}
    assert len(signed - before) == 1, (before, signed)
    res = shop.coffre("verify", "--from", local)
    assert res.code == 0, res


def test_restore_from_a_remote_that_never_answers_stops_and_says_the_copies_are_unchanged(shop, stall, tmp_path):
    out = tmp_path / "restored"
    code, err, seconds = stop_while_stalled(shop, stall, signal.SIGTERM, "restore", *shop.identity_args(), "--out", out,
                                            "--from", f"rclone:{stall.remote}:x", "--from", shop.destinations[0])
    assert_stopped(code, err, seconds, stall.remote, COPIES_UNCHANGED)
    assert not out.exists()


def test_prune_of_a_remote_that_never_answers_stops_and_says_the_runs_left_are_intact(shop, stall):
    code, err, seconds = stop_while_stalled(shop, stall, signal.SIGINT, "prune", "--from", f"rclone:{stall.remote}:x")
    assert_stopped(code, err, seconds, stall.remote,
                   "coffre: interrupted; the runs the rules keep are as they were, and the next prune finishes the "
                   "removal.")


_HELD_BY_A_THREAD = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from pipeline import interrupt
interrupt.install()
half = Path(sys.argv[1])
half.mkdir()
(half / "tickets.csv").write_text("plain sales")
interrupt.half_made(half)
package = Path(sys.argv[2])  # a package not yet published: a file
package.write_bytes(b"PK")
interrupt.half_made(package)

def still_writing():  # an export thread nothing can interrupt
    print("ready", flush=True)
    while True:
        time.sleep(0.02)
        try:
            (half / "ticket_lines.csv").write_text("more")
        except OSError:
            pass

try:  # as the command line does (pipeline/cli/common.py)
    with ThreadPoolExecutor(1) as pool:  # interrupted in result(), the exit waits for the thread: the watchdog ends it
        pool.submit(still_writing).result()
except KeyboardInterrupt:
    interrupt.end()
"""


def test_what_a_copy_that_failed_on_a_remote_that_never_answers_left_is_given_up_in_seconds(stall):
    """Measured (bench-like, /tmp/b4): an archive whose remote accepted connections and stopped answering gave up on it
    after 925 s, of which 180 s went to removing the failed copy's unsigned run folder, one rclone timeout of 60 s
    three times. That removal is best effort (the next archive removes what is left): rclone's glance timeouts now."""
    from pipeline.destinations.rclone import RcloneDestination

    dest = RcloneDestination(f"rclone:{stall.remote}:x")
    ended, errors = threading.Event(), []

    def remove():
        try:
            dest.remove_run("boutique", "20261208T050636Z-fe3bf1", patient=False)
        except OSError as err:
            errors.append(err)
        ended.set()

    started = time.monotonic()
    threading.Thread(target=remove, daemon=True).start()
    assert ended.wait(45), "the removal of a failed copy's run still waits on the remote after 45 s"
    assert errors and stall.stalled.is_set(), errors  # it did ask the remote, which never answered
    assert time.monotonic() - started >= 5


def test_a_half_made_folder_or_file_is_removed_even_when_a_thread_holds_the_command_past_the_grace(tmp_path):
    half, package = tmp_path / "journaux.coffre-partial", tmp_path / "audit.zip.coffre-partial"
    proc = subprocess.Popen([sys.executable, "-c", _HELD_BY_A_THREAD, str(half), str(package)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=STOP_WITHIN + 10)  # what is held here is the folder, not the time
    assert proc.returncode == 3, err
    assert not half.exists(), sorted(p.name for p in half.iterdir())
    assert not package.exists()


_SCRATCH_HELD_BY_A_THREAD = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from pipeline import interrupt
from pipeline.state.scratch import scratch_folder
interrupt.install()

def copying(folder):  # a plain copy of the till's database being written, in a thread nothing interrupts
    (folder / "snapshot.sqlite").write_bytes(b"SQLite format 3" + bytes(1000))
    print(folder, flush=True)
    while True:
        time.sleep(0.02)

def scratch(kind, base):
    if kind == "archive":  # the archive's own, beside the store's state
        from types import SimpleNamespace
        from pipeline.archive import _scratch
        return _scratch(SimpleNamespace(state_dir=base / "state", store_id="boutique", scratch_dir=base))
    return scratch_folder(kind, "boutique", base)

try:
    with scratch(sys.argv[2], Path(sys.argv[1])) as folder:
        with ThreadPoolExecutor(1) as pool:
            pool.submit(copying, folder).result()
except KeyboardInterrupt:
    interrupt.end()
"""


@pytest.mark.parametrize("kind", ["journals", "archive"])
def test_a_scratch_folder_is_removed_even_when_a_thread_holds_the_command_past_the_grace(tmp_path, kind):
    proc = subprocess.Popen([sys.executable, "-c", _SCRATCH_HELD_BY_A_THREAD, str(tmp_path), kind], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    folder = Path(proc.stdout.readline().strip())
    assert (folder / "snapshot.sqlite").exists()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=STOP_WITHIN + 10)
    assert proc.returncode == 3, err
    assert not folder.exists() and list(tmp_path.iterdir()) == []


# One statement that runs for a minute: a mapping's SQL on a supermarket's tables can, and Python handles no signal
# while SQLite runs it.
_FOR_A_MINUTE = ("t.number AS number", "t.number + 0 * (WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
                                       "WHERE i < 600000000) SELECT count(*) FROM c) AS number")


@pytest.fixture(scope="module")
def slow_shop(tmp_path_factory):
    """A shop whose tickets' statement runs for minutes."""
    with two_copy_store(tmp_path_factory.mktemp("slow"), days=1, tickets_per_day=20, seed=52) as store:
        doc = json.loads((REPO / "schemas" / "sources" / "reference-pos.json").read_text(encoding="utf-8"))
        assert _FOR_A_MINUTE[0] in doc["journals"]["tickets"]["sql"]
        doc["journals"]["tickets"]["sql"] = doc["journals"]["tickets"]["sql"].replace(*_FOR_A_MINUTE)
        (store.config.parent / "slow-pos.json").write_text(json.dumps(doc), encoding="utf-8")
        text = store.config.read_text(encoding="utf-8")
        store.config.write_text(text.replace('mapping = "reference-pos"', 'mapping = "slow-pos.json"'), "utf-8")
        yield store


def _stop_the_slow_export(store, out: Path, *signals) -> tuple[int, str, float]:
    """journals export, stopped by `signals` (back to back) once its long statement runs: (code, stderr, seconds)."""
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "journals", "export", "--config", str(store.config),
                             "--out", str(out)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        time.sleep(4)  # the snapshot taken, the statement running
        assert proc.poll() is None, proc.communicate()
        sent = time.monotonic()
        for sig in signals:
            proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
        return proc.returncode, err, time.monotonic() - sent
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


STOPPED = [COPIES_UNCHANGED]  # journals export


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP], ids=["SIGTERM", "SIGINT", "SIGHUP"])
def test_a_stop_during_one_long_sqlite_statement_ends_the_command_at_once(slow_shop, tmp_path, sig):
    out = tmp_path / "journaux"
    code, err, seconds = _stop_the_slow_export(slow_shop, out, sig)
    # Well before the watchdog's hard exit (5 s): the statement itself was ended, and the command unwound.
    assert seconds < 2.5, f"ended {seconds:.1f} s after the signal"
    assert code == 3, err
    assert [line for line in err.splitlines() if line.strip()] == STOPPED, err
    assert list(tmp_path.iterdir()) == []


def test_two_signals_back_to_back_end_the_command_with_its_one_sentence(slow_shop, tmp_path):
    # The second is read by the signals' thread while the main thread ends on the first: one of them says it.
    for attempt in range(4):
        code, err, seconds = _stop_the_slow_export(slow_shop, tmp_path / f"journaux{attempt}", signal.SIGINT,
                                                   signal.SIGTERM)
        assert code == 3 and seconds < 2.5, (code, seconds, err)
        assert [line for line in err.splitlines() if line.strip()] == STOPPED, err
    assert list(tmp_path.iterdir()) == []


# A worker thread between two statements when the stop comes: SQLite's interrupt ends only what runs, so its next
# statement must be refused rather than run to its end (here a minute: the watchdog's hard exit would come first).
_NEXT_STATEMENT_AFTER_THE_STOP = """
import os, signal, sqlite3, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from pipeline import interrupt
interrupt.install()
LONG = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 600000000) SELECT count(*) FROM c"

def worker():
    conn = sqlite3.connect(":memory:", factory=interrupt.Interruptible)
    conn.execute("SELECT 1").fetchall()
    print("ready", flush=True)
    time.sleep(1.0)  # Python work between two statements: the stop lands here
    conn.execute(LONG).fetchall()

try:
    with ThreadPoolExecutor(1) as pool:
        pool.submit(worker).result()
except BaseException:
    interrupt.end()
"""


def test_a_statement_started_once_a_stop_was_asked_for_is_refused(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _NEXT_STATEMENT_AFTER_THE_STOP], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.3)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=90)
    seconds = time.monotonic() - sent
    assert proc.returncode == 3, err
    assert seconds < 2.5, f"ended {seconds:.1f} s after the signal"  # the watchdog's exit would be at 5 s


# A restore's plain temporary file being written in a thread when two signals end the command at once: the hard exit
# skips every finally block, and the file (the till's sales in clear) must go all the same.
_RESTORE_TEMP_AT_A_HARD_EXIT = """
import sys, time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from pipeline import interrupt
from pipeline.restore.restore import _open_temp
interrupt.install()

def writing(folder):
    tmp, out = _open_temp(folder / "snapshot.sqlite", [])
    with out:
        out.write(b"SQLite format 3" + bytes(4096))
        out.flush()
        print(tmp, flush=True)
        while True:
            time.sleep(0.02)

try:
    with ThreadPoolExecutor(1) as pool:
        pool.submit(writing, Path(sys.argv[1])).result()
except KeyboardInterrupt:
    time.sleep(30)  # a cleanup that takes long: the second signal ends the command first
"""


def test_a_restores_plain_temporary_file_is_removed_when_a_second_signal_ends_the_command(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", _RESTORE_TEMP_AT_A_HARD_EXIT, str(tmp_path)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    tmp = Path(proc.stdout.readline().strip())
    assert tmp.exists() and tmp.name.startswith(".coffre-partial-")
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=STOP_WITHIN + 10)
    assert proc.returncode == 3, err
    assert list(tmp_path.iterdir()) == []
