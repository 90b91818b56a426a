"""A server's journal tables copied, as one snapshot saw them, into an SQLite file the journals stage reads.

The journals' checks and exports are written once, in SQLite's SQL (schemas/sources/*.json): a server source
streams the rows of the tables a mapping reads into this mirror, in primary-key order, rather than Coffre
speaking every server's dialect. A single integer primary key becomes the mirror's rowid, so that the evening
run's proof that earlier rows are unchanged (journals/tail.py) holds on the mirror as on a till's own file.
Only the tables asked for are filled: the rest of the database never lands in plain on this machine's disk.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Callable, Iterable

from pipeline.interrupt import Interruptible

BATCH = 2000  # rows per executemany: memory stays flat whatever the table's size

INTEGER, REAL, TEXT, BLOB, NUMERIC = "INTEGER", "REAL", "TEXT", "BLOB", "NUMERIC"


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class Column:
    def __init__(self, name: str, affinity: str, convert: Callable[[str], object] | None = None):
        self.name = name
        self.affinity = affinity
        self.convert = convert  # the server's text of a value to the Python value SQLite stores


class Mirror:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.unlink(missing_ok=True)
        # Made in the snapshot's thread, filled in the journals' one (never both at once).
        self.conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, factory=Interruptible)
        # Scratch: a crash leaves nothing worth keeping.
        self.conn.execute("PRAGMA journal_mode=OFF")
        self.conn.execute("PRAGMA synchronous=OFF")
        self.tables: dict[str, list[Column]] = {}
        self.keys: dict[str, str | None] = {}
        self.references: dict[str, dict[str, tuple[str, str]]] = {}

    def create(self, table: str, columns: list[Column], key: str | None,
               references: dict[str, tuple[str, str]] | None = None) -> None:
        """An empty table; `key` is the single-column primary key, if the server's table has one; `references`, the
        single-column foreign keys the server declares ({column: (table, column)}). They are declared here too, as
        a till's SQLite file declares its own: an evening then knows that an older record cannot reach a row added
        to the table a key names (journals/tail.py), and checks only the new records."""
        defs = []
        refs = references or {}
        for c in columns:
            if c.name == key and c.affinity == INTEGER:
                defs.append(f"{quote(c.name)} INTEGER PRIMARY KEY")
            else:
                defs.append(f"{quote(c.name)} {c.affinity}")
            if c.name in refs:
                defs[-1] += f" REFERENCES {quote(refs[c.name][0])} ({quote(refs[c.name][1])})"
        self.conn.execute(f"CREATE TABLE {quote(table)} ({', '.join(defs)})")
        self.tables[table] = columns
        self.keys[table] = key
        self.references[table] = dict(refs)
        self._index_references(table)

    def wanted(self, pick: Callable[[sqlite3.Connection], set[str]] | None) -> set[str]:
        """The tables to fill: those `pick` names on the empty schema of every table (the mapping's SQL resolves
        there), all when pick is None. The file is then made again with those tables alone, in name order: a table
        the journals do not read, added to the server, changes nothing of it, so the evening's proof still holds."""
        names = set(self.tables) if pick is None else set(pick(self.conn)) & set(self.tables)
        tables, keys, references = self.tables, self.keys, self.references
        self.conn.close()
        self.__init__(self.path)
        def rowid_of(table: str) -> str | None:
            key = keys.get(table)
            return key if any(c.name == key and c.affinity == INTEGER for c in tables.get(table, [])) else None

        for name in sorted(names):
            # Only a key to a row's rowid, in a table the mirror holds: the only kind an evening can use
            # (journals/key_lookups.py). A key to a text or UNIQUE column would be held to its rows by a scan of the
            # parent for each row (dangling_references), and compared byte for byte where the server compares by
            # its collation.
            self.create(name, tables[name], keys[name],
                        {c: to for c, to in references[name].items() if to[0] in names and rowid_of(to[0]) == to[1]})
        return names

    def fill(self, table: str, rows: Iterable[list]) -> int:
        """Inserts rows of the server's values (already converted, or text with the column's converter)."""
        columns = self.tables[table]
        converters = [c.convert for c in columns]
        sql = f"INSERT INTO {quote(table)} VALUES ({', '.join('?' * len(columns))})"
        count = 0
        batch: list[list] = []
        self.conn.execute("BEGIN")
        for row in rows:
            batch.append([v if v is None or f is None else f(v) for v, f in zip(row, converters)])
            if len(batch) >= BATCH:
                self.conn.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            self.conn.executemany(sql, batch)
            count += len(batch)
        self.conn.execute("COMMIT")
        return count

    def close(self) -> Path:
        self.conn.close()
        return self.path

    def _index_references(self, table: str) -> None:
        """An index on each column by which a row points at another (`…_id`, Dolibarr's `fk_…`): a mapping's SQL
        joins lines and payments to their ticket on them, and without one SQLite scans a table per ticket (ten
        times slower on the 10-day sample). Made with the empty table, so that the schema's pages are the same
        every evening: the proof that checked rows are unchanged also compares the schema (journals/tail.py)."""
        for column in self.tables[table]:
            name = column.name.lower()
            if column.name != self.keys.get(table) and (name.endswith("_id") or name.startswith("fk_")):
                index = quote(f"coffre_{table}_{column.name}")
                self.conn.execute(f"CREATE INDEX {index} ON {quote(table)} ({quote(column.name)})")
