"""French from a French locale, English otherwise, --lang forcing either."""

from __future__ import annotations

import pytest

from conftest import run_coffre
from pipeline import i18n


@pytest.mark.parametrize("env, expected", [
    ({"LANG": "fr_FR.UTF-8"}, "fr"), ({"LANG": "fr_CA.UTF-8"}, "fr"), ({"LANG": "C.UTF-8"}, "en"),
    ({"LANG": "en_GB.UTF-8"}, "en"), ({}, "en"), ({"LANGUAGE": "fr:en", "LANG": "C"}, "fr"),
    ({"LC_ALL": "C.UTF-8", "LANG": "fr_FR.UTF-8"}, "en"), ({"COFFRE_LANG": "fr", "LANG": "C"}, "fr"),
])
def test_the_language_follows_the_locale_as_gettext_reads_it(env, expected):
    assert i18n.language_from_environment(env) == expected


def test_lang_forces_the_language_of_help_whatever_the_locale():
    fr = run_coffre("--lang", "fr", "--help", env={"LANG": "C.UTF-8"})
    en = run_coffre("--lang", "en", "--help", env={"LANG": "fr_FR.UTF-8"})
    assert fr.code == en.code == 0
    assert "Usage:" in en.out and "Options:" in en.out
    assert "Usage :" in fr.out and "Options :" in fr.out and "Show this message" not in fr.out
