"""Found by review: one medium given twice, spelt two ways (item 3: destinations by identity, not spelling).
(1) `archive --to A --to A/`: both writers race on one folder, both fail ("cannot create the run folder (File
    exists)" / "cannot create snapshot.sqlite.zst.age (No such file or directory)"): exit 3, no run written.
(2) a config listing the medium a second time through a symlink: the same race every night, exit 4, the copy on A
    never written, and verify says both "copies" intact with no word of one medium listed twice.
(3) `init --to A --to A/` is accepted; archive then prints "OK A" twice and "Every copy was written": one medium
    presented as two copies.
Expected: one medium is one copy whatever its spelling: written once and said once (or refused with exit 2 naming
the two spellings)."""

import json
import os

from conftest import run_coffre

from .helpers import archive_ok, make_sample_db, no_traceback, other_device_dir, two_copy_store


def test_archive_to_one_medium_spelt_twice_writes_it_once(tmp_path):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=6) as store:
        a, b = store.destinations
        archive_ok(store)
        res = store.coffre("archive", "--yes", "--to", a, "--to", f"{a}/")
        no_traceback(res)
        assert res.code in (0, 2), res  # before the fix: exit 3, "No copy could be written"


def test_a_config_listing_one_medium_twice_through_a_symlink_is_not_two_failing_copies(tmp_path):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=6) as store:
        a, b = store.destinations
        link = tmp_path / "link-to-A"
        os.symlink(a, link)
        store.edit_config(lambda doc: doc.__setitem__("destinations", [str(a), str(b), str(link)]))
        res = store.coffre("archive", "--yes", "--json")
        no_traceback(res)
        assert res.code != 4, res  # before the fix: exit 4, A FAILED (File exists / No such file or directory)


def test_init_with_one_medium_twice_does_not_make_two_copies(tmp_path):
    db = make_sample_db(tmp_path / "shop" / "caisse.db", days=1, tickets_per_day=20, seed=6)
    with other_device_dir(tmp_path) as dev:
        a = dev / "usb-A"
        a.mkdir()
        res = run_coffre("init", "--config", tmp_path / "etc" / "c.toml", "--source", f"sqlite:{db}", "--i-know", "--identity-out",
                         tmp_path / "off" / "id.txt", "--to", a, "--to", f"{a}/")
        if res.code == 2:
            return  # refused: fine
        res = run_coffre("archive", "--config", tmp_path / "etc" / "c.toml", "--yes", "--json")
        copies = json.loads(res.out)["copies"]
        assert len(copies) == 1, copies  # before the fix: two "OK" copies, both /dev/shm/.../usb-A
