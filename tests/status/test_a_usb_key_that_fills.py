"""A USB key that fills, evening after evening: status warns days before, then archive writes the other copies (exit 4)."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from reliability.helpers import init_store, make_sample_db, no_traceback, other_device_dir, tmpfs

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1

WARN_EVENINGS = 3
KEY_HOLDS_RUNS = 6  # the key is sized to hold about this many runs
MAX_EVENINGS = 15
SIZES = re.compile(r"\((\d[\d.]* [kMG]?B) free, (?:a run takes )?(\d[\d.]* [kMG]?B)")  # the figures status gives


@pytest.fixture(scope="module")
def small_shop(tmp_path_factory) -> Path:
    """2 days of 60 tickets: runs of a little over 100 kB."""
    return make_sample_db(tmp_path_factory.mktemp("fill") / "shop" / "caisse.db", days=2, tickets_per_day=60, seed=3)


def used_bytes(mount: Path) -> int:
    st = os.statvfs(mount)
    return (st.f_blocks - st.f_bfree) * st.f_frsize


def files_under(path: Path) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)


def one_run_on_a_tmpfs(base: Path, db: Path) -> int:
    """What one run of this shop takes on a tmpfs (pages, not just bytes): a throwaway store archives once."""
    with tmpfs(base / "measure-key", "64m") as key:
        before = used_bytes(key)
        store = init_store(base / "measure", db, [key])
        res = store.coffre("archive", "--yes")
        assert res.code == 0, res
        return used_bytes(key) - before


def key_entry(status: dict, key: Path) -> dict:
    (entry,) = [d for d in status["destinations"] if d["destination"] == str(key)]
    return entry


def test_status_warns_evenings_before_the_key_is_full_then_archive_writes_the_other_copy(small_shop, tmp_path,
                                                                                            figures):
    run_size = one_run_on_a_tmpfs(tmp_path, small_shop)
    # Half a run more (the medium's id file, a growing run): no evening's free space then sits at a whole number of
    # runs, where status, which counts a run at what it may need while it is written (a few per cent over what it
    # leaves), would say one evening fewer than the key holds, and the count would fall by two one evening. With a
    # few pages more only, that happened or not by the page a run's facts happen to need.
    key_size = KEY_HOLDS_RUNS * run_size + run_size // 2
    with tmpfs(tmp_path / "usb-key", f"{key_size // 1024}k") as key, other_device_dir(tmp_path) as dev:
        big = dev / "disk-B"
        big.mkdir()
        store = init_store(tmp_path / "shop-store", small_shop, [key, big])
        with store.config.open("a") as f:
            f.write(f"\n[status]\nwarn_evenings = {WARN_EVENINGS}\n")

        evenings = []  # (evening, archive result, archive JSON, status exit, status JSON)
        for evening in range(1, MAX_EVENINGS + 1):
            res = store.coffre("archive", "--yes", "--json")
            no_traceback(res)
            out = json.loads(res.out)
            if evening == 1:  # a drill passed on both copies: a status with room to spare is all good
                drill = store.coffre("drill", "--identity", store.identity)
                assert drill.code == 0, drill
            st = store.coffre("status", "--json")
            no_traceback(st)
            evenings.append((evening, res, out, st.code, json.loads(st.out)))
            if res.code != 0:
                break
        lefts = [key_entry(s, key)["evenings_left"] for _, _, _, _, s in evenings]
        failed = evenings[-1][0]
        warned = next((n for (n, _, _, _, _), left in zip(evenings, lefts) if left is not None
                       and left <= WARN_EVENINGS), None)
        figures(f"USB key that fills: a run takes {run_size} B on a tmpfs, key of {key_size // 1024} kB; "
                f"evenings_left {lefts}; status first warned on evening {warned}; the archive of evening "
                f"{failed} was the first that could not write the key")

        # Before it failed, every archive wrote both copies.
        assert evenings[-1][1].code != 0, f"the key never filled in {MAX_EVENINGS} evenings: {lefts}"
        assert all(res.code == 0 for _, res, _, _, _ in evenings[:-1]), evenings
        # While there was room, status counted the evenings left down, fewer each evening.
        before = lefts[:-1]
        assert None not in before, before
        assert all(b < a for a, b in zip(before, before[1:])), before
        # It warned at least two evenings before the archive that could not write the key.
        assert warned is not None and warned <= failed - 2, (warned, failed, lefts)
        for n, _, _, code, st in evenings[:-1]:
            left = key_entry(st, key)["evenings_left"]
            about_key = [p for p in st["problems"] if str(key) in p]
            if left > WARN_EVENINGS:
                assert code == 0 and st["problems"] == [], (n, st)
            else:
                assert code == 1, (n, st)
                wording = (f"{key} will be full in about {left} evening{'s' if left > 1 else ''}" if left else f"{key} is full")
                (sentence,) = [p for p in about_key if p.startswith(wording)]
                # The sizes it gives keep their figures: a key with 170 kB free is not "0 MB free".
                free_said, other_said = SIZES.search(sentence).groups()
                assert not free_said.startswith("0 ") and not other_said.startswith("0 "), sentence
                assert free_said != other_said, sentence
        assert any(0 < key_entry(st, key)["evenings_left"] <= WARN_EVENINGS for *_, st in evenings[:-1]), \
            "status never said 'will be full in about N evenings'"
        # The big copy never warned.
        assert all(not any(str(big) in p for p in st["problems"]) for *_, st in evenings[:-1])

        # The archive that could not write the key: exit 4, the key failed for want of space, the other copy ok.
        _, res, out, code, st = evenings[-1]
        assert res.code == 4, res
        copies = {c["destination"]: c for c in out["copies"]}
        assert copies[str(big)]["ok"] is True, out["copies"]
        assert copies[str(key)]["ok"] is False, out["copies"]
        assert "no space left on the device" in copies[str(key)]["reason"], out["copies"]
        failed_run = out["run_id"]
        # status after it: exit 1, the key named (the run it missed, the copy policy), the big copy not.
        assert code == 1, st
        about_key = [p for p in st["problems"] if str(key) in p]
        assert any(f"the last run {failed_run} missed" in p for p in about_key), st["problems"]
        assert any(p.startswith("copy policy: ") and "did not get the last run" in p for p in about_key), \
            st["problems"]
        assert not any(str(big) in p for p in st["problems"]), st["problems"]

        # The big copy holds every run and verifies; nothing of the failed run is left on the key.
        res = store.coffre("verify", "--from", big, "--json")
        assert res.code == 0, res
        (copy,) = json.loads(res.out)["copies"]
        assert len(copy["runs"]) == failed and copy["runs"][-1]["run_id"] == failed_run, copy
        on_key = store.run_dirs(key)
        assert [p.name for p in on_key] == [out["run_id"] for _, _, out, _, _ in evenings[:-1]], on_key
        assert all(failed_run not in f and ".tmp" not in f for f in files_under(key)), files_under(key)
        res = store.coffre("verify", "--from", key, "--json")
        assert res.code == 0, res
