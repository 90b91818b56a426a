"""Dolibarr seals a copy of each validated invoice in its blocked log, while llx_facture and llx_facturedet stay
editable: a Dolibarr till on a real MariaDB, archived clean, then an invoice line's quantity edited in the tables
(the log untouched), an invoice deleted from the tables, and an invoice's log row deleted. Each is named by the
invoice's own ref (or its number when its log row is gone), by archive and by the inspector's verify.py."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import need_tool, open_package, run_coffre

NEEDS_PERSON = 5
PASSWORD = "Contrôle-2025!"


def test_invoices_edited_or_deleted_behind_the_blocked_log_are_named_by_their_ref(mariadb_server, tmp_path,
                                                                                   other_disk):
    need_tool("mariadb-dump")
    db = mariadb_server.new_database()
    secret_file = mariadb_server.option_file(tmp_path / "coffre-mariadb.cnf")
    url = mariadb_server.url(db, option_file=secret_file)
    res = run_coffre("sample-db", "--mapping", "dolibarr-pos", url, "--days", "2", "--tickets-per-day", "12",
                     "--start", "2025-03-10")
    assert res.code == 0, res
    config = tmp_path / "etc" / "coffre.toml"
    (other_disk / "usb").mkdir()
    res = run_coffre("init", "--config", config, "--source", url, "--to", other_disk / "usb", "--i-know",
                     "--identity-out", tmp_path / "keys" / "identity.txt", "--store-id", "doli",
                     "--mapping", "dolibarr-pos")
    assert res.code == 0, res
    first = run_coffre("archive", "--config", config, "--yes", "--json")
    assert first.code == 0, first
    assert json.loads(first.out)["findings"] == []

    def one(sql):
        return mariadb_server.admin(sql, database=db)

    invoices = one("SELECT rowid, ref FROM llx_facture WHERE type = 0 ORDER BY rowid")
    (edited, edited_ref), (gone, gone_ref), unlogged = invoices[1], invoices[4], invoices[7][0]
    line = one(f"SELECT rowid, qty FROM llx_facturedet WHERE fk_facture = {edited} ORDER BY rang, rowid LIMIT 1")[0]
    one(f"UPDATE llx_facturedet SET qty = qty + 1 WHERE rowid = {line[0]}")
    one(f"DELETE FROM llx_paiement_facture WHERE fk_facture = {gone}")
    one(f"DELETE FROM llx_facturedet WHERE fk_facture = {gone}")
    one(f"DELETE FROM llx_facture WHERE rowid = {gone}")
    one(f"DELETE FROM llx_blockedlog WHERE action = 'BILL_VALIDATE' AND fk_object = {unlogged}")

    second = run_coffre("archive", "--config", config, "--yes", "--json")
    assert second.code == NEEDS_PERSON, second
    found = json.loads(second.out)["findings"]
    sealed = {(f["record"].get("reference"), f["message"]) for f in found if f["check"] == "source_sealed"}
    assert (edited_ref, f"it seals quantity {float(line[1])} for the ticket_lines record ticket_source_id {edited}, "
                        f"line_no 1; the till's tables now hold {float(line[1]) + 1}: changed after sealing") \
        in sealed, found
    assert (gone_ref, f"it seals the tickets record source_id {gone}, which is no longer in the till's tables: "
                      "deleted after sealing") in sealed, found
    unsealed = [f for f in found if f["check"] == "source_unsealed"]
    assert [f["record"]["number"] for f in unsealed] == [int(unlogged)], found
    # The log row after the deleted one no longer links: the chain says so too.
    assert [f for f in found if f["check"] == "source_seal"], found

    out = tmp_path / "audit.zip"
    res = run_coffre("export-auditor", "--config", config, "--identity", tmp_path / "keys" / "identity.txt",
                     "--period", "2025-03-10..2025-03-11", "--out", out, "--password-env", "AUDIT_PW",
                     env={"AUDIT_PW": PASSWORD, "COFFRE_DEBUG": "1"})
    assert res.code == NEEDS_PERSON, res
    root = open_package(out, tmp_path / "x", PASSWORD)
    checked = subprocess.run([sys.executable, "-I", str(root / "verify.py")], capture_output=True, text=True,
                             cwd=tmp_path)
    assert checked.returncode == 1, checked.stdout + checked.stderr
    said = checked.stdout
    assert f"référence {edited_ref}] : il scelle quantity {float(line[1])} pour l'enregistrement ticket_lines " \
           f"ticket_source_id {edited}, line_no 1 ; les tables de la caisse contiennent maintenant " \
           f"{float(line[1]) + 1}" in said, said
    assert f"référence {gone_ref}] : il scelle l'enregistrement tickets source_id {gone}, qui n'est plus dans les " \
           "tables de la caisse" in said, said
    assert "tickets [caisse takepos-" in said and f"numéro {unlogged}] : aucun enregistrement de la chaîne de la " \
           "caisse ne le scelle" in said, said


def test_a_server_on_another_time_zone_is_one_finding_not_every_record_altered(mariadb_server, tmp_path, other_disk):
    """Dolibarr's V1 times are its PHP server's local time: read in a zone that agrees with it in winter only
    (UTC+1 all year against Paris), the records of the summer seal an hour off, and are said so, once."""
    need_tool("mariadb-dump")
    db = mariadb_server.new_database()
    url = mariadb_server.url(db, option_file=mariadb_server.option_file(tmp_path / "coffre-mariadb.cnf"))
    res = run_coffre("sample-db", "--mapping", "dolibarr-pos", url, "--days", "4", "--tickets-per-day", "4",
                     "--start", "2025-03-28")
    assert res.code == 0, res
    config = tmp_path / "etc" / "coffre.toml"
    (other_disk / "usb").mkdir()
    res = run_coffre("init", "--config", config, "--source", url, "--to", other_disk / "usb", "--i-know",
                     "--identity-out", tmp_path / "keys" / "identity.txt", "--mapping", "dolibarr-pos")
    assert res.code == 0, res
    text = config.read_text(encoding="utf-8")
    config.write_text(text.replace('timezone = "Europe/Paris"', 'timezone = "Etc/GMT-1"'), encoding="utf-8")
    res = run_coffre("archive", "--config", config, "--yes", "--json")
    assert res.code == NEEDS_PERSON, res
    found = json.loads(res.out)["findings"]
    assert [(f["journal"], f["check"]) for f in found] == [("source_chain", "source_timezone")], found
    summer = int(mariadb_server.admin("SELECT count(*) FROM llx_blockedlog WHERE date_creation >= '2025-03-30 03:00:00'",
                                      database=db)[0][0])
    assert found[0]["message"].startswith(f"the seals (dolibarr-blockedlog-v1) of {summer} records, from this one on, "
                                          "hold only with their times an hour off"), found
