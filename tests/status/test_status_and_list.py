"""status and list as a person and a probe read them: roles, presence, room, checks, copy policy, runs per copy, `latest`."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from conftest import run_coffre
from reliability.helpers import (init_store, make_sample_db, no_traceback, one_sentence_error, other_device_dir,
                                rclone_webdav)

NO_OFF_SITE = "no destination is marked off-site"


@pytest.fixture(scope="module")
def shop_db(tmp_path_factory) -> Path:
    return make_sample_db(tmp_path_factory.mktemp("status") / "template" / "caisse.db", days=2, tickets_per_day=60,
                          seed=3)


@contextlib.contextmanager
def two_copies(tmp_path: Path, shop_db: Path, names=("usb-A", "disk-B")):
    """A store made by `coffre init` on its own copy of the shop, with two folders on another device."""
    db = tmp_path / "shop" / "caisse.db"
    db.parent.mkdir()
    shutil.copy(shop_db, db)
    with other_device_dir(tmp_path) as dev:
        dests = [dev / n for n in names]
        for d in dests:
            d.mkdir()
        yield init_store(tmp_path, db, dests)


def archived(store, code: int = 0) -> dict:
    res = store.coffre("archive", "--yes", "--json")
    no_traceback(res)
    assert res.code == code, res
    return json.loads(res.out)


def status(store, code: int, *args, env=None) -> dict:
    res = store.coffre("status", "--json", *args, env=env)
    no_traceback(res)
    assert res.code == code, res
    return json.loads(res.out)


def entries(st: dict) -> dict:
    return {d["destination"]: d for d in st["destinations"]}


def mark_off_site(store, dest: Path, role: str = "off-site") -> None:
    """`destinations` in its table form: the first copy a plain path, `dest` a table with its role."""
    store.edit_config(lambda doc: doc.__setitem__(
        "destinations", [{"to": str(d), "role": role} if d == dest else str(d) for d in store.destinations]))


def run_bytes_on_disk(run: Path) -> int:
    """A run's files, and (format 2) the blocks its lists name: the most the run can have written to the copy."""
    blocks = {line.rsplit("/", 1)[1] for lst in run.glob("*.blocks") for line in lst.read_text().splitlines()}
    shared = run.parent / "blocks"
    return sum(p.stat().st_size for p in run.iterdir()) + sum((shared / b[:2] / b).stat().st_size for b in blocks)


# --- status ------------------------------------------------------------------------------------------------------

def test_status_says_per_copy_role_room_runs_held_last_verify_and_drill_and_the_off_site_warning_is_no_problem(
        tmp_path, shop_db):
    with two_copies(tmp_path, shop_db) as store:
        a, b = store.destinations
        runs = [archived(store)["run_id"] for _ in range(2)]
        assert store.coffre("verify").code == 0
        drill = store.coffre("drill", "--identity", store.identity)
        assert drill.code == 0, drill
        st = status(store, 0)
        assert st["problems"] == [] and st["ok"] is True, st
        assert any(NO_OFF_SITE in w and w.startswith("copy policy: ") for w in st["warnings"]), st["warnings"]
        for dest in (a, b):
            e = entries(st)[str(dest)]
            assert e["role"] == "on-site"
            assert e["present"] is True and e["absent_because"] is None and e["days_since_present"] == 0, e
            vfs = os.statvfs(dest)
            assert abs(e["free_bytes"] - vfs.f_bavail * vfs.f_frsize) < 64 * 2**20, e
            assert e["runs_held"] == 2 and e["last_run_written"] == runs[-1], e
            on_disk = sum(run_bytes_on_disk(r) for r in store.run_dirs(dest))  # shared blocks counted in each
            assert 0 < e["bytes_held"] <= on_disk, (e, on_disk)
            assert e["last_verify"]["ok"] is True and e["last_drill"]["ok"] is True, e
            assert e["last_drill"]["run_id"] == runs[-1], e
            assert e["evenings_left"] is not None and e["evenings_left"] > 1000, e
        res = store.coffre("status")
        assert res.code == 0, res
        for text in (f"{a} (on-site):", f"{b} (on-site):", "2 runs held", "verify ok on ", "drill ok on ",
                     f"warning: copy policy: {NO_OFF_SITE}", "All good."):
            assert text in res.out, (text, res)
        assert "!" not in res.out, res

        # The USB key is gone (its folder renamed away): not there, why, when last seen. Not a problem yet: a key
        # taken home is normal; the next archive that misses it is one (the off-site test below).
        a.rename(a.with_name("usb-A-in-a-drawer"))
        st = status(store, 0)
        e = entries(st)[str(a)]
        # Why, in words that follow the copy's name (the entry and the line name it already): named once.
        assert e["present"] is False and e["absent_because"].startswith("missing (is the USB key"), e
        assert str(a) not in e["absent_because"], e
        assert e["days_since_present"] == 0 and e["free_bytes"] is None and e["runs_held"] == 2, e
        assert entries(st)[str(b)]["present"] is True
        res = store.coffre("status")
        assert res.code == 0 and f"    now: {e['absent_because']}; last seen today\n" in res.out, res
        res = store.coffre("status", env={"COFFRE_LANG": "fr"})
        assert "    maintenant : absente (la clé USB" in res.out and "absent maintenant" not in res.out, res.out


