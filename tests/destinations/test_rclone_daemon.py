"""Blocks on an rclone remote go through one `rclone rcd` (pipeline/destinations/rclone_daemon.py), not a program
per block; it is gone when the command ends, however it ends, and where it cannot start the blocks still go."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import REPO, need_tool, run_coffre
from reliability.helpers import rclone_webdav


@pytest.fixture
def remote_store(sample_db, tmp_path, other_disk, monkeypatch):
    """A store with a folder copy and an rclone copy served by webdav on 127.0.0.1; every rclone the command starts
    goes through a wrapper that writes its arguments to calls.log (and refuses `rcd` when REFUSE_RCD is set)."""
    real = need_tool("rclone")
    wrappers = tmp_path / "bin"
    wrappers.mkdir()
    log = tmp_path / "calls.log"
    (wrappers / "rclone").write_text(
        "#!/bin/sh\n"
        f"echo \"$*\" >> {log}\n"
        "case \" $* \" in *\" rcd \"*) if [ -n \"$REFUSE_RCD\" ]; then echo 'rcd refused' >&2; exit 1; fi;; esac\n"
        f"exec {real} \"$@\"\n")
    (wrappers / "rclone").chmod(0o755)
    served = other_disk / "served"
    (served / "backups").mkdir(parents=True)
    with rclone_webdav(served) as (_proc, env):
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("PATH", f"{wrappers}{os.pathsep}{os.environ['PATH']}")
        # The daemons of this test's commands, told from those of tests running beside it by their folder.
        (tmp_path / "tmp").mkdir()
        monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
        usb = other_disk / "usb"
        usb.mkdir()
        cfg = tmp_path / "etc" / "coffre.toml"
        res = run_coffre("init", "--config", cfg, "--source", f"sqlite:{sample_db}", "--to", usb,
                         "--to", "rclone:coffretest:backups", "--i-know", "--identity-out", tmp_path / "id.txt",
                         "--store-id", "s1")
        assert res.code == 0, res
        log.write_text("")
        yield cfg, log, served / "backups" / "s1"


def _calls(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if line.strip()]


def _daemons() -> list[str]:
    """Command lines of the rclone daemons and watchers this test's commands started (their folder is in TMPDIR)."""
    mine = os.path.join(os.environ["TMPDIR"], "coffre-rclone-")
    out = subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if mine in line]


def test_an_archive_writes_its_blocks_through_one_daemon_and_leaves_none_behind(remote_store):
    cfg, log, store = remote_store
    res = run_coffre("archive", "--config", cfg, "--yes", "--json")
    assert res.code == 0, res
    blocks = [p for p in (store / "blocks").rglob("*") if p.is_file()]
    assert len(blocks) >= 5
    calls = _calls(log)
    assert sum(" rcd " in f" {c} " for c in calls) == 1
    per_block = [c for c in calls if "/blocks/" in c and (" rcat " in f" {c} " or " cat " in f" {c} "
                                                           or " moveto " in f" {c} ")]
    assert per_block == [], per_block  # no program started for a block: its upload, move and read-back
    assert run_coffre("verify", "--config", cfg, "--from", "rclone:coffretest:backups").code == 0
    assert _daemons() == []
    # The password the daemon answers to is on no command line: only the path of a file that is gone.
    rcd = next(c for c in calls if " rcd " in f" {c} ")
    folder = Path(rcd.split("--rc-htpasswd ", 1)[1].split()[0]).parent
    assert "--rc-pass" not in rcd and "--rc-user" not in rcd and not folder.exists()


def test_where_the_daemon_cannot_start_the_blocks_go_one_program_each(remote_store, monkeypatch):
    cfg, log, store = remote_store
    monkeypatch.setenv("REFUSE_RCD", "1")
    res = run_coffre("archive", "--config", cfg, "--yes", "--json")
    assert res.code == 0, res
    calls = _calls(log)
    assert any(" rcd " in f" {c} " for c in calls)
    assert any("/blocks/" in c and " rcat " in f" {c} " for c in calls)
    assert "Traceback" not in res.err
    monkeypatch.delenv("REFUSE_RCD")
    assert run_coffre("verify", "--config", cfg).code == 0


