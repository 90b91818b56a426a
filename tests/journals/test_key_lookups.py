"""key_lookups.keyed_only reads SQLite's own program: a table is reached only by following a declared foreign key to
its rowid, or some other way that a row added to it could change an older record's text."""

from __future__ import annotations

import sqlite3

import pytest

from pipeline.journals.key_lookups import keyed_only

SCHEMA = """
CREATE TABLE registers (id INTEGER PRIMARY KEY, code TEXT UNIQUE);
CREATE TABLE products (id INTEGER PRIMARY KEY, sku TEXT UNIQUE, label TEXT);
CREATE TABLE tickets (id INTEGER PRIMARY KEY, register_id INTEGER REFERENCES registers(id),
                      register_code TEXT REFERENCES registers(code), other_register INTEGER,
                      original_id INTEGER REFERENCES tickets(id), day TEXT);
CREATE INDEX tickets_original ON tickets(original_id);
CREATE TABLE lines (id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL REFERENCES tickets(id),
                    product_id INTEGER REFERENCES products, label TEXT);
CREATE INDEX lines_ticket ON lines(ticket_id);
"""


@pytest.fixture()
def conn(tmp_path):
    c = sqlite3.connect(tmp_path / "till.db")
    c.executescript(SCHEMA)
    yield c
    c.close()


@pytest.mark.parametrize("sql, table", [
    ("SELECT t.id, r.code FROM tickets t JOIN registers r ON r.id = t.register_id", "registers"),
    ("SELECT t.id, r.code FROM tickets t LEFT JOIN registers r ON r.id = t.register_id ORDER BY r.code", "registers"),
    # two hops, each a declared key; the reference lookup written with REFERENCES products (no column named)
    ("SELECT l.id, t.day, r.code, p.sku FROM lines l LEFT JOIN tickets t ON t.id = l.ticket_id "
     "LEFT JOIN registers r ON r.id = t.register_id LEFT JOIN products p ON p.id = l.product_id", "tickets"),
    ("SELECT l.id, t.day, r.code, p.sku FROM lines l LEFT JOIN tickets t ON t.id = l.ticket_id "
     "LEFT JOIN registers r ON r.id = t.register_id LEFT JOIN products p ON p.id = l.product_id", "products"),
    ("SELECT l.id, (SELECT r.code FROM registers r WHERE r.id = t.register_id) FROM lines l "
     "JOIN tickets t ON t.id = l.ticket_id", "registers"),
])
def test_a_lookup_through_a_declared_key_to_the_rowid_is_keyed(conn, sql, table):
    assert keyed_only(conn, sql, table)


@pytest.mark.parametrize("sql, table", [
    # in reverse: a later refund names the sale it undoes
    ("SELECT t.id, rf.id FROM tickets t LEFT JOIN tickets rf ON rf.original_id = t.id", "tickets"),
    # on a column that declares no key
    ("SELECT t.id, r.code FROM tickets t LEFT JOIN registers r ON r.id = t.other_register", "registers"),
    # through a declared key, but to a column that is not the rowid
    ("SELECT t.id, r.id FROM tickets t LEFT JOIN registers r ON r.code = t.register_code", "registers"),
    # on a text matched by value
    ("SELECT l.id, p.sku FROM lines l LEFT JOIN products p ON p.label = l.label", "products"),
    # the key, changed on the way
    ("SELECT t.id, r.code FROM tickets t LEFT JOIN registers r ON r.id = t.register_id + 0", "registers"),
    # over a range, or counted
    ("SELECT t.id, (SELECT count(*) FROM tickets o WHERE o.day = t.day) FROM tickets t", "tickets"),
    ("SELECT t.id, (SELECT max(r.id) FROM registers r) FROM tickets t", "registers"),
    ("SELECT t.id, r.code FROM tickets t JOIN registers r ON r.id BETWEEN t.register_id AND t.register_id + 1",
     "registers"),
    # a lines' journal summing its own ticket's other lines reads lines by an index, not a key
    ("SELECT t.id, (SELECT count(*) FROM lines l WHERE l.ticket_id = t.id) FROM tickets t", "lines"),
])
def test_any_other_way_to_reach_a_table_is_not(conn, sql, table):
    assert not keyed_only(conn, sql, table)


def test_a_table_without_an_integer_primary_key_is_never_keyed(conn):
    conn.executescript("CREATE TABLE shops (code TEXT PRIMARY KEY, name TEXT);"
                       "CREATE TABLE sales (id INTEGER PRIMARY KEY, shop TEXT REFERENCES shops(code));")
    assert not keyed_only(conn, "SELECT s.id, h.name FROM sales s JOIN shops h ON h.code = s.shop", "shops")


def test_a_statement_that_does_not_compile_is_not_keyed(conn):
    assert not keyed_only(conn, "SELECT nothing FROM nowhere", "registers")


def test_a_key_declared_desc_is_no_rowid_and_is_never_keyed(conn):
    # INTEGER PRIMARY KEY DESC is SQLite's exception: an index of its own, the rowid another number.
    conn.executescript("CREATE TABLE desks (id INTEGER PRIMARY KEY DESC, name TEXT);"
                       "CREATE TABLE moves (id INTEGER PRIMARY KEY, desk_id INTEGER REFERENCES desks(id));")
    assert not keyed_only(conn, "SELECT m.id, d.name FROM moves m LEFT JOIN desks d ON d.rowid = m.desk_id", "desks")
    conn.executescript("CREATE TABLE tills (id INTEGER PRIMARY KEY, name TEXT);"
                       "CREATE TABLE sessions (id INTEGER PRIMARY KEY, till_id INTEGER REFERENCES tills(id));")
    assert keyed_only(conn, "SELECT s.id, t.name FROM sessions s LEFT JOIN tills t ON t.rowid = s.till_id", "tills")


def test_a_key_read_from_a_table_without_rowid_is_not_taken_for_its_declared_column(conn):
    # Its values come in the order of its key first: the third value is not its third column.
    conn.executescript("CREATE TABLE notes (label TEXT, other INTEGER, register_id INTEGER REFERENCES registers(id), "
                       "code TEXT PRIMARY KEY) WITHOUT ROWID;")
    for column in ("other", "register_id"):
        sql = f"SELECT n.code, r.code FROM notes n LEFT JOIN registers r ON r.id = n.{column}"
        assert not keyed_only(conn, sql, "registers"), column
