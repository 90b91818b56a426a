"""Hostile copies against verify after a prune: signed removal records allow a gap, and nothing else does."""

from __future__ import annotations

import json
import shutil

import blake3
import pytest

from pipeline import config
from pipeline.destinations import open_destination
from pipeline.verify.copy import VerifyOptions, verify_copy
from tests.conftest import run_coffre

RULES = "\n[retention]\nkeep_last = 1\nkeep_daily = 1\nkeep_weekly = 0\nkeep_monthly = 0\n"


def archive(store, *extra) -> None:
    res = run_coffre("archive", "--config", store.config, "--yes", *extra)
    assert res.code == 0, res


def runs_of(store, dest) -> list[str]:
    return [p.name for p in store.run_dirs(dest) if p.name != "removals"]


def removals_of(dest, store) -> list:
    folder = dest / store.store_id / "removals"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def verify(store, *where):
    return run_coffre("verify", "--config", store.config, *[a for d in where for a in ("--from", d)])


def four_runs_then_prune(store, *only) -> list[str]:
    """Three runs on both copies, then `coffre prune` (of the copies `only`, else all) with rules that keep the
    newest only; returns the three run ids."""
    for _ in range(3):
        archive(store)
    before = runs_of(store, store.destinations[0])
    with store.config.open("a") as f:
        f.write(RULES)
    res = run_coffre("prune", "--config", store.config, *[a for d in only for a in ("--from", d)])
    assert res.code == 0, res
    return before


@pytest.fixture
def pruned(store):
    """Both copies pruned: (store, the runs removed, the run kept)."""
    before = four_runs_then_prune(store)
    for dest in store.destinations:
        assert runs_of(store, dest) == before[-1:]
    return store, before[:-1], before[-1]


def alone(store, dest):
    """verify_copy of one copy without this machine's record: only the copy and the pinned key speak."""
    cfg = config.load(store.config)
    return verify_copy(open_destination(str(dest)), store.store_id,
                       VerifyOptions(cfg.signing_public_key, read_data=lambda r: False), None, {})


def test_after_a_prune_both_copies_verify_and_each_holds_one_signed_removal_record(pruned):
    store, removed, _ = pruned
    res = verify(store)
    assert res.code == 0, res
    for dest in store.destinations:
        files = [p.name for p in removals_of(dest, store)]
        assert len(files) == 2 and files[0].endswith(".json") and files[1] == files[0] + ".minisig", files
        doc = json.loads((dest / store.store_id / "removals" / files[0]).read_text())
        assert [r["run_id"] for r in doc["runs"]] == removed
        # Each removed run names the one before it on this copy: verify follows the chain down to the first.
        assert doc["runs"][0]["previous_run"] is None
        assert [r["previous_run"]["run_id"] for r in doc["runs"][1:]] == removed[:-1]


def test_a_kept_run_deleted_by_hand_is_reported_by_name(pruned):
    store, _, kept = pruned
    a, b = store.destinations
    shutil.rmtree(a / store.store_id / kept)
    res = verify(store)
    assert res.code == 1, res
    assert kept in res.err and "no longer in this copy" in res.err, res
    assert str(b) + ": intact" in res.err, res


def test_a_removal_record_edited_by_one_byte_fails_its_signature_and_its_runs_count_as_deleted(pruned):
    store, removed, _ = pruned
    a, b = store.destinations
    (record,) = [p for p in removals_of(a, store) if p.suffix == ".json"]
    data = bytearray(record.read_bytes())
    at = data.index(b'"kept by no rule"') + 1
    data[at] = ord("K")
    record.write_bytes(bytes(data))
    res = verify(store, a)
    assert res.code == 1, res
    assert f"removals/{record.name}: " in res.err and "signature" in res.err.lower(), res
    assert "the runs it names count as deleted" in res.err, res
    for run_id in removed:
        assert run_id in res.err, (run_id, res)
    assert verify(store, b).code == 0


