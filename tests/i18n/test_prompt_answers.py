"""The answers a French person types: `oui`, `NON`, `o`, `n`, `yes` (and nonsense) to `coffre archive`'s questions,
through a real pseudo-terminal, under LANG=fr_FR.UTF-8 and under LANG=C.UTF-8."""

from __future__ import annotations

import sys

from conftest import run_in_terminal
from pipeline.i18n import in_language

COFFRE = [sys.executable, "-m", "pipeline"]


def converse(argv, dialogue, env):
    return run_in_terminal(argv, dialogue, env=env, timeout=120, every_question=True)


def fr(message: str, **values) -> str:
    said = in_language("fr", message)
    assert said != message, f"no French for {message!r}: the catalogue is not compiled or lacks it"
    return said.format(**values)


def test_a_french_person_answers_oui_NON_o_n_and_nonsense(store, other_disk):
    a, b = store.destinations
    lang = {"LANG": "fr_FR.UTF-8"}
    save_to = fr("Save to {destinations}?", destinations=f"{a}, {b}")
    keep_a, keep_b = (fr("Keep the copy on {destination}?", destination=d) for d in (a, b))
    code, shown = converse([*COFFRE, "archive", "--config", str(store.config)],
                           [(save_to, "NON"), (keep_a, "peut-être"), (keep_a, "oui"), (keep_b, "n"),
                            (fr("Another folder to save to (USB key, external disk; empty to finish)"), "")], lang)
    assert code == 0, shown
    assert f"{save_to} {fr('[Y/n]')}" in shown and fr("[Y/n]") == "[O/n]"
    assert fr("Answer O (oui) or N (non).") in shown  # nonsense is asked again, in one sentence
    assert len(store.run_dirs(a)) == 1 and store.run_dirs(b) == [], shown  # oui kept a, n dropped b
    # The place used last is what is proposed next, as the till's own manual does; `o` takes it.
    code, shown = converse([*COFFRE, "archive", "--config", str(store.config)],
                           [(fr("Save to {destinations}?", destinations=str(a)), "o")], lang)
    assert code == 0, shown
    assert len(store.run_dirs(a)) == 2 and store.run_dirs(b) == []
    assert "Save to" not in shown and "Keep the copy" not in shown  # French questions only


def test_an_english_screen_takes_yes_and_the_french_answers_too(store):
    a, b = store.destinations
    lang = {"LANG": "C.UTF-8"}
    code, shown = converse([*COFFRE, "archive", "--config", str(store.config)],
                           [(f"Save to {a}, {b}? [Y/n]", "n"), (f"Keep the copy on {a}?", "yes"),
                            (f"Keep the copy on {b}?", "OUI"), ("Another folder", "")], lang)
    assert code == 0, shown
    assert len(store.run_dirs(a)) == 1 and len(store.run_dirs(b)) == 1
    assert "Sauvegarder" not in shown
