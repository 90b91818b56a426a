"""The space one copy takes under the retention rules, for a shop archived every evening for N years.

Not a test: the policy (pipeline/retention/policy.py) applied to one run per evening, each run's size from the
measured size of a run of the sample shop (`--mb-per-year`: one copy of a run of a 1-year, 2-register shop is
72 MB; the database, hence the run, grows with the years it holds). Prints the runs kept and their total size.
"""

from __future__ import annotations

import argparse
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from pipeline.retention.policy import Rules, plan

PARIS = ZoneInfo("Europe/Paris")


def space(years: int, mb_per_year: float, rules: Rules, start: date = date(2025, 1, 1)) -> tuple[int, float]:
    runs, kept = [], set()
    closure = None
    for n in range(round(years * 365.25)):
        day = start + timedelta(days=n)
        at = datetime(day.year, day.month, day.day, 21, 30, tzinfo=PARIS).astimezone(ZoneInfo("UTC"))
        if (day.month, day.day) == (12, 31):
            closure = day.isoformat()  # the sample till's yearly Z is on 31 December, before the evening run
        runs.append({"run_id": at.strftime("%Y%m%dT%H%M%SZ") + "-000000", "created_at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                     "last_yearly_closure": closure, "mb": mb_per_year * (n + 1) / 365.25})
        # A prune every evening: what it removes never comes back.
        reasons = plan([r for r in runs if r["run_id"] in kept or r is runs[-1]], rules, PARIS, day)
        kept = {rid for rid, why in reasons.items() if why}
    held = [r for r in runs if r["run_id"] in kept]
    return len(held), sum(r["mb"] for r in held)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--mb-per-year", type=float, default=72.0)
    ap.add_argument("--years", type=int, nargs="*", default=[1, 6, 7])
    args = ap.parse_args()
    for years in args.years:
        count, mb = space(years, args.mb_per_year, Rules())
        print(f"{years} year(s) of evenings: {count} runs kept per copy, {mb / 1000:.2f} GB "
              f"(the newest run alone: {args.mb_per_year * years:.0f} MB)")


if __name__ == "__main__":
    main()
