"""One run at a time per store: an flock the kernel releases if the process dies."""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from pathlib import Path

from pipeline.errors import CannotRun
from pipeline.i18n import _


class StoreLock:
    """Holds `<state>/<store>.lock`. A live holder means exit 3 at once; a dead one's lock is taken over."""

    def __init__(self, state_dir: Path, store_id: str, say=None):
        self.path = state_dir / f"{store_id}.lock"
        self.say = say or (lambda msg: None)
        self.fd: int | None = None

    def __enter__(self) -> "StoreLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_holder(fd)
            os.close(fd)
            if holder:
                raise CannotRun(_("Another Coffre run holds the lock for this store (process {pid} on {host}, since "
                                  "{since}); try again when it has finished.").format(
                    pid=holder.get("pid"), host=holder.get("host"), since=holder.get("since")))
            raise CannotRun(_("Another Coffre run holds the lock for this store; try again when it has finished."))
        previous = _read_holder(fd)
        if previous:
            # The kernel dropped the dead holder's flock; its note is still in the file.
            self.say(_("Taking over the lock left by process {pid} on {host} (started {since}), which is no longer "
                       "running.").format(pid=previous.get("pid"), host=previous.get("host"),
                                          since=previous.get("since")))
        note = json.dumps({"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        os.ftruncate(fd, 0)
        os.pwrite(fd, note.encode(), 0)
        os.fsync(fd)
        self.fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _read_holder(fd: int) -> dict | None:
    try:
        data = os.pread(fd, 4096, 0)
        return json.loads(data) if data.strip() else None
    except (OSError, ValueError):
        return {"pid": "?", "host": "?", "since": "?"}
