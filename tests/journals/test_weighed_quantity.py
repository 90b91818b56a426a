"""A weighed article (0.35 kg at a price per kilo) keeps its decimal quantity in the journals, and its line is held
to quantity x unit price rounded to the cent (half away from zero), as fiscal_rules.line_total says."""

from __future__ import annotations

import csv
import json
import sqlite3

from conftest import run_coffre

from pipeline.fiscal_rules import line_total


def test_a_weighed_quantity_is_exported_as_it_is_and_its_line_checked(store, tmp_path):
    conn = sqlite3.connect(store.db)
    lid, unit = conn.execute("SELECT id, unit_price_cents FROM ticket_lines WHERE discount_cents = 0 AND quantity = 1 "
                             "ORDER BY id LIMIT 1").fetchone()
    total = line_total(0.35, unit, 0)
    conn.execute("UPDATE ticket_lines SET quantity = 0.35, line_total_ttc = ? WHERE id = ?", (total, lid))
    other = conn.execute("SELECT id FROM ticket_lines WHERE discount_cents = 0 AND id > ? ORDER BY id LIMIT 1",
                         (lid,)).fetchone()[0]
    conn.execute("UPDATE ticket_lines SET quantity = 0.35, line_total_ttc = line_total_ttc WHERE id = ?", (other,))
    conn.commit()
    conn.close()
    out = tmp_path / "j"
    res = run_coffre("journals", "export", "--config", store.config, "--out", out)
    assert res.code == 5, res  # the tickets no longer match their signed lines: said, but the export is made
    with open(out / "ticket_lines.csv", encoding="utf-8-sig", newline="") as f:
        rows = {int(r["source_id"]): r for r in csv.DictReader(f, delimiter=";")}
    assert rows[lid]["quantity"] == "0.35" and rows[lid]["line_total_ttc_cents"] == str(total)
    lines = {r["source_id"]: r for r in json.loads((out / "ticket_lines.json").read_text(encoding="utf-8"))}
    assert lines[lid]["quantity"] == 0.35
    found = json.loads((out / "findings.json").read_text(encoding="utf-8"))["findings"]
    arithmetic = {(f["record"]["register"], f["record"]["ticket_number"], f["record"]["line_no"])
                  for f in found if f["check"] == "line_arithmetic"}
    # the first line adds up (0.35 x unit rounded), the second kept its whole-unit total: only it is named
    assert arithmetic == {(rows[other]["register"], int(rows[other]["ticket_number"]), int(rows[other]["line_no"]))}, found


def _no_constant(name):
    raise ValueError(f"{name} is not JSON")


def test_a_quantity_past_a_reals_range_is_a_json_number_in_the_export(store, tmp_path):
    conn = sqlite3.connect(store.db)
    up, down = (r[0] for r in conn.execute("SELECT id FROM ticket_lines ORDER BY id LIMIT 2"))
    conn.execute("UPDATE ticket_lines SET quantity = 1e999 WHERE id = ?", (up,))  # a till's bit flipped, or a bug
    conn.execute("UPDATE ticket_lines SET quantity = -1e999 WHERE id = ?", (down,))
    conn.commit()
    conn.close()
    out = tmp_path / "j"
    res = run_coffre("journals", "export", "--config", store.config, "--out", out)
    assert res.code == 5, res  # the lines no longer add up: said, and the export is made
    text = (out / "ticket_lines.json").read_text(encoding="utf-8")
    lines = {r["source_id"]: r for r in json.loads(text, parse_constant=_no_constant)}  # SQLite wrote Inf: not JSON
    assert lines[up]["quantity"] == float("inf") and lines[down]["quantity"] == float("-inf")
    with open(out / "ticket_lines.csv", encoding="utf-8-sig", newline="") as f:
        rows = {int(r["source_id"]): r for r in csv.DictReader(f, delimiter=";")}
    assert (rows[up]["quantity"], rows[down]["quantity"]) == ("Inf", "-Inf")