def test_a_run_killed_with_minus_9_leaves_no_rclone_behind(remote_store, tmp_path):
    cfg, log, _store = remote_store
    proc = subprocess.Popen([sys.executable, "-m", "pipeline", "archive", "--config", str(cfg), "--yes"],
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _daemons() and proc.poll() is None:
            time.sleep(0.01)
        assert proc.poll() is None, "the run ended before its daemon could be seen"
        assert _daemons()
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    deadline = time.monotonic() + 10
    while (_daemons() or list(Path(os.environ["TMPDIR"]).glob("coffre-rclone-*"))) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _daemons() == []
    assert list(Path(os.environ["TMPDIR"]).glob("coffre-rclone-*")) == []  # its password file is gone too


def test_the_password_file_is_the_commands_alone():
    from pipeline.destinations.rclone_daemon import RcloneDaemon
    daemon = RcloneDaemon(need_tool("rclone"), [])
    daemon.start()
    try:
        htpasswd = Path(daemon.folder) / "htpasswd"
        assert stat.S_IMODE(htpasswd.stat().st_mode) == 0o600
        assert stat.S_IMODE(Path(daemon.folder).stat().st_mode) == 0o700
        assert daemon.call("rc/noop", {"x": "1"}) == {"x": "1"}
        daemon.auth = "Basic " + "Y29mZnJlOndyb25n"  # coffre:wrong
        with pytest.raises(OSError):
            daemon.call("rc/noop", {})
    finally:
        daemon.stop()
    assert not htpasswd.exists()


def test_a_read_cut_before_its_announced_length_fails_and_is_not_a_shorter_block():
    """A connection cut mid-block gives http.client short data without an error: the reader must say it failed
    (a short block would be called damaged, and a healthy copy failed or a good block written again)."""
    import http.server
    import threading

    from pipeline.destinations.rclone_daemon import RcloneDaemon

    class Cut(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "100")
            self.end_headers()
            self.wfile.write(b"0123456789")
            self.wfile.flush()
            self.connection.shutdown(2)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Cut)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        daemon = RcloneDaemon("rclone", [])
        daemon.port, daemon.auth = server.server_address[1], "Basic eDp5"
        reader = daemon.open("r:", "s/blocks/ab/abc")
        with pytest.raises(OSError):
            while reader.read(8 << 20):
                pass
        reader.close()
    finally:
        server.shutdown()


def test_a_remote_whose_path_holds_a_bracket_takes_its_blocks_by_programs():
    from pipeline.destinations.rclone import RcloneDestination
    assert RcloneDestination("rclone:x:/backups/a]b")._daemon() is None


# ---- a daemon that dies mid-command

BLOCK_A, BLOCK_B = "ab" + "0" * 62, "cd" + "1" * 62


