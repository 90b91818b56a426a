"""The answers a French person types: `oui`, `NON`, `o`, `n`, `yes` (and nonsense) to `coffre archive`'s questions,
through a real pseudo-terminal, under LANG=fr_FR.UTF-8 and under LANG=C.UTF-8."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time

from pipeline.i18n import in_language

COFFRE = [sys.executable, "-m", "pipeline"]


def converse(argv, dialogue, env, timeout=120):
    """Runs argv on a pseudo-terminal; for each (question, answer) waits for the question to appear AFTER the previous
    answer (a repeated question must be asked again, not found in what was already shown), then types the answer."""
    import pty

    master, slave = pty.openpty()
    full_env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "COFFRE_LANG")}
    full_env.update(env, TERM="dumb", COLUMNS="200")
    proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=full_env, close_fds=True,
                            start_new_session=True)
    os.close(slave)
    shown, seen_up_to, pending = b"", 0, list(dialogue)
    deadline = time.time() + timeout
    try:
        while time.time() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    break
                if not chunk:
                    break
                shown += chunk
            if pending:
                at = shown.find(pending[0][0].encode(), seen_up_to)
                if at >= 0:
                    os.write(master, pending.pop(0)[1].encode() + b"\r")
                    seen_up_to = len(shown)
            if proc.poll() is not None and not ready:
                break
        code = proc.wait(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    text = shown.decode("utf-8", "replace")
    assert not pending, f"never asked {pending[0][0]!r}; the screen:\n{text}"
    return code, text


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
