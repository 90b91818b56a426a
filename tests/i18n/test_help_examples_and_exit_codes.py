"""Every command's --help ends with examples and the exit codes it can give, in the person's language; click's own
words are translated too."""

from __future__ import annotations

import re

import pytest

from conftest import run_coffre

COMMANDS = ["", "archive", "verify", "restore", "drill", "prune", "status", "list", "journals", "journals export",
            "export-auditor", "rebuild-record", "schedule", "sample-db", "demo", "init", "completion"]


def exit_codes_listed(text: str, heading: str) -> list[int]:
    block = text.split(heading, 1)[1]
    return [int(m) for m in re.findall(r"^\s+(\d)  \S", block, re.M)]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples_and_exit_codes_in_english(command):
    res = run_coffre("--lang", "en", *command.split(), "--help", env={"LANG": "fr_FR.UTF-8"})
    assert res.code == 0, res
    assert "Examples:" in res.out and "Exit codes:" in res.out, res.out
    examples = res.out.split("Examples:", 1)[1].split("Exit codes:", 1)[0]
    assert examples.count("coffre ") >= 2
    codes = exit_codes_listed(res.out, "Exit codes:")
    assert 0 in codes and 2 in codes and codes == sorted(set(codes)), res.out


@pytest.mark.parametrize("command", COMMANDS)
def test_help_ends_with_examples_and_exit_codes_in_french(command):
    res = run_coffre("--lang", "fr", *command.split(), "--help", env={"LANG": "C.UTF-8"})
    assert res.code == 0, res
    assert "Usage :" in res.out and "Options :" in res.out and "Exemples :" in res.out, res.out
    assert "Codes de sortie :" in res.out and "Show this message" not in res.out and "Examples:" not in res.out
    codes = exit_codes_listed(res.out, "Codes de sortie :")
    assert 0 in codes and 2 in codes, res.out
    assert "Afficher ce message et quitter." in res.out


def test_the_french_help_of_coffre_reads_french():
    res = run_coffre("--lang", "fr", "--help")
    assert res.code == 0
    assert res.out.startswith("Usage : coffre") and "COMMANDE" in res.out and "Commandes :" in res.out
    assert "Show this message" not in res.out and "Usage:" not in res.out


def test_click_errors_read_french():
    res = run_coffre("--lang", "fr", "archive", "--bogus")
    assert res.code == 2
    assert "Erreur : L'option '--bogus' n'existe pas." in res.err and "Error" not in res.err, res.err
    res = run_coffre("--lang", "fr", "sample-db", "--days", "0", "/tmp/x.db")
    assert res.code == 2 and "Valeur incorrecte pour '--days'" in res.err, res.err
    res = run_coffre("--lang", "fr", "sample-db")
    assert res.code == 2 and "Argument manquant 'PATH|URL'" in res.err, res.err
