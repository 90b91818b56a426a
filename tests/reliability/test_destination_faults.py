"""Destinations that fail, on real filesystems: a full disk, a read-only medium, a medium pulled out mid-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import need_tool

from .helpers import expect_fixed, init_store, make_sample_db, no_traceback, other_device_dir, tmpfs

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1

FULL_SIZE = "200k"


@pytest.fixture(scope="module")
def fault_db(tmp_path_factory):
    """5 days of 400 tickets: a ~1 MB database whose packed snapshot (~400 kB) cannot fit in 200 kB."""
    return make_sample_db(tmp_path_factory.mktemp("faults") / "shop" / "caisse.db", days=5, tickets_per_day=400, seed=9)


def signed_runs(store, dest) -> list[str]:
    return [p.name for p in store.run_dirs(dest) if (p / "MANIFEST.b3.minisig").exists()]


def files_under(path) -> list[str]:
    return sorted(os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs)


def free_fraction(path) -> float:
    st = os.statvfs(path)
    return st.f_bfree / st.f_blocks


def assert_copy_verifies(store, dest) -> None:
    res = store.coffre("verify", "--from", dest, "--deep", "--identity", store.identity, "--json")
    assert res.code == 0, res
    (copy,) = json.loads(res.out)["copies"]
    assert len(copy["runs"]) == 1 and copy["runs"][0]["ok"] and copy["runs"][0]["data_read"], copy


def test_one_destination_full_is_exit_4_and_the_other_copy_is_complete(fault_db, tmp_path):
    with tmpfs(tmp_path / "usb-full", FULL_SIZE) as full, other_device_dir(tmp_path) as dev:
        healthy = dev / "disk-B"
        healthy.mkdir()
        store = init_store(tmp_path, fault_db, [full, healthy])
        res = store.coffre("archive", "--yes", "--json")
        no_traceback(res)
        assert res.code == 4, res
        out = json.loads(res.out)
        sizes = {f["name"]: f["size"] for f in out["files"]}
        assert sizes["snapshot.sqlite.zst.age"] > 200 * 1024, "the snapshot must not fit on the full medium"
        assert [(c["destination"], c["ok"]) for c in out["copies"]] == [(str(full), False), (str(healthy), True)]
        said = [line for line in res.err.splitlines() if str(full) in line and "copy policy" not in line]
        assert said and all("no space left on the device" in line for line in said), res
        # The healthy copy is complete and verifies, down to the decrypted snapshot.
        assert len(signed_runs(store, healthy)) == 1
        assert_copy_verifies(store, healthy)
        # Nothing of the failed copy is left on the full medium, let alone counted: its space is given back.
        assert signed_runs(store, full) == []
        assert files_under(full) == [], files_under(full)
        assert free_fraction(full) > 0.9
        res = store.coffre("verify", "--from", full, "--json")
        no_traceback(res)
        assert res.code == 0, res
        (copy,) = json.loads(res.out)["copies"]
        assert copy["runs"] == [] and copy["problems"] == [], copy
        # status tells that the last run missed the full medium.
        res = store.coffre("status", "--json")
        assert res.code == 1 and any(str(full) in p for p in json.loads(res.out)["problems"]), res


def test_both_destinations_full_is_exit_3_and_no_run(fault_db, tmp_path):
    with tmpfs(tmp_path / "usb-A", FULL_SIZE) as a, tmpfs(tmp_path / "usb-B", FULL_SIZE) as b:
        store = init_store(tmp_path, fault_db, [a, b])
        res = store.coffre("archive", "--yes")
        assert "Traceback" not in res.err, res
        assert res.code == 3, res
        assert signed_runs(store, a) == signed_runs(store, b) == []
        res = store.coffre("verify", "--json")
        assert all(c["runs"] == [] for c in json.loads(res.out)["copies"]), res


def test_both_destinations_full_says_which_in_one_sentence_and_frees_the_space(fault_db, tmp_path):
    with tmpfs(tmp_path / "usb-A", FULL_SIZE) as a, tmpfs(tmp_path / "usb-B", FULL_SIZE) as b:
        store = init_store(tmp_path, fault_db, [a, b])
        res = store.coffre("archive", "--yes")
        assert res.code == 3 and "Traceback" not in res.err, res
        lines = [line for line in res.err.splitlines() if line.startswith("coffre:")]
        expect_fixed(len(lines) == 1 and "internal error" not in lines[0] and str(a) in lines[0] and str(b) in lines[0],
                     f"not one clear sentence naming both media: {lines}")
        expect_fixed(files_under(a) == [] and files_under(b) == [], f"partial files left: {files_under(a) + files_under(b)}")


def test_a_full_usb_key_is_said_in_french_under_lang_fr(fault_db, tmp_path):
    """The system's words for a full disk are English ("No space left on device"): a French shopkeeper reads French."""
    with tmpfs(tmp_path / "usb-full", FULL_SIZE) as full, other_device_dir(tmp_path) as dev:
        healthy = dev / "disk-B"
        healthy.mkdir()
        store = init_store(tmp_path, fault_db, [full, healthy])
        res = store.coffre("archive", "--yes", env={"COFFRE_LANG": "fr"})
        no_traceback(res)
        assert res.code == 4, res
        said = [line for line in res.err.splitlines() if str(full) in line and "plus de place sur le support" in line]
        assert said, res
        assert "No space left" not in res.err and "Errno" not in res.err, res


