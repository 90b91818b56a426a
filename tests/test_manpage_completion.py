"""The man page and the shell completion are generated from the command definitions."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import REPO, need_tool, run_coffre


def test_the_man_page_is_current():
    res = subprocess.run([sys.executable, REPO / "scripts" / "manpage", "--check"], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert res.returncode == 0, res.stdout + res.stderr
    page = (REPO / "docs" / "coffre.1").read_text()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "COMMANDS", "EXIT STATUS", "FILES", "ENVIRONMENT"):
        assert f".SH {section}\n" in page, section
    for command in ("archive", "verify", "restore", "drill", "init", "completion"):
        assert f".SS {command}\n" in page, command
    assert "\\-\\-i\\-know" in page  # an option of init, with groff's hyphens


def test_the_man_page_renders_without_warnings():
    groff = need_tool("groff")  # scripts/test installs groff-base
    res = subprocess.run([groff, "-man", "-Tutf8", "-ww", "-z", REPO / "docs" / "coffre.1"], capture_output=True,
                         text=True)
    assert res.returncode == 0 and res.stderr == "", res.stderr
    if shutil.which("man"):
        res = subprocess.run(["man", "-l", REPO / "docs" / "coffre.1"], capture_output=True, text=True,
                             env=dict(os.environ, MANPAGER="cat", PAGER="cat", MANWIDTH="100"))
        assert res.returncode == 0 and "EXIT STATUS" in res.stdout and res.stderr == "", res.stderr


def _complete(words: str, cword: int):
    env = {"_COFFRE_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    return run_coffre(env=env)


def test_bash_completes_a_command_name():
    res = _complete("coffre ar", 1)
    assert res.code == 0, res
    assert "plain,archive" in res.out.splitlines(), res


def test_bash_completes_an_option_of_init():
    res = _complete("coffre init --i-", 2)
    assert res.code == 0, res
    assert "plain,--i-know" in res.out.splitlines(), res


@pytest.mark.parametrize("shell, marker", [("bash", "_COFFRE_COMPLETE=bash_complete"),
                                           ("zsh", "#compdef coffre"), ("fish", "complete --no-files --command coffre")])
def test_completion_prints_the_script_of_each_shell(shell, marker):
    res = run_coffre("completion", shell)
    assert res.code == 0, res
    assert marker in res.out, res.out


def test_the_bash_script_offers_archive_for_ar_tab(tmp_path):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("no bash")
    script = run_coffre("completion", "bash").out
    shim = tmp_path / "coffre"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m pipeline \"$@\"\n")
    shim.chmod(0o755)
    (tmp_path / "completion.bash").write_text(script)
    probe = (f"source {tmp_path / 'completion.bash'}; COMP_WORDS=(coffre ar); COMP_CWORD=1; "
             "_coffre_completion coffre; printf '%s\\n' \"${COMPREPLY[@]}\"")
    res = subprocess.run([bash, "-c", probe], capture_output=True, text=True,
                         env=dict(os.environ, PATH=f"{tmp_path}:{os.environ['PATH']}"))
    assert res.returncode == 0, res.stderr
    assert "archive" in res.stdout.split(), res.stdout + res.stderr


def test_completion_refuses_an_unknown_shell():
    res = run_coffre("completion", "tcsh")
    assert res.code == 2 and "Traceback" not in res.err, res
