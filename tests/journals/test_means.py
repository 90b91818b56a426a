"""Closures against payment means: a payment turned from cash to card names its day's Z and no other, and the
closures find their days' sums by register and span as `start <= day <= end` finds them, without walking every
day's sums for every closure (a supermarket's six years: 21,900 daily closures)."""

from __future__ import annotations

import random
import sqlite3

from pipeline.journals.checks import CheckResult
from pipeline.journals.connection import open_snapshot
from pipeline.journals.mapping import load_mapping
from pipeline.journals.means import _Days, check_means


def test_a_payment_turned_from_cash_to_card_names_its_days_z_only(sample_db):
    conn = sqlite3.connect(sample_db)
    pid, tid = conn.execute("SELECT p.id, p.ticket_id FROM payments p JOIN tickets t ON t.id = p.ticket_id "
                            "WHERE p.means = 'cash' AND t.type = 'sale' ORDER BY p.id LIMIT 1 OFFSET 20").fetchone()
    register, stamp = conn.execute("SELECT r.code, t.timestamp FROM tickets t JOIN registers r ON r.id = t.register_id "
                                   "WHERE t.id = ?", (tid,)).fetchone()
    conn.execute("UPDATE payments SET means = 'card' WHERE id = ?", (pid,))
    conn.commit()
    conn.close()
    mapping = load_mapping("reference-pos", "Europe/Paris")
    snap = open_snapshot(sample_db, mapping.timezone)
    day = snap.execute("SELECT coffre_day(?)", (stamp,)).fetchone()[0]
    result = CheckResult()
    check_means(snap, mapping, result, lambda j: ("", ()))
    snap.close()
    named = [(f.record["register"], f.record["kind"], f.record["period_start"]) for f in result.findings]
    assert named == [(register, "daily", day)], named
    assert "card" in result.findings[0].message and "cash" in result.findings[0].message


def test_days_are_found_as_the_comparison_finds_them():
    rng = random.Random(18)
    days = [f"2026-0{m}-{d:02d}" for m in (1, 2) for d in range(1, 29)] + ["2026-01-05 ", "", "x"]
    rows = [(rng.choice(["A", "B", 1]), rng.choice(days), n) for n in range(400)]
    rows += [("A", None, 1000), (1, 7, 1001)]  # days that are not text are compared one by one
    found = _Days(rows)
    spans = [(rng.choice(days), rng.choice(days)) for _ in range(300)] + [("2026-01-03", "2026-01-03"), ("", "~")]
    for reg in ("A", "B", 1, "C"):
        for start, end in spans:
            expected = sorted(v for r, d, v in rows if r == reg and isinstance(d, str) and start <= d <= end)
            assert sorted(found.within(reg, start, end)) == expected, (reg, start, end)
    assert found.within(1, 5, 9) == [1001]  # a span of numbers: every day compared one by one
    assert found.within("A", None, "2026-12-31") == []  # a closure without a period finds no day (it used to stop)


def test_a_daily_closure_over_two_days_is_held_to_both_days_payments(sample_db):
    """A Z made after midnight covers two business days: what it records per means is the sum of both days'."""
    from pipeline.fiscal_rules import means_text, parse_means
    conn = sqlite3.connect(sample_db)
    (a_id, a_text), (b_id, b_text) = conn.execute(
        "SELECT id, payments_by_means FROM closures WHERE kind = 'daily' AND register_id = 1 ORDER BY number "
        "LIMIT 2").fetchall()
    both = parse_means(a_text)
    for means, amount in parse_means(b_text).items():
        both[means] = both.get(means, 0) + amount
    conn.execute("UPDATE closures SET period_end = (SELECT period_end FROM closures WHERE id = ?), "
                 "payments_by_means = ? WHERE id = ?", (b_id, means_text(both), a_id))
    conn.execute("UPDATE closures SET kind = 'monthly', number = 9999 WHERE id = ?", (b_id,))
    conn.execute("DELETE FROM closures WHERE kind <> 'daily' AND id <> ?", (b_id,))  # roll-ups aside
    conn.commit()
    conn.close()
    mapping = load_mapping("reference-pos", "Europe/Paris")
    snap = open_snapshot(sample_db, mapping.timezone)
    result = CheckResult()
    check_means(snap, mapping, result, lambda j: ("", ()))
    snap.close()
    # Only the roll-up made of the second day's Z is named (its day is now the first closure's): not the first Z.
    assert [(f.record["kind"], f.record["number"]) for f in result.findings] == [("monthly", 9999)], result.findings