@pytest.fixture
def local_remote(tmp_path, monkeypatch):
    """An rclone destination on rclone's local backend (no network at all), and no daemon left from before."""
    from pipeline.destinations import rclone, rclone_daemon
    from pipeline.destinations.rclone import RcloneDestination
    need_tool("rclone")
    (tmp_path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    monkeypatch.setenv("RCLONE_CONFIG_COFFRELOCAL_TYPE", "local")
    rclone_daemon.stop_all()
    monkeypatch.setattr(rclone_daemon, "_restarts", {})
    monkeypatch.setattr(rclone, "_no_daemon", [])
    (tmp_path / "remote").mkdir()
    yield RcloneDestination(f"rclone:coffrelocal:{tmp_path / 'remote'}"), tmp_path / "remote" / "s1" / "blocks"
    rclone_daemon.stop_all()


def _kill_rclone(daemon) -> None:
    from pipeline.destinations.rclone_daemon import _alive
    os.kill(daemon.rclone_pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while _alive(daemon.rclone_pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not _alive(daemon.rclone_pid)


def test_a_daemon_that_dies_is_started_again_and_the_blocks_still_go_through_one(local_remote):
    dest, blocks = local_remote
    writer = dest.start_blocks("s1")
    writer.put(BLOCK_A, b"first block")
    first = dest._daemon()
    _kill_rclone(first)
    writer.put(BLOCK_B, b"second block")  # on a daemon started again, not a failed copy
    second = dest._daemon()
    assert second is not first and second.running() and second.rclone_pid != first.rclone_pid
    assert (blocks / "cd" / BLOCK_B).read_bytes() == b"second block"
    _kill_rclone(second)
    with dest.open_block("s1", BLOCK_A) as f:
        assert f.read() == b"first block"
    assert dest._daemon().rclone_pid not in (first.rclone_pid, second.rclone_pid)
    assert sorted(p.name for p in (blocks / "ab").iterdir()) == [BLOCK_A]  # no upload left under its .tmp- name


def test_a_daemon_that_keeps_dying_leaves_the_blocks_to_one_program_each(local_remote):
    from pipeline.destinations import rclone_daemon
    dest, blocks = local_remote
    writer = dest.start_blocks("s1")
    for _ in range(rclone_daemon.RESTARTS + 1):
        writer.put(BLOCK_A, b"block", replace=True)
        _kill_rclone(dest._daemon())
    writer.put(BLOCK_B, b"block b")
    assert dest._daemon() is None
    assert (blocks / "cd" / BLOCK_B).read_bytes() == b"block b"
    with dest.open_block("s1", BLOCK_A) as f:
        assert f.read() == b"block"


def test_an_answer_on_the_port_of_a_dead_daemon_is_not_taken_as_its_own(local_remote):
    """Once our rclone is gone, another program may take its port: what it answers (a block 'written', bytes 'read')
    must not count, or a copy would be said written or intact by a stranger."""
    import http.server
    import threading

    from pipeline.destinations.rclone_daemon import DaemonError, RcloneDaemon

    daemon = RcloneDaemon(need_tool("rclone"), [])
    daemon.start()
    try:
        assert daemon.call("rc/noop", {"x": "1"}) == {"x": "1"}
        _kill_rclone(daemon)

        class Impostor(http.server.BaseHTTPRequestHandler):
            def _answer(self, body: bytes):
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(b"{}")

            def do_GET(self):
                self._answer(b"the bytes a block should have")

            def log_message(self, *args):
                pass

        http.server.HTTPServer.allow_reuse_address = True
        deadline = time.monotonic() + 10
        while True:  # rclone's last threads hold the port a few ms after the system shows it dead
            try:
                server = http.server.HTTPServer(("127.0.0.1", daemon.port), Impostor)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.01)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            with pytest.raises(DaemonError):
                daemon.call("operations/movefile", {"srcFs": "r:", "srcRemote": "a", "dstFs": "r:", "dstRemote": "b"})
            with pytest.raises(DaemonError):
                daemon.upload("r:", "s1/blocks/ab", "x", b"data")
            with pytest.raises(DaemonError):
                daemon.open("r:", "s1/blocks/ab/x").read()
        finally:
            server.shutdown()
            server.server_close()
    finally:
        daemon.stop()


@pytest.mark.parametrize("moved", [True, False])
def test_a_move_whose_answer_was_lost_is_a_block_written_only_if_it_moved(local_remote, monkeypatch, moved):
    from pipeline.destinations.rclone_daemon import DaemonError
    dest, blocks = local_remote
    daemon = dest._daemon()
    real = daemon.call

    def lose_the_answer(command, params):
        if command == "operations/movefile":
            if moved:
                real(command, params)
            raise DaemonError("the rclone daemon stopped answering (connection reset)")
        return real(command, params)

    monkeypatch.setattr(daemon, "call", lose_the_answer)
    writer = dest.start_blocks("s1")
    if moved:
        writer.put(BLOCK_A, b"a block")
        assert (blocks / "ab" / BLOCK_A).read_bytes() == b"a block"
    else:
        with pytest.raises(OSError, match="cannot publish"):
            writer.put(BLOCK_A, b"a block")
        assert not (blocks / "ab" / BLOCK_A).exists()


def test_a_block_read_cut_by_the_daemons_death_goes_on_through_the_next(local_remote, monkeypatch):
    """The daemon dies while a block is being read (rclone killed mid-transfer, before the system shows it dead):
    the read goes on through a new daemon, and gives the block's bytes, each once and in order."""
    from pipeline.destinations import rclone
    from pipeline.manifest.blocks import MAX_BLOCK
    dest, blocks = local_remote
    data = os.urandom(MAX_BLOCK - 4096)  # more than the socket buffers hold: the rest must come after the kill
    dest.start_blocks("s1").put(BLOCK_A, data)
    opened = []
    real = rclone.RcloneDestination._open_block_once
    monkeypatch.setattr(rclone.RcloneDestination, "_open_block_once",
                        lambda self, *a: opened.append(a) or real(self, *a))
    with dest.open_block("s1", BLOCK_A) as f:
        got = [f.read(65536)]
        first = dest._daemon()
        os.kill(first.rclone_pid, signal.SIGKILL)  # not waited for: the cut comes before the system shows it
        while chunk := f.read(65536):
            got.append(chunk)
    assert b"".join(got) == data
    assert len(opened) == 2, opened  # opened once, and once again through the daemon started anew
    assert dest._daemon() is not first and dest._daemon().running()


@pytest.mark.parametrize("last, missing", [("ERROR : caisse/blocks/ab/abcd: Failed to cat: object not found", True),
                                            ("ERROR : caisse/blocks/ab/abcd: Failed to cat: permission denied", False)])
def test_a_program_reading_a_block_is_missing_only_when_its_error_says_so(last, missing):
    """`rclone cat` notes 'Config file ... not found - using defaults' first whenever there is no configuration file:
    a block it then cannot read (permission denied) is not a missing one."""
    from pipeline.destinations.rclone import _PipeReader

    script = ("echo 'NOTICE: Config file \"/root/.config/rclone/rclone.conf\" not found - using defaults' >&2; "
              f"echo '{last}' >&2; exit 1")
    reader = _PipeReader(["sh", "-c", script], "abcd")
    try:
        with pytest.raises(OSError) as err:
            reader.read(1 << 20)
    finally:
        reader.close()
    assert isinstance(err.value, FileNotFoundError) is missing, err.value
    if not missing:
        assert "permission denied" in str(err.value)


UNOPENABLE = """
import os, sys
from pipeline.destinations.rclone import RcloneDestination
from pipeline.destinations import rclone_daemon
remote, block, big, gone = sys.argv[1:]
dest = RcloneDestination(f"rclone:coffrelocal:{remote}")
writer = dest.start_blocks("s1")
writer.put(block, b"a block")
writer.put(big, bytes(1000))
for name in (block, big):
    os.chmod(os.path.join(remote, "s1", "blocks", name[:2], name), 0)
for name in (block, big, gone):
    try:
        with dest.open_block("s1", name) as f:
            print("read", f.read())
    except OSError as err:
        print(type(err).__name__, err)
print("daemon", dest._daemon() is not None)
rclone_daemon.stop_all()
"""


def test_a_block_the_daemon_finds_but_cannot_open_is_unreadable_not_missing(tmp_path):
    """rclone's answer for an object it lists but cannot open (here a file whose mode bars rclone's user) is a 404
    that announces the object's length, with no body (7 bytes) or "Not Found" and a connection cut before that
    length (1000 bytes): the block cannot be read, and is not missing (verify would give repair's advice)."""
    need_tool("rclone")
    (tmp_path / "remote").mkdir()
    (tmp_path / "tmp").mkdir()
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"), RCLONE_CONFIG_COFFRELOCAL_TYPE="local")
    argv = [sys.executable, "-c", UNOPENABLE, str(tmp_path / "remote"), BLOCK_A, "ef" + "2" * 62, BLOCK_B]
    if os.geteuid() == 0:  # root keeps its ownership, not its right to read anything
        argv = [need_tool("setpriv"), "--bounding-set=-dac_override,-dac_read_search",
                "--inh-caps=-dac_override,-dac_read_search", *argv]
    out = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    for line in lines[:2]:
        assert line.startswith("OSError ") and line.endswith("rclone found it but could not open it"), lines
    assert lines[2].startswith("FileNotFoundError"), lines
    assert lines[3] == "daemon True", lines  # read through the daemon, not `rclone cat`
