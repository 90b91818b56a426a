"""Exports the canonical journals of a snapshot: NAME.csv (UTF-8 with a BOM, ';', header) and NAME.json, built in bulk by
SQLite. The CSV is what a French spreadsheet opens by a double click: the BOM tells Excel it is UTF-8 (without it
"Bière" shows as "BiÃ¨re"), and each amount in cents is followed by the same amount in euros with a decimal comma."""

from __future__ import annotations

import codecs
import json
import sqlite3
from pathlib import Path

from pipeline.journals import decimals
from pipeline.journals.checks import CheckResult
from pipeline.journals.lisezmoi import render as render_lisezmoi
from pipeline.journals.mapping import Journal, Mapping, quote_ident
from pipeline.journals.connection import UNREADABLE, open_snapshot

# Rows per batch: their CSV and JSON text, joined and checked as UTF-8, take a few copies of the batch at once, which
# the heap keeps after. 2000 tickets' took 8 MB more on a supermarket's evening, 500 about 1 MB, in the same time.
FETCH = 500
CSV_EOL = "\r\n"  # RFC 4180, what spreadsheet tools on Windows expect


def _typed(j: Journal, f: str) -> str:
    col = quote_ident(f)
    if j.types[f] == "number":  # a weighed 0.35 kg stays 0.35, a whole 2 stays 2, a text the till holds there a text
        return decimals.written_sql(col)
    return f"CAST({col} AS INTEGER)" if j.types[f] == "integer" else f"CAST({col} AS TEXT)"


def _quoted(typed: str, printf: bool) -> str:
    """A text cell: always quoted, its quotes doubled; NULL empty."""
    if printf:
        return f"""CASE WHEN {typed} IS NULL THEN '' ELSE printf('"%w"', {typed}) END"""
    return f"""COALESCE('"' || replace({typed}, '"', '""') || '"', '')"""


BOM = "\ufeff"


def euro_field(j: Journal, f: str) -> str | None:
    """The CSV-only euros column that follows an amount in cents (total_ttc_cents -> total_ttc_eur), or None."""
    return f[:-len("_cents")] + "_eur" if f.endswith("_cents") and j.types[f] == "integer" else None


def csv_fields(j: Journal) -> list[str]:
    out = []
    for f in j.fields:
        out.append(f)
        if euro_field(j, f):
            out.append(euro_field(j, f))
    return out


def _euros_sql(col: str) -> str:
    # "-12,05" for -1205 cents, quoted as text: French Excel reads it as a number, a point would make it a date.
    # abs() of the quotient and remainder, not of the amount: the least integer (an amount stored as -1e300 becomes
    # it) has no opposite, and abs() of it stops the export.
    return (f"""CASE WHEN {col} IS NULL THEN '' ELSE printf('"%s%d,%02d"', CASE WHEN {col} < 0 THEN '-' ELSE '' END, """
            f"""abs({col} / 100), abs({col} % 100)) END""")


PRINTF_ARGS = 100  # below SQLite's least limit on a function's arguments (127)
CELL_SEP = " || ';' || "


def csv_sql(j: Journal) -> str:
    """One CSV line per row: integers bare, text always quoted (so ';', quotes and newlines are safe), NULL empty.

    The line is made by printf in one pass: joined with ||, each cell would copy the line made so far (measured on the
    1-year sample: 0.6 s of the first run's export). printf stops a text at a NUL character, which || keeps: a row
    with one in a text cell is made with || instead, so that no byte of it is lost.
    """
    texts = [f"instr({_typed(j, f)}, char(0))" for f in j.fields if j.types[f] == "string"]
    # A decimal field holds text only where the till holds a text there (typeof, cheaper than the field's text).
    texts += [f"({decimals.is_text_sql(quote_ident(f))} AND instr(CAST({quote_ident(f)} AS TEXT), char(0)))"
              for f in j.fields if j.types[f] == "number"]
    if not texts:
        return csv_line_sql(j, printf=True)
    nul = " OR ".join(texts)
    return f"CASE WHEN {nul} THEN {csv_line_sql(j, printf=False)} ELSE {csv_line_sql(j, printf=True)} END"


def csv_line_sql(j: Journal, printf: bool) -> str:
    """The CSV line made by printf, or joined with || (slower, but a text's NUL characters stay in it)."""
    cells = []
    for f in j.fields:
        typed = _typed(j, f)
        if j.types[f] == "integer":
            cells.append(f"COALESCE({typed}, '')")
            if euro_field(j, f):
                cells.append(_euros_sql(typed))
        elif j.types[f] == "number":  # bare, unless the till holds a text there
            col = quote_ident(f)
            cells.append(f"(CASE WHEN {decimals.is_text_sql(col)} THEN {_quoted(f'CAST({col} AS TEXT)', printf)} "
                         f"ELSE COALESCE({typed}, '') END)")
        else:
            cells.append(_quoted(typed, printf))
    if not printf:
        return CELL_SEP.join(cells)
    groups = [cells[i:i + PRINTF_ARGS] for i in range(0, len(cells), PRINTF_ARGS)]
    return CELL_SEP.join(f"printf('{';'.join(['%s'] * len(g))}', {', '.join(g)})" for g in groups)


