"""Opens a snapshot read-only for the journals stage, with the SQL functions a mapping may call.

coffre_digest(order, text) is an aggregate: the SHA-256 (hex) of the texts sorted by `order` and joined by '|',
so that a mapping can rebuild the digest of a ticket's lines or payments that a till signs (SQLite's group_concat
promises no order). With no row it gives the digest of the empty string.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path


class _Digest:
    def __init__(self):
        self.parts: list[tuple] = []

    def step(self, order, text) -> None:
        self.parts.append((order, "" if text is None else str(text)))

    def finalize(self) -> str:
        # Orders of one kind sort as they are; mixed kinds (a corrupt row) still sort, by type name first.
        self.parts.sort(key=lambda p: (type(p[0]).__name__, p[0]) if p[0] is not None else ("", 0))
        return hashlib.sha256("|".join(t for _, t in self.parts).encode("utf-8")).hexdigest()


def add_functions(conn: sqlite3.Connection) -> sqlite3.Connection:
    conn.create_aggregate("coffre_digest", 2, _Digest)
    return conn


def open_snapshot(path: Path) -> sqlite3.Connection:
    return add_functions(sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True))
