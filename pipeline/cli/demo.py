"""`coffre demo`: the whole job on a built-in sample shop, on a fresh machine, in seconds."""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.common import say
from pipeline.cli.progress import terminal_progress


@click.command("demo")
@click.option("--dir", "folder", type=click.Path(file_okay=False), help="Where to build the demo (default: ./coffre-demo, or -2, -3… if taken).")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 3660), help="Days of sample trading.")
def command(folder, days) -> None:
    """Sample shop, keys, an archive run to two folders, verify what was written, a restore drill."""
    from pipeline.demo import run_demo

    with terminal_progress() as progress:
        code = run_demo(Path(folder) if folder else None, days, say, progress)
    raise SystemExit(code)
