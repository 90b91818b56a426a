"""The shop's clock looks a local stamp's offset up once a minute: every 30 s across both clock changes of a year,
in Paris and in a zone that moves by half an hour, it says what the full computation says."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

import pytest

from pipeline.journals.connection import LocalClock


@pytest.mark.parametrize("zone, days", [("Europe/Paris", (datetime(2025, 3, 29), datetime(2025, 10, 25))),
                                        ("Australia/Lord_Howe", (datetime(2025, 4, 5), datetime(2025, 10, 4)))])
def test_a_local_stamp_has_the_offset_of_its_own_minute(zone, days):
    rng = random.Random(3)
    cached, full = LocalClock(zone), LocalClock(zone)
    for start in days:
        for i in range(2 * 24 * 60 * 2):
            ts = (start + timedelta(seconds=30 * i + rng.randint(0, 29))).strftime("%Y-%m-%d %H:%M:%S")
            assert cached.local(ts) == full._slow(ts, ""), ts
    assert cached.minutes, "the minute table was not used"
