"""Copies known by their medium, not by how a destination is spelt: a deleted run shows whatever the spelling, and
two USB keys taking turns at one mount point are told apart."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import need_tool

from reliability.helpers import archive_ok, two_copy_store


def deleted_run_is_named(store, dest_spelling, run_id: str) -> None:
    """The newest run was deleted: no later run chains to it, so only the record can say it is gone."""
    res = store.coffre("verify", "--from", dest_spelling)
    assert res.code == 1 and run_id in res.err and "no longer in this copy" in res.err, (dest_spelling, res)


def test_a_deleted_run_shows_however_the_destination_is_written(tmp_path, monkeypatch):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a = store.destinations[0]
        for _ in range(3):
            archive_ok(store)
        victim = store.run_dirs(a)[-1].name
        shutil.rmtree(a / store.store_id / victim)
        link = tmp_path / "usb-link"
        link.symlink_to(a)
        monkeypatch.chdir(a.parent)
        for spelling in (a, f"{a}/", f"{a}//", f"{a}/.", os.path.relpath(a, a.parent), f"./{a.name}/", link):
            deleted_run_is_named(store, spelling, victim)
        # The other copy, however written, is intact.
        b = store.destinations[1]
        assert store.coffre("verify", "--from", f"{b}/").code == 0


def test_runs_written_through_one_spelling_are_held_against_another(tmp_path):
    """`archive --to DIR/` then `verify` of the configured DIR: the same medium, the same runs."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a = store.destinations[0]
        archive_ok(store)
        second = archive_ok(store, "--to", f"{a}/", "--to", store.destinations[1])["run_id"]
        shutil.rmtree(a / store.store_id / second)
        deleted_run_is_named(store, a, second)


