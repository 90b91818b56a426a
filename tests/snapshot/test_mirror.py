"""The mirror declares the server's foreign keys an evening can use, and no other: a key to a row's rowid, in a table
the mirror holds."""

from __future__ import annotations

import sqlite3

from pipeline.snapshot.mirror import INTEGER, TEXT, Column, Mirror


def _keys(path, table):
    conn = sqlite3.connect(path)
    try:
        return sorted((r[3], r[2], r[4]) for r in conn.execute(f'PRAGMA foreign_key_list("{table}")'))
    finally:
        conn.close()


def test_only_keys_to_a_held_tables_rowid_are_declared(tmp_path):
    mirror = Mirror(tmp_path / "mirror.sqlite")
    mirror.create("registers", [Column("id", INTEGER), Column("code", TEXT)], "id")
    mirror.create("loyalty", [Column("uuid", TEXT), Column("points", INTEGER)], "uuid")
    mirror.create("unread", [Column("id", INTEGER)], "id")
    mirror.create("tickets", [Column("id", INTEGER), Column("register_id", INTEGER), Column("register_code", TEXT),
                              Column("card", TEXT), Column("other", INTEGER), Column("original_id", INTEGER)], "id",
                  {"register_id": ("registers", "id"), "register_code": ("registers", "code"),
                   "card": ("loyalty", "uuid"), "other": ("unread", "id"), "original_id": ("tickets", "id")})
    assert mirror.wanted(lambda conn: {"registers", "loyalty", "tickets"}) == {"registers", "loyalty", "tickets"}
    path = mirror.close()
    # The rowid of a table held: kept. A text or UNIQUE column (scanned for each row to find it, compared as bytes
    # where the server compares by collation), or a table left out: not.
    assert _keys(path, "tickets") == [("original_id", "tickets", "id"), ("register_id", "registers", "id")]
