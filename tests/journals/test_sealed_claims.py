"""Sealed claims (Dolibarr's blocked log) against the tables: a line gone from an invoice whose count of lines is
sealed is said once, by that count; a line gone from an invoice without one is said itself. The lookup of the count
goes through an index made only when a line is gone."""

from __future__ import annotations

import sqlite3

from pipeline.journals.findings import CheckResult
from pipeline.journals.mapping import Journal, Mapping
from pipeline.journals.sealed import Claims, check_claims


def _till(invoices: int, gone: set[int], uncounted: set[int]):
    """Invoices of two lines each; the second line of `gone` deleted after sealing; `uncounted` sealed no count."""
    conn = sqlite3.connect("")
    conn.execute("CREATE TABLE t (source_id INTEGER PRIMARY KEY, total_ttc_cents INTEGER)")
    conn.execute("CREATE TABLE l (id INTEGER PRIMARY KEY, ticket_source_id INTEGER, line_no INTEGER, quantity REAL, "
                 "line_total_ttc_cents INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?, 1000)", ((i,) for i in range(invoices)))
    conn.executemany("INSERT INTO l (ticket_source_id, line_no, quantity, line_total_ttc_cents) VALUES (?, ?, 1.0, 500)",
                     ((i, k) for i in range(invoices) for k in (1, 2) if not (k == 2 and i in gone)))
    tickets = Journal("tickets", "t", "SELECT source_id, total_ttc_cents FROM t", "x", ["source_id", "total_ttc_cents"],
                      {})
    lines = Journal("ticket_lines", "l", "SELECT ticket_source_id, line_no, quantity, line_total_ttc_cents FROM l "
                    "ORDER BY ticket_source_id, line_no", "x",
                    ["ticket_source_id", "line_no", "quantity", "line_total_ttc_cents"], {})
    chain = Journal("source_chain", "b", "", "x", ["chain", "sequence"], {}, source_chain={"key": ["chain"]})
    mapping = Mapping("test", {}, {"tickets": tickets, "ticket_lines": lines, "source_chain": chain})
    claims = Claims(conn)
    for i in range(invoices):
        said = [("tickets", (("source_id", i),), "total_ttc_cents", 1000)]
        if i not in uncounted:
            said.append(("ticket_lines", (("ticket_source_id", i),), "#rows", 2))
        for k in (1, 2):
            key = (("ticket_source_id", i), ("line_no", k))
            said += [("ticket_lines", key, "quantity", 1.0), ("ticket_lines", key, "line_total_ttc_cents", 500)]
        claims.add({"chain": "1", "sequence": i, "reference": f"FA{i}"}, ["chain"], said)
    claims.flush()
    return conn, mapping, chain


def _index_made(conn) -> bool:
    return conn.execute("SELECT count(*) FROM sqlite_temp_master WHERE name = 'coffre_claims_rows'").fetchone()[0] == 1


def test_a_gone_line_is_said_by_its_invoices_sealed_count_or_else_itself():
    conn, mapping, chain = _till(300, gone={5, 120, 250}, uncounted={250})
    result = CheckResult()
    check_claims(conn, mapping, chain, result)
    said = sorted((f.record["sequence"], f.message.split(":")[0]) for f in result.findings)
    assert said == [(5, "it seals 2 ticket_lines records of ticket_source_id 5; the till's tables now hold 1"),
                    (120, "it seals 2 ticket_lines records of ticket_source_id 120; the till's tables now hold 1"),
                    (250, "it seals the ticket_lines record ticket_source_id 250, line_no 2, which is no longer in "
                          "the till's tables")], said
    assert _index_made(conn)


def test_no_index_is_made_when_no_line_is_gone():
    conn, mapping, chain = _till(300, gone=set(), uncounted=set())
    result = CheckResult()
    check_claims(conn, mapping, chain, result)
    assert result.findings == [] and not _index_made(conn)