def _json_typed(j: Journal, f: str) -> str:
    return decimals.json_sql(quote_ident(f)) if j.types[f] == "number" else _typed(j, f)


def json_sql(j: Journal) -> str:
    return "json_object(" + ", ".join(f"'{f}', {_json_typed(j, f)}" for f in j.fields) + ")"


def journal_rows(conn: sqlite3.Connection, j: Journal, where: str, params: tuple):
    """Batches of (CSV line, JSON object) text for the rows selected, in the mapping's order."""
    # OFFSET 0 keeps SQLite from flattening the rows into the outer query, which would compute each column once for
    # the CSV and again for the JSON: a ticket's two digests (a Python aggregate over its lines and payments) and its
    # local time would be made twice (measured: 25 % of the tickets' export).
    cur = conn.execute(f"SELECT {csv_sql(j)}, {json_sql(j)} FROM (SELECT * FROM ({j.full_sql}) {where} "
                       f"LIMIT -1 OFFSET 0)", params)
    while rows := cur.fetchmany(FETCH):
        yield rows


def csv_header(j: Journal) -> str:
    return BOM + ";".join(csv_fields(j)) + CSV_EOL


JSON_OPEN, JSON_CLOSE = "[", "\n]\n"


def write_rows(conn: sqlite3.Connection, j: Journal, where: str, params: tuple, csv_write, json_write,
               rows_before: int = 0, tick=None) -> int:
    """Writes the selected rows' CSV lines and JSON array elements (after `rows_before` earlier ones), as UTF-8 bytes.

    The lines are read as SQLite's bytes and checked as UTF-8 a batch at a time, rather than decoded one by one and
    encoded again: a text that is not UTF-8 (a bit flipped on the till's disk) is written with \\xHH for each byte that
    is not, as the checks read it (journals/connection.py), where decoding would stop the export; in the JSON, whose
    strings give a backslash as \\\\, the same text."""
    n = 0
    sep = b",\n" if rows_before else b"\n"
    eol = CSV_EOL.encode()
    saved = conn.text_factory
    conn.text_factory = bytes
    try:
        for rows in journal_rows(conn, j, where, params):
            csv_write(_utf8(eol.join(r[0] for r in rows) + eol, UNREADABLE))
            json_write(_utf8(sep + b",\n".join(r[1] for r in rows), _IN_JSON))
            sep = b",\n"
            n += len(rows)
            if tick is not None:
                tick(len(rows))
    finally:
        conn.text_factory = saved
    return n


def _utf8(data: bytes, errors: str) -> bytes:
    try:
        data.decode("utf-8")
        return data
    except UnicodeDecodeError:
        return data.decode("utf-8", errors).encode("utf-8")


def _unreadable_in_json(err: UnicodeDecodeError) -> tuple[str, int]:
    """Each byte that is not UTF-8 as the JSON string characters that give the text \\xHH."""
    return "".join(f"\\\\x{b:02x}" for b in err.object[err.start:err.end]), err.end


_IN_JSON = "coffre-unreadable-in-json"
codecs.register_error(_IN_JSON, _unreadable_in_json)


def export_journal(conn: sqlite3.Connection, j: Journal, out_dir: Path, period: tuple[str, str] | None) -> int:
    where, params = (f"WHERE {j.day} BETWEEN ? AND ?", period) if period else ("", ())
    with open(out_dir / f"{j.name}.csv", "wb") as c, open(out_dir / f"{j.name}.json", "wb") as js:
        c.write(csv_header(j).encode("utf-8"))
        js.write(JSON_OPEN.encode())
        n = write_rows(conn, j, where, params, c.write, js.write)
        js.write(JSON_CLOSE.encode())
    return n


def export_tables(snapshot: Path, mapping: Mapping, out_dir: Path, period: tuple[str, str] | None) -> dict[str, int]:
    """Writes NAME.csv and NAME.json of every journal, on a connection of its own (it runs beside the checks)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    conn = open_snapshot(snapshot, mapping.timezone)
    try:
        return {j.name: export_journal(conn, j, out_dir, period) for j in mapping.journals.values()}
    finally:
        conn.close()


def write_reports(mapping: Mapping, out_dir: Path, counts: dict[str, int], checks: CheckResult,
                  period: tuple[str, str] | None, context: dict) -> list[Path]:
    """findings.json, export.json and LISEZMOI.txt, once both the export and the checks are done."""
    checks.records = dict(counts)
    findings = {"summary": checks.summary(), "findings": [f.to_json() for f in checks.findings]}
    (out_dir / "findings.json").write_text(json.dumps(findings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tables = [f"{j}.{ext}" for j in mapping.journals for ext in ("csv", "json")]
    meta = dict(context, mapping=mapping.name, period=list(period) if period else None, records=counts,
                files=sorted(tables) + ["findings.json", "LISEZMOI.txt"])
    (out_dir / "export.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "LISEZMOI.txt").write_text(render_lisezmoi(mapping, meta, checks), encoding="utf-8")
    return [out_dir / n for n in tables + ["findings.json", "export.json", "LISEZMOI.txt"]]
