"""Opens a snapshot read-only for the journals stage, with the SQL functions a mapping may call.

coffre_digest(order, text) is an aggregate: the SHA-256 (hex) of the texts sorted by `order` and joined by '|',
so that a mapping can rebuild the digest of a ticket's lines or payments that a till signs (SQLite's group_concat
promises no order). Over no row SQL makes any aggregate NULL: coffre_digest_of_nothing() is the digest of the empty
string, which a ticket without lines or payments signs.

coffre_local_time(ts) and coffre_day(ts) give a till's time stamp as the shop's local time with its UTC offset, and
its business day, in the configured time zone (Europe/Paris by default): a sale at 00:30 on 1 January in Paris is
in the new year's Z, though it is still 31 December in UTC. A stamp with an offset or a Z is an instant; one without
is already the shop's local time.

SQLite's sum() stops a statement whose total passes a 64-bit integer ("integer overflow"): a till whose amounts
are garbled or forged would stop every check that adds them up. Statements that add amounts run through
run_summing or rows_summing, which run them again, on that rare error only, with coffre_exact_sum: sum() as SQLite
defines it, in Python's exact integers, a total past 64 bits coming back as a real (which no recorded total
equals, so the check says it).

A text whose bytes are not UTF-8 (a bit flipped on the till's disk, an edit) is read with \\xHH for each byte that is
not part of a character, in the rows (open_snapshot) and in the functions' arguments (function_args.py), rather
than stop the statement that meets it.
"""

from __future__ import annotations

import functools
import re
import sqlite3
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.fiscal_rules import digest

DEFAULT_TIMEZONE = "Europe/Paris"

# How a text given as bytes (function_args.py) is read: in the database's own encoding, each byte that is not part
# of a valid character written \xHH, so that two texts that differ only there stay apart (U+FFFD would merge them).
UNREADABLE = "backslashreplace"
_CODECS = {"UTF-8": "utf-8", "UTF-16le": "utf-16-le", "UTF-16be": "utf-16-be"}


def database_encoding(conn: sqlite3.Connection) -> str:
    """The encoding of the texts' bytes in this database, as SQLite names it (a Windows till's file may be UTF-16)."""
    encoding = conn.execute("PRAGMA encoding").fetchone()[0]
    return encoding if encoding in _CODECS else "UTF-8"


class _Digest:
    codec = "utf-8"  # set per connection by add_functions

    def __init__(self):
        self.parts: list[tuple] = []

    def step(self, order, text) -> None:
        if isinstance(text, bytes):
            text = text.decode(self.codec, UNREADABLE)
        self.parts.append((order, "" if text is None else str(text)))

    def finalize(self) -> str:
        # Orders of one kind sort as they are; mixed kinds (a corrupt row) still sort, by type name first.
        self.parts.sort(key=lambda p: (type(p[0]).__name__, p[0]) if p[0] is not None else ("", 0))
        return digest([t for _, t in self.parts])


INT64 = 1 << 63
_SUM_CALL = re.compile(r"\bsum\s*\(", re.IGNORECASE)


class _ExactSum:
    """sum() as SQLite computes it (NULL over no value; a real, the values added as doubles, once any value is not
    an integer), except that the integers are added exactly, and a total past 64 bits comes back as a real. A value
    that is not a number (a text, a blob) counts as SQLite's sum() of it alone says (_sqlite_sum). Reals are added
    in row order, as SQLite before 3.43 does; later versions compensate rounding, so a real total may then differ in
    its last bits. Also a window function, as sum() is (a custom mapping's `sum(x) OVER (...)`)."""

    encoding = "UTF-8"  # the till database's, set per connection by add_functions

    def __init__(self):
        self.exact = 0  # the integers, added exactly
        self.real = 0.0  # every value as a double, as SQLite adds them for a real total
        self.approx = False  # a value was not an integer: the total is `real` from then on (in a window too, as SQLite)
        self.count = 0

    def _take(self, value) -> tuple[int | float, bool] | None:
        if value is None:
            return None
        if type(value) is int:
            return value, False
        if type(value) is float:
            return value, True
        return _sqlite_sum(value, self.encoding)

    def step(self, value) -> None:
        taken = self._take(value)
        if taken is None:
            return
        number, approx = taken
        self.count += 1
        self.real += number
        if approx:
            self.approx = True
        else:
            self.exact += number

    def inverse(self, value) -> None:
        taken = self._take(value)
        if taken is None:
            return
        number, approx = taken
        self.count -= 1
        self.real -= number
        if not approx:
            self.exact -= number

    def value(self):
        if not self.count:
            return None
        if self.approx:
            return self.real
        return self.exact if -INT64 <= self.exact < INT64 else float(self.exact)

    finalize = value


