"""Progress on a terminal, nothing elsewhere: the stages' tasks (pipeline/progress.py) drawn with rich on standard
error, only when it is a terminal, never under --json, --scheduled or -q (logs and scripts stay clean).

A byte task shows the size done (of its total) and the speed; a record task shows the records done and records per
second. A stage that finishes stays on screen as one line with its full bar, what it did and how fast, so that a
person who looks up after a minute sees every stage the command went through, and which one is running now.
"""

from __future__ import annotations

import contextlib
import sys
import threading

from pipeline.i18n import _
from pipeline.units import number, size
from pipeline.progress import BYTES, NO_PROGRESS


def enabled(quiet: bool = False) -> bool:
    """Whether a progress display belongs here: standard error is a terminal and nothing asked for silence."""
    if quiet or not sys.stderr.isatty():
        return False
    try:
        from pipeline.cli import scheduled

        if scheduled.active():
            return False
    except ImportError:  # pragma: no cover - scheduled is part of the CLI
        pass
    import click

    ctx = click.get_current_context(silent=True)
    while ctx is not None:  # a -q/--quiet anywhere on the command line (the group's or the command's)
        if ctx.params.get("quiet") or ctx.params.get("as_json"):
            return False
        ctx = ctx.parent
    return True


@contextlib.contextmanager
def terminal_progress(quiet: bool = False):
    """Yields a Progress: drawn on the terminal, or NO_PROGRESS when it does not belong (see `enabled`)."""
    if not enabled(quiet):
        yield NO_PROGRESS
        return
    global _live
    shown = _RichProgress()
    try:
        with shown.bar:
            _live = shown
            yield shown
    finally:
        _live = None
        shown.close()


_live = None


def print_above(message: str) -> bool:
    """Says a message above the bars while they are drawn (written straight to the terminal, the next drawing would
    erase it); False when no bars are drawn."""
    live = _live
    if live is None:
        return False
    live.bar.console.print(message, markup=False, highlight=False, emoji=False, soft_wrap=True)
    return True


def speed(per_second: float, unit: str) -> str:
    if unit == BYTES:
        return _("{size}/s").format(size=size(per_second))
    # In brackets: beside the count of records done, two bare numbers would read as one ("12 720 2 667").
    return _("({count} records/s)").format(count=number(per_second))


def amount(done: float, total: float | None, unit: str) -> str:
    """What is done (of what there is): "12.3 of 45.6 MB", "1,200/4,000" (records)."""
    if unit == BYTES:
        return size(done) if total is None else _("{done} of {total}").format(done=size(done), total=size(total))
    # The unit is in the speed beside it ("1,512 records/s"): the line stays within 120 columns, in French too.
    return number(done) if total is None else f"{number(done)}/{number(total)}"


class _RichProgress:
    """One live display per command; its tasks are opened and advanced from any thread (rich locks)."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, Progress as Bar, TextColumn

        from rich.table import Column

        percent, amount_column, rate, elapsed = _columns()
        # Figures never wrap nor shrink: on a narrow terminal a long label (a destination's path) goes on two lines.
        # Twice a second: each drawing of eight stages costs a few milliseconds of the process's time (measured).
        self.bar = Bar(TextColumn("{task.description}", table_column=Column(overflow="fold")),
                       BarColumn(bar_width=10), percent(), amount_column(), rate(), elapsed(),
                       console=Console(stderr=True), transient=False, refresh_per_second=2,
                       redirect_stdout=False, redirect_stderr=True)
        self._lock = threading.Lock()
        self._open: list[int] = []

    def task(self, label: str, total: int | None, unit: str = BYTES):
        task_id = self.bar.add_task(label, total=total, unit=unit)
        with self._lock:
            self._open.append(task_id)
        return _Task(self, task_id)

    def finish(self, task_id: int) -> None:
        with self._lock:
            if task_id not in self._open:
                return
            self._open.remove(task_id)
        task = next((t for t in self.bar.tasks if t.id == task_id), None)
        if task is not None:
            # What was counted is the whole: a total that was an estimate ends at 100 % all the same.
            self.bar.update(task_id, total=task.completed, completed=task.completed)
            self.bar.stop_task(task_id)

    def close(self) -> None:
        """Tasks a failing stage left open are stopped where they are, not shown as complete."""
        with self._lock:
            left, self._open = self._open, []
        for task_id in left:
            self.bar.stop_task(task_id)


class _Task:
    __slots__ = ("shown", "task_id")

    def __init__(self, shown: _RichProgress, task_id: int):
        self.shown, self.task_id = shown, task_id

    def __call__(self, n: int) -> None:
        self.shown.bar.advance(self.task_id, n)

    def expect(self, total: int) -> None:
        self.shown.bar.update(self.task_id, total=total)

    def done(self) -> None:
        self.shown.finish(self.task_id)


def _columns():
    """The figures' columns, made when a display is: rich costs a command that shows none 25 ms to import."""
    from rich.progress import ProgressColumn
    from rich.table import Column
    from rich.text import Text

    class Percent(ProgressColumn):
        def get_table_column(self):
            return Column(no_wrap=True)

        # Said in figures too: a bar's two parts differ only by colour, which a screen reader or a copied screen
        # loses.
        def render(self, task):
            if task.total is None or not task.total:
                return Text("")
            return Text(_("{percent}%").format(percent=min(100, int(task.percentage))), style="progress.percentage",
                        justify="right")

    class Amount(ProgressColumn):
        def get_table_column(self):
            return Column(no_wrap=True)

        def render(self, task):
            if not task.completed and (task.total is None or task.finished):
                return Text("")  # a stage with nothing to count (SQL checks) shows its bar and time only
            return Text(amount(task.completed, task.total if task.total is not None and not task.finished else None,
                               task.fields.get("unit", BYTES)), style="progress.download")

    class Rate(ProgressColumn):
        def get_table_column(self):
            return Column(no_wrap=True)

        def render(self, task):
            # A stage that finished says its average; one that runs, its recent speed.
            rate = task.completed / task.finished_time if task.finished and task.finished_time else task.speed
            if not rate or not task.completed:
                return Text("")
            return Text(speed(rate, task.fields.get("unit", BYTES)), style="progress.data.speed")

    class Time(ProgressColumn):
        def get_table_column(self):
            return Column(no_wrap=True)

        def render(self, task):
            seconds = task.finished_time if task.finished else task.elapsed
            if seconds is None:
                return Text("")
            return Text(_("{seconds} s").format(seconds=number(seconds, 1)), style="progress.elapsed")

    return Percent, Amount, Rate, Time

