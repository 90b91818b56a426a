"""The short lock every read-modify-write of the machine's record (history, Coffre's log) is made under.

The store lock (lock.py) keeps two archive runs apart for their whole length; verify and drill do not take it,
so that a person can check the copies while the evening run writes. What they share is the record: each change
to it is made under this second lock, held for milliseconds, on what is on disk at that moment.
"""

from __future__ import annotations

import fcntl
import os
import time
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import CannotRun
from pipeline.i18n import _
from pipeline.units import number

WAIT = 30.0  # seconds: a record update takes milliseconds; longer means a stuck process


@contextmanager
def record_lock(state_dir: Path, store_id: str, wait: float = WAIT):
    path = Path(state_dir) / f"{store_id}.record.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise CannotRun(_("The record of store {store_id} in {folder} stays locked by another Coffre "
                                      "process (waited {seconds} s); try again when it has finished.").format(
                        store_id=store_id, folder=state_dir, seconds=number(wait)))
                time.sleep(0.02)  # in Python, not in flock(): a SIGTERM is handled between tries
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the flock
