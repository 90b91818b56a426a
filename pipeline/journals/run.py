"""The journals stage of a run: on a snapshot file, check every journal and export it into a folder."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.journals.checks import CheckResult, check_journals
from pipeline.journals.export import export_tables, write_reports
from pipeline.journals.mapping import load_mapping
from pipeline.journals.connection import DEFAULT_TIMEZONE, open_snapshot


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
                         period: tuple[str, str] | None, context: dict,
                         timezone: str = DEFAULT_TIMEZONE) -> JournalsOutcome | None:
    """None when the mapping does not fit this database (the snapshot is still saved whole).

    The export and the checks run side by side, each on its own connection: both spend their
    time inside SQLite, which lets go of the GIL, so they share the two cores.
    """
    started = time.time()
    mapping = load_mapping(mapping_name, timezone)
    conn = open_snapshot(snapshot, timezone)
    try:
        if not mapping_fits(conn, mapping.doc):
            return None
        conn.execute("PRAGMA temp_store=FILE")  # temp tables of the checks on disk: memory stays flat
        with ThreadPoolExecutor(1) as pool:
            exported = pool.submit(export_tables, snapshot, mapping, out_dir, period)
            checks = check_journals(conn, mapping, checkpoint, period)
            counts = exported.result()
    finally:
        conn.close()
    write_reports(mapping, out_dir, counts, checks, period, context)
    return JournalsOutcome(out_dir, mapping.name, counts, checks, time.time() - started)
