"""A dump's pipe read with a deadline: a server that stops answering ends the run with one sentence, not a hang.

An unattended evening run that waits forever on a frozen server (a network cut with no TCP reset, a machine that
hangs) holds the store's lock, so that every later run says another one is still going: a person learns nothing
for days. A dump that sends no byte for `seconds` is abandoned instead: `on_stall` stops its processes, and the
run ends with CannotRun (exit 3), its copies untouched.
"""

from __future__ import annotations

import os
import select
from typing import Callable

from pipeline.errors import CannotRun
from pipeline.i18n import _

STALL = 600  # seconds without a byte of the dump ([archive] source_stall_timeout)


def stall_seconds(stall: float, lock_wait: float) -> float:
    """A dump waits silently for a lock up to lock_wait, then fails: that wait is not a stall."""
    return max(stall, lock_wait + 5)


def stalled(source: str, seconds: float) -> str:
    return _("The {source} sent nothing for {seconds} s: the server stopped answering (a network cut, or the "
             "machine hangs), so this run is abandoned and the copies are untouched; check the server, then run "
             "again.").format(source=source, seconds=int(seconds))


class StallGuard:
    def __init__(self, raw, seconds: float, on_stall: Callable[[], None], sentence: Callable[[], str]):
        self.raw, self.seconds, self.on_stall, self.sentence = raw, seconds, on_stall, sentence
        self.fd = raw.fileno()

    def read(self, n: int = -1) -> bytes:
        """Exactly `n` bytes unless the dump ends first (the pack cuts fixed-size blocks), all of it when n < 0."""
        parts: list[bytes] = []
        got = 0
        while n < 0 or got < n:
            ready, _w, _x = select.select([self.fd], [], [], self.seconds)
            if not ready:
                self.on_stall()
                raise CannotRun(self.sentence())
            data = os.read(self.fd, (n - got) if n >= 0 else 1 << 20)
            if not data:
                break
            parts.append(data)
            got += len(data)
        return b"".join(parts)

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        pass  # the snapshot's close() ends the pipe and its process

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()
