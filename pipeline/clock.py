"""The time of day as Coffre reads it: one place, so that a test can live through years of evenings in minutes."""

from __future__ import annotations

import calendar
import secrets
import time


def now() -> float:
    return time.time()


def new_run_id(now: float, after: str | None = None) -> str:
    """A run id later than `after`, even within the same second or when the clock went back:
    sorting ids must sort runs, which the chain check relies on."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now))
    if after and stamp <= after[:16]:
        last = calendar.timegm(time.strptime(after[:16], "%Y%m%dT%H%M%SZ"))
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(last + 1))
    return stamp + "-" + secrets.token_hex(3)
