"""policy.plan on its own: restic-like buckets by local day, ISO week and month, the legal years and their end."""

from __future__ import annotations

from datetime import date, datetime, timezone
from itertools import count
from zoneinfo import ZoneInfo

from pipeline.retention.policy import Rules, plan

PARIS = ZoneInfo("Europe/Paris")
_serial = count()


def run(at: str, closure: str | None = None) -> dict:
    """A record entry for a run made at `at` (UTC, "YYYY-MM-DD HH:MM"), its run id stamped like Coffre's."""
    moment = datetime.strptime(at, "%Y-%m-%d %H:%M").replace(tzinfo=timezone.utc)
    entry = {"run_id": moment.strftime("%Y%m%dT%H%M%SZ") + f"-{next(_serial):06x}",
             "created_at": moment.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if closure is not None:
        entry["last_yearly_closure"] = closure
    return entry


def only(**counts) -> Rules:
    """Rules that keep nothing but what `counts` says (and the legal years, pushed out of the way unless given)."""
    base = dict(keep_last=0, keep_daily=0, keep_weekly=0, keep_monthly=0, keep_yearly=0)
    return Rules(**{**base, **counts})


def kept(runs, rules, today, reason=None) -> list[str]:
    """The run ids kept, oldest first; with `reason`, those kept for a reason that starts with it."""
    out = plan(runs, rules, PARIS, today)
    return [r["run_id"] for r in runs if out[r["run_id"]] and
            (reason is None or any(w.startswith(reason) for w in out[r["run_id"]]))]


TODAY = date(2024, 6, 20)  # runs below are all in fiscal year 2024: the legal rule holds none of them


def test_keep_last_keeps_the_newest_runs_whatever_their_day():
    runs = [run(f"2024-06-0{d} 19:{m}") for d in (1, 2) for m in ("00", "30")]
    assert kept(runs, only(keep_last=3), TODAY) == [r["run_id"] for r in runs[1:]]
    assert plan(runs, only(keep_last=3), PARIS, TODAY)[runs[-1]["run_id"]] == ["last"]


def test_keep_daily_counts_distinct_local_days_and_keeps_the_newest_run_of_each():
    # Three runs a day on five days: keep_daily = 3 keeps three runs, the evening one of each of the newest days.
    runs = [run(f"2024-06-{d:02d} {h}:00") for d in range(10, 15) for h in (9, 13, 19)]
    got = kept(runs, only(keep_daily=3), TODAY)
    assert got == [r["run_id"] for r in runs if r["created_at"].startswith(("2024-06-12T19", "2024-06-13T19",
                                                                            "2024-06-14T19"))]
    assert all(plan(runs, only(keep_daily=3), PARIS, TODAY)[rid] == ["daily"] for rid in got)


def test_keep_daily_buckets_by_the_shops_local_day_not_by_utc():
    # 23:30Z on 31 December is 00:30 on 1 January in Paris: a day of its own, not a second run of the 31st.
    runs = [run("2024-12-31 20:00"), run("2024-12-31 23:30")]
    assert kept(runs, only(keep_daily=2), date(2025, 1, 2)) == [r["run_id"] for r in runs]
    # Whereas two runs of the same local day count once.
    same_day = [run("2024-12-31 10:00"), run("2024-12-31 20:00")]
    assert kept(same_day, only(keep_daily=2), date(2025, 1, 2)) == [same_day[1]["run_id"]]


def test_keep_weekly_buckets_by_iso_week():
    # Sat 8 and Sun 9 June 2024 are ISO week 23; Mon 10 June starts week 24; Mon 3 June is week 23 too.
    runs = [run("2024-06-03 19:00"), run("2024-06-08 19:00"), run("2024-06-09 19:00"), run("2024-06-10 19:00")]
    assert kept(runs, only(keep_weekly=2), TODAY) == [runs[2]["run_id"], runs[3]["run_id"]]
    assert kept(runs, only(keep_weekly=1), TODAY) == [runs[3]["run_id"]]


def test_keep_monthly_keeps_the_newest_run_of_each_month():
    runs = [run("2024-04-30 19:00"), run("2024-05-15 19:00"), run("2024-05-31 19:00"), run("2024-06-01 19:00")]
    assert kept(runs, only(keep_monthly=2), TODAY) == [runs[2]["run_id"], runs[3]["run_id"]]
    reasons = plan(runs, only(keep_monthly=2, keep_daily=1), PARIS, TODAY)
    assert reasons[runs[3]["run_id"]] == ["daily", "monthly"]


def test_the_first_run_after_each_yearly_closure_is_held_until_the_end_of_its_fiscal_year_plus_the_legal_years():
    runs = [run("2022-01-03 19:00", "2021-12-31"), run("2022-01-04 19:00", "2021-12-31"),
            run("2023-01-02 19:00", "2022-12-31"), run("2023-01-03 19:00", "2022-12-31")]
    today = date(2023, 6, 1)
    reasons = plan(runs, only(), PARIS, today)
    assert reasons[runs[0]["run_id"]] == [
        "legal: the first run after the yearly closure of 2021-12-31, kept until 2028-12-31"]
    assert reasons[runs[2]["run_id"]] == [
        "legal: the first run after the yearly closure of 2022-12-31, kept until 2029-12-31"]
    assert reasons[runs[3]["run_id"]] == []  # the same closure again: nothing new to hold
    # runs[1] is the last run of fiscal year 2022, which is over: held for that.
    assert reasons[runs[1]["run_id"]] == ["legal: the last run of fiscal year 2022, kept until 2028-12-31"]


def test_the_last_run_of_each_finished_fiscal_year_is_held_but_not_the_current_years():
    runs = [run("2023-03-01 19:00"), run("2023-12-30 19:00"), run("2024-02-01 19:00"), run("2024-06-10 19:00")]
    reasons = plan(runs, only(), PARIS, date(2024, 6, 20))
    assert reasons == {runs[0]["run_id"]: [],
                       runs[1]["run_id"]: ["legal: the last run of fiscal year 2023, kept until 2029-12-31"],
                       runs[2]["run_id"]: [], runs[3]["run_id"]: []}
    # Once 2024 is over, its last run is held too.
    assert kept(runs, only(), date(2025, 1, 1), "legal") == [runs[1]["run_id"], runs[3]["run_id"]]


def test_the_legal_hold_ends_the_day_after_its_last_day():
    runs = [run("2021-05-01 19:00", "2020-12-31"), run("2024-06-10 19:00")]
    rules = only(legal_years=6)
    # The 2021 run (its first after the closure of 2020, and the last of 2021) is held until 2027-12-31 included.
    assert kept(runs, rules, date(2027, 12, 31), "legal") == [runs[0]["run_id"], runs[1]["run_id"]]
    assert kept(runs, rules, date(2028, 1, 1), "legal") == [runs[1]["run_id"]]  # 2024's last run only


def test_with_one_legal_year_a_run_from_three_years_ago_is_no_longer_kept():
    runs = [run("2021-12-30 19:00", "2020-12-31"), run("2023-12-29 19:00", "2022-12-31"), run("2024-06-10 19:00")]
    today = date(2024, 6, 20)
    assert kept(runs, only(legal_years=1), today) == [runs[1]["run_id"]]
    assert plan(runs, only(legal_years=1), PARIS, today)[runs[1]["run_id"]] == [
        "legal: the first run after the yearly closure of 2022-12-31, kept until 2024-12-31"]
    # With the law's six years the 2021 run is still held.
    assert kept(runs, only(), today) == [runs[0]["run_id"], runs[1]["run_id"]]


def test_a_fiscal_year_starting_on_1_july_moves_the_year_boundary():
    runs = [run("2023-06-29 19:00"), run("2023-06-30 19:00"), run("2023-07-01 19:00"), run("2023-12-31 19:00")]
    july = only(fiscal_year_start="07-01")
    reasons = plan(runs, july, PARIS, date(2024, 1, 15))
    # 30 June 2023 closes fiscal year 2022-2023; 31 December 2023 is mid-year, the year 2023-2024 not over.
    assert reasons[runs[1]["run_id"]] == ["legal: the last run of fiscal year 2022-2023, kept until 2029-06-30"]
    assert [rid for rid, why in reasons.items() if why] == [runs[1]["run_id"]]
    # The calendar year would have held the 31 December run instead.
    assert kept(runs, only(), date(2024, 1, 15)) == [runs[3]["run_id"]]


def test_fiscal_years_and_keep_yearly_are_counted_in_local_time():
    # 23:30Z on 31 December 2024 is already 2025 in Paris: the last run of 2024 is the 20:00Z one.
    runs = [run("2024-12-31 20:00"), run("2024-12-31 23:30")]
    reasons = plan(runs, only(keep_yearly=2), PARIS, date(2025, 1, 10))
    assert reasons[runs[0]["run_id"]] == ["yearly", "legal: the last run of fiscal year 2024, kept until 2030-12-31"]
    assert reasons[runs[1]["run_id"]] == ["yearly"]  # fiscal year 2025, still running


def test_runs_without_a_time_are_not_planned_and_the_plan_does_not_depend_on_input_order():
    runs = [run("2024-06-01 19:00"), run("2024-06-02 19:00"), run("2024-06-03 19:00")]
    rules = only(keep_last=1, keep_daily=2)
    assert plan(list(reversed(runs)), rules, PARIS, TODAY) == plan(runs, rules, PARIS, TODAY)
    assert "x" not in plan(runs + [{"run_id": "x"}], rules, PARIS, TODAY)


def test_a_run_that_first_reports_a_finding_is_held_once_not_every_run_that_repeats_it():
    runs = [run(f"2024-06-{d:02d} 19:00") for d in range(1, 11)]
    for r in runs[3:8]:  # the same finding every evening from the 4th to the 8th
        r["findings"] = {"tickets/numbering_gap": 1}
    runs[6]["findings"] = {"tickets/numbering_gap": 2}  # a new one on the 7th
    runs[9]["attention"] = ["table products holds 3 rows, the last run 120"]
    held = kept(runs, only(), TODAY, "legal: its findings are evidence")
    assert held == [runs[3]["run_id"], runs[6]["run_id"], runs[7]["run_id"]]
    assert kept(runs, only(), TODAY, "legal: it needed a person") == [runs[9]["run_id"]]
    assert plan(runs, only(), PARIS, TODAY)[runs[3]["run_id"]] == ["legal: its findings are evidence, kept until "
                                                                    "2030-12-31"]


def test_runs_known_only_from_the_copies_are_held_since_what_they_found_is_unknown():
    runs = [run(f"2024-06-{d:02d} 19:00") for d in range(1, 5)]
    runs[0]["rebuilt"] = True
    runs[1]["recovered"] = True
    assert kept(runs, only(), TODAY, "legal: what it holds is unknown") == [runs[0]["run_id"], runs[1]["run_id"]]