_READERS: dict[str, sqlite3.Connection] = {}  # encoding -> a private database of that encoding
_READER_LOCK = threading.Lock()


def _sqlite_sum(value, encoding: str) -> tuple[int | float, bool]:
    """What SQLite's sum() makes of a text or a blob alone: (the number, whether it is a real). Asked of SQLite itself,
    whose reading of numbers in text no Python parser matches ('12abc' is 12.0, '1_000' 1.0, ' 12' the integer 12),
    in a database of the till's encoding (a blob's bytes are read as text in it)."""
    with _READER_LOCK:
        reader = _READERS.get(encoding)
        if reader is None:
            reader = _READERS[encoding] = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            reader.execute(f"PRAGMA encoding = '{encoding}'")
            reader.execute("CREATE TABLE v (x)")
        # From a table: SQLite reads a bound blob's bytes as UTF-8 whatever the database's encoding, a stored one not.
        reader.execute("DELETE FROM v")
        reader.execute("INSERT INTO v VALUES (?)", (value,))
        number, kind = reader.execute("SELECT sum(x), typeof(sum(x)) FROM v").fetchone()
    return (number, kind != "integer") if number is not None else (0.0, True)


def _overflowed(err: sqlite3.OperationalError, sql: str) -> bool:
    return str(err) == "integer overflow" and _SUM_CALL.search(sql) is not None


def run_summing(conn: sqlite3.Connection, sql: str, params=()) -> None:
    """Runs a statement that returns no row (CREATE ... AS SELECT, INSERT ... SELECT) and adds amounts up with sum(),
    again with exact sums if SQLite's overflow (such a statement changes nothing when it fails)."""
    try:
        conn.execute(sql, params)
    except sqlite3.OperationalError as err:
        if not _overflowed(err, sql):
            raise
        conn.execute(_SUM_CALL.sub("coffre_exact_sum(", sql), params)


def rows_summing(conn: sqlite3.Connection, sql: str, params=()):
    """The rows of a SELECT that adds amounts up with sum(). SQLite may meet the overflow after giving some rows (a
    grouping computed group by group): the same statement with exact sums then gives the same rows in the same order
    (same tables, same plan), and those already given are skipped."""
    given = 0
    try:
        for row in conn.execute(sql, params):
            yield row
            given += 1
        return
    except sqlite3.OperationalError as err:
        if not _overflowed(err, sql):
            raise
    for n, row in enumerate(conn.execute(_SUM_CALL.sub("coffre_exact_sum(", sql), params)):
        if n >= given:
            yield row