def test_destinations_in_table_form_give_each_copy_its_role_and_a_wrong_role_is_one_sentence_exit_2(tmp_path, shop_db):
    with two_copies(tmp_path, shop_db, names=("usb-A", "cloud-B")) as store:
        a, b = store.destinations
        mark_off_site(store, b)
        assert 'role = "off-site"' in store.config.read_text()
        st = status(store, 1, "--no-look")  # no run yet: a problem; the roles are what is tested
        assert [(e["destination"], e["role"]) for e in st["destinations"]] == [(str(a), "on-site"), (str(b), "off-site")]
        assert not any(NO_OFF_SITE in w for w in st["warnings"]), st["warnings"]
        # An rclone remote is off-site unless the config says otherwise; a folder on-site.
        store.edit_config(lambda doc: doc.__setitem__("destinations", [str(a), "rclone:faraway:coffre"]))
        st = status(store, 1, "--no-look")
        assert [e["role"] for e in st["destinations"]] == ["on-site", "off-site"], st
        store.edit_config(lambda doc: doc.__setitem__(
            "destinations", [str(a), {"to": "rclone:nearby:coffre", "role": "on-site"}]))
        st = status(store, 1, "--no-look")
        assert [e["role"] for e in st["destinations"]] == ["on-site", "on-site"], st
        assert any(NO_OFF_SITE in w for w in st["warnings"]), st["warnings"]

        mark_off_site(store, b, role="off-side")
        for command in (("status",), ("archive", "--yes"), ("list",)):
            one_sentence_error(store.coffre(*command), 2, str(b), "off-site", "'off-side'")


def test_an_off_site_copy_missing_two_evenings_is_exit_4_a_copy_policy_warning_and_a_problem_counting_evenings(
        tmp_path, shop_db):
    with two_copies(tmp_path, shop_db, names=("usb-A", "offsite-B")) as store:
        a, b = store.destinations
        mark_off_site(store, b)
        archived(store)
        assert store.coffre("drill", "--identity", store.identity).code == 0
        st = status(store, 0)
        assert st["warnings"] == [] and st["problems"] == [], st

        b.rename(b.with_name("offsite-B-at-the-bank"))
        # Both archives run this evening: two runs missed, one evening without the off-site copy.
        for evening, what in ((1, "the last run"), (2, "the 2 runs of the last 1 evening")):
            res = store.coffre("archive", "--yes")
            no_traceback(res)
            assert res.code == 4, res
            policy = [line for line in res.err.splitlines() if line.startswith("Warning: copy policy")]
            assert any(f"the off-site copy {b} did not get {what}." in line for line in policy), (evening, res.err)
            assert any("no off-site copy" in line for line in policy), res.err
            st = status(store, 1)
            assert f"copy policy: the off-site copy {b} did not get {what}" in st["problems"], st["problems"]
            assert entries(st)[str(b)]["present"] is False
        assert not any(str(a) in p for p in st["problems"]), st["problems"]


