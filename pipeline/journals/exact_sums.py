"""Adding amounts up in SQL without SQLite's stop at 64 bits.

SQLite's sum() stops a statement whose total passes a 64-bit integer ("integer overflow"): a till whose amounts are
garbled or forged would stop every check that adds them up. Statements that add amounts run through run_summing or
rows_summing, which run them again, on that rare error only, with coffre_exact_sum (ExactSum, registered on every
journals connection by connection.py): sum() as SQLite defines it, in Python's exact integers, a total past 64 bits
coming back as a real (which no recorded total equals, so the check says it).
"""

from __future__ import annotations

import re
import sqlite3
import threading

INT64 = 1 << 63
_SUM_CALL = re.compile(r"\bsum\s*\(", re.IGNORECASE)


class ExactSum:
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


def _exact(sql: str) -> str:
    return _SUM_CALL.sub("coffre_exact_sum(", sql)


def run_summing(conn: sqlite3.Connection, sql: str, params=()) -> None:
    """Runs a statement that returns no row (CREATE ... AS SELECT, INSERT ... SELECT) and adds amounts up with sum(),
    again with exact sums if SQLite's overflow (such a statement changes nothing when it fails)."""
    try:
        conn.execute(sql, params)
    except sqlite3.OperationalError as err:
        if not _overflowed(err, sql):
            raise
        conn.execute(_exact(sql), params)


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
    for n, row in enumerate(conn.execute(_exact(sql), params)):
        if n >= given:
            yield row
