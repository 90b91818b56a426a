"""A server that stops sending its dump: the run is abandoned after the configured silence, with one sentence, its
processes stopped, rather than an evening run that waits forever and holds the store's lock."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import pytest

from conftest import run_coffre
from pipeline.errors import CannotRun
from pipeline.snapshot.stall import StallGuard


def test_a_silent_pipe_is_abandoned_after_its_deadline_and_reads_are_whole_blocks():
    quiet = subprocess.Popen(["sleep", "30"], stdout=subprocess.PIPE)
    stopped = []
    try:
        guard = StallGuard(quiet.stdout, 0.5, lambda: stopped.append(quiet.kill()), lambda: "silence")
        began = time.monotonic()
        with pytest.raises(CannotRun, match="silence"):
            guard.read(1 << 20)
        assert 0.4 < time.monotonic() - began < 5 and stopped
    finally:
        quiet.kill()
        quiet.wait()
    # A dump written in small pieces is still read in whole blocks (the pack cuts fixed-size blocks).
    writer = subprocess.Popen(["sh", "-c", "for i in 1 2 3 4 5; do printf abcdefghij; sleep 0.05; done"],
                              stdout=subprocess.PIPE)
    guard = StallGuard(writer.stdout, 5, writer.kill, lambda: "silence")
    assert guard.read(20) == b"abcdefghij" * 2 and guard.read(100) == b"abcdefghij" * 3 and guard.read(5) == b""
    writer.wait()


def test_an_archive_whose_dump_stops_sending_ends_with_exit_3_and_no_dump_left(postgresql_server, tmp_path,
                                                                              other_disk):
    server = postgresql_server
    database = server.new_database()
    env = {"PGPASSFILE": str(server.pgpass(tmp_path / "pgpass"))}
    uri = server.uri(database)
    assert run_coffre("sample-db", uri, "--days", "8", "--tickets-per-day", "100", env=env).code == 0
    config = tmp_path / "coffre.toml"
    (other_disk / "usb").mkdir()
    res = run_coffre("init", "--config", config, "--source", uri, "--to", other_disk / "usb", "--i-know",
                     "--identity-out", tmp_path / "id.txt", env=env)
    assert res.code == 0, res
    text = config.read_text()
    config.write_text(text.replace("source_lock_wait = 60", "source_lock_wait = 1")
                      .replace("source_stall_timeout = 600", "source_stall_timeout = 5"))
    archive = subprocess.Popen([os.sys.executable, "-m", "pipeline", "archive", "--config", str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **env})
    frozen = None
    deadline = time.monotonic() + 60
    # Looked for in /proc, not with pgrep: on a loaded machine a pgrep a few tens of milliseconds apart missed the
    # whole dump of this small database once.
    while frozen is None and time.monotonic() < deadline and archive.poll() is None:
        frozen = _dump_child(archive.pid)
        if frozen is not None:
            os.kill(frozen, signal.SIGSTOP)  # as a server that stops answering: not a byte more
        else:
            time.sleep(0.002)  # a core of two left to the run
    if frozen is None:
        archive.kill()
        out, err = archive.communicate()
        pytest.fail(f"pg_dump was never seen (archive exit {archive.returncode}): {err.strip()[-2000:]}")
    began = time.monotonic()
    out, err = archive.communicate(timeout=60)
    assert archive.returncode == 3, (out, err)
    assert "sent nothing for 6 s" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    assert time.monotonic() - began < 30
    with pytest.raises(ProcessLookupError):  # killed, not left stopped
        os.kill(frozen, 0)
    assert not [p for p in (other_disk / "usb").rglob("MANIFEST.b3")]  # no run was signed


def _dump_child(parent: int) -> int | None:
    """A pg_dump child of `parent` dumping from the run's snapshot (`--snapshot=`), or None."""
    try:
        tasks = os.listdir(f"/proc/{parent}/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/{parent}/task/{tid}/children") as f:
                children = f.read().split()
        except OSError:
            continue
        for child in children:
            try:
                with open(f"/proc/{child}/cmdline", "rb") as f:
                    args = f.read().split(b"\0")
            except OSError:
                continue
            if args and os.path.basename(args[0]) == b"pg_dump" and any(a.startswith(b"--snapshot=") for a in args):
                return int(child)
    return None
