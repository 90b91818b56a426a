"""SQLite source: one read transaction through the backup API, so sales go on in WAL mode."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from pipeline.errors import CannotRun
from pipeline.snapshot import Snapshot


class SqliteSource:
    kind = "sqlite"

    def __init__(self, path: Path):
        self.path = Path(path).absolute()

    def describe(self) -> str:
        return f"SQLite database {self.path}"

    def device(self) -> int | None:
        try:
            return os.stat(self.path).st_dev
        except OSError:
            return None

    def take(self, scratch: Path) -> Snapshot:
        if not self.path.is_file():
            raise CannotRun(f"The source database {self.path} does not exist or is not a file.")
        out = scratch / "snapshot.sqlite"
        started = time.time()
        try:
            src = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=30)
        except sqlite3.Error as err:
            raise CannotRun(f"The source database {self.path} cannot be opened ({err}).")
        try:
            dst = sqlite3.connect(out)
            try:
                # The copy is scratch: a crash leaves nothing worth keeping (the next run removes it),
                # so no fsync of hundreds of megabytes to the till's disk before packing can start.
                dst.execute("PRAGMA synchronous=OFF")
                # pages=-1 copies every page in ONE step, i.e. inside one read transaction:
                # a consistent instant, while WAL lets the till keep committing.
                src.backup(dst, pages=-1)
                # The copy is one self-contained file (no -wal/-shm needed to open it anywhere).
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        except sqlite3.DatabaseError as err:
            raise CannotRun(f"The source database {self.path} cannot be read ({err}).")
        finally:
            src.close()
        facts = {
            "source_kind": self.kind,
            "snapshot_started_at": _iso(started),
            "snapshot_seconds": round(time.time() - started, 3),
            "size": out.stat().st_size,
        }
        return Snapshot(path=out, name="snapshot.sqlite", facts=facts, inspect=lambda: inspect(out))


def inspect(path: Path) -> dict:
    """What a restore must find again: row counts per table, and SQLite's own check (read-only)."""
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)
    try:
        return _facts(conn)
    finally:
        conn.close()


def _facts(conn: sqlite3.Connection) -> dict:
    # A damaged till database is still saved (the copy is what is left of it): errors become facts.
    facts: dict = {}
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    except sqlite3.DatabaseError as err:
        return {"row_counts": {}, "quick_check": [f"schema unreadable: {err}"]}
    counts: dict = {}
    for t in tables:
        try:
            counts[t] = conn.execute(f'SELECT count(*) FROM "{t.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
        except sqlite3.DatabaseError:
            counts[t] = None
    facts["row_counts"] = counts
    try:
        check = [r[0] for r in conn.execute("PRAGMA quick_check")]
        facts["quick_check"] = "ok" if check == ["ok"] else check[:20]
        for pragma in ("page_size", "page_count", "user_version"):
            facts[pragma] = conn.execute(f"PRAGMA {pragma}").fetchone()[0]
    except sqlite3.DatabaseError as err:
        facts["quick_check"] = [str(err)]
    return facts


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
