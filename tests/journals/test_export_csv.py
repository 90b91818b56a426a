"""The journals' CSV lines, made by printf, hold every byte of every cell: what the JSON twin says, NUL characters,
quotes, separators and line breaks included, with the euros of each amount in cents."""

from __future__ import annotations

import csv
import io
import json
import sqlite3

from pipeline.journals.connection import open_snapshot
from pipeline.journals.export import csv_header, csv_line_sql, write_rows
from pipeline.journals.mapping import load_mapping

ODD_LABELS = ['plain', 'a "quoted" word', 'semi;colon', 'two\r\nlines', 'nul\x00inside', '\x00', 'Bière 0,5 L',
              '', "it's", '%s %d %w %%']


def _export(db, name: str) -> tuple[list[dict], list[dict]]:
    mapping = load_mapping("reference-pos", "Europe/Paris")
    j = mapping.journals[name]
    conn = open_snapshot(db, mapping.timezone)
    csv_out, json_out = io.BytesIO(), io.BytesIO()
    csv_out.write(csv_header(j).encode())
    json_out.write(b"[")
    write_rows(conn, j, "", (), csv_out.write, json_out.write)
    json_out.write(b"\n]\n")
    conn.close()
    text = csv_out.getvalue().decode("utf-8").lstrip("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text, newline=""), delimiter=";"))
    return rows, json.loads(json_out.getvalue().decode("utf-8"))


def test_every_cell_of_odd_lines_is_in_the_csv_as_in_its_json_twin(sample_db):
    conn = sqlite3.connect(sample_db)
    ids = [r[0] for r in conn.execute("SELECT id FROM ticket_lines ORDER BY id LIMIT ?", (len(ODD_LABELS) + 3,))]
    for lid, label in zip(ids, ODD_LABELS):
        conn.execute("UPDATE ticket_lines SET label = ? WHERE id = ?", (label, lid))
    odd = ids[len(ODD_LABELS):]
    conn.execute("UPDATE ticket_lines SET product_id = 999999, quantity = 0.35, unit_price_cents = -1205 WHERE id = ?",
                 (odd[0],))  # no such product: its sku is NULL
    conn.execute("UPDATE ticket_lines SET unit_price_cents = 7, discount_cents = -5 WHERE id = ?", (odd[1],))
    conn.execute("UPDATE ticket_lines SET label = CAST(? AS BLOB), unit_price_cents = 2000000000000 WHERE id = ?",
                 ("blob\x00label", odd[2]))
    conn.commit()
    conn.close()
    rows, twin = _export(sample_db, "ticket_lines")
    assert len(rows) == len(twin)
    by_id = {int(r["source_id"]): (r, t) for r, t in zip(rows, twin)}
    for lid, label in zip(ids, ODD_LABELS):
        row, obj = by_id[lid]
        assert row["label"] == obj["label"] == label, (lid, label)
    for row, obj in by_id.values():  # every cell, every row: the CSV says what the JSON says
        for field, value in obj.items():
            assert row[field] == ("" if value is None else str(value)), (field, row, obj)
        for field in [f for f in obj if f.endswith("_cents")]:
            cents = obj[field]
            euros = "" if cents is None else f"{'-' if cents < 0 else ''}{abs(cents) // 100},{abs(cents) % 100:02d}"
            assert row[field[:-6] + "_eur"] == euros, (field, row)
    row, obj = by_id[odd[0]]
    assert (row["sku"], row["quantity"], row["unit_price_ttc_eur"]) == ("", "0.35", "-12,05")
    assert (by_id[odd[1]][0]["unit_price_ttc_eur"], by_id[odd[1]][0]["discount_ttc_eur"]) == ("0,07", "-0,05")
    row, obj = by_id[odd[2]]
    assert row["label"] == "blob\x00label" and row["unit_price_ttc_eur"] == "20000000000,00"


def test_a_csv_line_is_the_same_whether_made_by_printf_or_joined(sample_db):
    """A line with a NUL character is made the slow way (||), the others by printf: both give the same text for a
    row that both can make, so that which way a line was made never shows."""
    mapping = load_mapping("reference-pos", "Europe/Paris")
    conn = open_snapshot(sample_db, mapping.timezone)
    for j in mapping.journals.values():
        nul = " OR ".join(f"instr(CAST({f} AS TEXT), char(0))" for f in j.fields if j.types[f] not in ("integer", "number"))
        both = conn.execute(f"SELECT {csv_line_sql(j, printf=False)}, {csv_line_sql(j, printf=True)}, {nul or 0} "
                            f"FROM ({j.full_sql})").fetchall()
        assert both and all(a == b and not nul for a, b, nul in both), j.name
    conn.close()


def test_the_least_integer_amount_is_exported_with_its_euros(sample_db):
    """An amount stored as -1e300 reads as the least 64-bit integer, which has no opposite: its euros are made
    without taking its absolute value, and the export goes on."""
    conn = sqlite3.connect(sample_db)
    lid = conn.execute("SELECT min(id) FROM ticket_lines").fetchone()[0]
    conn.execute("UPDATE ticket_lines SET unit_price_cents = -1e300 WHERE id = ?", (lid,))
    conn.commit()
    conn.close()
    rows, twin = _export(sample_db, "ticket_lines")
    row = next(r for r in rows if int(r["source_id"]) == lid)
    assert row["unit_price_ttc_cents"] == str(-2 ** 63) and row["unit_price_ttc_eur"] == "-92233720368547758,08"
    assert next(t for t in twin if t["source_id"] == lid)["unit_price_ttc_cents"] == -2 ** 63
