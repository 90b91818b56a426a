"""An alarm raised once is never lost: the evening run that caught a deletion says it (exit 5), `status` shows it,
and a package made afterwards lists it in its report, even though the records are gone by then."""

from __future__ import annotations

import html
import json
import sqlite3

from conftest import run_coffre
from test_export_auditor import PASSWORD, extract

NEEDS_PERSON = 5


def _delete_last_tickets(db, register: str, n: int) -> list[int]:
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT t.id, t.number FROM tickets t JOIN registers r ON r.id = t.register_id "
                        "WHERE r.code = ? ORDER BY t.number DESC LIMIT ?", (register, n)).fetchall()
    for tid, _ in rows:
        conn.execute("DELETE FROM ticket_lines WHERE ticket_id = ?", (tid,))
        conn.execute("DELETE FROM payments WHERE ticket_id = ?", (tid,))
        conn.execute("DELETE FROM duplicates WHERE ticket_id = ?", (tid,))
        conn.execute("DELETE FROM tickets WHERE id = ?", (tid,))
    conn.commit()
    conn.close()
    return sorted(number for _, number in rows)


def test_a_tail_deletion_caught_one_evening_reaches_status_and_the_package(store, tmp_path):
    first = run_coffre("archive", "--config", store.config, "--yes", "--json")
    assert first.code == 0, first
    numbers = _delete_last_tickets(store.db, "CAISSE-01", 3)

    second = run_coffre("archive", "--config", store.config, "--yes", "--json")
    assert second.code == NEEDS_PERSON, second
    summary = json.loads(second.out)
    tail = [f for f in summary["findings"] if f["check"] == "tail_deleted" and f["journal"] == "tickets"]
    assert tail and tail[0]["record"]["numbers"] == f"{numbers[0]} to {numbers[-1]}", summary["findings"]
    # The records left are the ones verified before: saying they "changed" would accuse the till of forgery.
    assert not [f for f in summary["findings"] if f["check"] == "chain_changed"], summary["findings"]

    status = run_coffre("status", "--config", store.config)
    assert status.code != 0 and "tickets/tail_deleted" in status.out, status

    # The deleted tickets are gone from the data; the package still tells the inspector that they were deleted.
    out = tmp_path / "audit.zip"
    res = run_coffre("export-auditor", "--config", store.config, "--identity", store.identity,
                     "--period", "2025-01-01..2025-01-03", "--out", out, "--password-env", "AUDIT_PW",
                     env={"AUDIT_PW": PASSWORD})
    assert res.code == NEEDS_PERSON, res
    assert "the runs of the period found" in res.err + res.out
    assert extract(out, tmp_path / "x", PASSWORD).returncode == 0
    (root,) = list((tmp_path / "x").iterdir())
    report = html.unescape((root / "rapport.html").read_text(encoding="utf-8"))
    assert "Tous les contrôles sont satisfaits" not in report
    assert "des enregistrements présents lors d'une sauvegarde précédente ont disparu en fin de chaîne (1)" in report
    assert f"numéros {numbers[0]} to {numbers[-1]}" in report  # the records it named, in French
    runs = json.loads((root / "run" / "runs.json").read_text(encoding="utf-8"))["runs"]
    assert [r["run_id"] for r in runs] == [summary_id(first), summary["run_id"]]
    assert runs[0]["findings"] == 0 and runs[1]["by_check"].get("tickets/tail_deleted") == 1, runs
    named = [f for f in runs[1]["named"] if f["check"] == "tail_deleted"]
    assert named and named[0]["record"]["numbers"] == f"{numbers[0]} to {numbers[-1]}"


def summary_id(res) -> str:
    return json.loads(res.out)["run_id"]


def test_journals_export_with_findings_exits_5(store, tmp_path):
    conn = sqlite3.connect(store.db)
    conn.execute("UPDATE ticket_lines SET quantity = quantity + 1 WHERE id = 10")
    conn.commit()
    conn.close()
    res = run_coffre("journals", "export", "--config", store.config, "--out", tmp_path / "j")
    assert res.code == NEEDS_PERSON, res
    found = json.loads((tmp_path / "j" / "findings.json").read_text(encoding="utf-8"))["findings"]
    # The line no longer adds up, and its ticket's signature (which covers its lines' digest) no longer holds.
    assert sorted((f["journal"], f["check"]) for f in found) == [("ticket_lines", "line_arithmetic"),
                                                                ("tickets", "signature")], found
