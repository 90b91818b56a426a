"""What a person at the till sees: the archive's destination question, init's questions, the passphrase."""

from __future__ import annotations

import subprocess
import sys

from conftest import need_tool, run_coffre, run_in_terminal

COFFRE = [sys.executable, "-m", "pipeline"]


def test_archive_proposes_the_last_destination_like_the_till(store):
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)],
                                  [("[Y/n]", "")])
    assert code == 0, shown
    assert f"Save to {store.destinations[0]}, {store.destinations[1]}? [Y/n]" in shown
    assert len(store.run_dirs(store.destinations[0])) == 1


def test_archive_asks_for_another_folder_when_refused(store, other_disk):
    other = other_disk / "other-key"
    other.mkdir()
    a, b = store.destinations
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)],
                                  [("Save to", "n"), (f"Keep the copy on {a}?", "n"), (f"Keep the copy on {b}?", "non"),
                                   ("Another folder", str(other)), ("Another folder", "")])
    assert code == 0, shown
    assert len(store.run_dirs(other)) == 1
    assert store.run_dirs(a) == [] and store.run_dirs(b) == []
    # The next question proposes the folder used last; Enter takes it.
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)], [("Save to", "")])
    assert code == 0, shown
    assert f"Save to {other}?" in shown
    assert len(store.run_dirs(other)) == 2


def test_archive_no_asks_for_each_configured_copy_and_drops_none_silently(store, other_disk):
    a, b = store.destinations
    extra = other_disk / "extra-key"
    extra.mkdir()
    # Last time only `extra` was used: "no" to it still asks about it and about each configured copy, one by one.
    assert run_coffre("archive", "--config", store.config, "--to", extra).code == 0
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)],
                                  [(f"Save to {extra}?", "NON"), (f"Keep the copy on {extra}?", "n"),
                                   (f"Keep the copy on {a}?", "OUI"), (f"Keep the copy on {b}?", "no"),
                                   ("Another folder", "")])
    assert code == 0, shown
    for spec in (extra, a, b):
        assert f"Keep the copy on {spec}? [Y/n]" in shown, shown
    assert len(store.run_dirs(a)) == 1 and store.run_dirs(b) == [] and len(store.run_dirs(extra)) == 1


def test_archive_with_every_copy_refused_says_so_in_one_sentence(store):
    a, b = store.destinations
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)],
                                  [("Save to", "n"), (f"Keep the copy on {a}?", "n"), (f"Keep the copy on {b}?", "n"),
                                   ("Another folder", "")])
    assert code == 2, shown
    assert "No destination chosen: nothing was saved." in shown and "Traceback" not in shown
    assert store.run_dirs(a) == [] and store.run_dirs(b) == []


def test_archive_questions_in_french_take_oui_and_non(store):
    a, b = store.destinations
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)],
                                  [("Sauvegarder dans", "non"), (f"Garder la copie sur {a} ?", "o"),
                                   (f"Garder la copie sur {b} ?", "N"), ("Autre dossier", "")],
                                  env={"LANG": "fr_FR.UTF-8"})
    assert code == 0, shown
    assert f"Sauvegarder dans {a}, {b} ? [O/n]" in shown
    assert "Chaque copie a été écrite, relue et vérifiée." in shown
    assert len(store.run_dirs(a)) == 1 and store.run_dirs(b) == []


def test_init_asks_for_what_is_missing(sample_db, tmp_path, other_disk):
    cfg = tmp_path / "etc" / "coffre.toml"
    code, shown = run_in_terminal(
        [*COFFRE, "init", "--config", str(cfg), "--source", f"sqlite:{sample_db}", "--i-know"],
        [("Destination", str(other_disk)), ("Destination", ""), ("decryption key", str(tmp_path / "off" / "id.txt")),
         ("Store id", "magasin-1"), ("Protect", "n")])
    assert code == 0, shown
    assert 'store_id = "magasin-1"' in cfg.read_text()
    assert str(other_disk) in cfg.read_text()


def test_init_without_a_terminal_names_the_missing_option(sample_db, tmp_path):
    res = run_coffre("init", "--config", tmp_path / "c.toml", "--source", f"sqlite:{sample_db}",
                     "--i-know", "--identity-out", tmp_path / "id.txt")
    assert res.code == 2 and "--to" in res.err, res
    assert not (tmp_path / "c.toml").exists() and not (tmp_path / "id.txt").exists()


