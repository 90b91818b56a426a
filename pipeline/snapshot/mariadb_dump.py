"""Reads a mariadb-dump file as it streams by: rows counted per table, and the rows of chosen tables given back.

The dump is never held whole: lines outside the data are looked at by their first bytes only, and the data
(`INSERT INTO `t` VALUES (...),(...);`) is cut one row at a time, so the buffer holds at most one row and one read
chunk. Only what mariadb-dump writes is understood: a row's values are numbers, 'strings' with MySQL's backslash
escapes, NULL, and 0x... (binary columns under --hex-blob); a routine's or trigger's body (between DELIMITER ;;
and DELIMITER ;) is never mistaken for data.
"""

from __future__ import annotations

import re
from typing import Iterable, Iterator

HEADS = (b"-- MariaDB dump", b"-- MySQL dump")
# mariadb-dump since 10.11.8 writes this line first; older clients refuse the file, the stock mariadb reads it.
SANDBOX = b"/*M!999999\\- enable the sandbox mode */"
TRAILER = b"-- Dump completed"

LINE_HEAD = 512  # bytes of a line enough to know what it is (a quoted name is at most 64 characters)
GIVE_UP = 1 << 30  # one row longer than the largest max_allowed_packet cannot come from mariadb-dump

_STRING = rb"'(?:[^'\\]++|\\.|'')*+'"
_ROW = re.compile(rb"\s*\(((?:[^'()]++|" + _STRING + rb")*+)\)\s*([,;])", re.S)
# The start of a row not yet read to its end: more bytes may complete it; anything else is not a dump.
_ROW_START = re.compile(rb"\s*(?:\((?:[^'()]++|" + _STRING + rb")*+(?:'(?:[^'\\]++|\\.|'')*+\\?|\)\s*)?)?\Z", re.S)
_VALUE = re.compile(rb"(?:[^,']++|" + _STRING + rb")++", re.S)
_INSERT = re.compile(rb"INSERT INTO `((?:[^`]|``)+)` VALUES\s*", re.S)
_CREATE = re.compile(rb"CREATE TABLE `((?:[^`]|``)+)`")
_ESCAPE = re.compile(rb"\\(.)|''", re.S)
_ESCAPES = {b"0": b"\0", b"'": b"'", b'"': b'"', b"b": b"\b", b"n": b"\n", b"r": b"\r", b"t": b"\t",
            b"Z": b"\x1a", b"\\": b"\\", b"%": b"\\%", b"_": b"\\_"}


class DumpError(Exception):
    """The bytes are not a dump mariadb-dump wrote (or are cut in the middle of a row at the end)."""


def _name(raw: bytes) -> str:
    return raw.replace(b"``", b"`").decode("utf-8", "replace")


# Each escape replaced kind by kind, in C, rather than one Python call per escape: a Dolibarr blocked log's JSON holds
# hundreds of \\" and \\\\u00e9 a row, and those calls took most of a Dolibarr mirror's filling (measured on the
# 90-day sample's 145,575 rows: 3.6 of 5.2 s). An escaped backslash is read first, as MySQL reads them left to right:
# between two of them every backslash starts an escape of its own, so the kinds cannot overlap.
_KINDS = [(b"\\" + k, v) for k, v in _ESCAPES.items() if k not in (b"\\", b"%", b"_")]
_KEPT = (b"\\%", b"\\_")


def unescape(body: bytes) -> bytes:
    """A string literal's inside as the server reads it (\\% and \\_ keep their backslash, as in MySQL)."""
    if b"\\" not in body:
        return _ESCAPE.sub(_one, body) if b"''" in body else body
    return b"\\".join(_unescape_between(part) for part in body.split(b"\\\\"))


def _unescape_between(part: bytes) -> bytes:
    """unescape() of a stretch that holds no escaped backslash."""
    if b"''" in part:
        return _ESCAPE.sub(_one, part)
    if b"\\" not in part:
        return part
    out = part
    for escaped, plain in _KINDS:
        if escaped in out:
            out = out.replace(escaped, plain)
    if out.count(b"\\") == sum(out.count(k) for k in _KEPT):
        return out
    return _ESCAPE.sub(_one, part)  # an escape of no known kind (\\q reads q), or a backslash at the very end


def _one(m: re.Match) -> bytes:
    return b"'" if m.group(1) is None else _ESCAPES.get(m.group(1), m.group(1))


