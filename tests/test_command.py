"""The program's entry (pipeline/command.py): a stop at any instant of a command's life ends in its one sentence and
exit code 3, or, once the command has finished, in the command's own exit code; never a traceback or a death by the
signal. The signal is sent by the process itself at a chosen step, so that the instant is the same on every run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO, run_coffre

# Each driver runs `coffre list --config CONFIG` (the last argument) through coffre's entry, with SIGINT as a
# terminal's Ctrl-C finds it, and a hook that sends SIGINT to the process itself at one step.
def driver(hook: str) -> str:
    return ("import importlib.abc, os, signal, sys\n"
            "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
            "def stop():\n"
            "    os.kill(os.getpid(), signal.SIGINT)\n"
            f"{hook}\n"
            "sys.argv = ['coffre', 'list', '--config', sys.argv[-1]]\n"
            "from pipeline.command import main\n"
            "main()\n")


# As a module (argv[1]) starts being imported.
_DURING_IMPORT = driver("""
when = sys.argv[1]
class Stop(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == when:
            sys.meta_path.remove(self)
            stop()
        return None
sys.meta_path.insert(0, Stop())""")

# Once the command has finished and said everything (as the interpreter finishes).
_AFTER_THE_END = driver("""
from pipeline import interrupt
real = interrupt.ignore_from_now
def ignore_from_now():
    real()
    stop()
interrupt.ignore_from_now = ignore_from_now""")

# While the finished command says its last words (the --scheduled report, here empty).
_WHILE_SAYING_THE_END = driver("""
from pipeline.cli import scheduled
real_finish = scheduled.finish
def finish(code):
    stop()
    return real_finish(code)
scheduled.finish = finish""")

# While the stop's own handlers are being set up (inside os.pipe).
_DURING_INSTALL = driver("""
real = os.pipe
def pipe():
    os.pipe = real
    stop()
    return real()
os.pipe = pipe""")


@pytest.fixture
def config(store):
    return store.config


@pytest.mark.parametrize("when", ["pipeline.interrupt", "pipeline.cli", "pipeline.cli.list", "pyrage"])
def test_a_stop_while_the_program_starts_says_its_sentence(config, when):
    res = subprocess.run([sys.executable, "-c", _DURING_IMPORT, when, str(config)], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 3, res
    said = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(said) == 1 and said[0].startswith("coffre: interrupted"), res.stderr
    assert "Traceback" not in res.stderr and "panicked" not in res.stderr


def test_a_stop_while_its_handlers_are_set_up_says_its_sentence(config):
    res = subprocess.run([sys.executable, "-c", _DURING_INSTALL, str(config)], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 3, res
    assert [line for line in res.stderr.splitlines() if line.strip()] == ["coffre: interrupted."], res.stderr


def test_a_stop_while_a_scheduled_command_says_its_report_into_a_stuck_pipe_still_ends_it(store, tmp_path):
    """--scheduled holds its report until the end: written into a pipe nobody reads, the write waits; a SIGTERM must
    still end the command (stops are ignored only once everything is said)."""
    import fcntl
    import os
    import shutil
    import signal
    import time

    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    shutil.rmtree(store.destinations[1] / store.store_id / "blocks")  # a long report: every block missing
    fifo = tmp_path / "log"
    os.mkfifo(fifo)
    keep = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)  # held open, never read
    try:
        fcntl.fcntl(keep, 1031, 4096)  # F_SETPIPE_SZ: the smallest pipe, which the report overfills
        with open(fifo, "wb") as err:
            proc = subprocess.Popen([sys.executable, "-m", "pipeline", "verify", "--config", str(store.config),
                                     "--scheduled"], cwd=REPO, stdout=subprocess.DEVNULL, stderr=err)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and b"pipe_write" not in _wchan(proc.pid):
            time.sleep(0.05)
        assert b"pipe_write" in _wchan(proc.pid), "the command never waited on the pipe"
        proc.send_signal(signal.SIGTERM)
        sent = time.monotonic()
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            pytest.fail("SIGTERM did not end a command stuck writing its report")
        assert code == 1  # its own: a copy damaged (its blocks gone)
        assert time.monotonic() - sent < 3, "it ended only at the watchdog's hard exit"
    finally:
        os.close(keep)


def _wchan(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/wchan", "rb") as f:
            return f.read()
    except OSError:
        return b""


def test_a_stop_while_the_finished_command_says_its_last_words_keeps_its_code_and_adds_nothing(config):
    res = subprocess.run([sys.executable, "-c", _WHILE_SAYING_THE_END, str(config)], cwd=REPO, capture_output=True,
                         text=True, timeout=60)
    assert res.returncode == 0, res
    assert "interrupted" not in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_a_stop_once_the_command_has_finished_keeps_its_exit_code(config):
    res = subprocess.run([sys.executable, "-c", _AFTER_THE_END, str(config)], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res
    assert "Traceback" not in res.stderr and "interrupted" not in res.stderr, res.stderr
