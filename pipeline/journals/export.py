"""Exports the canonical journals of a snapshot: NAME.csv (UTF-8, ';', header) and NAME.json, built in bulk by SQLite."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pipeline.journals.checks import CheckResult
from pipeline.journals.lisezmoi import render as render_lisezmoi
from pipeline.journals.mapping import Journal, Mapping, quote_ident

FETCH = 20000
CSV_EOL = "\r\n"  # RFC 4180, what spreadsheet tools on Windows expect


def _typed(j: Journal, f: str) -> str:
    col = quote_ident(f)
    return f"CAST({col} AS INTEGER)" if j.types[f] == "integer" else f"CAST({col} AS TEXT)"


def csv_sql(j: Journal) -> str:
    """One CSV line per row: integers bare, text always quoted (so ';', quotes and newlines are safe), NULL empty."""
    cells = []
    for f in j.fields:
        if j.types[f] == "integer":
            cells.append(f"COALESCE({_typed(j, f)}, '')")
        else:
            cells.append(f"""COALESCE('"' || replace({_typed(j, f)}, '"', '""') || '"', '')""")
    return " || ';' || ".join(cells)


def json_sql(j: Journal) -> str:
    return "json_object(" + ", ".join(f"'{f}', {_typed(j, f)}" for f in j.fields) + ")"


def export_journal(conn: sqlite3.Connection, j: Journal, out_dir: Path, period: tuple[str, str] | None) -> int:
    where, params = (f"WHERE {j.day} BETWEEN ? AND ?", period) if period else ("", ())
    cur = conn.execute(f"SELECT {csv_sql(j)}, {json_sql(j)} FROM ({j.sql}) {where}", params)
    n = 0
    with open(out_dir / f"{j.name}.csv", "w", encoding="utf-8", newline="") as c, \
            open(out_dir / f"{j.name}.json", "w", encoding="utf-8", newline="\n") as js:
        c.write(";".join(j.fields) + CSV_EOL)
        js.write("[")
        sep = "\n"
        while rows := cur.fetchmany(FETCH):
            c.write(CSV_EOL.join(r[0] for r in rows) + CSV_EOL)
            js.write(sep + ",\n".join(r[1] for r in rows))
            sep = ",\n"
            n += len(rows)
        js.write("\n]\n")
    return n


def export_tables(snapshot: Path, mapping: Mapping, out_dir: Path, period: tuple[str, str] | None) -> dict[str, int]:
    """Writes NAME.csv and NAME.json of every journal, on a connection of its own (it runs beside the checks)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(f"{snapshot.absolute().as_uri()}?mode=ro", uri=True)
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
