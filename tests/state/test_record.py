"""The machine's record: changed under a lock by commands running at once, never replaced when it cannot be read,
and a chain of runs that forks is named."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from conftest import run_coffre

from reliability.helpers import archive_ok, b3_of, one_sentence_error, two_copy_store


def history_of(store) -> dict:
    return json.loads((store.state_dir / f"{store.store_id}.history.json").read_text())


def test_an_unreadable_record_stops_every_command_and_is_never_replaced(tmp_path):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        archive_ok(store)
        archive_ok(store)
        path = store.state_dir / f"{store.store_id}.history.json"
        damaged = path.read_bytes()[: len(path.read_bytes()) // 2]  # a half-written file, as a full disk leaves it
        path.write_bytes(damaged)
        before = b3_of(path)
        for args in (("archive", "--yes"), ("verify",), ("status",), ("drill", *store.identity_args())):
            res = store.coffre(*args)
            line = one_sentence_error(res, 3, str(path), "rebuild-record")
            assert "cannot be read" in line
            assert b3_of(path) == before, args  # not replaced, not even rewritten
        # A restore still works the day the record is lost with the till: it says what it cannot tell.
        res = store.coffre("restore", *store.identity_args(), "--out", tmp_path / "restored")
        assert res.code == 0, res
        assert "record cannot be read" in res.err
        # The way out: the unreadable file kept aside, byte for byte, and a record rebuilt from the copies.
        res = store.coffre("rebuild-record")
        assert res.code == 0, res
        (aside,) = store.state_dir.glob(f"{store.store_id}.history.json.unreadable-*")
        assert aside.read_bytes() == damaged
        rebuilt = history_of(store)
        assert [r["run_id"] for r in rebuilt["runs"]] == [p.name for p in store.run_dirs(store.destinations[0])]
        assert all(sorted(r["written"]) == sorted(map(str, store.destinations)) for r in rebuilt["runs"])
        res = store.coffre("rebuild-record")  # a readable record is never thrown away
        assert res.code == 2 and "nothing to rebuild" in res.err, res
        # The next run follows the newest run the copies hold: one chain, which verify holds to the new record.
        summary = archive_ok(store)
        assert summary["attention"] == []
        res = store.coffre("verify")
        assert res.code == 0, res
        # A run deleted from a copy after the rebuild is still found.
        shutil.rmtree(store.run_dir(store.destinations[1], rebuilt["runs"][0]["run_id"]))
        res = store.coffre("verify")
        assert res.code == 1 and rebuilt["runs"][0]["run_id"] in res.err, res


def test_a_record_of_another_shape_is_unreadable_too(tmp_path):
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        archive_ok(store)
        path = store.state_dir / f"{store.store_id}.history.json"
        for shape in (b"[]", b'{"runs": {"a": 1}}', b'{"runs": [{"no": "run id"}]}', b"\xff\xfe not utf-8"):
            path.write_bytes(shape)
            res = store.coffre("verify")
            one_sentence_error(res, 3, "rebuild-record")
            assert path.read_bytes() == shape


def test_a_run_signed_but_not_recorded_is_taken_as_the_next_runs_parent(tmp_path):
    """An archive killed between its signature and the record's save: the next run records it and follows it, so
    the chain stays one line (no fork, no run the record does not know)."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        archive_ok(store)
        lost = archive_ok(store)["run_id"]
        path = store.state_dir / f"{store.store_id}.history.json"
        record = json.loads(path.read_text())
        record["runs"] = [r for r in record["runs"] if r["run_id"] != lost]
        path.write_text(json.dumps(record))
        res = store.coffre("archive", "--yes", "--json")
        assert res.code == 0 and lost in res.err and "recorded now" in res.err, res
        new = json.loads(res.out)["run_id"]
        manifest = json.loads((store.run_dir(store.destinations[0], new) / "manifest.json").read_text())
        assert manifest["previous_run"]["run_id"] == lost
        assert [r["run_id"] for r in history_of(store)["runs"]][-2:] == [lost, new]
        assert store.coffre("verify").code == 0


