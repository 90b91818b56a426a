"""Test-only: counts what a coffre process changes on disk, and kills it (SIGKILL) at the Nth change.

Put on PYTHONPATH with COFFRE_TEST_KILL_AT=N (kill at the Nth change) or COFFRE_TEST_COUNT_TO=FILE (count them all,
written to FILE at exit). A change is a rename, link, unlink, mkdir, rmdir, or a file opened for writing: every
point at which a killed run leaves the disk in another state."""

import os
import signal
import sys

_AT = int(os.environ.get("COFFRE_TEST_KILL_AT") or 0)
_COUNT_TO = os.environ.get("COFFRE_TEST_COUNT_TO")
_EVENTS = {"os.rename", "os.link", "os.remove", "os.mkdir", "os.rmdir"}
_WRITE = os.O_WRONLY | os.O_RDWR | os.O_CREAT
_seen = [0]


def _hook(event, args):
    if event in _EVENTS or (event == "open" and len(args) > 2 and isinstance(args[2], int) and args[2] & _WRITE):
        _seen[0] += 1
        if _AT and _seen[0] == _AT:
            os.kill(os.getpid(), signal.SIGKILL)


if _AT or _COUNT_TO:
    sys.addaudithook(_hook)
    if _COUNT_TO:
        import atexit

        atexit.register(lambda: open(_COUNT_TO, "w").write(str(_seen[0])))