def test_passphrase_protected_identity_opens_with_stock_age(sample_db, tmp_path, other_disk):
    age = need_tool("age")
    zstd = need_tool("zstd")
    cfg, ident = tmp_path / "etc" / "c.toml", tmp_path / "off" / "id.age"
    res = run_coffre("init", "--config", cfg, "--source", f"sqlite:{sample_db}", "--to", other_disk,
                     "--i-know", "--identity-out", ident, "--store-id", "p", "--passphrase-env", "COFFRE_TEST_PASS",
                     env={"COFFRE_TEST_PASS": "cheval agrafe batterie correcte"})
    assert res.code == 0, res
    assert "cheval" not in res.err + res.out + cfg.read_text()
    data = ident.read_bytes()
    assert data.startswith(b"age-encryption.org/v1\n-> scrypt ") and b"AGE-SECRET-KEY" not in data
    assert run_coffre("archive", "--config", cfg, "--yes").code == 0
    (run,) = [p for p in (other_disk / "p").iterdir() if p.name != "blocks"]
    out = tmp_path / "facts.zst"
    code, shown = run_in_terminal([age, "-d", "-i", str(ident), "-o", str(out), str(run / "facts.json.zst.age")],
                                  [("passphrase", "cheval agrafe batterie correcte")])
    assert code == 0, shown
    facts = subprocess.run([zstd, "-d", "-c", str(out)], capture_output=True).stdout
    assert b'"row_counts"' in facts
    code, shown = run_in_terminal([age, "-d", "-i", str(ident), "-o", str(tmp_path / "x"), str(run / "facts.json.zst.age")],
                                  [("passphrase", "wrong")])
    assert code != 0


def test_init_asks_again_for_an_answer_it_would_refuse(sample_db, tmp_path, other_disk):
    # Each answer is checked as it is typed: the sentence of the refusal, then the same question again; nothing is
    # refused at the end after the passphrase was typed twice.
    cfg = tmp_path / "etc" / "coffre.toml"
    same = tmp_path / "same-disk"
    same.mkdir()
    missing = other_disk / "not-plugged"
    not_a_db = tmp_path / "notes.txt"
    not_a_db.write_text("ticket;montant\n")
    code, shown = run_in_terminal(
        [*COFFRE, "init", "--config", str(cfg)],
        [("Till database", str(not_a_db)), ("Till database", str(sample_db)),
         ("Destination", str(same)), ("Destination", str(missing)), ("Destination", str(other_disk)),
         ("Destination", str(other_disk)), ("Destination", ""),
         ("decryption key", str(tmp_path / "off" / "id.txt")), ("decryption key", str(other_disk / "key" / "id.txt")),
         ("Store id", "magasin 1"), ("Store id", "magasin-1"), ("Protect", "n")])
    assert code == 0, shown
    assert "is not a SQLite database" in shown
    assert f"The destination {same} is on the same disk as the till database" in shown
    assert f"The folder {missing} does not exist: plug in the USB key or disk (or create the folder), then give it " \
           "again." in shown
    assert "are the same folder: give each copy once" in shown
    assert "would be written on the till database's own disk" in shown
    assert "must be letters, digits" in shown and "Traceback" not in shown
    doc = cfg.read_text()
    assert 'store_id = "magasin-1"' in doc and str(other_disk) in doc and str(same) not in doc
    assert (other_disk / "key" / "id.txt").exists() and not (tmp_path / "off").exists()


def test_init_refuses_a_given_option_before_asking_anything(sample_db, tmp_path):
    same = tmp_path / "same-disk"
    same.mkdir()
    code, shown = run_in_terminal(
        [*COFFRE, "init", "--config", str(tmp_path / "etc" / "c.toml"), "--source", f"sqlite:{sample_db}",
         "--to", str(same)], [])
    assert code == 2, shown
    assert "is on the same disk as the till database" in shown
    assert "decryption key" not in shown and "Passphrase" not in shown and not (tmp_path / "etc").exists()


def test_archive_asks_again_for_a_folder_that_does_not_exist(store, other_disk):
    a, b = store.destinations
    missing = other_disk / "key-not-plugged"
    there = other_disk / "key-plugged"
    there.mkdir()
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)],
                                  [("Save to", "n"), (f"Keep the copy on {a}?", "n"), (f"Keep the copy on {b}?", "n"),
                                   ("Another folder", str(missing)), ("give it again", str(there)),
                                   ("Another folder", "")])
    assert code == 0, shown
    assert f"The folder {missing} does not exist: plug in the USB key or disk (or create the folder), then give it " \
           "again." in shown
    assert len(store.run_dirs(there)) == 1 and not missing.exists()
