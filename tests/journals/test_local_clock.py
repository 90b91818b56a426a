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


def test_the_last_stamp_remembered_is_said_again_only_for_the_same_text():
    """A row asks for its local time then its day, and a ticket's lines repeat its stamp: the clock says the last
    answer again for the same text only, never for a number equal to it or another stamp."""
    clock = LocalClock("Europe/Paris")
    asked = ["2025-07-01T10:00:00Z", "2025-07-01T10:00:00Z", "2025-07-01 12:00:00", "2025-07-01T10:00:00+00:00",
             1, 1.0, True, "1", None, "2025-12-31T23:30:00Z", "2025-12-31T23:30:00Z", 1.0, 1, "2025-07-01 12:00:00"]
    for ts in asked:
        fresh = LocalClock("Europe/Paris")
        assert clock.local(ts) == fresh.local(ts), ts
        assert clock.day(ts) == fresh.day(ts), ts
    assert clock.local(1.0) == "1.0" and clock.local(1) == "1" and clock.day("2025-12-31T23:30:00Z") == "2026-01-01"
