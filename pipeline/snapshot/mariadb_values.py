"""A MariaDB table's columns as the mirror's, and a value as mariadb-dump wrote it to what the reference SQLite
database holds for the same data (ints as int, text as str, binary as bytes, decimals as their text)."""

from __future__ import annotations

from pipeline.snapshot.mariadb_dump import unescape
from pipeline.snapshot.mirror import BLOB, INTEGER, NUMERIC, REAL, TEXT, Column

AFFINITY = {**dict.fromkeys(("tinyint", "smallint", "mediumint", "int", "integer", "bigint"), INTEGER),
            **dict.fromkeys(("float", "double", "real"), REAL), "decimal": NUMERIC, "numeric": NUMERIC,
            **dict.fromkeys(("tinyblob", "blob", "mediumblob", "longblob", "binary", "varbinary"), BLOB)}


def schema_of(columns: list[list[str]], references: list[list[str]] = ()) -> dict[str, tuple]:
    """{table: (mirror columns, single integer primary key or None, {column: (table, column)} of its foreign keys)}
    from information_schema's rows."""
    tables: dict[str, tuple[list[Column], list[str]]] = {}
    for table, name, data_type, key in columns:
        cols, keys = tables.setdefault(table, ([], []))
        affinity = AFFINITY.get(data_type.lower(), TEXT)
        cols.append(Column(name, affinity, CONVERT[affinity]))
        if key == "PRI":
            keys.append(name)
    out = {}
    for table, (cols, keys) in tables.items():
        key = keys[0] if len(keys) == 1 and any(c.name == keys[0] and c.affinity == INTEGER for c in cols) else None
        refs = {col: (parent, to) for child, col, parent, to in references if child == table}
        out[table] = (cols, key, refs)
    return out


def _string(raw: bytes) -> bytes | None:
    if raw[:1] == b"'":
        return unescape(raw[1:-1])
    return None


def _to_text(raw: bytes):
    if raw[:1] == b"'":  # _string() written out: called for every text of the mirror (2.7 million for 90 Dolibarr days)
        return unescape(raw[1:-1]).decode("utf-8", "replace")
    if raw[:2] in (b"0x", b"0X"):
        return bytes.fromhex(raw[2:].decode("ascii"))
    return raw.decode("ascii", "replace")


def _to_integer(raw: bytes):
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        return float(raw)
    except ValueError:
        return _to_text(raw)


def _to_real(raw: bytes):
    try:
        return float(raw)
    except ValueError:
        return _to_text(raw)


def _to_blob(raw: bytes):
    s = _string(raw)
    if s is not None:
        return s
    if raw[:2] in (b"0x", b"0X"):
        return bytes.fromhex(raw[2:].decode("ascii"))
    return raw


CONVERT = {INTEGER: _to_integer, REAL: _to_real, NUMERIC: _to_text, TEXT: _to_text, BLOB: _to_blob}
