"""What a till vendor writes to add a till: a mapping file, and no code when its chain is a line of fields hashed
after the previous seal (fixtures/vendor-till/). Given with `init --mapping FILE`, the till is archived with no
finding; an altered sale is named by archive and by the inspector's verify.py; a deleted one by its number."""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import open_package, run_coffre

REPO = Path(__file__).resolve().parents[2]
MAPPING = REPO / "fixtures" / "vendor-till" / "caisse-libre.json"
NEEDS_PERSON = 5
PASSWORD = "Contrôle-2025!"


def _caisse_libre(path: Path, sales: int = 40) -> None:
    """The till as its vendor wrote it: each sale sealed over the previous one's seal, per register."""
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE ventes (id INTEGER PRIMARY KEY, caisse TEXT NOT NULL, numero INTEGER NOT NULL, "
                 "horodatage TEXT NOT NULL, vendeur TEXT NOT NULL, total_centimes INTEGER NOT NULL, "
                 "tva_centimes INTEGER NOT NULL, empreinte TEXT NOT NULL)")
    last = {}
    for i in range(sales):
        caisse = "C1" if i % 3 else "C2"
        numero = sum(1 for k in range(i + 1) if ("C1" if k % 3 else "C2") == caisse)
        at = f"2025-03-{1 + i // 20:02d}T{9 + i % 10:02d}:{i % 60:02d}:00Z"
        total = 150 + 37 * i
        tva = round(total / 6)
        seal = hashlib.sha256((last.get(caisse, "") + f"{caisse}|{numero}|{at}|{total}|{tva}").encode()).hexdigest()
        last[caisse] = seal
        conn.execute("INSERT INTO ventes VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (i + 1, caisse, numero, at, "MARIE", total, tva, seal))
    conn.commit()
    conn.close()


def test_a_vendor_adds_a_till_with_a_mapping_file_alone(tmp_path, other_disk):
    shop = tmp_path / "shop"
    shop.mkdir()
    db = shop / "caisse-libre.db"
    _caisse_libre(db)
    vendor = tmp_path / "vendor" / "caisse-libre.json"  # the vendor's file, outside Coffre
    vendor.parent.mkdir()
    shutil.copy(MAPPING, vendor)
    config = tmp_path / "etc" / "coffre.toml"
    (other_disk / "usb").mkdir()
    res = run_coffre("init", "--config", config, "--source", f"sqlite:{db}", "--to", other_disk / "usb", "--i-know",
                     "--identity-out", tmp_path / "keys" / "identity.txt", "--store-id", "libre",
                     "--mapping", vendor)
    assert res.code == 0, res
    assert str(vendor) in config.read_text(encoding="utf-8")

    first = run_coffre("archive", "--config", config, "--yes", "--json")
    assert first.code == 0, first
    summary = json.loads(first.out)
    assert summary["findings"] == [] and summary["journals"]["records"]["source_chain"] == 40, summary["journals"]

    conn = sqlite3.connect(db)
    conn.execute("UPDATE ventes SET total_centimes = total_centimes + 100 WHERE caisse = 'C1' AND numero = 5")
    conn.execute("DELETE FROM ventes WHERE caisse = 'C2' AND numero = 3")
    conn.commit()
    conn.close()
    second = run_coffre("archive", "--config", config, "--yes", "--json")
    assert second.code == NEEDS_PERSON, second
    found = {(f["check"], f["record"].get("chain"), f["record"].get("sequence"))
             for f in json.loads(second.out)["findings"] if f["journal"] == "source_chain"}
    assert found == {("source_seal", "C1", 5), ("source_gap", "C2", 3), ("source_link", "C2", 4)}, found

    out = tmp_path / "audit.zip"
    res = run_coffre("export-auditor", "--config", config, "--identity", tmp_path / "keys" / "identity.txt",
                     "--period", "2025-03-01..2025-03-02", "--out", out, "--password-env", "AUDIT_PW",
                     env={"AUDIT_PW": PASSWORD, "COFFRE_DEBUG": "1"})
    assert res.code == NEEDS_PERSON, res
    root = open_package(out, tmp_path / "x", PASSWORD)
    assert (root / "chains" / "sha256_text.py").is_file()
    checked = subprocess.run([sys.executable, "-I", str(root / "verify.py")], capture_output=True, text=True,
                             cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    said = [line for line in checked.stdout.splitlines() if line.startswith("  - source_chain")]
    assert len(said) == 2, checked.stdout
    assert said[0].startswith("  - source_chain [chaîne C1, séquence 5, référence C1-5] : son sceau (sha256-text) "
                              "ne correspond pas"), checked.stdout
    assert said[1].startswith("  - source_chain [chaîne C2, séquence 3] : numéro(s) de séquence 3 absent(s) avant 4"), \
        checked.stdout
    assert "absent du paquet" not in checked.stdout, checked.stdout  # a till maps the journals it has, no more


def test_a_chain_re_sealed_after_an_edit_is_said_at_every_run(tmp_path, other_disk):
    """Anyone who can write to the table can recompute a keyless chain: what was archived is what it is held to."""
    db, config = _store(tmp_path, other_disk)
    assert _checks(config) == []
    _sql(db, "UPDATE ventes SET total_centimes = total_centimes - 100 WHERE caisse = 'C1' AND numero = 4")
    _reseal(db, "C1")  # the forger re-seals C1 from its first sale on, as the till would have
    for _evening in range(2):
        assert _checks(config) == [("source_changed", "C1", None)]


def _reseal(db: Path, caisse: str) -> None:
    """A forger's repair: every seal of the register's chain recomputed, as the till computes them."""
    conn = sqlite3.connect(db)
    last = ""
    for numero, at, total, tva, rowid in conn.execute(
            "SELECT numero, horodatage, total_centimes, tva_centimes, id FROM ventes WHERE caisse = ? ORDER BY numero",
            (caisse,)).fetchall():
        last = hashlib.sha256((last + f"{caisse}|{numero}|{at}|{total}|{tva}").encode()).hexdigest()
        conn.execute("UPDATE ventes SET empreinte = ? WHERE id = ?", (last, rowid))
    conn.commit()
    conn.close()


def _sql(db: Path, sql: str) -> None:
    conn = sqlite3.connect(db)
    conn.execute(sql)
    conn.commit()
    conn.close()


def _store(tmp_path, other_disk, mapping=MAPPING) -> tuple[Path, Path]:
    db = tmp_path / "caisse-libre.db"
    _caisse_libre(db)
    config = tmp_path / "etc" / "coffre.toml"
    (other_disk / "usb").mkdir()
    res = run_coffre("init", "--config", config, "--source", f"sqlite:{db}", "--to", other_disk / "usb", "--i-know",
                     "--identity-out", tmp_path / "keys" / "identity.txt", "--mapping", mapping)
    assert res.code == 0, res
    return db, config


def _checks(config: Path) -> list:
    res = run_coffre("archive", "--config", config, "--yes", "--json")
    return [(f["check"], f["record"].get("chain"), f["record"].get("sequence"))
            for f in json.loads(res.out)["findings"]]


def test_a_sale_deleted_then_the_chain_re_sealed_is_said_at_every_run(tmp_path, other_disk):
    db, config = _store(tmp_path, other_disk)
    assert _checks(config) == []
    _sql(db, "DELETE FROM ventes WHERE caisse = 'C2' AND numero = 3")
    _sql(db, "UPDATE ventes SET numero = numero - 1 WHERE caisse = 'C2' AND numero > 3")
    _reseal(db, "C2")
    # Renumbered and re-sealed, the chain holds; its last number is gone from the end, as at every run after.
    for _evening in range(2):
        assert _checks(config) == [("tail_deleted", "C2", None)]
    # A sale added since does not make it go away.
    _sql(db, "INSERT INTO ventes SELECT id + 1000, caisse, numero + 1, horodatage, vendeur, total_centimes, "
             "tva_centimes, empreinte FROM ventes WHERE caisse = 'C2' ORDER BY numero DESC LIMIT 1")
    _reseal(db, "C2")
    assert ("source_changed", "C2", None) in _checks(config)


def test_a_chain_with_a_finding_is_still_held_to_what_was_archived_since(tmp_path, other_disk):
    db, config = _store(tmp_path, other_disk)
    assert _checks(config) == []
    _sql(db, "UPDATE ventes SET total_centimes = total_centimes + 1 WHERE caisse = 'C1' AND numero = 2")
    assert _checks(config) == [("source_seal", "C1", 2)]
    assert _checks(config) == [("source_seal", "C1", 2)]  # said again, and the chain's checkpoint moved on
    _reseal(db, "C1")  # the forger's repair: every seal holds again
    for _evening in range(2):
        assert _checks(config) == [("source_changed", "C1", None)]


def test_a_change_of_mapping_keeps_what_the_till_s_chain_was(tmp_path, other_disk):
    db, config = _store(tmp_path, other_disk)
    assert _checks(config) == []
    copy = tmp_path / "same-till.json"  # the same mapping under another name, as a vendor's update would come
    copy.write_bytes(MAPPING.read_bytes())
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace(str(MAPPING), str(copy)), encoding="utf-8")
    _sql(db, "UPDATE ventes SET total_centimes = total_centimes + 1 WHERE caisse = 'C1' AND numero = 2")
    _reseal(db, "C1")
    assert _checks(config) == [("source_changed", "C1", None)]


def test_a_json_object_without_journals_is_not_a_mapping(tmp_path, other_disk, sample_db):
    empty = tmp_path / "empty.json"
    empty.write_text('{"name": "x"}', encoding="utf-8")
    (other_disk / "usb").mkdir()
    res = run_coffre("init", "--config", tmp_path / "etc" / "coffre.toml", "--source", f"sqlite:{sample_db}",
                     "--to", other_disk / "usb", "--i-know", "--identity-out", tmp_path / "keys" / "identity.txt",
                     "--mapping", empty)
    assert res.code == 2 and "is not a mapping: its file must hold a JSON object with its journals" in res.err, res
