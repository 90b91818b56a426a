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


def _fold_second_day_into_first(conn, register_ids) -> list[int]:
    """Each register's Z of the second day folded into its Z of the first (a Z made after midnight covering both):
    counts, amounts and means added up, the third day's Z numbered 2. Returns the folded closures' ids."""
    from pipeline.fiscal_rules import means_text, parse_means
    amounts = ["ticket_count", "ht_550", "tva_550", "ht_1000", "tva_1000", "ht_2000", "tva_2000", "total_ht",
               "total_tva", "total_ttc"]
    folded = []
    for reg in register_ids:
        (a, a_text), (b, b_text) = conn.execute(
            "SELECT id, payments_by_means FROM closures WHERE kind = 'daily' AND register_id = ? ORDER BY number "
            "LIMIT 2", (reg,)).fetchall()
        both = parse_means(a_text)
        for means, amount in parse_means(b_text).items():
            both[means] = both.get(means, 0) + amount
        sums = ", ".join(f"{c} = {c} + (SELECT {c} FROM closures WHERE id = :b)" for c in amounts)
        conn.execute(f"UPDATE closures SET {sums}, period_end = (SELECT period_end FROM closures WHERE id = :b), "
                     f"payments_by_means = :means WHERE id = :a", {"a": a, "b": b, "means": means_text(both)})
        conn.execute("DELETE FROM closures WHERE id = ?", (b,))
        conn.execute("UPDATE closures SET number = 2 WHERE kind = 'daily' AND register_id = ? AND number = 3", (reg,))
        folded.append(a)
    conn.execute("DELETE FROM closures WHERE kind <> 'daily'")  # roll-ups aside
    return folded


def _means_findings(db) -> list:
    mapping = load_mapping("reference-pos", "Europe/Paris")
    snap = open_snapshot(db, mapping.timezone)
    result = CheckResult()
    check_means(snap, mapping, result, lambda j: ("", ()))
    snap.close()
    return result.findings


def test_a_daily_closure_over_two_days_is_held_to_both_days_payments(sample_db):
    """A Z made after midnight covers two business days: what it records per means is the sum of both days'. Every
    register's Z covers both, so that no closure starts on the second day: its payments are read all the same."""
    conn = sqlite3.connect(sample_db)
    registers = [r[0] for r in conn.execute("SELECT DISTINCT register_id FROM closures ORDER BY 1")]
    assert len(registers) >= 2
    _fold_second_day_into_first(conn, registers)
    conn.commit()
    conn.close()
    assert _means_findings(sample_db) == []


def test_a_daily_closure_without_a_period_start_is_named_and_the_check_goes_on(sample_db):
    conn = sqlite3.connect(sample_db)
    # The sample's schema refuses a NULL period: the table as another till could make it, without that constraint.
    conn.executescript("CREATE TABLE c2 AS SELECT * FROM closures; DROP TABLE closures; "
                       "ALTER TABLE c2 RENAME TO closures;")
    first, second = conn.execute("SELECT id FROM closures WHERE kind = 'daily' ORDER BY id LIMIT 2").fetchall()
    conn.execute("UPDATE closures SET period_start = NULL WHERE id = ?", first)
    conn.execute("UPDATE closures SET period_end = NULL WHERE id = ?", second)
    conn.commit()
    conn.close()
    named = {(f.record["kind"], f.record["number"], f.record["period_start"]) for f in _means_findings(sample_db)}
    assert {r[:2] for r in named} == {("daily", 1)} and len(named) == 2, named


def test_a_payment_without_means_is_named_not_a_stop(sample_db):
    conn = sqlite3.connect(sample_db)
    conn.executescript("CREATE TABLE p2 AS SELECT * FROM payments; DROP TABLE payments; "
                       "ALTER TABLE p2 RENAME TO payments;")  # as another till could make it: means may be NULL
    conn.execute("UPDATE payments SET means = NULL WHERE id = (SELECT min(p.id) FROM payments p JOIN tickets t "
                 "ON t.id = p.ticket_id WHERE t.type = 'sale')")
    conn.commit()
    conn.close()
    found = _means_findings(sample_db)
    assert len(found) == 1 and "None:" in found[0].message, found


def test_a_period_ending_on_the_last_day_there_is_or_with_a_time_is_read_by_business_day(sample_db):
    """Found by a review: a period_end of 9999-12-31 (an 'open' end) stopped the check, as the day after it has no
    date; and '2025-01-01 23:59:59' narrowed the tickets' stamps to before it, which hid that day's payments from
    every register. Such a period is read by business day alone: neither stops the check, none is named wrongly."""
    conn = sqlite3.connect(sample_db)
    first, second = conn.execute("SELECT id FROM closures WHERE kind = 'daily' ORDER BY period_start, id "
                                 "LIMIT 2").fetchall()
    last = conn.execute("SELECT id FROM closures WHERE kind = 'daily' ORDER BY period_start DESC, id LIMIT 1").fetchone()
    conn.execute("UPDATE closures SET period_end = period_end || ' 23:59:59' WHERE id = ?", first)
    conn.execute("UPDATE closures SET period_end = '9999-12-31' WHERE id = ?", last)
    conn.commit()
    conn.close()
    named = [(f.record["register"], f.record["number"]) for f in _means_findings(sample_db)]
    assert named == [], named


def test_a_period_end_python_reads_as_a_date_but_that_sorts_apart_is_read_by_business_day(sample_db):
    """20250101 is a date to Python but sorts after every 2025-MM-DD day: a Z whose period ends there covers, as text,
    every day of the sample from its start, and is held to all their payments, as the inspector's verify.py holds it."""
    from pipeline.fiscal_rules import means_text, parse_means
    conn = sqlite3.connect(sample_db)
    zs = conn.execute("SELECT id, payments_by_means FROM closures WHERE kind = 'daily' AND register_id = 1 "
                      "ORDER BY period_start").fetchall()
    assert len(zs) == 3
    every_day: dict = {}
    for _id, text in zs:
        for means, amount in parse_means(text).items():
            every_day[means] = every_day.get(means, 0) + amount
    conn.execute("UPDATE closures SET period_end = '20250101', payments_by_means = ? WHERE id = ?",
                 (means_text(every_day), zs[0][0]))
    # No other Z covers the third day: only that text span reaches its payments.
    conn.execute("DELETE FROM closures WHERE kind = 'daily' AND period_start = (SELECT max(period_start) FROM closures)")
    conn.commit()
    conn.close()
    assert _means_findings(sample_db) == []
