"""Found by review: the evening's run went to the USB key only (the disk was not there). The key is then unplugged and
its mount point stays behind, an empty folder (item 7's case). verify says the key is MISSING ("not mounted now;
is it plugged in?"), as it should; but restore and export-auditor refuse with "the newest this machine wrote, is
missing from <key>, where it was written (deleted?)", exit 1, and the drill says "<key>: no complete run".
With the key's folder gone instead of empty, restore takes the older run from the disk with its warning
("This is NOT the newest run ..."), exit 0. The two must agree: an unmounted key is unreachable, not a deletion.
(Root: mounts a tmpfs.)"""

import subprocess

from .helpers import archive_ok, init_store, make_sample_db, no_traceback, other_device_dir, tmpfs


def test_an_unplugged_key_whose_mount_point_remains_is_not_a_deleted_run(tmp_path):
    db = make_sample_db(tmp_path / "shop" / "caisse.db", days=1, tickets_per_day=20, seed=5)
    key = tmp_path / "media" / "usb-A"
    with other_device_dir(tmp_path) as dev, tmpfs(key, "64m"):
        disk = dev / "disk-B"
        disk.mkdir()
        store = init_store(tmp_path, db, [key, disk])
        archive_ok(store)
        older = archive_ok(store)["run_id"]
        lone = archive_ok(store, "--to", key)["run_id"]  # the disk was not there that evening
        subprocess.run(["umount", str(key)], check=True)  # unplugged: the empty mount point stays
        assert key.is_dir() and not any(key.iterdir())
        res = store.coffre("verify")
        assert "not mounted" in res.err, res  # holds: verify says MISSING
        out = tmp_path / "restored"
        res = store.coffre("restore", "--identity", store.identity, "--out", out)
        no_traceback(res)
        # before the fix: exit 1, "Run <lone>, the newest this machine wrote, is missing from usb-A, where it was written
        # (deleted?)"; expected: like a key whose folder is gone, run <older> from disk-B with the NOT-newest warning
        assert "deleted?" not in res.err, res
        assert res.code == 0 and older in res.err + res.out and lone in res.err + res.out, res
        res = store.coffre("drill", "--identity", store.identity)
        assert "no complete run" not in res.out + res.err, res  # expected: usb-A missing / not mounted
