"""`coffre sample-db`: builds the reference sample shop database."""

from __future__ import annotations

import time
from pathlib import Path

import click

from pipeline.cli.common import say
from pipeline.errors import UsageError


@click.command("sample-db")
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 36600), help="Days of trading.")
@click.option("--tickets-per-day", default=400, show_default=True, type=click.IntRange(1, 100000), help="Tickets a day, over two registers.")
@click.option("--seed", default=1, show_default=True, type=int, help="The same seed gives the same database.")
def command(path: str, days: int, tickets_per_day: int, seed: int) -> None:
    """Build a realistic, deterministic sample shop database (SQLite, WAL) at PATH."""
    from pipeline.sample import generate

    parent = Path(path).absolute().parent
    if not parent.is_dir():
        raise UsageError(f"The folder {parent} does not exist.")
    started = time.time()
    try:
        counts = generate(path, days=days, tickets_per_day=tickets_per_day, seed=seed)
    except FileExistsError:
        raise UsageError(f"{path} already exists; sample-db never overwrites a database.")
    summary = ", ".join(f"{n} {t}" for t, n in counts.items())
    say(f"Sample shop written to {path} in {time.time() - started:.1f} s: {summary}.")
