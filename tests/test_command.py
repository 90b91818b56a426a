"""The program's entry (pipeline/command.py): a stop at any instant of a command's life ends in its one sentence and
exit code 3, or, once the command has finished, in the command's own exit code; never a traceback or a death by the
signal. The signal is sent by the process itself at a chosen step, so that the instant is the same on every run."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import REPO

# Sends SIGINT to this process as a module starts being imported (`when`), then runs coffre's entry as `coffre list`.
_DURING_IMPORT = """
import importlib.abc, os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)  # as a terminal's Ctrl-C finds it
when = sys.argv[1]

class Stop(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == when:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, Stop())
sys.argv = ["coffre", "list", "--config", sys.argv[2]]
from pipeline.command import main
main()
"""

# Sends SIGINT to this process once the command has finished and said everything (its held messages given out).
_AFTER_THE_END = """
import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
from pipeline.cli import common
real = common.scheduled.finish

def finish(code):
    code = real(code)
    os.kill(os.getpid(), signal.SIGINT)
    return code

common.scheduled.finish = finish
sys.argv = ["coffre", "list", "--config", sys.argv[1]]
from pipeline.command import main
main()
"""


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


def test_a_stop_once_the_command_has_finished_keeps_its_exit_code(config):
    res = subprocess.run([sys.executable, "-c", _AFTER_THE_END, str(config)], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res
    assert "Traceback" not in res.stderr and "interrupted" not in res.stderr, res.stderr