def test_read_only_destination_is_exit_4_with_a_sentence(fault_db, tmp_path):
    need_tool("mount")
    with tmpfs(tmp_path / "usb-ro", "10m") as ro, other_device_dir(tmp_path) as dev:
        healthy = dev / "disk-B"
        healthy.mkdir()
        store = init_store(tmp_path, fault_db, [ro, healthy])
        # chmod 0555 does not stop root: the medium itself turns read-only, as a USB key with its switch on.
        res = subprocess.run(["mount", "-o", "remount,ro", str(ro)], capture_output=True, text=True)
        assert res.returncode == 0, res.stderr
        res = store.coffre("archive", "--yes")
        no_traceback(res)
        assert res.code == 4, res
        said = [line for line in res.err.splitlines() if str(ro) in line]
        assert said and any("not writable" in line for line in said), res
        assert files_under(ro) == []
        assert_copy_verifies(store, healthy)


@pytest.mark.parametrize("healthy_too, code", [(True, 4), (False, 3)], ids=["one-of-two", "the-only-one"])
def test_destination_that_vanishes_mid_run(fault_db, tmp_path, healthy_too, code):
    """The USB key is pulled out while the snapshot is being written: a lazy unmount under the running archive."""
    need_tool("umount")
    with tmpfs(tmp_path / "usb-gone", "64m") as gone, other_device_dir(tmp_path) as dev:
        healthy = dev / "disk-B"
        healthy.mkdir()
        # Level 12 makes the packing slow enough to pull the key out while it is being written.
        store = init_store(tmp_path, fault_db, [gone, healthy] if healthy_too else [gone], compression_level=12)
        proc = subprocess.Popen([sys.executable, "-m", "pipeline", "archive", "--config", str(store.config), "--yes"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and proc.poll() is None:
                if list(gone.glob(f"{store.store_id}/*/.tmp-snapshot.sqlite.zst.age")):
                    break
                time.sleep(0.001)
            assert proc.poll() is None, "the run ended before the medium could be pulled out"
            res = subprocess.run(["umount", "-l", str(gone)], capture_output=True, text=True)
            assert res.returncode == 0, res.stderr
            out, err = proc.communicate(timeout=120)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert "Traceback" not in err and "internal error" not in err, err
        assert proc.returncode == code, err
        said = [line for line in err.splitlines() if str(gone) in line]
        assert said, err
        # The mount point left behind sits on the till's own disk: Coffre must not go on writing there.
        assert files_under(gone) == [] and list(gone.iterdir()) == [], list(gone.iterdir())
        if healthy_too:
            assert_copy_verifies(store, healthy)
