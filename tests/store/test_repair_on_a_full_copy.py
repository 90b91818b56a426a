"""repair on a copy that is full: the blocks it lacks are intact elsewhere, so it is a destination full (exit 3)."""

from __future__ import annotations

import json

from reliability.helpers import init_store, make_sample_db, no_traceback, other_device_dir, tmpfs


def _fill(folder) -> None:
    """Writes zeros into the medium until it holds no more."""
    with open(folder / "filler.bin", "wb", buffering=0) as f:
        chunk = b"\0" * 65536
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:  # the last pages, a byte at a time at most a page
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass


def test_repair_on_a_full_copy_says_it_is_full_exit_3_and_heals_once_there_is_room(tmp_path):
    """Found by review: a copy too full to take back its lost blocks was exit 1, "a check failed", like a block no
    copy holds: the data is whole on the other copy, and the person must make room, not look for a lost block."""
    db = make_sample_db(tmp_path / "shop" / "caisse.db", days=2, tickets_per_day=60, seed=3)
    with tmpfs(tmp_path / "usb-key", "4m") as key, other_device_dir(tmp_path) as dev:
        disk = dev / "disk-B"
        disk.mkdir()
        store = init_store(tmp_path / "store", db, [key, disk])
        assert store.coffre("archive", "--yes").code == 0
        blocks = sorted(p for p in (key / store.store_id / "blocks").rglob("*") if p.is_file())
        lost = blocks[:3]
        for p in lost:
            p.unlink()
        _fill(key)
        res = store.coffre("repair", "--json")
        no_traceback(res)
        assert res.code == 3, res
        (on_key,) = [c for c in json.loads(res.out)["copies"] if c["destination"] == str(key)]
        assert on_key["no_room"] == sorted(p.name for p in lost), on_key
        res = store.coffre("repair")
        assert res.code == 3, res
        assert f"{key} is full: 3 blocks that another copy holds intact could not be written there" in res.err, res.err
        (key / "filler.bin").unlink()
        res = store.coffre("repair")
        assert res.code == 0, res
        assert all(p.is_file() for p in lost)
        assert store.coffre("verify").code == 0