def test_an_rclone_copy_is_off_site_unless_the_config_says_otherwise_and_meets_the_copy_policy(tmp_path, shop_db):
    served = tmp_path / "served"
    (served / "coffre").mkdir(parents=True)
    with two_copies(tmp_path, shop_db, names=("usb-A",)) as store, rclone_webdav(served) as (_, env):
        (a,) = store.destinations
        remote = "rclone:coffretest:coffre"
        store.edit_config(lambda doc: doc.__setitem__("destinations", [str(a), remote]))
        res = store.coffre("archive", "--yes", env=env)
        assert res.code == 0 and "copy policy" not in res.err, res
        assert store.coffre("drill", "--identity", store.identity, env=env).code == 0
        st = status(store, 0, env=env)
        assert st["warnings"] == [] and st["problems"] == [], st
        e = entries(st)[remote]
        assert (e["role"], e["present"], e["runs_held"]) == ("off-site", True, 1), e


def test_a_destination_misspelt_in_the_config_is_a_copy_that_missed_the_last_run_not_a_status_that_stops(
        tmp_path, shop_db):
    """Found by review (helper 12): the copy policy's grouping of one folder's names opened every destination, and
    status stopped on "rclone:nas" (no path) with a usage error, where it had said that copy missed the last run."""
    with two_copies(tmp_path, shop_db) as store:
        a, _b = store.destinations
        assert store.coffre("archive", "--yes").code == 0
        store.edit_config(lambda doc: doc.__setitem__("destinations", [str(a), "rclone:nas"]))
        res = store.coffre("status", "--json", "--no-look")
        assert res.code == 1, res
        said = json.loads(res.out)["problems"]
        assert any("rclone:nas did not get the last run" in p for p in said), said


# --- list -----------------------------------------------------------------------------------------------------------

def test_list_shows_each_copys_runs_then_a_run_deleted_by_hand_then_what_retention_removed(tmp_path, shop_db):
    with two_copies(tmp_path, shop_db) as store:
        a, b = store.destinations
        outs = [archived(store) for _ in range(3)]
        runs = [o["run_id"] for o in outs]
        assert store.coffre("verify").code == 0
        assert store.coffre("drill", "--identity", store.identity).code == 0
        res = store.coffre("list", "--json")
        assert res.code == 0, res
        copies = json.loads(res.out)["copies"]
        assert [c["destination"] for c in copies] == [str(a), str(b)]
        for c in copies:
            assert c["role"] == "on-site" and c["reached"] is True, c
            assert [r["run_id"] for r in c["runs"]] == runs, c
            for r, dest_run in zip(c["runs"], store.run_dirs(Path(c["destination"]))):
                assert r["state"] == "held" and r["findings"] == 0, r
                assert 0 < r["bytes"] <= run_bytes_on_disk(dest_run), (r, dest_run)
                assert r["verified"] and r["verified"][:4].isdigit(), r
                assert "last" in r["kept_because"], r
            # The drill restores the newest run of each copy: that one, and only that one, is drilled.
            assert [bool(r["drilled"]) for r in c["runs"]] == [False, False, True], c
        res = store.coffre("list")
        assert res.code == 0, res
        for run_id in runs:
            assert res.out.count(run_id) == 2, res
        assert f"{a} (on-site): 3 runs" in res.out and "kept: last" in res.out and "drilled " in res.out, res

        # A run deleted by hand from one copy: exit 1, marked on that copy only.
        gone = store.run_dir(a, runs[1])
        aside = tmp_path / "aside"
        shutil.copytree(gone, aside)
        shutil.rmtree(gone)
        res = store.coffre("list", "--json")
        assert res.code == 1, res
        states = {c["destination"]: [r["state"] for r in c["runs"]] for c in json.loads(res.out)["copies"]}
        assert states == {str(a): ["held", "MISSING from the copy", "held"], str(b): ["held"] * 3}, states
        res = store.coffre("list")
        assert res.code == 1, res
        (line,) = [line for line in res.out.splitlines() if runs[1] in line and "MISSING" in line]
        assert "[MISSING from the copy]" in line, res
        shutil.copytree(aside, gone)
        assert store.coffre("list").code == 0

        # Retention keeps the last run only: the others show as removed in JSON, and not in the listing.
        with store.config.open("a") as f:
            f.write("\n[retention]\nkeep_last = 1\nkeep_daily = 1\nkeep_weekly = 0\nkeep_monthly = 0\n")
        res = store.coffre("prune", "--i-know")
        no_traceback(res)
        assert res.code == 0, res
        res = store.coffre("list", "--json")
        assert res.code == 0, res
        for c in json.loads(res.out)["copies"]:
            assert [(r["run_id"], r["state"]) for r in c["runs"]] == [
                (runs[0], "removed by retention"), (runs[1], "removed by retention"), (runs[2], "held")], c
            assert set(c["runs"][2]["kept_because"]) >= {"last", "daily"}, c
        assert [p.name for p in store.run_dirs(a) if p.name[0].isdigit()] == [runs[2]]
        res = store.coffre("list")
        assert res.code == 0, res
        assert runs[0] not in res.out and runs[1] not in res.out and res.out.count(runs[2]) == 2, res
        assert f"{a} (on-site): 1 run" in res.out, res
        newest_bytes = json.loads(store.coffre("list", "--json").out)["copies"][0]["runs"][2]["bytes"]
        st = status(store, 0)
        # The one run held wrote only its evening's blocks; it needs the first run's too, which stay (format 2): the
        # copy holds more than that run wrote, about what is on it (the record does not know of the run deleted by hand).
        for e, dest in zip(st["destinations"], (a, b)):
            on_disk = sum(p.stat().st_size for p in (dest / store.store_id).rglob("*") if p.is_file()
                          and "removals" not in p.parts)
            assert e["runs_held"] == 1 and newest_bytes < e["bytes_held"], (e, newest_bytes)
            assert abs(e["bytes_held"] - on_disk) <= on_disk // 4, (e, on_disk)


