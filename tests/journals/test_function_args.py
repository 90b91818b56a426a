"""A mapping's SQL hands Coffre's functions their text as bytes, wherever the call sits in the SQL."""

from __future__ import annotations

import sqlite3

import pytest

from pipeline.journals.connection import add_functions
from pipeline.journals.function_args import bytes_for_functions


@pytest.mark.parametrize("sql, want", [
    ("SELECT coffre_day(t.timestamp) FROM t", "SELECT coffre_day(CAST((t.timestamp) AS BLOB)) FROM t"),
    ("coffre_local_time( replace(substr(o.d, 1, 19), ' ', 'T') || 'Z' )",
     "coffre_local_time(CAST(( replace(substr(o.d, 1, 19), ' ', 'T') || 'Z' ) AS BLOB))"),
    # The order stays as it is; only the text is handed over as bytes.
    ("coffre_digest(l.n, l.n || ':' || COALESCE(p.sku, ''))",
     "coffre_digest(l.n,CAST(( l.n || ':' || COALESCE(p.sku, '')) AS BLOB))"),
    # Calls inside calls, any case, spaces before the parenthesis.
    ("COFFRE_DAY (coffre_local_time(x))", "COFFRE_DAY (CAST((coffre_local_time(CAST((x) AS BLOB))) AS BLOB))"),
    # Quotes and comments are passed over, with the parentheses and commas they hold.
    ("coffre_digest(a, 'x,)' || \"col(\" || b) -- coffre_day(y)\n",
     "coffre_digest(a,CAST(( 'x,)' || \"col(\" || b) AS BLOB)) -- coffre_day(y)\n"),
    ("/* coffre_day(x) */ 'coffre_day(x)', its_coffre_day(x), coffre_day_x(y), coffre_day",
     "/* coffre_day(x) */ 'coffre_day(x)', its_coffre_day(x), coffre_day_x(y), coffre_day"),
    ("coffre_day()", "coffre_day()"),
    # An aggregate's ORDER BY (SQLite 3.44) stays after the text it orders.
    ("coffre_digest(n, a || b ORDER BY n DESC)", "coffre_digest(n,CAST(( a || b ) AS BLOB)ORDER BY n DESC)"),
    ("coffre_day(x", "coffre_day(x"),  # unbalanced: SQLite says so
])
def test_the_text_arguments_of_coffres_functions_are_handed_over_as_bytes(sql, want):
    assert bytes_for_functions(sql) == want


@pytest.mark.parametrize("encoding", ["UTF-8", "UTF-16le", "UTF-16be"])
def test_functions_given_bytes_say_what_they_say_of_the_text_and_each_byte_that_is_not_a_character_as_xhh(encoding):
    conn = sqlite3.connect(":memory:")
    conn.execute(f"PRAGMA encoding = '{encoding}'")  # a Windows till's file may be UTF-16: CAST AS BLOB gives those bytes
    add_functions(conn, "Europe/Paris")
    conn.execute("CREATE TABLE t (n, ts, label)")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", [
        (1, "2025-03-30T00:30:00Z", "café"), (2, "2025-03-30T01:30:00Z", "thé"), (3, 1743298200, None)])
    if encoding == "UTF-8":
        conn.execute("INSERT INTO t VALUES (4, CAST(X'323032352D30332D3330FF' AS TEXT), CAST(X'63C3' AS TEXT))")
    plain = "SELECT n, coffre_local_time(ts), coffre_day(ts) FROM t WHERE n < 4 ORDER BY n"
    assert conn.execute(bytes_for_functions(plain)).fetchall() == conn.execute(plain).fetchall() == [
        (1, "2025-03-30T01:30:00+01:00", "2025-03-30"), (2, "2025-03-30T03:30:00+02:00", "2025-03-30"),
        (3, "1743298200", "1743298200")]
    digest = "SELECT coffre_digest(n, n || ':' || COALESCE(label, '')) FROM t WHERE n < 4"
    assert conn.execute(bytes_for_functions(digest)).fetchone() == conn.execute(digest).fetchone()
    if encoding != "UTF-8":
        return
    with pytest.raises(sqlite3.OperationalError):  # what a text that is not UTF-8 did to the plain call
        conn.execute("SELECT coffre_day(ts) FROM t WHERE n = 4").fetchall()
    assert conn.execute(bytes_for_functions("SELECT coffre_local_time(ts), coffre_day(ts) FROM t WHERE n = 4")
                        ).fetchone() == ("2025-03-30\\xff", "2025-03-30")
    one = bytes_for_functions("SELECT coffre_digest(n, label) FROM t WHERE n = 4")
    assert conn.execute(one).fetchone() == conn.execute("SELECT coffre_digest(4, 'c\\xc3')").fetchone()
