"""The time of day as Coffre reads it: one place, so that a test can live through years of evenings in minutes."""

from __future__ import annotations

import time


def now() -> float:
    return time.time()
