"""A signature column holding a blob or a number (a damaged or edited database) is checked, not stopped on.

SQLite keeps any type in any column. A till writes its signatures as text; the checks read a blob as the text it
spells, as the export writes it (so that Coffre and the inspector's verify.py, which reads the export, agree), and a
number as its digits.
"""

from __future__ import annotations

import sqlite3

from pipeline.journals import checks
from pipeline.journals.connection import open_snapshot
from pipeline.journals.mapping import load_mapping


def _findings(db) -> set[tuple]:
    mapping = load_mapping("reference-pos", "Europe/Paris")
    conn = open_snapshot(db, mapping.timezone)
    try:
        return {(f.journal, f.check, f.record.get("register"), f.record.get("number"))
                for f in checks.check_journals(conn, mapping).findings}
    finally:
        conn.close()


def _ticket(conn, register: str, number: int) -> int:
    return conn.execute("SELECT t.id FROM tickets t JOIN registers r ON r.id = t.register_id WHERE r.code = ? "
                        "AND t.number = ?", (register, number)).fetchone()[0]


def test_blobs_and_numbers_in_signature_columns_are_findings_where_their_text_is_wrong_and_never_a_stop(sample_db):
    conn = sqlite3.connect(sample_db)
    # The same bytes as the text, stored as blobs: nothing to say.
    conn.execute("UPDATE tickets SET signature = CAST(signature AS BLOB), previous_signature = "
                 "CAST(previous_signature AS BLOB) WHERE id = ?", (_ticket(conn, "CAISSE-01", 10),))
    # Bytes that spell no signature of the record, and a number.
    conn.execute("UPDATE tickets SET signature = X'01022a' WHERE id = ?", (_ticket(conn, "CAISSE-01", 20),))
    conn.execute("UPDATE tickets SET signature = 12345 WHERE id = ?", (_ticket(conn, "CAISSE-02", 30),))
    # A previous signature that is not the one before, as a blob.
    conn.execute("UPDATE tickets SET previous_signature = X'0304' WHERE id = ?", (_ticket(conn, "CAISSE-02", 40),))
    conn.commit()
    conn.close()
    found = _findings(sample_db)
    assert {f for f in found if f[0] == "tickets"} == {
        ("tickets", "signature", "CAISSE-01", 20),
        ("tickets", "chain_link", "CAISSE-01", 21),  # the next record links to the real signature
        ("tickets", "signature", "CAISSE-02", 30),
        ("tickets", "chain_link", "CAISSE-02", 31),
        ("tickets", "chain_link", "CAISSE-02", 40),
        ("tickets", "signature", "CAISSE-02", 40),  # its previous signature is signed too
    }, sorted(found)
