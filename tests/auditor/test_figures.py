"""The inspector's figures of a period add amounts up: a till whose amounts pass 64 bits still gets its figures."""

from __future__ import annotations

import sqlite3

from pipeline.auditor.figures import period_figures
from pipeline.journals.connection import open_snapshot
from pipeline.journals.mapping import load_mapping

BIG = 2 ** 62


def test_a_day_whose_payments_and_sales_pass_64_bits_gets_its_figures_summed_past_them(sample_db):
    conn = sqlite3.connect(sample_db, isolation_level=None)
    day = conn.execute("SELECT substr(min(timestamp), 1, 10) FROM tickets").fetchone()[0]
    conn.execute("UPDATE tickets SET total_ttc = ? WHERE type = 'sale' AND substr(timestamp, 1, 10) = ?", (BIG, day))
    conn.execute("UPDATE payments SET amount_cents = ? WHERE means = 'card' AND ticket_id IN "
                 "(SELECT id FROM tickets WHERE type = 'sale' AND substr(timestamp, 1, 10) = ?)", (BIG, day))
    sales, cards = conn.execute(
        "SELECT count(*), (SELECT count(*) FROM payments p JOIN tickets t ON t.id = p.ticket_id WHERE t.type = 'sale' "
        "AND substr(t.timestamp, 1, 10) = ?1 AND p.means = 'card') FROM tickets WHERE type = 'sale' "
        "AND substr(timestamp, 1, 10) = ?1", (day,)).fetchone()
    conn.close()
    assert sales > 2 and cards > 2, (sales, cards)
    mapping = load_mapping("reference-pos", "UTC")
    with open_snapshot(sample_db, "UTC") as snap:
        fig = period_figures(snap, mapping, (day, day))
    kinds = {k["type"]: k for k in fig["kinds"]}
    assert kinds["sale"]["count"] == sales and kinds["sale"]["ttc"] == float(sales * BIG)
    means = {m["means"]: m for m in fig["means"] if m["day"] == day}
    assert means["card"]["amount"] == float(cards * BIG)


def test_an_amount_past_a_reals_range_is_written_in_the_report_not_stopped_on():
    from pipeline.auditor.report import euros

    assert euros(float(3 * BIG)) == "138\u202f350\u202f580\u202f552\u202f821\u202f637,12\u00a0€"
    assert euros(float("inf")) == "inf" and euros(float("-inf")) == "-inf"  # a till's 1e999, summed
