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


def test_two_register_codes_that_differ_only_in_bytes_that_are_not_utf8_stay_two_chains(sample_db):
    conn = sqlite3.connect(sample_db)
    conn.execute("UPDATE registers SET code = CAST(X'4341495353452dff' AS TEXT) WHERE code = 'CAISSE-01'")
    conn.execute("UPDATE registers SET code = CAST(X'4341495353452dfe' AS TEXT) WHERE code = 'CAISSE-02'")
    conn.commit()
    conn.close()
    found = _findings(sample_db)
    # Each ticket signs its register's code: every one is named, under its own register, and no link is broken
    # (read as one chain, the two registers' tickets would break each other's links).
    assert {(j, c) for j, c, _r, _n in found if j == "tickets"} == {("tickets", "signature")}
    assert {r for j, _c, r, _n in found if j == "tickets"} == {"CAISSE-\\xff", "CAISSE-\\xfe"}


def test_a_time_stored_as_a_blob_of_its_text_is_read_as_that_text_by_every_check(sample_db):
    conn = sqlite3.connect(sample_db)
    conn.execute("UPDATE tickets SET timestamp = CAST(timestamp AS BLOB) WHERE id IN (9, 10, 11)")
    conn.commit()
    conn.close()
    assert _findings(sample_db) == set()  # as the export writes it, and the inspector's verify.py reads it


def test_a_till_database_in_utf16_is_checked_as_in_utf8(sample_db, tmp_path):
    """SQLite gives a UTF-16 file's texts to SQL functions as UTF-16 bytes (a Windows till's file may be one)."""
    utf16 = tmp_path / "caisse16.db"
    src, dst = sqlite3.connect(sample_db), sqlite3.connect(utf16)
    dst.execute("PRAGMA encoding = 'UTF-16le'")
    dst.executescript(";\n".join(src.iterdump()))
    src.close()
    assert dst.execute("PRAGMA encoding").fetchone()[0] == "UTF-16le"
    conn = dst
    conn.execute("UPDATE tickets SET total_ttc = total_ttc + 1 WHERE id = 42")
    conn.commit()
    conn.close()
    conn = sqlite3.connect(sample_db)
    conn.execute("UPDATE tickets SET total_ttc = total_ttc + 1 WHERE id = 42")
    conn.commit()
    conn.close()
    assert _findings(utf16) == _findings(sample_db) != set()


def test_a_number_past_a_reals_range_names_its_record_in_json_that_has_no_infinity(sample_db):
    import json

    conn = sqlite3.connect(sample_db)
    conn.execute("UPDATE tickets SET number = 1e999 WHERE id = ?", (_ticket(conn, "CAISSE-02", 30),))
    conn.commit()
    conn.close()
    mapping = load_mapping("reference-pos", "Europe/Paris")
    snap = open_snapshot(sample_db, mapping.timezone)
    found = checks.check_journals(snap, mapping).findings
    snap.close()
    assert any(f.record.get("number") == "inf" for f in found)
    json.dumps([f.to_json() for f in found], allow_nan=False)  # findings.json: JSON has no Infinity
