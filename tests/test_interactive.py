"""What a person at the till sees: the archive's destination question, init's questions, the passphrase."""

from __future__ import annotations

import subprocess
import sys

from conftest import need_tool, run_coffre, run_in_terminal

COFFRE = [sys.executable, "-m", "pipeline"]


def test_archive_proposes_the_last_destination_like_the_till(store):
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)],
                                  [("[O/n]", "")])
    assert code == 0, shown
    assert f"Sauvegarder dans {store.destinations[0]}, {store.destinations[1]} ?" in shown
    assert len(store.run_dirs(store.destinations[0])) == 1


def test_archive_asks_for_another_folder_when_refused(store, other_disk):
    other = other_disk / "other-key"
    other.mkdir()
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)],
                                  [("[O/n]", "n"), ("Dossier de sauvegarde", str(other))])
    assert code == 0, shown
    assert len(store.run_dirs(other)) == 1
    assert store.run_dirs(store.destinations[0]) == []
    # The next question proposes the folder used last.
    code, shown = run_in_terminal([*COFFRE, "archive", "--config", str(store.config)], [("[O/n]", "n"), ("Dossier", str(other))])
    assert f"Sauvegarder dans {other} ?" in shown


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
    (run,) = [p for p in (other_disk / "p").iterdir()]
    out = tmp_path / "facts.zst"
    code, shown = run_in_terminal([age, "-d", "-i", str(ident), "-o", str(out), str(run / "facts.json.zst.age")],
                                  [("passphrase", "cheval agrafe batterie correcte")])
    assert code == 0, shown
    facts = subprocess.run([zstd, "-d", "-c", str(out)], capture_output=True).stdout
    assert b'"row_counts"' in facts
    code, shown = run_in_terminal([age, "-d", "-i", str(ident), "-o", str(tmp_path / "x"), str(run / "facts.json.zst.age")],
                                  [("passphrase", "wrong")])
    assert code != 0