def test_two_runs_that_follow_the_same_run_are_a_fork(tmp_path):
    """Two machines archiving one store (or a record restored from an older backup of the till): their runs both
    name the same previous run. Each copy's chain looked whole; the fork is named where one copy holds both."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        a, b = store.destinations
        archive_ok(store)
        twin_state = tmp_path / "twin-state"
        shutil.copytree(store.state_dir, twin_state)
        first = archive_ok(store, "--to", a)["run_id"]
        # The twin machine: the same config and keys, the state as it was before `first`.
        twin = tmp_path / "etc" / "twin.toml"

        def edit(doc):
            doc["state"]["dir"] = str(twin_state)

        original = store.config.read_text()
        store.edit_config(edit)
        twin.write_text(store.config.read_text())
        store.config.write_text(original)
        res = run_coffre("archive", "--config", twin, "--yes", "--to", b, "--json")
        assert res.code == 0, res
        second = json.loads(res.out)["run_id"]
        # Someone gathers the copies in one place.
        shutil.copytree(store.run_dir(b, second), store.run_dir(a, second))
        res = store.coffre("verify", "--from", a)
        assert res.code == 1 and "forks" in res.err and first in res.err and second in res.err, res
        # The twin's next evening on the copy that holds the other branch says so too (exit 5: saved, but look).
        res = run_coffre("archive", "--config", twin, "--yes", "--to", a, "--json")
        assert res.code == 5, res
        assert any("forks" in s and first in s for s in json.loads(res.out)["attention"]), res.out


def _archive_check(**fields) -> dict:
    """What an evening keeps of the damaged blocks it met on a copy, one of its fields of another shape."""
    check = {"kind": "archive", "at": "2026-01-01T00:00:00Z", "run_id": "20260101T000000Z-abcdef",
             "copies": [{"destination": "/x", "ok": False, "whole": False, "problems": ["on /x, block …"]}]}
    if "run_id" in fields:
        check["run_id"] = fields["run_id"]
    else:
        check["copies"][0].update(fields)
    return check


def _record_path(store):
    return store.state_dir / f"{store.store_id}.history.json"


@pytest.mark.parametrize("command, edit", [
    ("status", lambda d: d.update(checks=[None])),
    ("status", lambda d: d["runs"][-1].update(created_at=3)),
    ("status", lambda d: d["runs"][-1].update(failed=True)),
    ("archive", lambda d: d.update(log_carried="x")),
    ("archive", lambda d: d["runs"][-1].update(row_counts=[None])),
    ("archive", lambda d: d["runs"][-1].update(previous=[])),
    ("archive", lambda d: d["runs"][-1].update(manifest_blake3=None)),
    ("archive", lambda d: d["destinations"].update({k: 3 for k in d["destinations"]})),
    ("verify", lambda d: d.update(data_checks={"x": {"r": {"at": 1}}})),
    ("status", lambda d: d.update(checks=[_archive_check(problems=5)])),
    ("status", lambda d: d.update(checks=[_archive_check(problems=[123, None])])),
    ("status", lambda d: d.update(checks=[_archive_check(run_id=5)])),
], ids=["a check not an object", "a date not a string", "failed not a map", "log_carried not a map",
        "row counts not a map", "previous not a run id", "manifest hash missing", "a place not a map",
        "a read date not a string", "a check's problems not a list", "a check's problems not sentences",
        "a check's run id not a string"])
def test_a_record_with_a_malformed_entry_gets_the_way_out_too(tmp_path, command, edit):
    """Found by review: JSON of the right outer shape with one entry of another shape ended in an internal error
    (or, for a run's manifest hash, in a signed manifest its own readers refuse), and rebuild-record then said there
    was nothing to rebuild."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        archive_ok(store)
        doc = json.loads(_record_path(store).read_text())
        edit(doc)
        _record_path(store).write_text(json.dumps(doc))
        res = store.coffre(command, *(["--yes"] if command == "archive" else []))
        one_sentence_error(res, 3, "rebuild-record")
        assert len(store.run_dirs(store.destinations[0])) == 1  # nothing signed from a record of another shape
        res = store.coffre("rebuild-record")
        assert res.code == 0, res
        assert store.coffre("archive", "--yes").code == 0 and store.coffre("verify").code == 0


@pytest.mark.parametrize("kind", ["a symbolic link to a disk not mounted", "a symbolic link loop", "a FIFO", "a folder"])
def test_a_record_that_is_not_a_plain_file_is_unreadable_not_absent(tmp_path, kind):
    """Found by review: a dangling link was taken for "no record" and replaced by a new file; a link loop could not be
    rebuilt; a FIFO hung every command."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        archive_ok(store)
        path = _record_path(store)
        path.unlink()
        if kind.startswith("a symbolic link to"):
            path.symlink_to(tmp_path / "not-mounted" / "history.json")
        elif kind == "a symbolic link loop":
            path.symlink_to(path)
        elif kind == "a FIFO":
            os.mkfifo(path)
        else:
            path.mkdir()
        for args in (("status",), ("verify",), ("archive", "--yes")):
            res = store.coffre(*args, timeout=30)
            one_sentence_error(res, 3, "rebuild-record")
        assert os.path.lexists(path) and not path.is_file()  # not replaced
        res = store.coffre("rebuild-record", timeout=30)
        assert res.code == 0, res
        (aside,) = store.state_dir.glob(f"{store.store_id}.history.json.unreadable-*")
        assert not aside.is_file() or aside.is_symlink()  # kept aside as it was
        assert store.coffre("verify").code == 0


def test_what_an_archive_said_of_damaged_blocks_outlives_the_last_thousand_checks_until_a_whole_verify(tmp_path):
    """Found by review: what an evening said of a copy's damaged blocks rode among the last 1000 verdicts, so a
    nightly verify of one run pushed it out after under three years, and status fell silent on runs that do not
    restore from that copy. It stays until a verify reads that whole copy, and goes then."""
    from pipeline.state.history import KEEP_CHECKS, History, append_check

    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        first = archive_ok(store)["run_id"]
        archive_ok(store)
        a, b = (str(d) for d in store.destinations)
        sentence = "on " + a + ", block blocks/ab/abc is damaged: invented for this test"
        record = History(store.state_dir, store.store_id)

        def partial_verifies(doc: dict, n: int) -> None:
            for i in range(n):
                append_check(doc, {"kind": "verify", "at": "2026-12-07T20:00:00Z", "run_id": None, "copies": [
                    {"destination": d, "medium": None, "ok": True, "whole": False} for d in (a, b)]})

        def said() -> list[str]:
            res = store.coffre("status", "--json", "--no-look")
            return [p for p in json.loads(res.out)["problems"] if "invented for this test" in p]

        with record.update() as doc:
            append_check(doc, {"kind": "archive", "at": "2026-12-07T19:00:00Z", "run_id": first, "copies": [
                {"destination": a, "medium": None, "ok": False, "whole": False, "problems": [sentence]}]})
            partial_verifies(doc, KEEP_CHECKS + 5)
        assert len(history_of(store)["checks"]) == KEEP_CHECKS + 1  # the window, and the archive's words before it
        (line,) = said()
        assert line.startswith(f"the run {first} (") and line.endswith("said until a verify that reads the whole copy passes")
        with record.update() as doc:  # B read whole does not settle what was said of A
            append_check(doc, {"kind": "verify", "at": "2026-12-07T21:00:00Z", "run_id": None, "copies": [
                {"destination": b, "medium": None, "ok": True, "whole": True}]})
            partial_verifies(doc, KEEP_CHECKS)
        assert said()
        with record.update() as doc:  # A out of reach: nothing read, nothing settled
            append_check(doc, {"kind": "verify", "at": "2026-12-07T21:00:00Z", "run_id": None, "copies": [
                {"destination": a, "medium": None, "ok": False, "missing": True}]})
            partial_verifies(doc, KEEP_CHECKS)
        assert said()
        with record.update() as doc:  # A read whole, named as another spelling of its folder: settled all the same
            append_check(doc, {"kind": "verify", "at": "2026-12-07T22:00:00Z", "run_id": None, "copies": [
                {"destination": a + "/", "medium": None, "ok": True, "whole": True}]})
            partial_verifies(doc, KEEP_CHECKS)
        assert not said()
        assert len(history_of(store)["checks"]) == KEEP_CHECKS


def test_what_an_evening_said_of_one_key_stands_through_whole_verifies_of_another_key_at_its_mount_point(tmp_path):
    """Two keys taking turns at one mount point are two media: a whole verify of the one plugged in settles what was
    said of the other only while that other is not seen again (a key replaced). The record keeps the words as long as
    status says them, and drops them once settled, so they never come back."""
    from pipeline.state.history import KEEP_CHECKS, History, append_check

    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        first = archive_ok(store)["run_id"]
        archive_ok(store)
        a = str(store.destinations[0])
        sentence = "on " + a + ", block blocks/ab/abc is damaged: invented for this test"
        record = History(store.state_dir, store.store_id)
        at = iter(f"2026-12-07T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z" for n in range(3600, 86400))

        def verify(medium: str, whole: bool, n: int = 1, missing: bool = False):
            return [{"kind": "verify", "at": next(at), "run_id": None,
                     "copies": [{"destination": a, "medium": medium, "ok": not missing, "whole": whole,
                                 "missing": missing}]} for _ in range(n)]

        def add(*checks) -> None:
            with record.update() as doc:
                for c in checks:
                    append_check(doc, c)

        def said() -> list[str]:
            res = store.coffre("status", "--json", "--no-look")
            return [p for p in json.loads(res.out)["problems"] if "invented for this test" in p]

        add({"kind": "archive", "at": next(at), "run_id": first, "copies": [
            {"destination": a, "medium": "key-1", "ok": False, "whole": False, "problems": [sentence]}]})
        assert said()
        add(*verify("key-2", True))
        assert not said(), "key 1 not seen since key 2 was read whole there: replaced"
        add(*verify("key-1", False, missing=True))  # out of reach: not seen
        assert not said()
        add(*verify("key-1", False))  # key 1 is back: read in part
        assert said()
        add(*verify("key-2", False, KEEP_CHECKS + 5))  # the whole verify of key 2 leaves the window
        assert said() and len(history_of(store)["checks"]) == KEEP_CHECKS + 1
        # Found by review: kept beyond the window, the words were dropped by the whole verify of key 2 that settled
        # them for a while, and never came back once key 1 was in use again.
        add(*verify("key-2", True))
        assert not said() and len(history_of(store)["checks"]) == KEEP_CHECKS + 1
        add(*verify("key-2", False, KEEP_CHECKS))  # that verify leaves the window too: key 1 still not seen
        assert not said() and len(history_of(store)["checks"]) == KEEP_CHECKS + 1
        add(*verify("key-1", False))
        assert said()
        fail = verify("key-1", True)
        fail[0]["copies"][0]["ok"] = False
        add(*fail)  # read whole and failed: said by place as a failed verify, which a pass of key 2 would clear
        assert said()
        add(*verify("key-1", True), *verify("key-2", False, KEEP_CHECKS))
        assert not said() and len(history_of(store)["checks"]) == KEEP_CHECKS



def test_words_on_one_copy_settled_by_its_own_verify_stay_settled_while_the_check_is_kept_for_another(tmp_path):
    """Found by review (helper 117): an evening's check naming two copies was kept past the window whole, for the one
    still unsettled, and the other's words, settled by its own whole verify, came back once that verify left the
    window."""
    from pipeline.state.history import KEEP_CHECKS, History, append_check

    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        first = archive_ok(store)["run_id"]
        archive_ok(store)
        a, b = (str(d) for d in store.destinations)
        record = History(store.state_dir, store.store_id)
        stamps = iter(f"2026-12-07T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z" for n in range(3600, 86400))

        def said() -> set[str]:
            res = store.coffre("status", "--json", "--no-look")
            return {d for p in json.loads(res.out)["problems"] for d in ("copy-A", "copy-B") if f"{d} invented" in p}

        with record.update() as doc:
            append_check(doc, {"kind": "archive", "at": next(stamps), "run_id": first, "copies": [
                {"destination": d, "medium": f"id-{d[-1]}", "ok": False, "whole": False,
                 "problems": [f"block blocks/ab/abc of {name} invented for this test"]}
                for d, name in ((a, "copy-A"), (b, "copy-B"))]})
            append_check(doc, {"kind": "verify", "at": next(stamps), "run_id": None, "copies": [
                {"destination": a, "medium": f"id-{a[-1]}", "ok": True, "whole": True}]})
        assert said() == {"copy-B"}
        with record.update() as doc:
            for _ in range(KEEP_CHECKS + 5):
                append_check(doc, {"kind": "verify", "at": next(stamps), "run_id": None, "copies": [
                    {"destination": b, "medium": f"id-{b[-1]}", "ok": True, "whole": False}]})
        assert said() == {"copy-B"}, "copy A's words came back with the check kept for B's"


def test_two_kept_checks_of_one_key_stay_settled_by_the_other_key_after_its_verify_leaves_the_window(tmp_path):
    """Found by review (helper 118): with two checks of key 1 kept past the window, the later counted as key 1 seen
    after the whole verify of key 2 that settled both (it came before it), and the first came back in status."""
    from pipeline.state.history import KEEP_CHECKS, History, append_check

    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        first = archive_ok(store)["run_id"]
        archive_ok(store)
        a = str(store.destinations[0])
        record = History(store.state_dir, store.store_id)
        stamps = iter(f"2026-12-07T{n // 3600:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z" for n in range(3600, 86400))

        def said() -> list[str]:
            res = store.coffre("status", "--json", "--no-look")
            return [p for p in json.loads(res.out)["problems"] if "invented for this test" in p]

        with record.update() as doc:
            for n in (1, 2):
                append_check(doc, {"kind": "archive", "at": next(stamps), "run_id": first, "copies": [
                    {"destination": a, "medium": "key-1", "ok": False, "whole": False,
                     "problems": [f"block blocks/ab/abc{n} invented for this test"]}]})
            append_check(doc, {"kind": "verify", "at": next(stamps), "run_id": None, "copies": [
                {"destination": a, "medium": "key-2", "ok": True, "whole": True}]})
        assert not said()
        with record.update() as doc:
            for _ in range(KEEP_CHECKS + 2):
                append_check(doc, {"kind": "verify", "at": next(stamps), "run_id": None, "copies": [
                    {"destination": a, "medium": "key-2", "ok": True, "whole": False}]})
        assert not said() and len(history_of(store)["checks"]) == KEEP_CHECKS + 2


def test_status_of_a_folder_says_what_an_evening_found_on_its_medium_elsewhere_beside_a_settled_copy(tmp_path):
    """Found by review (helper 118): status read one copy of an evening's check per folder, the first that was this
    one (by folder or by medium): a settled copy at this folder hid what the same evening found on this folder's
    medium at another place, until the record's trimming dropped the settled one."""
    from pipeline.state.history import History, append_check

    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        first = archive_ok(store)["run_id"]
        archive_ok(store)
        a = str(store.destinations[0])
        here = history_of(store)["destinations"][a]["medium"]
        record = History(store.state_dir, store.store_id)
        with record.update() as doc:
            append_check(doc, {"kind": "archive", "at": "2026-12-07T19:00:00Z", "run_id": first, "copies": [
                {"destination": a, "medium": "key-3", "ok": False, "whole": False, "problems": ["settled there"]},
                {"destination": str(tmp_path / "elsewhere"), "medium": here, "ok": False, "whole": False,
                 "problems": ["block blocks/ab/abc invented for this test"]}]})
            append_check(doc, {"kind": "verify", "at": "2026-12-07T20:00:00Z", "run_id": None, "copies": [
                {"destination": a, "medium": "key-3", "ok": True, "whole": True}]})
        res = store.coffre("status", "--json", "--no-look")
        assert [p for p in json.loads(res.out)["problems"] if "invented for this test" in p], res.out

