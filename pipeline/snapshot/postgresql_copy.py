"""PostgreSQL's COPY text format, read and written as a stream, and its column types seen as SQLite's.

A COPY text row is one line: fields separated by tabs, NULL written \\N, and a backslash escaping what would
break the line (\\\\ \\t \\n \\r \\b \\f \\v, \\ooo octal, \\xHH hex). Escapes stand for bytes, so a field is
unescaped as bytes and decoded as UTF-8 last (the clients run with PGCLIENTENCODING=UTF8).
"""

from __future__ import annotations

import re
from typing import IO, Iterator

from pipeline.snapshot.mirror import BLOB, INTEGER, NUMERIC, REAL, TEXT, Column

_ESCAPE = re.compile(rb"\\(x[0-9a-fA-F]{1,2}|[0-7]{1,3}|.)", re.S)
_LETTERS = {b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v"}


def _unescape(m: re.Match) -> bytes:
    s = m.group(1)
    if s[0] == 0x78 and len(s) > 1:  # x
        return bytes([int(s[1:], 16)])
    if 0x30 <= s[0] <= 0x37:
        return bytes([int(s, 8) & 0xFF])
    return _LETTERS.get(s, s)


def parse_line(line: bytes) -> list[str | None]:
    if line.endswith(b"\n"):
        line = line[:-1]
    # The line decoded at once rather than field by field (the escapes are ASCII, and a tab is never part of a
    # character): the mirror of a till reads every row of its tables at every run.
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:  # bytes that only escapes around them make whole (COPY TO writes none such)
        return [None if f == b"\\N" else _ESCAPE.sub(_unescape, f).decode("utf-8") for f in line.split(b"\t")]
    if "\\" not in text:
        return text.split("\t")
    return [None if f == "\\N" else f if "\\" not in f else _unescape_field(f) for f in text.split("\t")]


def _unescape_field(field: str) -> str:
    """An escaped field: escapes stand for bytes (\\xHH, \\ooo), which are decoded as UTF-8 once put in."""
    return _ESCAPE.sub(_unescape, field.encode("utf-8")).decode("utf-8")


def rows(stream: IO[bytes]) -> Iterator[list[str | None]]:
    """The rows of `COPY ... TO STDOUT` as psql writes them (no end marker), one line read at a time."""
    for line in stream:
        yield parse_line(line)


# Writing: what load_sample sends to `COPY t FROM STDIN`.
_TO_ESCAPE = {ord("\\"): "\\\\", ord("\t"): "\\t", ord("\n"): "\\n", ord("\r"): "\\r"}


def field(value) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and value not in (float("inf"), float("-inf")) else \
            {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[repr(value)]
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "\\\\x" + bytes(value).hex()
    return str(value).translate(_TO_ESCAPE)


def line(values) -> bytes:
    return ("\t".join(field(v) for v in values) + "\n").encode("utf-8")


# Reading types: a server column as the mirror stores it, equal to what a till's own SQLite file would hold.

def _bool(v: str) -> int:
    return 1 if v == "t" else 0


def _bytea(v: str) -> bytes:
    return bytes.fromhex(v[2:]) if v.startswith("\\x") else v.encode("latin-1")


MIRROR_TYPES = {
    "int2": (INTEGER, int), "int4": (INTEGER, int), "int8": (INTEGER, int),
    "float4": (REAL, float), "float8": (REAL, float),
    "numeric": (NUMERIC, None),  # its text, which SQLite's NUMERIC affinity makes an integer or a real
    "bytea": (BLOB, _bytea),
    "bool": (INTEGER, _bool),
}


def mirror_column(name: str, pg_type: str) -> Column:
    affinity, convert = MIRROR_TYPES.get(pg_type, (TEXT, None))
    return Column(name, affinity, convert)


def server_type(declared: str) -> str:
    """A column of the SQLite sample as PostgreSQL declares it, by SQLite's own affinity rules."""
    d = (declared or "").upper()
    if "INT" in d:
        return "bigint"
    if any(s in d for s in ("CHAR", "CLOB", "TEXT")):
        return "text"
    if not d or "BLOB" in d:
        return "bytea"
    if any(s in d for s in ("REAL", "FLOA", "DOUB")):
        return "double precision"
    return "numeric"
