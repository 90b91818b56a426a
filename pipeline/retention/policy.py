"""Which runs the rules keep: restic's keep-last/daily/weekly/monthly/yearly, plus the legal years of a till.

French law keeps a till's data for six years: the run that follows each yearly closure (the till's yearly Z), the
last run of each fiscal year, and every run that found something (its findings are signed into it alone) are kept
until the end of the sixth fiscal year after their own. Pure functions of
the record's runs and a date: the same runs and rules always give the same answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from pipeline.i18n import _

LEGAL_YEARS = 6


@dataclass(frozen=True)
class Rules:
    keep_last: int = 3
    keep_daily: int = 7
    keep_weekly: int = 4
    keep_monthly: int = 12
    keep_yearly: int = 0  # the legal rule keeps a run of every fiscal year already
    legal_years: int = LEGAL_YEARS
    fiscal_year_start: str = "01-01"  # MM-DD

    def to_json(self) -> dict:
        return asdict(self)

    def start(self) -> tuple[int, int]:
        month, day = self.fiscal_year_start.split("-")
        return int(month), int(day)


def local_date(created_at: str, zone: ZoneInfo) -> date:
    at = datetime.strptime(created_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    return at.astimezone(zone).date()


def fiscal_year(day: date, start: tuple[int, int]) -> int:
    """The fiscal year `day` is in, named by the calendar year it starts in."""
    return day.year if (day.month, day.day) >= start else day.year - 1


def fiscal_year_end(year: int, start: tuple[int, int]) -> date:
    return _on(year + 1, start) - timedelta(days=1)


def _on(year: int, start: tuple[int, int]) -> date:
    month, day = start
    try:
        return date(year, month, day)
    except ValueError:  # 29 February in a common year
        return date(year, month, day - 1)


def plan_at(runs: list[dict], rules: Rules, zone: ZoneInfo, at: float) -> dict[str, list[str]]:
    """The plan of the runs that reached a copy, on the shop's local date at the instant `at` (seconds)."""
    today = datetime.fromtimestamp(at, timezone.utc).astimezone(zone).date()
    return plan([r for r in runs if r.get("written")], rules, zone, today)


def plan(runs: list[dict], rules: Rules, zone: ZoneInfo, today: date) -> dict[str, list[str]]:
    """{run_id: the reasons it is kept} for every run of `runs` (record entries with run_id, created_at and, where
    the journals said, last_yearly_closure); a run with no reason is not kept by the rules."""
    ordered = sorted((r for r in runs if r.get("created_at")), key=lambda r: r["run_id"])
    days = {r["run_id"]: local_date(r["created_at"], zone) for r in ordered}
    keep: dict[str, list[str]] = {r["run_id"]: [] for r in ordered}
    newest_first = list(reversed(ordered))
    start = rules.start()
    for r in newest_first[:rules.keep_last]:
        keep[r["run_id"]].append(_("last"))
    # The names of the keep rules ([retention] keep_daily...), said as the reason a run is kept.
    buckets = ((_("daily"), rules.keep_daily, lambda d: d),
               (_("weekly"), rules.keep_weekly, lambda d: d.isocalendar()[:2]),
               (_("monthly"), rules.keep_monthly, lambda d: (d.year, d.month)),
               (_("yearly"), rules.keep_yearly, lambda d: fiscal_year(d, start)))
    for name, count, key in buckets:
        last = object()
        for r in newest_first:
            if count <= 0:
                break
            k = key(days[r["run_id"]])
            if k != last:
                keep[r["run_id"]].append(name)
                count -= 1
                last = k
    for run_id, why in legal_runs(ordered, days, rules, today).items():
        keep[run_id].append(why)
    return keep


def legal_runs(ordered: list[dict], days: dict[str, date], rules: Rules, today: date) -> dict[str, str]:
    """The runs the legal rule holds today, each with its reason."""
    start = rules.start()
    held: dict[str, str] = {}

    def hold(run_id: str, what: str) -> None:
        until = _years_after(fiscal_year_end(fiscal_year(days[run_id], start), start), rules.legal_years)
        if today <= until:
            held.setdefault(run_id, _("legal: {reason}, kept until {until}").format(reason=what,
                                                                                      until=until.isoformat()))

    closed = None
    for r in ordered:
        c = r.get("last_yearly_closure")
        if isinstance(c, str) and c != closed:  # the first run that holds this yearly Z (a store's first run too)
            hold(r["run_id"], _("the first run after the yearly closure of {closure}").format(closure=c))
            closed = c
    for r in ordered:
        # A run known only from the copies (a record rebuilt from them, or a run an interrupted archive never
        # recorded) carries none of what the legal rule reads: it may be the one that must stay.
        if r.get("rebuilt") or r.get("recovered"):
            hold(r["run_id"], _("what it holds is unknown to this machine's record (recovered from the copies)"))
    before: tuple = ({}, [])
    for r in ordered:
        # What a run found (fiscal findings, data that shrank) was said that evening and is signed into that run: it
        # is evidence for the inspector, kept as long as the legal runs. A finding that every evening repeats is
        # kept once, with the run that first said it (else one old anomaly would keep every run for six years).
        found = (r.get("findings") or {}, r.get("attention") or [])
        if found != before and (found[0] or found[1]):
            hold(r["run_id"], _("its findings are evidence") if found[0] else _("it needed a person"))
        before = found
    last_of_year: dict[int, str] = {}
    for r in ordered:
        last_of_year[fiscal_year(days[r["run_id"]], start)] = r["run_id"]
    for year, run_id in last_of_year.items():
        if fiscal_year_end(year, start) < today:
            hold(run_id, _("the last run of fiscal year {year}").format(year=_year_name(year, start)))
    return held


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def _year_name(year: int, start: tuple[int, int]) -> str:
    return str(year) if start == (1, 1) else f"{year}-{year + 1}"
