"""Sums past a 64-bit integer: SQLite's sum() stops the statement, the checks' statements go on with exact sums."""

from __future__ import annotations

import random
import sqlite3

import pytest

from pipeline.journals.connection import add_functions
from pipeline.journals.exact_sums import rows_summing, run_summing

BIG = 2 ** 62


@pytest.fixture
def conn():
    c = add_functions(sqlite3.connect(":memory:"))
    yield c
    c.close()


def test_exact_sum_gives_what_sqlite_sum_gives_whenever_sqlite_gives_anything(conn):
    rng = random.Random(5)
    conn.execute("CREATE TABLE t (g, v)")
    # Texts as SQLite reads them, which no Python parser does: a prefix, digits of other scripts, spaces, underscores.
    values = [None, 0, -1, 2 ** 53 + 1, -(2 ** 60), 1.5, "12", "12.5", "abc", b"7", 9 * 10 ** 17, "12abc", "1_000",
              "\u00a012", "\u0661\u0662", "12 ", " 12", "+5", "1e3", "0x10", "9223372036854775808", "1" * 5000]
    rows = [(rng.randrange(40), rng.choice(values + [rng.randrange(-10 ** 9, 10 ** 9)] * 6)) for _ in range(2000)]
    conn.executemany("INSERT INTO t VALUES (?, ?)", rows)
    conn.execute("INSERT INTO t VALUES (99, NULL)")  # a group whose only value is NULL: NULL, as sum() says
    want = conn.execute("SELECT g, sum(v), typeof(sum(v)) FROM t GROUP BY g ORDER BY g").fetchall()
    got = conn.execute("SELECT g, coffre_exact_sum(v), typeof(coffre_exact_sum(v)) FROM t GROUP BY g ORDER BY g")
    assert got.fetchall() == want
    assert conn.execute("SELECT coffre_exact_sum(v) FROM t WHERE 0").fetchone() == (None,)
    # As a window function too (a custom mapping's sum(x) OVER (...)), sliding frames included: over numbers (SQLite's
    # own window sum loses count of texts that leave a frame, and says NULL).
    window = ("SELECT g, {f}(v) OVER (PARTITION BY g % 3 ORDER BY rowid ROWS BETWEEN 5 PRECEDING AND CURRENT ROW) "
              "FROM t WHERE typeof(v) IN ('integer', 'real', 'null')")
    assert conn.execute(window.format(f="coffre_exact_sum")).fetchall() == conn.execute(window.format(f="sum")).fetchall()


def test_a_table_made_of_sums_past_64_bits_is_made_with_those_sums_as_reals(conn):
    conn.execute("CREATE TABLE t (day, v)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [("d1", BIG), ("d1", BIG), ("d1", BIG), ("d2", 3), ("d2", 4),
                                                     ("d3", BIG), ("d3", BIG), ("d3", -5)])
    sql = "CREATE TEMP TABLE sums AS SELECT day, sum(v) AS v FROM t GROUP BY day"
    with pytest.raises(sqlite3.OperationalError, match="integer overflow"):
        conn.execute(sql)
    run_summing(conn, sql)
    # d3 passes 64 bits on its way only: its total is exact, and an integer.
    assert conn.execute("SELECT day, v, typeof(v) FROM sums ORDER BY day").fetchall() == [
        ("d1", float(3 * BIG), "real"), ("d2", 7, "integer"), ("d3", 2 * BIG - 5, "integer")]


def test_rows_given_before_sqlite_stopped_are_not_given_twice(conn):
    conn.execute("CREATE TABLE t (g INTEGER, v INTEGER)")
    conn.execute("CREATE INDEX t_g ON t (g)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, 10), (1, 20), (2, 1), (3, BIG), (3, BIG), (4, 5)])
    sql = "SELECT g, sum(v) FROM t GROUP BY g"
    # The grouping is walked through the index, group after group: SQLite gives the first rows, then stops.
    plain = conn.execute(sql)
    assert next(plain) == (1, 30)
    with pytest.raises(sqlite3.OperationalError, match="integer overflow"):
        next(plain)
    assert list(rows_summing(conn, sql)) == [(1, 30), (2, 1), (3, float(2 * BIG)), (4, 5)]


def test_a_sum_written_with_a_space_before_its_parenthesis_is_summed_exactly_too(conn):
    conn.execute("CREATE TABLE t (v)")
    conn.executemany("INSERT INTO t VALUES (?)", [(BIG,), (BIG,)])
    assert list(rows_summing(conn, "SELECT SUM (v) FROM t")) == [(float(2 * BIG),)]


def test_other_errors_are_not_taken_for_an_overflow(conn):
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        list(rows_summing(conn, "SELECT sum(v) FROM nowhere"))
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        run_summing(conn, "CREATE TEMP TABLE x AS SELECT sum(v) FROM nowhere")


@pytest.mark.parametrize("encoding", ["UTF-16le", "UTF-16be"])
def test_a_utf16_databases_texts_and_blobs_are_summed_as_its_sum_reads_them(encoding):
    conn = sqlite3.connect(":memory:")
    conn.execute(f"PRAGMA encoding = '{encoding}'")  # a blob's bytes are read as text in the database's encoding
    add_functions(conn)
    conn.execute("CREATE TABLE t (g, v)")
    twelve = "12".encode("utf-16-le" if encoding.endswith("le") else "utf-16-be")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, b"7"), (1, 3), (2, twelve), (2, "5"), (3, "1e3"), (3, 2)])
    sql = "SELECT g, {f}(v), typeof({f}(v)) FROM t GROUP BY g ORDER BY g"
    assert conn.execute(sql.format(f="coffre_exact_sum")).fetchall() == conn.execute(sql.format(f="sum")).fetchall()
    conn.close()
