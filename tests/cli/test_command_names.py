"""The subcommands, loaded only when asked for: each one is there by its name, and a mistyped name is answered with the
nearest one, in both languages."""

from __future__ import annotations

import pytest

from conftest import run_coffre
from pipeline.cli import COMMANDS


def test_every_command_named_in_the_help_is_one_that_runs():
    res = run_coffre("--help")
    assert res.code == 0, res
    for name in COMMANDS:
        assert f"\n  {name} " in res.out, name
        sub = run_coffre(name, "--help")
        assert sub.code == 0 and "Usage: coffre " + name in sub.out, sub


@pytest.mark.parametrize("lang, typed, said", [
    ("en", "archiv", "Did you mean 'archive'?"),
    ("fr", "verfy", "Vouliez-vous dire 'verify' ?"),
])
def test_a_mistyped_command_is_exit_2_and_names_the_nearest_one(lang, typed, said):
    res = run_coffre("--lang", lang, typed)
    assert res.code == 2 and said in res.err and "Traceback" not in res.err, res
