"""Years of evenings lived in minutes: a till that sells every day, an archive and a prune every evening (the clock
injected), and what the keep rules and the legal years must leave on every copy."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pipeline import clock, config
from pipeline.archive import run_archive
from pipeline.prune import prune
from pipeline.sample.generate import ShopBuilder, schema_sql
from pipeline.state.history import History
from pipeline.verify.copy import VerifyOptions, verify_copy
from pipeline.verify.run import DataSelection, verify_destinations
from pipeline.destinations import open_destination
from tests.conftest import run_coffre

PARIS = ZoneInfo("Europe/Paris")
# 397 evenings from 1 December 2025 to 1 January 2027 live through two year-ends (2025 and 2026) and 14 months, more
# than the 12 the monthly rule keeps, every rule reaching its limit; COFFRE_TEST_EVENINGS=800 lives longer (the
# suite's time budget).
START = date(2025, 12, 1)
EVENINGS = int(os.environ.get("COFFRE_TEST_EVENINGS", 397))


def kept_by_the_rules(days: list[date]) -> set[date]:
    """The default rules, written out by the calendar: the newest 7 days, the newest day of each of the 4 newest ISO
    weeks and of the 12 newest months, and 31 December of every year (its yearly Z, the year's last run)."""
    newest = sorted(days, reverse=True)
    keep = set(newest[:7])
    for key, count in ((lambda d: d.isocalendar()[:2], 4), (lambda d: (d.year, d.month), 12)):
        seen = []
        for d in newest:
            if key(d) not in seen:
                seen.append(key(d))
                if len(seen) <= count:
                    keep.add(d)
    keep |= {d for d in days if (d.month, d.day) == (12, 31)}
    return keep


@pytest.mark.slow
def test_years_of_evenings_keep_exactly_the_rules_runs_and_every_yearly_run(tmp_path, other_disk, monkeypatch,
                                                                                 figures):
    # Everything in memory (the destinations' device, allowed as the database's disk here): years of evenings are
    # thousands of fsyncs, which a real disk would turn into minutes.
    db = other_disk / "till" / "caisse.db"
    db.parent.mkdir()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.executescript(schema_sql())
    shop = ShopBuilder(conn, seed=5, start=START, registers=1, tickets_per_day=2, zone="Europe/Paris")
    conn.execute("BEGIN")
    shop.write_reference_data()
    conn.execute("COMMIT")
    a, b = other_disk / "usb-A", other_disk / "disk-B"
    a.mkdir()
    b.mkdir()
    res = run_coffre("init", "--config", other_disk / "etc" / "coffre.toml", "--source", f"sqlite:{db}", "--to", a,
                     "--to", b, "--allow-same-disk", "--identity-out", tmp_path / "offline" / "identity.txt",
                     "--store-id", "boutique")  # the copies share the database's tmpfs, for speed
    assert res.code == 0, res
    cfg = config.load(other_disk / "etc" / "coffre.toml")
    specs = [str(a), str(b)]
    days, verified, checked = [], [], 0
    copies = [open_destination(s) for s in specs]
    quick = VerifyOptions(cfg.signing_public_key, read_data=lambda rid: False)
    for n in range(EVENINGS):
        day = START + timedelta(days=n)
        conn.execute("BEGIN")
        shop.day(day)
        shop.flush()
        conn.execute("COMMIT")
        evening = datetime(day.year, day.month, day.day, 21, 30, tzinfo=PARIS).timestamp()
        monkeypatch.setattr(clock, "now", lambda: evening)
        result = run_archive(cfg, specs, allow_same_disk=True, say=lambda m: None)
        assert result.exit_code == 0, (day, result.to_json())
        days.append(day)
        pruned = prune(cfg, specs, say=lambda m: None)
        assert pruned.exit_code == 0, pruned.to_json()
        # After every prune, every copy verifies: signatures, lists, the chain through the signed removal records.
        record = History.of(cfg).doc  # the machine's record after the prune (a verify without data reads it only)
        for dest in copies:
            report = verify_copy(dest, "boutique", quick, None, record)
            assert report.ok and report.runs, (day, [p.sentence() for p in report.problems])
            checked += 1
        if n % 100 == 99 or n == EVENINGS - 1:
            # Every copy verifies after the prunes (every run's data read): a pruned run is not a deleted run.
            outcome = verify_destinations(cfg, specs)
            assert all(r.ok for r in outcome.reports), [p.sentence() for r in outcome.reports for p in r.problems]
            verified.append(day)  # and every data byte read: the newest run found intact is never pruned
    conn.close()

    history = History.of(cfg)
    by_day = {datetime.fromisoformat(r["created_at"].replace("Z", "+00:00")).astimezone(PARIS).date(): r["run_id"]
              for r in history.runs}
    expected = {by_day[d] for d in kept_by_the_rules(days)}
    before_the_last_prune = [d for d in verified if d != days[-1]]
    if before_the_last_prune:  # the newest run found intact by a verify, protected on its copies
        expected.add(by_day[before_the_last_prune[-1]])
    for dest in (a, b):
        held = {p.name for p in (dest / "boutique").iterdir() if p.name not in ("removals", "blocks")}
        assert held == expected, (sorted(held - expected), sorted(expected - held))
        yearly = [by_day[d] for d in days if (d.month, d.day) == (12, 31)]
        assert len(yearly) == len({d.year for d in days if d.month == 12 and d.day == 31})
        assert set(yearly) <= held
    # Every removal is a signed act, in the record and in Coffre's own log.
    removed = [r for r in history.runs if r.get("removed")]
    assert len(removed) == EVENINGS - len(expected)
    log = [json.loads(line) for line in (cfg.state_dir / "boutique.coffre-log.jsonl").read_text().splitlines()]
    logged = [rid for e in log if e["action"] == "prune" for rid in e["details"]["removed"]]
    assert sorted(logged) == sorted(r["run_id"] for r in removed for _ in range(2))  # once per copy
    # One record on each copy however many evenings were pruned: the newest act's names every run removed there.
    acts = sorted({e["details"]["act_id"] for e in log if e["action"] == "prune"})
    for dest in (a, b):
        (record,) = [f for f in (dest / "boutique" / "removals").iterdir() if f.suffix == ".json"]
        assert record.name == acts[-1] + ".json"
        assert sorted(r["run_id"] for r in json.loads(record.read_text())["runs"]) == sorted(r["run_id"] for r in removed)

    figures(f"{EVENINGS} evenings {days[0]}..{days[-1]}: {len(expected)} runs kept on each copy (of them "
            f"{len(yearly)} yearly), {len(removed)} removed by {len(acts)} signed acts; {checked} verifies of a copy "
            f"after a prune, {len(verified)} of them reading every data byte")

    # A run deleted by hand is still reported, by the record and, without it, by the chain of runs.
    victim = yearly[0]
    shutil.rmtree(a / "boutique" / victim)
    outcome = verify_destinations(cfg, specs, selection=DataSelection(max_seconds=0))
    said = [p.sentence() for r in outcome.reports for p in r.problems]
    assert not outcome.reports[1].problems, said
    assert len(said) == 1 and victim in said[0] and "deleted?" in said[0], said
    alone = verify_copy(open_destination(str(a)), "boutique", VerifyOptions(cfg.signing_public_key,
                        read_data=lambda rid: False), None, {})
    said = [p.sentence() for p in alone.problems]
    assert len(said) == 1 and victim in said[0] and "deleted?" in said[0], said
