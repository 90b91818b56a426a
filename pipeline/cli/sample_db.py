"""`coffre sample-db`: builds the reference sample shop database."""

from __future__ import annotations

import time
from pathlib import Path

import click

from pipeline.cli.common import say
from pipeline.cli.progress import terminal_progress
from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.progress import RECORDS


@click.command("sample-db")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 36600), help="Days of trading.")
@click.option("--tickets-per-day", default=400, show_default=True, type=click.IntRange(1, 100000), help="Tickets a day, over two registers.")
@click.option("--seed", default=1, show_default=True, type=int, help="The same seed gives the same database.")
@click.option("--start", "start", metavar="YYYY-MM-DD", help="First day of trading (default 2025-01-01).")
@click.option("--timezone", "zone", metavar="ZONE", help="A till on this local time (e.g. Europe/Paris) instead of UTC.")
@click.option("--night-sales", default=0, show_default=True, type=click.IntRange(0, 1000),
              help="Sales a day between 00:05 and 01:55 local time, counted in that day's Z (a bar's night).")
def command(path: str, days: int, tickets_per_day: int, seed: int, start, zone, night_sales) -> None:
    """Build a realistic, deterministic sample shop database (SQLite, WAL) at PATH."""
    from pipeline.sample import generate
    from pipeline.sample.generate import DEFAULT_START

    parent = Path(path).absolute().parent
    if not parent.is_dir():
        raise UsageError(f"The folder {parent} does not exist.")
    from datetime import date
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        first_day = date.fromisoformat(start) if start else DEFAULT_START
    except ValueError:
        raise UsageError(f"--start {start!r} is not a date (YYYY-MM-DD).")
    if zone:
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UsageError(f"--timezone {zone!r} is not a time zone (for example Europe/Paris).")
    started = time.time()
    try:
        with terminal_progress() as progress:
            task = progress.task(_("Building the sample shop"), days * (tickets_per_day + night_sales), RECORDS)
            counts = generate(path, days=days, tickets_per_day=tickets_per_day, seed=seed, start=first_day,
                              zone=zone, night_sales=night_sales, task=task)
            task.done()
    except FileExistsError:
        raise UsageError(f"{path} already exists; sample-db never overwrites a database.")
    summary = ", ".join(f"{n} {t}" for t, n in counts.items())
    say(f"Sample shop written to {path} in {time.time() - started:.1f} s: {summary}.")