class LocalClock:
    """UTC stamps to local time in one zone. A till writes hundreds of thousands of stamps and SQLite calls this once
    per row: the local hour and offset are looked up once per UTC hour (zones change offset on the hour or half
    hour), and the rest is string slicing."""

    def __init__(self, zone: str, codec: str = "utf-8"):
        self.codec = codec  # of a stamp given as bytes (function_args.py): the database's encoding
        try:
            self.zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {zone!r}") from err
        self.hours: dict[str, tuple[str, str] | None] = {}
        self.minutes: dict[str, tuple[str, str] | None] = {}
        # The last stamp and its local time: a row asks for its local time and then its day, and a ticket's lines
        # come one after another with the ticket's stamp.
        self.seen: str | bytes | None = None
        self.said: str | None = None

    def local(self, ts) -> str | None:
        """'YYYY-MM-DDTHH:MM:SS+HH:MM' in the zone, or the stamp as it is when it is not one. A stamp given as bytes
        (function_args.py) is read in the database's encoding, as the digests' texts are."""
        kind = type(ts)
        if (kind is bytes or kind is str) and ts == self.seen:
            return self.said
        said = self._local(ts.decode(self.codec, UNREADABLE) if kind is bytes else ts)
        if kind is bytes or kind is str:
            self.seen, self.said = ts, said
        return said

    def _local(self, ts) -> str | None:
        if not isinstance(ts, str) or len(ts) < 19 or ts[10] not in "T ":
            return None if ts is None else str(ts)
        rest = ts[19:].lstrip(".0123456789") if ts[19:20] == "." else ts[19:]  # fractions of a second dropped
        if rest in ("Z", "+00:00"):
            hour = self.hours.get(ts[:13], False)
            if hour is False:
                hour = self.hours[ts[:13]] = self._hour(ts)
            if hour is not None:
                return hour[0] + ts[13:19] + hour[1]
        elif rest == "" and ts[16:17] == ":":
            # A local stamp's offset depends on its minute only (a server that writes local time: Dolibarr's):
            # looked up once a minute, in a table emptied now and then so that memory stays flat.
            minute = self.minutes.get(ts[:16])
            if minute is None:
                if len(self.minutes) > 100_000:
                    self.minutes.clear()
                whole = self._slow(ts[:16] + ":00", "")
                minute = self.minutes[ts[:16]] = (whole[:16], whole[19:]) if len(whole) > 19 else None
            if minute is not None and ts[17:19].isdigit():
                return minute[0] + ts[16:19] + minute[1]
        return self._slow(ts, rest)

    def _hour(self, ts: str) -> tuple[str, str] | None:
        """(local 'YYYY-MM-DDTHH', offset text) for a UTC hour whose offset is whole hours, else None."""
        try:
            utc = datetime.fromisoformat(ts[:13] + ":00:00").replace(tzinfo=timezone.utc)
        except ValueError:
            return None
        off = utc.astimezone(self.zone).utcoffset() or timedelta(0)
        if off.total_seconds() % 3600:
            return None
        return (utc + off).strftime("%Y-%m-%dT%H"), _offset_text(off)

    def _slow(self, ts: str, rest: str) -> str:
        try:
            if rest == "":  # no offset: already the shop's local time
                naive = datetime.fromisoformat(ts[:10] + "T" + ts[11:19])
                return naive.strftime("%Y-%m-%dT%H:%M:%S") + _offset_text(
                    naive.replace(tzinfo=self.zone).utcoffset() or timedelta(0))
            if rest != "Z" and not (len(rest) == 6 and rest[0] in "+-"):
                return ts
            instant = datetime.fromisoformat(ts[:19] + ("+00:00" if rest == "Z" else rest))
        except ValueError:
            return ts
        local = instant.astimezone(self.zone)
        return local.strftime("%Y-%m-%dT%H:%M:%S") + _offset_text(local.utcoffset() or timedelta(0))

    def day(self, ts) -> str | None:
        local = self.local(ts)
        return local[:10] if local else local


def _offset_text(off: timedelta) -> str:
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def add_functions(conn: sqlite3.Connection, zone: str = DEFAULT_TIMEZONE) -> sqlite3.Connection:
    encoding = database_encoding(conn)
    codec = _CODECS[encoding]
    clock = LocalClock(zone, codec)
    conn.create_aggregate("coffre_digest", 2, type("_Digest", (_Digest,), {"codec": codec}))
    conn.create_window_function("coffre_exact_sum", 1, type("_ExactSum", (_ExactSum,), {"encoding": encoding}))
    # An aggregate over no row is NULL in SQL; a ticket without lines or payments signs the digest of nothing.
    conn.create_function("coffre_digest_of_nothing", 0, lambda: digest([]), deterministic=True)
    conn.create_function("coffre_local_time", 1, clock.local, deterministic=True)
    conn.create_function("coffre_day", 1, clock.day, deterministic=True)
    return conn


def open_snapshot(path: Path, zone: str = DEFAULT_TIMEZONE) -> sqlite3.Connection:
    conn = add_functions(sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True), zone)
    # A text that is not UTF-8 (a bit flipped on the till's disk, an edit) is read with \xHH for each byte that is
    # not, rather than stop the statement that meets it: its record's signature no longer matches, and is said.
    # (SQLite gives a UTF-16 file's texts as UTF-8 here.)
    conn.text_factory = _READ_TEXT
    return conn


_READ_TEXT = functools.partial(str, encoding="utf-8", errors=UNREADABLE)
