"""A mapping's SQL without its final ORDER BY (pipeline/journals/unordered.py): cut only where the rows stay the same."""

from __future__ import annotations

import sqlite3
from collections import Counter

import pytest

from pipeline.journals.mapping import load_mapping
from pipeline.journals.unordered import without_order


@pytest.mark.parametrize("sql, cut", [
    ("SELECT a FROM t ORDER BY a", "SELECT a FROM t"),
    ("SELECT a FROM t order  by a DESC, b", "SELECT a FROM t"),
    ("SELECT a, (SELECT max(x) FROM u ORDER BY x) FROM t ORDER BY a", "SELECT a, (SELECT max(x) FROM u ORDER BY x) FROM t"),
    ("SELECT a, row_number() OVER (ORDER BY a) FROM t", None),  # its only ORDER BY is the window's
    ("SELECT a FROM t", None),
    ("SELECT a FROM t ORDER BY a LIMIT 5", None),  # the first five: other rows without the order
    ("SELECT a FROM t ORDER BY a LIMIT 5 OFFSET 2", None),
    ("SELECT 'ORDER BY' AS a FROM t", None),  # in a string
    ("SELECT a AS \"order by\" FROM t", None),
    ("SELECT a FROM t -- ORDER BY a\n", None),  # in a comment
    ("SELECT a FROM t /* ORDER BY a */", None),
    ("SELECT 'it''s' AS a FROM t ORDER BY a", "SELECT 'it''s' AS a FROM t"),
    ("SELECT a FROM t ORDER BY (a", None),  # unbalanced: not read with certainty, kept
    ("SELECT a FROM t ORDER BY 'a", None),
    ("SELECT a FROM t ORDER BY a; DELETE FROM t", None),
    ("SELECT a FROM t UNION SELECT b FROM u ORDER BY 1", "SELECT a FROM t UNION SELECT b FROM u"),
    ("SELECT a FROM t ORDER BY a) x", None),
])
def test_cuts_only_a_final_order_by_it_can_read(sql, cut):
    assert without_order(sql) == (sql if cut is None else cut + "\n")


def test_a_line_comment_before_the_order_by_does_not_swallow_what_follows_the_cut():
    """A mapping's SQL may say why it orders as it does, on the line above: the cut must still wrap as a subquery."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER)")
    conn.executemany("INSERT INTO t VALUES (?)", [(3,), (1,), (2,)])
    sql = "SELECT a FROM t\n-- the chain's order\nORDER BY a"
    cut = without_order(sql)
    assert cut == "SELECT a FROM t\n-- the chain's order\n"
    assert conn.execute(f"SELECT count(*), sum(a) FROM ({cut}) WHERE a > 1").fetchone() == (2, 5)


def test_every_journal_of_the_reference_mapping_gives_the_same_rows_unordered(tmp_path):
    """The reference till's journals over a small sample: the same multiset of rows with and without the order."""
    from pipeline.journals.connection import open_snapshot
    from pipeline.sample.generate import generate
    db = tmp_path / "caisse.db"
    generate(db, days=3, tickets_per_day=20, seed=3)
    conn = open_snapshot(db)
    mapping = load_mapping("reference-pos")
    cut = 0
    for j in mapping.journals.values():
        ordered = conn.execute(j.sql).fetchall()
        unordered = conn.execute(j.unordered_sql).fetchall()
        assert ordered and Counter(ordered) == Counter(unordered), j.name
        cut += j.unordered_sql != j.sql
    assert cut == len(mapping.journals)  # every journal's SQL ends in an ORDER BY, and every one was cut


def test_an_aggregate_over_the_unordered_sql_reads_fewer_rows_in_order():
    """Why it is done: SQLite sorts an ordered subquery before an aggregate over it, and not an unordered one."""
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    sql = "SELECT a, b FROM t ORDER BY b"
    plan = lambda q: " ".join(r[-1] for r in conn.execute(f"EXPLAIN QUERY PLAN SELECT a, count(*) FROM ({q}) GROUP BY a"))  # noqa: E731
    assert "ORDER BY" in plan(sql)
    assert "ORDER BY" not in plan(without_order(sql))


def test_numbering_findings_follow_the_mappings_order_not_how_the_table_stores_its_rows(tmp_path):
    """Equal numbers of two kinds (3 and 3.0 in an untyped column) come out of the numbering window as they come in:
    the check reads them in the mapping's order, so that the same till says the same whatever its rowids."""
    import json

    from pipeline.journals.checks import check_journals
    from pipeline.journals.connection import open_snapshot
    rows = [("C1", 1, "10:00"), ("C1", 2, "10:01"), ("C1", 3, "10:02"), ("C1", 3.0, "10:03"), ("C1", 5, "10:04")]
    mapping = tmp_path / "m.json"
    mapping.write_text(json.dumps({"name": "demo", "journals": {"tickets": {
        "table": "ventes", "numbering": {"key": ["register"], "field": "number"},
        "sql": "SELECT caisse AS register, numero AS number, 'sale' AS type, horodatage AS timestamp, "
               "id AS source_id FROM ventes ORDER BY caisse, horodatage"}}}))
    said = []
    for stored in (rows, rows[::-1]):  # the same rows, stored in the opposite order
        db = tmp_path / f"v{len(said)}.db"
        conn = sqlite3.connect(db)
        conn.execute("CREATE TABLE ventes (id INTEGER PRIMARY KEY, caisse TEXT, numero, horodatage TEXT)")
        conn.executemany("INSERT INTO ventes (caisse, numero, horodatage) VALUES (?, ?, ?)", stored)
        conn.commit()
        conn.close()
        found = check_journals(open_snapshot(db), load_mapping(str(mapping))).findings
        said.append([(f.check, f.record.get("number"), f.message) for f in found])
    assert said[0] and said[0] == said[1]
