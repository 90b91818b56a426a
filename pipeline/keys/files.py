"""Writes secret files: created new, mode 0600 from the first byte, never over an existing file."""

from __future__ import annotations

import os
from pathlib import Path

from pipeline.errors import UsageError
from pipeline.i18n import _


def write_new_secret(path: Path, data: bytes) -> None:
    """Creates `path` 0600 with O_EXCL: overwriting a key would lose every backup made with it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(_("{path} already exists; Coffre never overwrites a key file.").format(path=path))
    try:
        os.fchmod(fd, 0o600)  # the umask cannot widen it, but be explicit
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_new_public(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with open(path, "xb") as f:
            f.write(data)
    except FileExistsError:
        raise UsageError(_("{path} already exists; Coffre never overwrites a key file.").format(path=path))
