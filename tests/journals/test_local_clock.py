"""The shop's clock looks a local stamp's offset up once a minute: every 30 s across both clock changes of a year,
in Paris and in a zone that moves by half an hour, it says what the full computation says."""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import zoneinfo
from datetime import datetime, timedelta

import blake3
import pytest

from conftest import REPO, need_tool
from pipeline.journals.connection import LocalClock, zone_rules


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


def test_the_zones_rules_are_found_where_zoneinfo_finds_them_even_past_a_folder_it_may_not_search(tmp_path):
    # A folder of PYTHONTZPATH that the user running Coffre may not search: ZoneInfo passes it over, and so must the
    # digest of the zone's rules (it used to stop the journals with a PermissionError).
    setpriv = need_tool("setpriv")
    if os.geteuid() != 0:
        pytest.skip("running as another user needs root")
    system = next(p for p in zoneinfo.TZPATH if os.path.isfile(os.path.join(p, "Europe", "Paris")))
    locked = tmp_path / "locked"
    (locked / "Europe").mkdir(parents=True)
    shutil.copyfile(os.path.join(system, "America", "New_York"), locked / "Europe" / "Paris")
    locked.chmod(0o700)
    tmp_path.chmod(0o755)
    code = ("import sys; from pipeline.journals.connection import zone_rules, LocalClock; "
            "print(zone_rules('Europe/Paris')); print(LocalClock('Europe/Paris').local('2025-01-15T12:00:00Z'))")
    res = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
                         capture_output=True, text=True, cwd=REPO,
                         env={**os.environ, "PYTHONPATH": str(REPO), "PYTHONTZPATH": f"{locked}:{system}",
                              "PYTHONDONTWRITEBYTECODE": "1"})
    assert res.returncode == 0, res.stderr
    digest, local = res.stdout.split()
    assert local.endswith("+01:00")  # Paris's own rules, from the system's folder
    assert digest == zone_rules_of(os.path.join(system, "Europe", "Paris")) != ""
    assert zone_rules("Europe/Paris") == digest  # this process, which sees no locked folder


def zone_rules_of(path: str) -> str:
    with open(path, "rb") as f:
        return blake3.blake3(f.read()).hexdigest()
