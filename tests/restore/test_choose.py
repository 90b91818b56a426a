"""Which run restore and drill take: the newest real run, from whichever copy holds it; never older data unsaid;
never stopped by a folder that only looks like a run."""

from __future__ import annotations

import json
import shutil

from reliability.helpers import archive_ok, two_copy_store

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1


def restored_run(out) -> str:
    return json.loads((out / "facts.json").read_text())["run_id"]


def test_a_copy_without_the_newest_run_is_not_restored_from_silently(tmp_path):
    """The USB key (first in the config) was not plugged in last evening: the newest run is on the disk only."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=6) as store:
        usb, disk = store.destinations
        archive_ok(store)
        newest = archive_ok(store, "--to", disk)["run_id"]
        out = tmp_path / "restored"
        res = store.coffre("restore", *store.identity_args(), "--out", out)
        assert res.code == 0, res
        assert restored_run(out) == newest
        assert f"{usb} does not hold run {newest}" in res.err, res
        # The drill of that key says what it drilled and why it is not the newest.
        res = store.coffre("drill", *store.identity_args(), "--from", usb, "--json")
        assert res.code == 0, res
        (copy,) = json.loads(res.out)["copies"]
        assert copy["run_id"] != newest and any("NOT the newest" in n and newest in n for n in copy["notes"]), copy


def test_the_newest_run_on_an_unreachable_copy_is_said_when_an_older_one_is_restored(tmp_path):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=6) as store:
        usb, disk = store.destinations
        older = archive_ok(store)["run_id"]
        newest = archive_ok(store, "--to", disk)["run_id"]
        res = store.coffre("restore", *store.identity_args(), "--out", tmp_path / "r", "--from", usb)
        assert res.code == 0, res
        assert restored_run(tmp_path / "r") == older
        assert "NOT the newest" in res.err and newest in res.err, res


def test_folders_that_only_look_like_runs_do_not_make_restore_impossible(tmp_path):
    """A real run copied under a far-future name, and a junk folder with a signature file, on every copy: both are
    passed over for the newest real run."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=6) as store:
        archive_ok(store)
        newest = archive_ok(store)["run_id"]
        for dest in store.destinations:
            shutil.copytree(store.run_dir(dest, newest), store.run_dir(dest, "20991231T235959Z-ffffff"))
            junk = store.run_dir(dest, "20991231T235958Z-eeeeee")
            junk.mkdir()
            (junk / "MANIFEST.b3.minisig").write_text("not a signature\n")
        out = tmp_path / "restored"
        res = store.coffre("restore", *store.identity_args(), "--out", out)
        assert res.code == 0, res
        assert restored_run(out) == newest
        assert "20991231T235959Z-ffffff" in res.err  # passed over, and said
        res = store.coffre("drill", *store.identity_args(), "--json")
        assert res.code == 0 and all(c["run_id"] == newest for c in json.loads(res.out)["copies"]), res
        # verify names the copied folder: a signature for another run is not a run here.
        res = store.coffre("verify")
        assert res.code == 1 and "signs another run" in res.err, res


def test_a_newest_run_damaged_on_every_copy_is_not_replaced_by_an_older_one_unasked(tmp_path):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=6) as store:
        older = archive_ok(store)["run_id"]
        newest = archive_ok(store)["run_id"]
        for dest in store.destinations:
            f = store.run_dir(dest, newest) / "snapshot.sqlite.zst.age"
            data = bytearray(f.read_bytes())
            data[len(data) // 2] ^= 1
            f.write_bytes(bytes(data))
        out = tmp_path / "restored"
        res = store.coffre("restore", *store.identity_args(), "--out", out)
        assert res.code == 1 and newest in res.err and "--run" in res.err, res
        assert not out.exists() or list(out.iterdir()) == []
        res = store.coffre("restore", *store.identity_args(), "--out", out, "--run", older)
        assert res.code == 0 and restored_run(out) == older, res


def test_a_newest_run_deleted_from_every_copy_it_was_written_to_is_not_replaced_by_an_older_one(tmp_path):
    """Found by review: deleting the newest run everywhere got a quieter answer (exit 0, drill PASS, an older run
    restored with a warning) than damaging it (exit 1). Deleted from where the record says it was written, it is
    treated alike: exit 1 for restore, FAIL for the drill of each such copy; --run restores an older one."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=6) as store:
        older = archive_ok(store)["run_id"]
        newest = archive_ok(store)["run_id"]
        for dest in store.destinations:
            shutil.rmtree(store.run_dir(dest, newest))
        out = tmp_path / "restored"
        res = store.coffre("restore", *store.identity_args(), "--out", out)
        assert res.code == 1 and newest in res.err and "deleted or damaged?" in res.err and "--run" in res.err, res
        assert not out.exists()
        res = store.coffre("drill", *store.identity_args(), "--json")
        assert res.code == 1 and all(not c["ok"] and newest in c["problem"] for c in json.loads(res.out)["copies"]), res
        res = store.coffre("restore", *store.identity_args(), "--out", out, "--run", older)
        assert res.code == 0 and restored_run(out) == older, res


def test_an_older_run_asked_for_by_name_is_not_said_to_replace_a_newest_that_could_not_be_restored(tmp_path):
    """Found by review: `--run OLDER` warned that the newest run 'could not be restored (it is on none of the copies
    reached)' while it was intact on both: it was never tried, since it was not asked for."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=6) as store:
        older = archive_ok(store)["run_id"]
        newest = archive_ok(store)["run_id"]
        res = store.coffre("restore", *store.identity_args(), "--out", tmp_path / "r", "--run", older)
        assert res.code == 0, res
        assert restored_run(tmp_path / "r") == older
        assert "NOT the newest" not in res.err and "could not be restored" not in res.err, res
        assert "as asked" in res.err and newest in res.err, res
