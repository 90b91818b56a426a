"""Closures against payment means: what a Z says came in cash, by card or by voucher equals the payments of the
tickets of its business day, and a monthly or yearly closure the sum of its daily ones.

A payment turned from cash to card keeps every total right; the signed per-means line of the Z does not.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from datetime import date, timedelta

from pipeline.fiscal_rules import means_text, parse_means
from pipeline.i18n import _
from pipeline.journals.exact_sums import rows_summing
from pipeline.journals.findings import CheckResult, Finding, closure_name, closures_of_kind
from pipeline.journals.mapping import Mapping, counted_types_sql, quote_ident


def check_means(conn, mapping: Mapping, result: CheckResult, scope) -> None:
    """The closures in scope (scope(journal) -> WHERE, parameters: all, a period's, an evening's new ones) against
    their payments."""
    spec = mapping.doc.get("means_checks")
    pc = mapping.doc.get("payment_checks")
    cc = mapping.doc.get("closure_checks")
    if not spec or not pc or not cc:
        return
    cj, tj, pj = mapping.journals[spec["journal"]], mapping.journals[cc["tickets"]], mapping.journals[pc["journal"]]
    field = quote_ident(spec["field"])
    where, params = scope(cj)
    closures = conn.execute(f"SELECT register, kind, number, period_start, period_end, {field} FROM ({cj.sql}) {where}",
                            params).fetchall()
    daily_kind = cc["daily"]
    # The days the daily closures cover, start to end (a Z made after midnight covers two): a closure whose period is
    # not two days in order finds no day.
    periods = {(c[3], c[4]) for c in closures if c[1] == daily_kind and isinstance(c[3], str)
               and isinstance(c[4], str) and c[3] <= c[4]}
    sums = _day_sums(conn, mapping, tj, pj, pc, periods)
    rollups = [c for c in closures if c[1] != daily_kind]
    all_daily = []
    if rollups:
        all_daily = conn.execute(f"SELECT register, period_start, {field} FROM ({cj.sql}) WHERE kind = ?",
                                 (daily_kind,)).fetchall()
    # Looked up by register and day: a walk of every day's sums for every closure grows with their product (a
    # supermarket's six years: 21,900 daily closures, 65,700 day sums).
    sums_of = _Days((r, d, (m, a)) for (r, d, m), a in sums.items())
    daily_of = _Days((r, d, text) for r, d, text in all_daily)
    for reg, kind, number, start, end, recorded in closures:
        got = parse_means(recorded)
        want: dict[str, int] = {}
        if kind == daily_kind:
            for m, a in sums_of.within(reg, start, end):
                want[m] = want.get(m, 0) + a
            source = _("the payments of its tickets")
        else:
            for text in daily_of.within(reg, start, end):
                for m, a in (parse_means(text) or {}).items():
                    want[m] = want.get(m, 0) + a
            source = closures_of_kind(daily_kind)
        if got is None or {m: a for m, a in got.items() if a} != {m: a for m, a in want.items() if a}:
            rec = {"register": reg, "kind": kind, "number": number, "period_start": start}
            result.add(Finding(cj.name, "closure_means", rec,
                               _("{closure}: payments per means {recorded!r} recorded, {expected!r} from "
                                 "{source}").format(closure=closure_name(kind), recorded=recorded,
                                                    expected=means_text(want), source=source)))


class _Days:
    """(register, day, value) rows, found by register and by a span of days as `start <= day <= end` finds them."""

    def __init__(self, rows):
        self.days: dict = {}  # register -> its days in order, and their values
        self.odd: list[tuple] = []  # rows whose day is not text, compared one by one
        for reg, day, value in rows:
            if isinstance(day, str):
                self.days.setdefault(reg, []).append((day, value))
            else:
                self.odd.append((reg, day, value))
        for rows_of in self.days.values():
            rows_of.sort(key=lambda row: row[0])

    def within(self, reg, start, end) -> list:
        rows_of = self.days.get(reg, [])
        if isinstance(start, str) and isinstance(end, str):
            found = [value for _day, value in rows_of[bisect_left(rows_of, start, key=lambda row: row[0]):
                                                      bisect_right(rows_of, end, key=lambda row: row[0])]]
        else:
            found = [value for day, value in rows_of if _between(start, day, end)]
        return found + [value for r, day, value in self.odd if r == reg and _between(start, day, end)]


def _between(start, day, end) -> bool:
    """A day that cannot be compared with the span (a closure without a period, a day that is not text) is not in it."""
    try:
        return bool(start <= day <= end)
    except TypeError:
        return False


def _day_sums(conn, mapping: Mapping, tj, pj, pc, periods: set[tuple[str, str]]) -> dict[tuple, int]:
    """{(register, business day, means): amount} for the counted tickets of the days the (first, last) periods
    cover. The tickets are first narrowed on their stamps (a day's stamps lie within a day of its local date, whatever
    the time zone), so that an evening reads one day of tickets, not the whole journal."""
    if not periods:
        return {}
    k1, k2 = (quote_ident(k) for k in pc["ticket_key"])
    amount = quote_ident(pc["amount"])
    out: dict[tuple, int] = {}
    for lo, hi in _spans(periods):
        before, after = _shift(lo, -1), _shift(hi, 2)
        # A period that is not two dates with days around them (a custom mapping's stamps, the last day there is) is
        # not narrowed on the stamps, only by business day, as the closures check finds its tickets.
        # A stamp that is not text (a number, a blob: SQLite keeps any type in any column) sorts before or after every
        # text: its ticket is taken too, as the closures check (which reads its day) takes it. Three index ranges.
        stamps, params = ("(t.timestamp >= ? AND t.timestamp < ? OR t.timestamp < '' OR t.timestamp >= X'') AND ",
                          (before, after)) if before is not None and after is not None else ("", ())
        sql = (f"SELECT t.register, t.business_day, p.means, sum(p.{amount}) FROM ({pj.unordered_sql}) p "
               f"JOIN ({tj.unordered_sql}) t ON t.register = p.{k1} AND t.number = p.{k2} "
               f"WHERE {stamps}t.business_day BETWEEN ? AND ? "
               f"AND t.type IN ({counted_types_sql(mapping)}) GROUP BY 1, 2, 3")
        for reg, day, means, total in rows_summing(conn, sql, params + (lo, hi)):
            out[(reg, day, means)] = total
    return out


def _spans(periods) -> list[tuple[str, str]]:
    """(first, last) periods that overlap or follow each other merged: a full check is one span, an evening one or
    two."""
    spans: list[list[str]] = []
    for first, last in sorted(periods):
        if spans and (_shift(spans[-1][1], 1) or spans[-1][1]) >= first:
            spans[-1][1] = max(spans[-1][1], last)
        else:
            spans.append([first, last])
    return [(a, b) for a, b in spans]


def _shift(day, n: int) -> str | None:
    """The day n days away, or None when `day` is not a YYYY-MM-DD date that has one (text of another shape, which
    Python also reads as a date, 20250101 or 2025-W01-3, but sorts apart from the days; 9999-12-31 + 1)."""
    try:
        day_of = date.fromisoformat(day)
        return (day_of + timedelta(days=n)).isoformat() if day_of.isoformat() == day else None
    except (TypeError, ValueError, OverflowError):
        return None