def split_row(inside: bytes) -> list:
    """The raw values of one row (bytes as written, None for NULL); `inside` is what stands between the brackets."""
    return [None if v == b"NULL" else v for v in _VALUE.findall(inside)]


class DumpReader:
    """Feed it the dump's chunks through `rows()`: it yields (table, raw values) for the tables in `wanted` and
    counts every table's rows (`counts`, tables created with no row at 0); `completed` once the trailer is read."""

    def __init__(self, wanted: Iterable[str] = ()):
        self.wanted = set(wanted)
        self.counts: dict[str, int] = {}
        self.completed = False
        self.head = b""
        self._buf = b""
        self._pos = 0
        self._table: str | None = None  # inside an INSERT: the table whose rows come
        self._skipping = False  # inside a line already looked at, whose end has not come yet
        self._delimiter = b";"
        self._wait_for = 0  # an unfinished row is looked at again once the buffer is this long

    def rows(self, chunks: Iterable[bytes]) -> Iterator[tuple[str, list]]:
        for chunk in chunks:
            if len(self.head) < 100:
                self.head += chunk[:100 - len(self.head)]
            if self._pos:
                self._buf = self._buf[self._pos:] + chunk
                self._pos = 0
            else:
                self._buf += chunk
            if self._table is not None and len(self._buf) - self._pos < self._wait_for:
                continue  # a long row not complete yet: cut when twice as much has come, not at each chunk
            yield from self._run(eof=False)
        yield from self._run(eof=True)
        if self._table is not None:
            raise DumpError(f"the dump ends inside the rows of table {self._table}")

    def read_all(self, chunks: Iterable[bytes]) -> None:
        for _ in self.rows(chunks):
            pass

    def _run(self, eof: bool) -> Iterator[tuple[str, list]]:
        while True:
            if self._table is not None:
                if not (yield from self._data(eof)):
                    return
            elif not self._line(eof):
                return

    def _line(self, eof: bool) -> bool:
        """Looks at the line at the buffer's position; False when more bytes are needed."""
        buf, pos = self._buf, self._pos
        end = buf.find(b"\n", pos)
        if self._skipping:
            if end < 0:
                self._pos = len(buf)
                return False
            self._skipping = False
            self._pos = end + 1
            return True
        if end < 0 and len(buf) - pos < LINE_HEAD and not eof:
            return False
        if end < 0 and pos >= len(buf):
            return False
        line = buf[pos:end if end >= 0 else pos + LINE_HEAD]
        if line.startswith(b"INSERT INTO `") and self._delimiter == b";":
            m = _INSERT.match(buf, pos)
            if m is None:
                if end < 0 and not eof:
                    return False
                raise DumpError("an INSERT statement that is not mariadb-dump's")
            self._table = _name(m.group(1))
            self.counts.setdefault(self._table, 0)
            self.completed = False
            self._pos = m.end()
            return True
        self._look(line)
        if end < 0:
            self._skipping = True
            self._pos = len(buf)
            return not eof
        self._pos = end + 1
        return True

    def _look(self, line: bytes) -> None:
        if line.startswith(TRAILER):
            self.completed = True
            return
        if line.strip():
            self.completed = False
        if line.startswith(b"DELIMITER "):
            self._delimiter = line[10:].strip()
        elif line.startswith(b"CREATE TABLE `"):
            m = _CREATE.match(line)
            if m:
                self.counts.setdefault(_name(m.group(1)), 0)

    def _data(self, eof: bool):
        """Cuts the rows of the current INSERT; False when more bytes are needed."""
        table = self._table
        wanted = table in self.wanted
        buf = self._buf
        match = _ROW.match
        pos = self._pos
        count = 0
        try:
            while True:
                m = match(buf, pos)
                if m is None:
                    break
                pos = m.end()
                count += 1
                if wanted:
                    yield table, split_row(m.group(1))
                if m.group(2) == b";":
                    self._table = None
                    self._wait_for = 0
                    return True
        finally:
            self._pos = pos
            self.counts[table] += count
        if eof:
            raise DumpError(f"the dump ends inside the rows of table {table}")
        if not _ROW_START.match(buf, pos):
            raise DumpError(f"a row of table {table} that is not mariadb-dump's")
        if len(buf) - pos > GIVE_UP:
            raise DumpError(f"a row of table {table} longer than any server sends")
        self._wait_for = 2 * (len(buf) - pos)
        return False
