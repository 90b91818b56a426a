"""An unplugged USB key whose mount point remains (an empty folder on the till's disk): that copy is reported
missing and the others are written (exit 4); nothing lands in the empty folder; the key plugged back is written
to again. Real tmpfs mounts stand for the key."""

from __future__ import annotations

import json
import shutil

from reliability.helpers import init_store, make_sample_db, no_traceback, other_device_dir, tmpfs

KEY_SIZE = "128m"


def archive(store, code: int):
    """An archive run that must end with `code`; returns it and its copies by destination."""
    res = store.coffre("archive", "--yes", "--json")
    no_traceback(res)
    assert res.code == code, res
    return res, {c["destination"]: c for c in json.loads(res.out)["copies"]}


def written_and_verifying(store, dest, run_id):
    assert (store.run_dir(dest, run_id) / "MANIFEST.b3.minisig").is_file()
    res = store.coffre("verify", "--from", dest)
    assert res.code == 0, res


def unplugged_key_is_missing(store, key, other, says: str):
    """With the key unplugged: exit 4, the key named missing, the other copy written, the empty folder left empty."""
    assert key.is_dir() and list(key.iterdir()) == []  # the mount point the unplugged key left behind
    res, copies = archive(store, 4)
    assert not copies[str(key)]["ok"] and says in copies[str(key)]["reason"], copies
    assert copies[str(key)]["reason"].startswith(f"The destination {key} "), copies
    assert f"Skipping: The destination {key} " in res.err, res
    assert copies[str(other)]["ok"], copies
    written_and_verifying(store, other, json.loads(res.out)["run_id"])
    assert list(key.iterdir()) == [], "a copy was written into the empty mount point, on the till's own disk"
    if says != "not mounted now":
        return  # a folder never written to: verify has nothing to hold it to
    # verify says the key is missing, not that each of its runs was deleted.
    res = store.coffre("verify", "--from", key, "--json")
    assert res.code == 1, res
    (copy,) = json.loads(res.out)["copies"]
    assert copy["missing"] and len(copy["problems"]) == 1 and says in copy["problems"][0]["message"], copy


def key_plugged_back(store, key, held):
    with tmpfs(key, KEY_SIZE):
        shutil.copytree(held, key, dirs_exist_ok=True)
        res, _ = archive(store, 0)
        written_and_verifying(store, key, json.loads(res.out)["run_id"])
        res = store.coffre("verify")
        assert res.code == 0, res


def unplugged_then_plugged_back(tmp_path, db, key, other):
    """A store on [key, other]: a run with the key plugged in, one with it unplugged, one with it back."""
    held = tmp_path / "key-contents"
    with tmpfs(key, KEY_SIZE):
        store = init_store(tmp_path, db, [key, other])
        archive(store, 0)
        shutil.copytree(key, held)  # what the key holds, for plugging it back (a tmpfs forgets it)
    unplugged_key_is_missing(store, key, other, "not mounted now")
    key_plugged_back(store, key, held)


def test_unplugged_key_on_the_database_disk_is_missing_not_a_refusal(tmp_path):
    db = make_sample_db(tmp_path / "shop" / "caisse.db")
    with other_device_dir(tmp_path) as dev:
        (dev / "disk-B").mkdir()
        unplugged_then_plugged_back(tmp_path, db, tmp_path / "media" / "usb", dev / "disk-B")


def test_unplugged_key_on_another_disk_than_the_database_is_missing(tmp_path):
    # The database on another device than the key's mount point folder: the same-disk rule cannot see the key gone.
    (tmp_path / "disk-B").mkdir()
    with other_device_dir(tmp_path) as dev:
        db = make_sample_db(dev / "shop" / "caisse.db")
        unplugged_then_plugged_back(tmp_path, db, tmp_path / "media" / "usb", tmp_path / "disk-B")


def test_a_destination_on_the_database_disk_is_a_failed_copy_not_a_refused_run(tmp_path):
    db = make_sample_db(tmp_path / "shop" / "caisse.db")
    key = tmp_path / "media" / "usb"  # never mounted: a plain folder on the till's disk from the start
    key.mkdir(parents=True)
    with other_device_dir(tmp_path) as dev:
        other = dev / "disk-B"
        other.mkdir()
        store = init_store(tmp_path, db, [key, other], allow_same_disk=True)
        unplugged_key_is_missing(store, key, other, "is on the same disk as the database")
