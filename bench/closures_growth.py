#!/usr/bin/env python3
"""How the journals' checks grow with a shop's history of closures: a supermarket's 10 registers over 1 to 6 years.

bench/run.py's large sample is 30 days of the supermarket: its 300 closures cannot show a check whose work grows with
closures times closures, or closures times JET events, which six years' 21,900 daily closures do (the JET link of
the records check took 15 s there, the means check about 33 s). Here the registers and the days are the
supermarket's and the tickets few (20 a day over the 10 registers), so that each database builds in seconds; each
check is timed on each, and its growth is set against the closures'.

    PYTHONPATH=. .venv/bin/python bench/closures_growth.py [--work DIR] [--years 1 2 4 6]

A check that grows as the closures do keeps a ratio near 1 between the time's growth and the closures'; one that
grows with their square doubles it at each doubling of the years. Part of the benchmark, not of Coffre.
"""

from __future__ import annotations

import argparse
import time
from datetime import date
from pathlib import Path

from pipeline.journals import checks
from pipeline.journals.connection import open_snapshot
from pipeline.journals.findings import CheckResult
from pipeline.journals.mapping import load_mapping
from pipeline.journals.means import check_means
from pipeline.journals.records import check_records
from pipeline.sample.generate import generate

REGISTERS, TICKETS_PER_DAY = 10, 20


def _database(work: Path, days: int) -> Path:
    path = work / f"closures-{REGISTERS}r-{days}d.db"
    if not path.exists():
        generate(str(path), days=days, tickets_per_day=TICKETS_PER_DAY, seed=7, registers=REGISTERS,
                 start=date(2020, 1, 1))
    return path


def _times(db: Path) -> tuple[int, dict[str, float]]:
    mapping = load_mapping("reference-pos", "Europe/Paris")
    conn = open_snapshot(db, mapping.timezone)
    conn.execute("PRAGMA temp_store=FILE")
    closures = conn.execute("SELECT count(*) FROM closures").fetchone()[0]
    whole = ("", ())

    def numbering(result):
        for j in mapping.journals.values():
            if j.numbering_field:
                checks.check_numbering(conn, j, result, *whole, True)

    parts = {"numbering": numbering,
             "closures": lambda result: checks.check_closures(conn, mapping, result, *whole, True, None),
             "records": lambda result: check_records(conn, mapping, result, lambda j: whole),
             "means": lambda result: check_means(conn, mapping, result, lambda j: whole)}
    out = {}
    for name, part in parts.items():
        result = CheckResult()
        started = time.perf_counter()
        part(result)
        out[name] = time.perf_counter() - started
        assert not result.findings, (name, [f.sentence() for f in result.findings[:3]])  # a clean sample
    conn.close()
    return closures, out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/var/tmp/coffre-bench-closures"))
    ap.add_argument("--years", type=int, nargs="+", default=[1, 2, 4, 6])
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    rows = []
    for years in args.years:
        closures, times = _times(_database(args.work, 365 * years))
        rows.append((years, closures, times))
    names = list(rows[0][2])
    print(f"{'years':>5} {'closures':>9} " + " ".join(f"{n + ' s':>12}" for n in names))
    for years, closures, times in rows:
        print(f"{years:>5} {closures:>9,} " + " ".join(f"{times[n]:>12.3f}" for n in names))
    first = rows[0]
    print(f"growth from {first[0]} to {rows[-1][0]} years, time's against the closures' ({rows[-1][1] / first[1]:.1f}x "
          "more): near 1 grows as they do, near their ratio with their square")
    for n in names:
        ratio = (rows[-1][2][n] / max(first[2][n], 1e-6)) / (rows[-1][1] / first[1])
        print(f"  {n:10s} {ratio:6.2f}")


if __name__ == "__main__":
    main()
