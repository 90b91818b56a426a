"""Private scratch folders for plaintext (a drill's restored database, an export being made), swept after a kill.

Each folder is held by an flock on its own descriptor for as long as its process lives: the kernel drops it when
the process dies, however it dies, so the next command of the same kind can tell a dead one's leftovers (plain
sales data in /tmp) from a live one's folder and remove them.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from pipeline import interrupt

YOUNG = 60  # seconds: a folder younger than this may be between its creation and its lock
STALE_WITHOUT_LOCKS = 24 * 3600  # seconds: on a file system without locks, a folder this old is a dead command's


@contextmanager
def scratch_folder(kind: str, store_id: str, base: Path | None = None, alone: bool = False):
    """`alone`: the caller holds the store's lock, so that no live command has a folder of this prefix: every one
    left is a dead one's, however young."""
    base = Path(base or tempfile.gettempdir())
    prefix = f"coffre-{kind}@{store_id}@"
    sweep(base, prefix, alone=alone)
    folder = Path(tempfile.mkdtemp(prefix=prefix, dir=base))  # mode 0700
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    # A stop that ends the process past its grace runs no finally block: the folder, which may hold a plain copy of
    # the till's database, is removed by that exit too.
    interrupt.half_made(folder)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:
            pass  # a file system that refuses locks: a sweep takes this folder only when it is a day old
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        interrupt.finished(folder)
        os.close(fd)


def sweep(base: Path, prefix: str, alone: bool = False) -> None:
    """Removes the folders named `prefix…` under `base` whose process is gone (their flock is free). `alone`: the
    caller's store lock says that none of this machine's commands can be making one now, so a young folder is not
    spared, nor one on a file system without locks; one whose flock is held (another machine or container sharing
    the state path and scratch folder, with a store lock of its own) still is."""
    for p in base.glob(prefix + "*"):
        try:
            fd = os.open(p, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            if not alone and time.time() - os.fstat(fd).st_mtime < YOUNG:
                continue  # perhaps made a moment ago and not locked yet: next time
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # alive
        except OSError:  # no locks here to tell: untouched for a day, no command of Coffre's is still at it
            if not alone and not _untouched_for_a_day(base, p):
                continue
        finally:
            os.close(fd)
        shutil.rmtree(p, ignore_errors=True)


def _untouched_for_a_day(base: Path, folder: Path) -> bool:
    """Whether nothing in the folder (itself, or what it holds) changed for a day, by the clock of the file system
    that holds it (a file server's clock may be a day off this machine's); False when that cannot be told."""
    try:
        with tempfile.TemporaryFile(dir=base) as probe:
            now = os.fstat(probe.fileno()).st_mtime
        newest = max([os.lstat(folder).st_mtime] + [e.stat(follow_symlinks=False).st_mtime for e in os.scandir(folder)])
    except OSError:
        return False
    return now - newest >= STALE_WITHOUT_LOCKS


@contextmanager
def private_files():
    """New files 0600 and folders 0700 for the block, whatever the user's umask (for plain data written out)."""
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)