# --- latest ---------------------------------------------------------------------------------------------------------

def add_a_product(db: Path) -> int:
    """One more product in the till (not a fiscal record: no chain to break); returns the products now there."""
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("INSERT INTO products (sku, label, unit_price_cents, vat_rate_bp, category) "
                     "VALUES ('3700000000017', 'Confiture 370 g', 450, 550, 'epicerie')")
        return conn.execute("SELECT count(*) FROM products").fetchone()[0]


def test_latest_names_the_newest_run_for_verify_restore_and_journals_export(tmp_path, shop_db):
    with two_copies(tmp_path, shop_db) as store:
        first = archived(store)["run_id"]
        products = add_a_product(store.db)
        newest = archived(store)["run_id"]
        assert newest > first

        res = store.coffre("verify", "--run", "latest", "--json")
        assert res.code == 0, res
        copies = json.loads(res.out)["copies"]
        assert [[r["run_id"] for r in c["runs"]] for c in copies] == [[newest], [newest]], copies
        # LATEST in capitals is the same word.
        res = store.coffre("verify", "--run", "LATEST", "--json")
        assert res.code == 0 and [r["run_id"] for r in json.loads(res.out)["copies"][0]["runs"]] == [newest], res

        out = tmp_path / "restored"
        res = store.coffre("restore", "--run", "latest", "--identity", store.identity, "--out", out)
        assert res.code == 0, res
        assert f"Restored run {newest} " in res.err + res.out, res
        with contextlib.closing(sqlite3.connect(out / "snapshot.sqlite")) as conn:
            assert conn.execute("SELECT count(*) FROM products").fetchone()[0] == products

        journals = tmp_path / "journals"
        res = run_coffre("journals", "export", "--config", store.config, "--run", "latest", "--identity",
                         store.identity, "--out", journals, "--json")
        no_traceback(res)
        assert res.code == 0, res
        summary = json.loads(res.out)
        assert Path(summary["out"]).is_dir() and summary["records"], summary
        export = json.loads((Path(summary["out"]) / "export.json").read_text())
        assert export["run_id"] == newest and export["records"] == summary["records"], export

        # A copy that missed the last run: `latest` is the newest run each copy holds.
        a, b = store.destinations
        b.rename(b.with_name("disk-B-unplugged"))
        last = archived(store, code=4)["run_id"]
        b.with_name("disk-B-unplugged").rename(b)
        res = store.coffre("verify", "--run", "latest", "--json")
        assert res.code == 0, res
        copies = json.loads(res.out)["copies"]
        assert [[r["run_id"] for r in c["runs"]] for c in copies] == [[last], [newest]], copies


def test_a_run_named_wrongly_is_a_usage_error_and_latest_of_an_empty_copy_says_it_holds_none(store, tmp_path):
    res = run_coffre("verify", "--config", store.config, "--run", "../../etc")
    assert res.code == 2 and "is not a run id" in res.err and "Traceback" not in res.err, res
    empty = tmp_path / "empty-key"
    empty.mkdir()
    res = run_coffre("verify", "--config", store.config, "--from", empty, "--run", "latest")
    assert res.code == 1 and "this copy holds no run of this store" in res.err, res
