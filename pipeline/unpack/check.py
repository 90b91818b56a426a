"""Checks restored data against the facts recorded at archive time: integrity, row counts, plain hash."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

FACTS_LIMIT = 16 << 20  # facts.json is small; a larger one is not ours


def parse_facts(data: bytes) -> dict:
    try:
        facts = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError("facts.json is not valid JSON")
    if not isinstance(facts, dict) or not isinstance(facts.get("snapshot"), dict):
        raise ValueError("facts.json has no snapshot section")
    counts = facts["snapshot"].get("row_counts", {})
    if not isinstance(counts, dict) or not all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                                               for v in counts.values()):
        raise ValueError("facts.json has malformed row counts")
    return facts


def check_snapshot(path: Path, snap_facts: dict) -> list[str]:
    """Opens a restored SQLite snapshot read-only; returns the sentences of what does not match."""
    problems = []
    try:
        conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as err:
        return [f"the restored database does not open ({err})"]
    try:
        result = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        if result != ["ok"]:
            problems.append(f"the restored database fails PRAGMA integrity_check: {'; '.join(result[:3])}")
        expected = snap_facts.get("row_counts") or {}
        for table, count in sorted(expected.items()):
            if count is None:
                continue
            try:
                got = conn.execute(f'SELECT count(*) FROM "{table.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
            except sqlite3.Error:
                problems.append(f"table {table} recorded at archive time is missing from the restored database")
                continue
            if got != count:
                problems.append(f"table {table} has {got} rows, {count} were recorded at archive time")
    except sqlite3.DatabaseError as err:
        problems.append(f"the restored database cannot be read ({err})")
    finally:
        conn.close()
    return problems


class BoundedBuffer:
    """Collects a small plain file in memory, refusing to grow past `limit` (memory stays flat)."""

    def __init__(self, limit: int = FACTS_LIMIT):
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit

    def write(self, data) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise ValueError("larger than any file of this kind Coffre writes")
        self.parts.append(bytes(data))
        return len(data)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)
