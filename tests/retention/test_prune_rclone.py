"""Prune and verify on an rclone remote (a real `rclone serve webdav` on 127.0.0.1): the signed removal records land
on the remote, a pruned run is fine there and a run purged by hand is not."""

from __future__ import annotations

import json
import subprocess

import pytest

import destinations.test_rclone as served_remote
from conftest import need_tool, run_coffre

webdav = served_remote.webdav  # the rclone destination tests' fixture: a real `rclone serve webdav`, FAILS under CI

REMOTE = "rclone:coffretest:backups"
RULES = "\n[retention]\nkeep_last = 1\nkeep_daily = 1\nkeep_weekly = 0\nkeep_monthly = 0\n"


@pytest.mark.slow
def test_prune_on_an_rclone_remote_writes_its_removal_record_there_and_verify_tells_pruned_from_purged(
        sample_db, tmp_path, other_disk, webdav):
    rclone = need_tool("rclone")
    _, served = webdav
    cfg, usb = served_remote._init_with_usb_and(REMOTE, sample_db, tmp_path, other_disk)
    runs = []
    for _ in range(3):
        res = run_coffre("archive", "--config", cfg, "--yes", "--json")
        assert res.code == 0, res.err  # stderr carries each copy's reason; pytest would cut it from the whole result
        runs.append(json.loads(res.out)["run_id"])
    with cfg.open("a") as f:
        f.write(RULES)
    res = run_coffre("prune", "--config", cfg, "--json")
    assert res.code == 0, res
    out = json.loads(res.out)
    assert [c["removed"] for c in out["copies"]] == [runs[:2], runs[:2]]
    act = out["act_id"]
    assert sorted(p.name for p in (served / "s1").iterdir()) == [runs[2], "blocks", "removals"]
    assert sorted(p.name for p in (served / "s1" / "removals").iterdir()) == [f"{act}.json", f"{act}.json.minisig"]
    record = json.loads((served / "s1" / "removals" / f"{act}.json").read_text())
    assert [r["run_id"] for r in record["runs"]] == runs[:2] and record["destination"] == REMOTE
    assert (served / "s1" / "removals" / f"{act}.json").read_bytes() != \
        (usb / "s1" / "removals" / f"{act}.json").read_bytes()  # each copy's record names its own medium

    res = run_coffre("verify", "--config", cfg, "--from", REMOTE)
    assert res.code == 0, res
    # And without this machine's record, the remote's own signed removals account for the pruned runs.
    (cfg.parent / "coffre-state" / "s1.history.json").rename(tmp_path / "record-away.json")
    res = run_coffre("verify", "--config", cfg, "--from", REMOTE)
    assert res.code == 0, res
    (tmp_path / "record-away.json").rename(cfg.parent / "coffre-state" / "s1.history.json")

    # A run purged by hand with rclone itself is reported, by name.
    res = run_coffre("archive", "--config", cfg, "--yes")
    assert res.code == 0, res
    purge = subprocess.run([rclone, "purge", f"coffretest:backups/s1/{runs[2]}"], capture_output=True, text=True)
    assert purge.returncode == 0, purge.stderr
    res = run_coffre("verify", "--config", cfg, "--from", REMOTE)
    assert res.code == 1, res
    assert runs[2] in res.err and "is missing from this copy" in res.err, res
    assert run_coffre("verify", "--config", cfg, "--from", usb).code == 0
