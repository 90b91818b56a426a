"""The journals stage of a run: on a snapshot file, check every journal and export it into a folder."""

from __future__ import annotations

import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from pipeline.journals.checks import CheckResult, check_journals
from pipeline.journals.export import export_all
from pipeline.journals.mapping import load_mapping


@dataclass
class JournalsOutcome:
    folder: Path
    mapping: str
    counts: dict[str, int]
    checks: CheckResult
    seconds: float


def mapping_fits(conn: sqlite3.Connection, doc: dict) -> bool:
    table = doc.get("detect_table")
    return not table or conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", (table,)).fetchone() is not None


def journals_of_snapshot(snapshot: Path, out_dir: Path, mapping_name: str, checkpoint: dict | None,
                         period: tuple[str, str] | None, context: dict) -> JournalsOutcome | None:
    """None when the mapping does not fit this database (the snapshot is still saved whole)."""
    started = time.time()
    mapping = load_mapping(mapping_name)
    conn = sqlite3.connect(f"{snapshot.absolute().as_uri()}?mode=ro", uri=True)
    try:
        if not mapping_fits(conn, mapping.doc):
            return None
        conn.execute("PRAGMA temp_store=FILE")  # temp tables of the checks on disk: memory stays flat
        checks = check_journals(conn, mapping, checkpoint, period)
        exported = export_all(conn, mapping, out_dir, checks, period, context)
    finally:
        conn.close()
    return JournalsOutcome(out_dir, mapping.name, exported.counts, checks, time.time() - started)
