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
                # pages=-1 copies every page in ONE step, i.e. inside one read transaction:
                # a consistent instant, while WAL lets the till keep committing.
                src.backup(dst, pages=-1)
                # The copy is one self-contained file (no -wal/-shm needed to open it anywhere).
                dst.execute("PRAGMA journal_mode=DELETE")
                facts = _facts(dst)
            finally:
                dst.close()
        except sqlite3.DatabaseError as err:
            raise CannotRun(f"The source database {self.path} cannot be read ({err}).")
        finally:
            src.close()
        facts.update(
            {
                "source_kind": self.kind,
                "snapshot_started_at": _iso(started),
                "snapshot_seconds": round(time.time() - started, 3),
                "size": out.stat().st_size,
            }
        )
        return Snapshot(path=out, name="snapshot.sqlite", facts=facts)


def _facts(conn: sqlite3.Connection) -> dict:
    """What a restore must find again: row counts per table, and SQLite's own check."""
    tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    counts = {t: conn.execute(f'SELECT count(*) FROM "{t.replace(chr(34), chr(34) * 2)}"').fetchone()[0] for t in tables}
    check = [r[0] for r in conn.execute("PRAGMA quick_check")]
    return {
        "row_counts": counts,
        "quick_check": "ok" if check == ["ok"] else check[:20],
        "page_size": conn.execute("PRAGMA page_size").fetchone()[0],
        "page_count": conn.execute("PRAGMA page_count").fetchone()[0],
        "user_version": conn.execute("PRAGMA user_version").fetchone()[0],
    }


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))
