"""What a long stage tells the person watching: how far it has gone. The stages receive a `Progress` and never know
how (or whether) it is shown: the command line draws it on a terminal (pipeline/cli/progress.py), everywhere else
it is `NO_PROGRESS`, which does nothing.

A stage opens a task with a label already translated, its total (None when unknown) and its unit ("bytes" or
"records"), then calls the task with the amount done since the last call, and `done()` when it has finished. In a
loop over records, call it every few thousand records, never for each one.
"""

from __future__ import annotations

from typing import Protocol

BYTES, RECORDS = "bytes", "records"
EVERY = 4096  # records between two calls in a hot loop (a power of two: `n & (EVERY - 1) == 0`)


class Task(Protocol):
    def __call__(self, n: int) -> None:
        """`n` more bytes or records done."""

    def expect(self, total: int) -> None:
        """The total is known now (a task opened with None)."""

    def done(self) -> None:
        """The stage is over (whatever was counted)."""


class Progress(Protocol):
    def task(self, label: str, total: int | None, unit: str = BYTES) -> Task:
        ...


class _NoTask:
    __slots__ = ()

    def __call__(self, n: int) -> None:
        pass

    def expect(self, total: int) -> None:
        pass

    def done(self) -> None:
        pass

    def __bool__(self) -> bool:
        return False


class _NoProgress:
    """Shows nothing: logs, --json, --scheduled, -q, tests, and every caller that is not a terminal."""

    __slots__ = ()

    def task(self, label: str, total: int | None, unit: str = BYTES) -> Task:
        return NO_TASK

    def __bool__(self) -> bool:  # `if progress:` tells a stage whether measuring a total is worth its cost
        return False


NO_TASK = _NoTask()
NO_PROGRESS: Progress = _NoProgress()


class CountedReader:
    """A file read through it tells `task` of every chunk (a copy read back, a file verified)."""

    __slots__ = ("raw", "task")

    def __init__(self, raw, task: Task):
        self.raw, self.task = raw, task

    def read(self, n: int = -1) -> bytes:
        data = self.raw.read(n)
        if data:
            self.task(len(data))
        return data

    def readable(self) -> bool:
        return True


class CountedWriter:
    """A file written through it tells `task` of every chunk; errors are the file's own."""

    __slots__ = ("raw", "task")

    def __init__(self, raw, task: Task):
        self.raw, self.task = raw, task

    def write(self, data) -> int:
        written = self.raw.write(data)
        self.task(len(data))
        return written

    def __getattr__(self, name):
        return getattr(self.raw, name)
