"""One Coffre command at a time writing into a folder the user names (restore's --out, export-auditor's): an flock.

The kernel drops the lock when the holder dies, so a killed command never keeps the folder from the next one. Where
the folder's file system refuses locks, the command goes on without, as it did before.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from pipeline.errors import CannotRun


@contextlib.contextmanager
def folder_to_ourselves(folder: Path, busy: str):
    """Holds the folder for the block; `busy`, a sentence naming it, is raised (CannotRun) when another holds it."""
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        yield  # what the command does next in the folder says why it cannot be used, if it cannot
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise CannotRun(busy) from None
        except OSError:
            pass  # no locks on this file system
        yield
    finally:
        os.close(fd)
