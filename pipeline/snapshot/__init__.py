"""Sources: take a consistent copy of the till's database while it keeps selling.

Every source kind (sqlite:PATH today, postgres:… later) offers the same small interface:
`device()` for the same-disk rule, `describe()` for messages, `warnings()` for what a person
should know before a snapshot is taken, and `take(scratch)`, which returns a Snapshot: a plain
file in the scratch folder plus the facts recorded about it. `take` waits at most `lock_wait`
seconds for a lock another program holds on the database, then gives up with CannotRun.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from pipeline.errors import UsageError
from pipeline.i18n import _


@dataclass
class Snapshot:
    path: Path  # a consistent plain copy, owned by the caller, removed after packing
    name: str  # the data file's name in a run, before .zst.age
    facts: dict = field(default_factory=dict)  # what is known at once (time, size)
    # Row counts and the database's own check: slow on a big file, so the archive runs this
    # beside the packing of the same (cached) file rather than before it.
    inspect: Callable[[], dict] = lambda: {}


class Source(Protocol):
    kind: str

    def describe(self) -> str: ...

    def device(self) -> int | None: ...

    def warnings(self) -> list[str]: ...

    def take(self, scratch: Path, progress=None) -> Snapshot: ...


def open_source(spec: str, lock_wait: int = 60) -> Source:
    kind, sep, rest = spec.partition(":")
    if sep and kind == "sqlite" and rest:
        from pipeline.snapshot.sqlite import SqliteSource

        return SqliteSource(Path(rest), lock_wait)
    raise UsageError(_("The source {source!r} is not understood; write it as sqlite:/path/to/pos.db.").format(source=spec))
