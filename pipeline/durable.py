"""Making a rename or a new file survive a power cut: fsync of a folder, tolerant of file systems that refuse it."""

from __future__ import annotations

import errno
import os
from pathlib import Path


def fsync_fd(fd: int) -> None:
    # FAT on some USB keys and some network shares answer EINVAL to fsync of a folder: the data is still written.
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise


def fsync_dir(path: Path) -> None:
    """Flushes a folder's entries (a finished rename) to the disk; a folder that cannot be opened is left alone."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        fsync_fd(fd)
    finally:
        os.close(fd)
