"""The journals' checks look records up through an index, never by reading a whole table once per record: such a
query grows with the product of two journals (a supermarket's six years: 21,900 closures against as many JET events,
15 s; a shop that reprints often: hours for its duplicates). Each query a check runs is planned by SQLite here, on
the sample till, and no correlated lookup may be a full scan."""

from __future__ import annotations

import re

from pipeline.journals.checks import CheckResult, check_closures
from pipeline.journals.connection import open_snapshot
from pipeline.journals.mapping import load_mapping
from pipeline.journals.records import check_records


class _Recording:
    """A connection that keeps the SELECTs run through it, with their parameters."""

    def __init__(self, conn):
        self.conn, self.selects = conn, []

    def execute(self, sql, params=()):
        if sql.lstrip().upper().startswith("SELECT"):
            self.selects.append((sql, params))
        return self.conn.execute(sql, params)

    def executemany(self, sql, rows):
        return self.conn.executemany(sql, rows)


def _scans_per_row(conn, selects) -> list[tuple[str, str]]:
    """(query, plan line) for each full scan SQLite plans inside a correlated subquery (once per outer row)."""
    bad = []
    for sql, params in selects:
        plan = conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
        parents = {row[0]: row for row in plan}
        for node, parent, _unused, detail in plan:
            inside = parent
            correlated = False
            while inside in parents:
                correlated |= parents[inside][3].startswith("CORRELATED")
                inside = parents[inside][1]
            if correlated and re.match(r"SCAN \w+$", detail) and "coffre_" in sql:
                bad.append((sql[:120], detail))
    return bad


def test_the_jet_and_closure_checks_find_each_record_through_an_index(sample_db):
    mapping = load_mapping("reference-pos", "Europe/Paris")
    conn = open_snapshot(sample_db, mapping.timezone)
    recording = _Recording(conn)
    check_records(recording, mapping, CheckResult(), lambda j: ("", ()))
    check_closures(recording, mapping, CheckResult(), "", (), True, None)
    assert any("coffre_jet_records" in sql for sql, _ in recording.selects)
    assert _scans_per_row(conn, recording.selects) == []
    conn.close()