def test_a_run_id_added_to_a_removal_record_does_not_make_a_deleted_run_look_pruned(pruned):
    store, _, kept = pruned
    archive(store)  # a second kept run, so that the hand-deleted one is amid others
    b = store.destinations[1]
    (record,) = [p for p in removals_of(b, store) if p.suffix == ".json"]
    doc = json.loads(record.read_text())
    manifest = (b / store.store_id / kept / "manifest.json").read_bytes()
    doc["runs"].append(dict(doc["runs"][-1], run_id=kept, manifest_blake3=blake3.blake3(manifest).hexdigest()))
    record.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    shutil.rmtree(b / store.store_id / kept)
    res = verify(store, b)
    assert res.code == 1, res
    assert "signature" in res.err.lower() and "the runs it names count as deleted" in res.err, res
    assert kept in res.err, res
    # Without the record too, the forged record is what fails the copy.
    said = [p.sentence() for p in alone(store, b).problems]
    assert len(said) == 1 and "signature" in said[0] and "count as deleted" in said[0], said


def test_a_removal_record_copied_from_another_medium_allows_nothing(pruned_on_a_only):
    store, removed = pruned_on_a_only
    a, b = store.destinations
    shutil.copytree(a / store.store_id / "removals", b / store.store_id / "removals")
    for run_id in removed:
        shutil.rmtree(b / store.store_id / run_id)
    res = verify(store, b)
    assert res.code == 1, res
    assert "another medium" in res.err, res
    for run_id in removed:
        assert run_id in res.err, (run_id, res)
    assert verify(store, a).code == 0


@pytest.fixture
def pruned_on_a_only(store):
    """`coffre prune --from A` only: (store, the runs removed from A, all still on B)."""
    before = four_runs_then_prune(store, store.destinations[0])
    assert runs_of(store, store.destinations[1]) == before
    return store, before[:-1]


def test_a_removal_record_deleted_from_the_copy_after_its_runs_went_is_reported(pruned):
    store, removed, _ = pruned
    a, b = store.destinations
    for p in removals_of(a, store):
        p.unlink()
    res = verify(store)
    assert res.code == 1, res
    assert "the signed removal record written here before it went is no longer in this copy" in res.err, res
    for run_id in removed:
        assert run_id in res.err, (run_id, res)
    assert str(b) + ": intact" in res.err, res


def test_without_the_record_a_pruned_run_is_fine_and_a_deleted_one_is_reported(pruned):
    store, removed, kept = pruned
    archive(store)
    archive(store)
    a = store.destinations[0]
    assert alone(store, a).problems == []  # the three pruned runs: signed removals, followed through the chain
    newer = runs_of(store, a)
    assert newer[0] == kept and len(newer) == 3
    shutil.rmtree(a / store.store_id / newer[1])
    said = [p.sentence() for p in alone(store, a).problems]
    assert len(said) == 1 and newer[1] in said[0] and "deleted?" in said[0], said


def test_without_the_record_the_oldest_run_left_by_a_prune_deleted_by_hand_is_reported(pruned):
    # The signed removals show that this copy held runs older than the one deleted: a gap amid them is no unplugged
    # evening, any more than a gap amid runs still present.
    store, removed, kept = pruned
    archive(store)
    a = store.destinations[0]
    shutil.rmtree(a / store.store_id / kept)
    said = [p.sentence() for p in alone(store, a).problems]
    assert len(said) == 1 and kept in said[0] and "deleted?" in said[0], said


def test_a_lone_signature_in_removals_is_a_prune_killed_early_but_a_stray_file_is_a_problem(pruned):
    store, _, _ = pruned
    a, b = store.destinations
    (sig,) = [p for p in removals_of(a, store) if p.name.endswith(".minisig")]
    # A prune killed between its two writes leaves the signature of a record that never came.
    shutil.copy(sig, sig.with_name("29991231T235959Z-abcdef.json.minisig"))
    assert verify(store).code == 0
    (b / store.store_id / "removals" / "notes.txt").write_text("moved the old runs to the NAS\n")
    res = verify(store)
    assert res.code == 1, res
    assert "removals/notes.txt is not a removal record of Coffre's" in res.err, res
    assert str(a) + ": intact" in res.err, res