def test_two_usb_keys_taking_turns_at_one_mount_point_are_told_apart(tmp_path):
    """Monday key 1, Tuesday key 2, at the same place: neither is blamed for the runs the other holds, and a run
    deleted from one is still named."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        usb = store.destinations[0]
        key1, key2 = usb.with_name("key-1"), usb.with_name("key-2")
        key2.mkdir()
        plugged = {}

        def plug(key):
            if usb.exists():
                os.rename(usb, plugged.pop("now"))
            os.rename(key, usb)
            plugged["now"] = key

        os.rename(usb, key1)
        on = {key1: [], key2: []}
        for evening in range(4):
            key = (key1, key2)[evening % 2]
            plug(key)
            on[key].append(archive_ok(store)["run_id"])
        for key in (key1, key2):
            plug(key)
            res = store.coffre("verify", "--from", usb, "--json")
            assert res.code == 0, (key, res)
            (copy,) = json.loads(res.out)["copies"]
            assert [r["run_id"] for r in copy["runs"]] == on[key]
        plug(key1)
        shutil.rmtree(usb / store.store_id / on[key1][-1])
        deleted_run_is_named(store, usb, on[key1][-1])
        plug(key2)
        assert store.coffre("verify", "--from", usb).code == 0


def test_a_copy_whose_id_file_is_deleted_or_swapped_is_named_and_its_deleted_run_still_shows(tmp_path):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        for _ in range(3):
            archive_ok(store)
        victim = store.run_dirs(a)[-1].name
        shutil.rmtree(a / store.store_id / victim)
        saved = (a / "coffre-medium.json").read_bytes()
        (a / "coffre-medium.json").unlink()
        res = store.coffre("verify", "--from", a)
        assert res.code == 1 and "coffre-medium.json is missing" in res.err and victim in res.err, res
        # The other copy's id put in its place: the runs it must hold are found all the same.
        shutil.copy(b / "coffre-medium.json", a / "coffre-medium.json")
        res = store.coffre("verify", "--from", a)
        assert res.code == 1 and victim in res.err, res
        # Garbage in its place.
        (a / "coffre-medium.json").write_text("{}")
        res = store.coffre("verify", "--from", a)
        assert res.code == 1 and "coffre-medium.json" in res.err and victim in res.err, res
        (a / "coffre-medium.json").write_bytes(saved)
        deleted_run_is_named(store, a, victim)
        # A fresh id of its own put in place: the runs this machine wrote to this medium only are held to it.
        own = archive_ok(store, "--to", a)["run_id"]
        (a / "coffre-medium.json").write_text(json.dumps({"coffre_medium": "0" * 32}))
        shutil.rmtree(a / store.store_id / own)
        res = store.coffre("verify", "--from", a)
        assert res.code == 1 and "names another medium" in res.err and victim in res.err, res


@pytest.fixture
def local_remotes(monkeypatch):
    """Two rclone remote names for the same local folders (an alias: only the medium's id can tell)."""
    need_tool("rclone")
    for name in ("RLOCAL", "RALIAS"):
        monkeypatch.setenv(f"RCLONE_CONFIG_{name}_TYPE", "local")


def test_rclone_spellings_and_remote_names_find_the_same_medium(tmp_path, local_remotes):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        spec = f"rclone:rlocal:{a}"
        runs = [archive_ok(store, "--to", spec, "--to", b)["run_id"] for _ in range(3)]
        shutil.rmtree(a / store.store_id / runs[-1])
        for spelling in (spec, f"{spec}/", f"rclone:rlocal:{a}//", f"rclone:ralias:{a}", a):
            deleted_run_is_named(store, spelling, runs[-1])


def test_an_id_file_copied_from_the_other_copy_does_not_hide_a_deleted_run(tmp_path):
    """An evening with the USB key only: its run went there alone. Deleting it and copying the disk's
    coffre-medium.json onto the key would make the key pass for the disk, which never had that run."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        archive_ok(store)
        archive_ok(store)
        lone = archive_ok(store, "--to", a)["run_id"]
        assert store.coffre("verify").code == 0
        shutil.rmtree(a / store.store_id / lone)
        shutil.copyfile(b / "coffre-medium.json", a / "coffre-medium.json")
        res = store.coffre("verify")
        assert res.code == 1 and lone in res.err and "same coffre-medium.json" in res.err, res
        res = store.coffre("archive", "--yes", "--json")
        assert res.code == 5 and "same medium id" in res.out, res
        res = store.coffre("verify")
        assert res.code == 1 and lone in res.err, res


def test_a_run_folder_renamed_with_a_newline_after_its_id_is_not_taken_for_the_run(tmp_path):
    """"$" in a pattern also matches before a last newline: "<run id>\\n" once passed for a run folder."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a = store.destinations[0]
        archive_ok(store)
        victim = archive_ok(store)["run_id"]
        folder = a / store.store_id / victim
        folder.rename(folder.with_name(victim + "\n"))
        deleted_run_is_named(store, a, victim)
        listed = store.coffre("verify", "--from", a, "--json")
        assert json.dumps(victim + "\n")[1:-1] not in listed.out, listed


def test_an_id_file_deleted_from_a_copy_is_written_back_by_the_next_archive_and_a_deleted_run_still_shows(tmp_path):
    """Found by review: the next archive gave the copy a new id in silence, after which every verify said its runs
    were "copied here by hand" (exit 1), with no way out. It writes the medium's own id back, says so, and the copy
    is held to every run of that medium."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        archive_ok(store)
        lone = archive_ok(store, "--to", a)["run_id"]  # a run on the key alone: the key's id is not the disk's
        saved = json.loads((a / "coffre-medium.json").read_text())["coffre_medium"]
        (a / "coffre-medium.json").unlink()
        res = store.coffre("archive", "--yes", "--json")
        assert res.code == 5, res  # a person hears it: an id file can be copied from another medium as well
        (said,) = [w for w in json.loads(res.out)["attention"] if "coffre-medium.json" in w]
        assert said.startswith(f"coffre-medium.json was missing on {a}: the id of the medium its runs") and lone in said
        status = json.loads(store.coffre("status", "--json", "--no-look").out)
        assert any("coffre-medium.json was missing" in p for p in status["problems"]), status["problems"]
        assert json.loads((a / "coffre-medium.json").read_text())["coffre_medium"] == saved
        assert json.loads((b / "coffre-medium.json").read_text())["coffre_medium"] != saved
        res = store.coffre("verify")
        assert res.code == 0, res
        # Deleted with a run: the run is still named once the id is back.
        shutil.rmtree(a / store.store_id / lone)
        (a / "coffre-medium.json").unlink()
        res = store.coffre("archive", "--yes", "--json", env={"COFFRE_LANG": "fr"})
        assert res.code == 5 and "coffre-medium.json manquait sur" in res.out, res
        res = store.coffre("verify", "--from", a)
        assert res.code == 1 and f"{lone}: is missing from this copy" in res.err, res


def test_an_id_file_is_not_written_back_where_the_runs_held_went_to_several_media(tmp_path):
    """Runs copied by hand from the disk onto a key that lost its id: which medium it is cannot be told from them,
    and the disk's id would make it the disk's twin. Nothing is guessed: verify says it."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        archive_ok(store)
        on_b = archive_ok(store, "--to", b)["run_id"]
        shutil.copytree(b / store.store_id / on_b, a / store.store_id / on_b)
        disk = json.loads((b / "coffre-medium.json").read_text())["coffre_medium"]
        (a / "coffre-medium.json").unlink()
        res = store.coffre("archive", "--yes", "--json")
        assert "was missing" not in res.out, res
        assert json.loads((a / "coffre-medium.json").read_text())["coffre_medium"] != disk
        res = store.coffre("verify", "--from", a)
        assert res.code == 1 and on_b in res.err, res


def test_another_disk_at_the_place_of_a_copy_never_gets_that_copys_id_written_onto_it(tmp_path):
    """Found by review (helper 12): the disk, its id file and a run of its own deleted, put where the key stands,
    got the key's id written back (the runs it held went to both; the place chose the key), and verify of that place
    passed with the disk's run gone unsaid. Only the runs, and the other copies read tonight, may tell the id."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        archive_ok(store)
        own = archive_ok(store, "--to", b)["run_id"]
        archive_ok(store)
        key = json.loads((a / "coffre-medium.json").read_text())["coffre_medium"]
        (b / "coffre-medium.json").unlink()
        shutil.rmtree(b / store.store_id / own)
        a.rename(a.with_name("usb-A-away"))
        b.rename(a)
        res = store.coffre("archive", "--yes", "--json", "--to", a)
        assert "was missing" not in res.out, res
        assert json.loads((a / "coffre-medium.json").read_text())["coffre_medium"] != key
        res = store.coffre("verify", "--from", a)
        assert res.code == 1 and own in res.err, res


def test_an_id_file_is_written_back_only_with_a_run_that_records_the_finding(tmp_path, monkeypatch):
    """Found by review (helper 14): the id went back while the copies were being prepared, and the finding was said
    with the run; a run that then failed or was killed left the file back and the finding heard by no one. It is
    written once tonight's run is signed there, just before the record that keeps the finding."""
    from pipeline import archive as archive_module
    from pipeline import config
    from pipeline.errors import CannotRun

    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        archive_ok(store)
        archive_ok(store, "--to", a)
        (a / "coffre-medium.json").unlink()

        def the_source_fails(*args, **kwargs):
            raise CannotRun("the till's database cannot be read (invented for this test)")

        monkeypatch.setattr(archive_module, "_write", the_source_fails)
        with pytest.raises(CannotRun):
            archive_module.run_archive(config.load(store.config), [str(a), str(b)], say=lambda m: None)
        monkeypatch.undo()
        assert not (a / "coffre-medium.json").exists()
        res = store.coffre("archive", "--yes", "--json")
        assert res.code == 5 and "coffre-medium.json was missing on" in res.out, res
        assert (a / "coffre-medium.json").exists()


def _no_id_file_on(monkeypatch, *folders):
    """The id file cannot be written at the root of `folders` (keys whose root is read-only), in this process."""
    import errno

    from pipeline.destinations.local import LocalDestination
    from pipeline.destinations.places import normalised

    real = LocalDestination.create_root_file

    def refused(self, name, data):
        if self.normalised() in {normalised(str(f)) for f in folders}:
            raise OSError(errno.EROFS, "Read-only file system")
        return real(self, name, data)

    monkeypatch.setattr(LocalDestination, "create_root_file", refused)


def _archive_here(store, *specs) -> tuple[str, list[str]]:
    """An archive in this process (for a monkeypatch to reach it): (run id, what it said)."""
    from pipeline import archive as archive_module
    from pipeline import config

    said: list[str] = []
    result = archive_module.run_archive(config.load(store.config), [str(s) for s in specs] or
                                        [str(d) for d in store.destinations], say=said.append)
    return result.run_id, said


def test_a_run_written_before_its_copy_could_be_given_an_id_is_held_to_that_copy_once_it_has_one(tmp_path, monkeypatch):
    """Left by the last note (helper 13, by reading): the id file could not be written the evening a copy got its first
    run, so that run was recorded without the copy's medium; the next evening gave the copy an id, after which every
    verify said the run was "copied here by hand" (exit 1). The run is now recorded under the id the copy was to get,
    which the next archive that finds that run there writes; a deletion of it still shows. Found by review (helper
    116) in a first version that held such runs to the place: a new key put there instead was blamed for them."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        _no_id_file_on(monkeypatch, a)
        first, said = _archive_here(store)
        monkeypatch.undo()
        assert not (a / "coffre-medium.json").exists() and any("could not be given an id" in s for s in said), said
        res = store.coffre("verify")  # before it has its file: neither deleted nor another medium's
        assert res.code == 0 and "deleted" not in res.err and "by hand" not in res.err, res
        res = store.coffre("archive", "--yes", "--json", "--to", str(a))  # B away: its runs cannot tell A from B
        assert res.code == 0 and "is not written yet" in res.err, res
        assert not (a / "coffre-medium.json").exists()
        assert store.coffre("verify").code == 0
        res = store.coffre("archive", "--yes", "--json")
        assert res.code == 0 and "is written now" in res.err, res
        record = json.loads((store.state_dir / f"{store.store_id}.history.json").read_text())
        media = next(r["media"] for r in record["runs"] if r["run_id"] == first)
        assert json.loads((a / "coffre-medium.json").read_text())["coffre_medium"] in media, media
        assert (a / "coffre-medium.json").read_text() != (b / "coffre-medium.json").read_text()
        res = store.coffre("verify")
        assert res.code == 0 and "by hand" not in res.err, res
        res = store.coffre("list", "--from", str(a))
        assert first in res.out and "not in this machine's record" not in res.out, res
        shutil.rmtree(a / store.store_id / first)
        res = store.coffre("verify", "--from", str(a))
        assert res.code == 1 and first in res.err, res


def test_a_new_key_in_place_of_one_that_could_not_be_given_an_id_is_not_blamed_for_its_runs(tmp_path, monkeypatch):
    """Found by review (helper 116): key A could not take its id file with its first run; a new key put in its place
    was then held to that run forever ("deleted?", exit 1 at every verify). The new key gets an id of its own, hears
    what it lacks, and verifies; key A, back, gets the id its run was recorded under."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        _no_id_file_on(monkeypatch, a)
        first, _ = _archive_here(store)
        monkeypatch.undo()
        key_a = a.with_name("key-A")
        os.rename(a, key_a)
        a.mkdir()
        res = store.coffre("archive", "--yes", "--json")
        assert res.code == 0, res
        (said,) = [w for w in json.loads(res.out)["warnings"] if "taken for a new medium" in w]
        assert "1 run written to the medium last seen there" in said and first in said, said
        assert store.coffre("verify").code == 0
        os.rename(a, a.with_name("key-C"))
        os.rename(key_a, a)
        res = store.coffre("archive", "--yes", "--json")
        assert res.code == 0 and "is written now" in res.err, res
        assert store.coffre("verify", "--from", str(a)).code == 0


def test_a_copy_emptied_with_its_id_file_is_said_to_lack_its_runs_even_when_no_id_can_be_written(tmp_path,
                                                                                                 monkeypatch):
    """Found by review (helper 116): the warning waited for the new id file, so a copy emptied with its id file, whose
    new one could not be written that evening, was never said to lack its runs."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        runs = [archive_ok(store)["run_id"] for _ in range(2)]
        shutil.rmtree(a / store.store_id)
        (a / "coffre-medium.json").unlink()
        _no_id_file_on(monkeypatch, a)
        _, said = _archive_here(store)
        monkeypatch.undo()
        (warning,) = [w for w in said if "taken for a new medium" in w]
        assert "2 runs written to the medium last seen there" in warning and runs[-1] in warning, warning
        assert any("could not be given an id" in w for w in said), said


def test_a_copy_emptied_with_its_id_file_gets_an_id_of_its_own_and_the_runs_it_lacks_are_said(tmp_path):
    """Left by the last note (helper 12): a copy emptied of every run, its id file deleted, was taken for a new key in
    silence, and no verify after said its runs were gone. Nothing on it tells it from a new key put in its place, so it
    still gets an id of its own, and the archive says how many runs of the medium there before it lacks, once; a new
    key taking its first turn at a mount point hears the same."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        runs = [archive_ok(store)["run_id"] for _ in range(2)]
        shutil.rmtree(a / store.store_id)
        (a / "coffre-medium.json").unlink()
        res = store.coffre("archive", "--yes", "--json", env={"COFFRE_LANG": "en"})
        assert res.code == 0, res
        (said,) = [w for w in json.loads(res.out)["warnings"] if "taken for a new medium" in w]
        assert f"{a} has no coffre-medium.json" in said and "2 runs written to the medium last seen there" in said, said
        assert runs[-1] in said, said
        assert not [w for w in archive_ok(store)["warnings"] if "taken for a new medium" in w]  # said once
        assert store.coffre("verify").code == 0
        key2 = a.with_name("key-2")
        os.rename(a, a.with_name("key-1"))
        key2.mkdir()
        os.rename(key2, a)
        res = store.coffre("archive", "--yes", "--json", env={"COFFRE_LANG": "fr"})
        assert res.code == 0, res
        (dit,) = [w for w in json.loads(res.out)["warnings"] if "nouveau support" in w]
        assert dit.startswith("Avertissement") and "2 sauvegardes écrites" in dit, dit


def test_another_disk_at_the_place_of_a_copy_whose_id_is_still_to_be_written_is_not_given_that_id(tmp_path,
                                                                                                     monkeypatch):
    """Found by review (helper 117): the id a key was to get, still unwritten, was written onto disk B put at the key's
    mount point (its id file and a run of its own deleted), since B holds the runs that went to both: the id was
    taken from the place, not from the runs alone. It waits now until the runs tell the copies apart."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        for evening in range(2):
            _no_id_file_on(monkeypatch, a)
            _archive_here(store)
            monkeypatch.undo()
            if not evening:
                own = archive_ok(store, "--to", b)["run_id"]
        (b / "coffre-medium.json").unlink()
        shutil.rmtree(b / store.store_id / own)
        a.rename(a.with_name("usb-A-away"))
        b.rename(a)
        res = store.coffre("archive", "--yes", "--json", "--to", str(a))
        assert res.code == 0 and "is not written yet" in res.err, res
        assert not (a / "coffre-medium.json").exists()
        assert store.coffre("verify").code != 0  # disk B is not at its place


def test_prune_keeps_the_newest_run_verified_intact_on_a_copy_whose_id_is_still_to_be_written(tmp_path, monkeypatch):
    """Found by review (helper 117): verify filed what it read on such a copy under the id it was to get, prune looked
    it up under the copy's folder, and the newest run verified intact there was pruned from it."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        _no_id_file_on(monkeypatch, a)
        _archive_here(store)
        monkeypatch.undo()
        assert store.coffre("verify").code == 0
        _no_id_file_on(monkeypatch, a)
        _archive_here(store)
        _archive_here(store)
        monkeypatch.undo()
        with store.config.open("a") as f:
            f.write("\n[retention]\nkeep_last = 1\nkeep_daily = 1\nkeep_weekly = 0\nkeep_monthly = 0\n")
        res = store.coffre("prune", "--json")
        assert res.code == 0, res
        (on_a, on_b) = json.loads(res.out)["copies"]
        assert on_a["kept"] == on_b["kept"], (on_a, on_b)
        assert store.coffre("verify").code == 0


def test_two_copies_whose_id_files_both_failed_one_evening_get_them_the_next(tmp_path, monkeypatch):
    """Found by review (helper 118): each copy's runs went to both ids still to be written, each copy was taken as
    possibly the other, and neither id was ever written ("not written yet" every evening, though both were reached)."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        _no_id_file_on(monkeypatch, a, b)
        _archive_here(store)
        monkeypatch.undo()
        res = store.coffre("archive", "--yes", "--json")
        assert res.code == 0 and res.err.count("is written now") == 2 and "not written yet" not in res.err, res
        assert (a / "coffre-medium.json").read_text() != (b / "coffre-medium.json").read_text()
        record = json.loads((store.state_dir / f"{store.store_id}.history.json").read_text())
        assert not any(p.get("media_unwritten") for p in record["destinations"].values()), record["destinations"]
        assert store.coffre("verify").code == 0



def test_disks_swapped_between_two_folders_whose_ids_are_still_to_be_written_get_none_of_them(tmp_path, monkeypatch):
    """Found by review (helper 119): an id another copy awaits was ruled out as a candidate on the word of that copy's
    place alone; with the two disks swapped between the folders, disk B got A's id. Such an id is ruled out only where
    every run the disk there holds went to it, and taken only by a disk that holds every run recorded under it."""
    def medium_of(folder):
        f = folder / "coffre-medium.json"
        return json.loads(f.read_text())["coffre_medium"] if f.exists() else None

    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        _no_id_file_on(monkeypatch, a, b)
        _archive_here(store)
        monkeypatch.undo()
        res = store.coffre("archive", "--yes", "--json", "--to", str(a))  # B away: A's id waits
        assert res.code == 0 and "not written yet" in res.err, res
        record = json.loads((store.state_dir / f"{store.store_id}.history.json").read_text())
        id_a = next(iter(next(r["media"] for r in record["runs"] if r["run_id"] == json.loads(res.out)["run_id"])))

        def swap():
            a.rename(a.with_name("swapping"))
            b.rename(a)
            a.with_name("swapping").rename(b)

        swap()
        assert store.coffre("archive", "--yes", "--json").code == 0
        assert medium_of(a) != id_a  # disk B, which lacks A's own run
        swap()
        res = store.coffre("archive", "--yes", "--json")
        assert res.code == 0, res
        assert medium_of(b) != id_a and (medium_of(a) in (None, id_a))  # no disk carries the other's id


def test_a_disk_swapped_in_that_lacks_a_run_of_the_id_awaited_there_never_gets_that_id(tmp_path, monkeypatch):
    """Found by review (helper 120): after both ids failed and a run went to A alone, disk B swapped to A's folder
    waited on A's id (its one run went to it too), had tonight's run recorded under it, and got it written the
    evening after, though it lacks A's own run. An id never written is now taken only by a disk that holds every run
    recorded under it."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=4) as store:
        a, b = store.destinations
        _no_id_file_on(monkeypatch, a, b)
        _archive_here(store)
        monkeypatch.undo()
        res = store.coffre("archive", "--yes", "--json", "--to", str(a))
        assert res.code == 0, res
        record = json.loads((store.state_dir / f"{store.store_id}.history.json").read_text())
        (id_a,) = next(r["media"] for r in record["runs"] if r["run_id"] == json.loads(res.out)["run_id"])
        a.rename(a.with_name("swapping"))
        b.rename(a)
        a.with_name("swapping").rename(b)
        for _ in range(2):
            res = store.coffre("archive", "--yes", "--json", "--to", str(a))
            assert res.code == 0, res
        on_a = a / "coffre-medium.json"
        assert not on_a.exists() or json.loads(on_a.read_text())["coffre_medium"] != id_a
