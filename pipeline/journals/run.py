"""The journals stage of a run: on a snapshot file, check every journal and export it into a folder."""

from __future__ import annotations

import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import CannotRun
from pipeline.i18n import _
from pipeline.journals import apart
from pipeline.journals.checks import CheckResult, check_journals
from pipeline.journals.export import export_tables, write_reports
from pipeline.journals.mapping import load_mapping
from pipeline.journals.connection import DEFAULT_TIMEZONE, add_functions, open_snapshot
from pipeline.journals.tail import tables_read


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


def tables_wanted(mapping_name: str, timezone: str = DEFAULT_TIMEZONE):
    """What a server source must copy for the journals: every table the mapping reads, as SQLite resolves its SQL
    on the source's (empty) schema. A mapping that does not fit that schema asks only for its detection table, and
    the journals stage then says so."""
    mapping = load_mapping(mapping_name, timezone)
    named = {j.table for j in mapping.journals.values()} | {mapping.doc.get("detect_table")} - {None}

    def wanted(conn: sqlite3.Connection) -> set[str]:
        add_functions(conn, timezone)
        try:
            return named | tables_read(conn, [j.full_sql for j in mapping.journals.values()] + [mapping.public_keys_sql or "SELECT 1"])
        except sqlite3.Error:
            return named

    return wanted


def journals_of_snapshot(snapshot: Path, out_dir: Path, mapping_name: str, checkpoint: dict | None,
                         period: tuple[str, str] | None, context: dict,
                         timezone: str = DEFAULT_TIMEZONE, chain_secret: bytes | None = None) -> JournalsOutcome | None:
    """None when the mapping does not fit this database (the snapshot is still saved whole).

    The export and the checks run side by side, each on its own connection. Both call Python for every row (the
    local time, a ticket's digests, a till's own seals), so a big export runs in a process of its own (apart.py),
    as an archive's does: in a thread, the two took turns at Python's lock (a year of the sample shop: 44 s).
    """
    started = time.time()
    mapping = load_mapping(mapping_name, timezone)
    conn = open_snapshot(snapshot, timezone)
    try:
        if not mapping_fits(conn, mapping.doc):
            return None
        conn.execute("PRAGMA temp_store=FILE")  # temp tables of the checks on disk: memory stays flat
        with ThreadPoolExecutor(1) as pool:
            if apart.worth_a_process(snapshot):
                exported = pool.submit(apart.export_tables_apart, snapshot, mapping_name, timezone, out_dir, period)
            else:
                exported = pool.submit(export_tables, snapshot, mapping, out_dir, period)
            checks = check_journals(conn, mapping, checkpoint, period, chain_secret=chain_secret)
            try:
                counts = exported.result()
            except apart.ExportStopped as err:  # the machine's doing, not a bug: one sentence, exit 3
                raise CannotRun(_("The fiscal journals could not be exported: {error}; run the command again.").format(
                    error=err)) from None
    finally:
        conn.close()
    write_reports(mapping, out_dir, counts, checks, period, context)
    return JournalsOutcome(out_dir, mapping.name, counts, checks, time.time() - started)
