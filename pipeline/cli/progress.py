"""A byte progress bar on a terminal, nothing elsewhere (logs and --json stay clean)."""

from __future__ import annotations

import contextlib
import sys


@contextlib.contextmanager
def byte_progress(enabled: bool, label: str):
    """Yields a factory: factory(total) -> callback(n) advancing the bar; None when disabled."""
    if not enabled or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  TimeRemainingColumn(), console=Console(stderr=True), transient=True) as bar:
        def factory(total: int):
            task = bar.add_task(label, total=total)
            return lambda n: bar.advance(task, n)

        yield factory
