"""Found by review: the newest run's MANIFEST.b3.minisig (or MANIFEST.b3) on a copy garbled (a few bytes of garbage, a FIFO,
a 50 MB file: one bad sector, or anyone who can write to the key). The run is in this machine's record, written to
that copy. Before the fix: `restore --from A` (or restore with the other copy unplugged) restores the OLDER run, exit 0, with
only a warning; the drill says "PASS A" with the older run, exit 0, and status then says "drill ok" for A.
Deleting the signature instead, or damaging manifest.json or a data file, is refused (exit 1, drill FAIL): the rule
of b8e2c30 ("never replaced by an older run unasked"). The record knows the run was written there: a garbled
signature on it is a damaged newest run, not a junk folder. Also: verify then says "the chain of runs forks: R1, R2
all follow no previous run (each is a first run)", which is false."""

import pytest

from .helpers import archive_ok, no_traceback, two_copy_store


@pytest.mark.parametrize("garble", ["signature-garbage", "manifest-b3-garbage"])
def test_a_garbled_signature_on_the_newest_run_is_not_replaced_by_an_older_run(tmp_path, garble):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=7) as store:
        a, b = store.destinations
        archive_ok(store)
        newest = archive_ok(store)["run_id"]
        name = "MANIFEST.b3.minisig" if garble == "signature-garbage" else "MANIFEST.b3"
        (store.run_dir(a, newest) / name).write_bytes(b"garbage\n")
        res = store.coffre("restore", "--identity", store.identity, "--out", tmp_path / "r", "--from", a)
        no_traceback(res)
        assert res.code == 1 and newest in res.err, res  # before the fix: exit 0, run <older> restored
        res = store.coffre("drill", "--identity", store.identity)
        assert res.code == 1, res  # before the fix: exit 0, "PASS usb-A: run <older> ..." with a NOT-newest warning
        res = store.coffre("verify", "--from", a)
        assert res.code == 1 and "forks" not in res.err, res  # before the fix: a fork of two "first runs" is claimed
