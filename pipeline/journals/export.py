"""Exports the canonical journals of a snapshot: NAME.csv (UTF-8, ';', header) and NAME.json, built in bulk by SQLite."""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import dataclass
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


@dataclass
class ExportResult:
    files: list[Path]
    counts: dict[str, int]
    seconds: float


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


def export_all(conn: sqlite3.Connection, mapping: Mapping, out_dir: Path, checks: CheckResult,
               period: tuple[str, str] | None, context: dict) -> ExportResult:
    """Writes every journal, findings.json, export.json and LISEZMOI.txt into `out_dir`."""
    started = time.time()
    out_dir.mkdir(parents=True, exist_ok=True)
    counts = {}
    for j in mapping.journals.values():
        counts[j.name] = export_journal(conn, j, out_dir, period)
    files = [out_dir / f"{j}.{ext}" for j in mapping.journals for ext in ("csv", "json")]
    findings = {"summary": checks.summary(), "findings": [f.to_json() for f in checks.findings]}
    (out_dir / "findings.json").write_text(json.dumps(findings, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    meta = dict(context, mapping=mapping.name, period=list(period) if period else None, records=counts,
                files=sorted(p.name for p in files) + ["findings.json", "LISEZMOI.txt"])
    (out_dir / "export.json").write_text(json.dumps(meta, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    (out_dir / "LISEZMOI.txt").write_text(render_lisezmoi(mapping, meta, checks), encoding="utf-8")
    files += [out_dir / "findings.json", out_dir / "export.json", out_dir / "LISEZMOI.txt"]
    return ExportResult(files, counts, time.time() - started)
