"""verify and verify --deep: clean copies pass; each kind of damage on one copy is named, the other copy passes."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import need_tool, run_coffre

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1


@pytest.fixture
def archived(store):
    for _ in range(3):
        res = run_coffre("archive", "--config", store.config, "--yes")
        assert res.code == 0, res
    return store


def verify(store, *extra):
    return run_coffre("verify", "--config", store.config, *extra)


def assert_only_copy_a_damaged(store, res, *names):
    assert res.code == 1, res
    assert "Traceback" not in res.err
    for name in names:
        assert name in res.err, (name, res.err)
    report = json.loads(verify(store, "--json").out)
    verdicts = {c["destination"]: c["ok"] for c in report["copies"]}
    assert verdicts == {str(store.destinations[0]): False, str(store.destinations[1]): True}
    assert verify(store, "--from", store.destinations[1]).code == 0
    assert verify(store, "--from", store.destinations[1], "--deep", "--identity", store.identity).code == 0


def test_clean_copies_verify_and_deep_verify(archived):
    assert verify(archived).code == 0
    res = verify(archived, "--deep", "--identity", archived.identity, "--json")
    assert res.code == 0, res
    report = json.loads(res.out)
    assert all(r["data_read"] for c in report["copies"] for r in c["runs"])
    assert len(report["copies"][0]["runs"]) == 3


@pytest.mark.parametrize("deep", [False, True])
def test_flipped_byte_in_a_data_file(archived, deep):
    run = archived.run_dirs(archived.destinations[0])[1]
    f = run / "snapshot.sqlite.zst.age"
    data = bytearray(f.read_bytes())
    data[len(data) // 3] ^= 0x40
    f.write_bytes(bytes(data))
    extra = ("--deep", "--identity", archived.identity) if deep else ()
    res = verify(archived, *extra)
    assert_only_copy_a_damaged(archived, res, run.name, "snapshot.sqlite.zst.age", "damaged")


def test_truncated_data_file(archived):
    run = archived.run_dirs(archived.destinations[0])[0]
    f = run / "facts.json.zst.age"
    f.write_bytes(f.read_bytes()[:-20])
    res = verify(archived)
    assert_only_copy_a_damaged(archived, res, run.name, "facts.json.zst.age")


def test_missing_data_file(archived):
    run = archived.run_dirs(archived.destinations[0])[2]
    (run / "snapshot.sqlite.zst.age").unlink()
    res = verify(archived)
    assert_only_copy_a_damaged(archived, res, run.name, "snapshot.sqlite.zst.age", "missing")


def test_extra_unlisted_file(archived):
    run = archived.run_dirs(archived.destinations[0])[1]
    (run / "ventes-cachees.csv").write_text("1;2;3\n")
    res = verify(archived)
    assert_only_copy_a_damaged(archived, res, run.name, "ventes-cachees.csv", "not listed")


def test_manifest_resigned_with_another_key(archived, tmp_path):
    minisign = need_tool("minisign")
    run = archived.run_dirs(archived.destinations[0])[1]
    # The forger replaces a data file, rewrites MANIFEST.b3, and signs it with a key of their own.
    forged = run / "facts.json.zst.age"
    forged.write_bytes(b"age-encryption.org/v1\nforged")
    b3sum = need_tool("b3sum")
    listing = subprocess.run([b3sum] + sorted(p.name for p in run.iterdir() if p.name not in ("MANIFEST.b3", "MANIFEST.b3.minisig")),
                             cwd=run, capture_output=True, text=True, check=True).stdout
    (run / "MANIFEST.b3").write_text(listing)
    key, pub = tmp_path / "forger.key", tmp_path / "forger.pub"
    subprocess.run([minisign, "-G", "-W", "-s", str(key), "-p", str(pub)], check=True, capture_output=True)
    (run / "MANIFEST.b3.minisig").unlink()
    subprocess.run([minisign, "-S", "-s", str(key), "-m", str(run / "MANIFEST.b3")], check=True, capture_output=True)
    shutil.copy(pub, run / "minisign.pub")  # the forger's key travels with the run: never trusted
    assert subprocess.run([minisign, "-V", "-p", str(run / "minisign.pub"), "-m", str(run / "MANIFEST.b3")],
                          capture_output=True).returncode == 0
    res = verify(archived)
    assert_only_copy_a_damaged(archived, res, run.name, "MANIFEST.b3.minisig", "pinned")


def test_earlier_run_deleted_from_a_copy(archived):
    run = archived.run_dirs(archived.destinations[0])[1]
    shutil.rmtree(run)
    res = verify(archived)
    assert_only_copy_a_damaged(archived, res, run.name, "missing")


def test_newest_run_vanished_is_noticed_against_the_record(archived):
    run = archived.run_dirs(archived.destinations[0])[-1]
    shutil.rmtree(run)
    res = verify(archived)
    assert_only_copy_a_damaged(archived, res, run.name, "no longer in this copy")


def test_replaced_earlier_run_breaks_the_chain(archived):
    """A run swapped for another, validly signed run (the same run id) shows through the chain."""
    runs_a = archived.run_dirs(archived.destinations[0])
    # Swap copy A's first run for a different genuine run renamed: the manifest names another id.
    shutil.rmtree(runs_a[0])
    shutil.copytree(runs_a[1], runs_a[0])
    res = verify(archived)
    assert res.code == 1 and runs_a[0].name in res.err, res


def test_rotating_subset_covers_every_run(archived):
    covered = set()
    for n in (1, 2, 3):
        res = verify(archived, "--read-data-subset", f"{n}/3", "--json")
        assert res.code == 0, res
        for c in json.loads(res.out)["copies"]:
            covered |= {(c["destination"], r["run_id"]) for r in c["runs"] if r["data_read"]}
    assert len(covered) == 6


def test_time_budget_reads_least_recently_checked_first(archived):
    seen = []
    for _ in range(3):
        res = verify(archived, "--from", archived.destinations[1], "--max-duration", "0", "--json")
        assert res.code == 0, res
        runs = json.loads(res.out)["copies"][0]["runs"]
        read = [r["run_id"] for r in runs if r["data_read"]]
        assert len(read) == 1, "a zero budget still reads one run, so that coverage moves on"
        seen += read
    assert sorted(seen) == [r.name for r in archived.run_dirs(archived.destinations[1])]
    # A damaged file in a run whose data is not read this time is still caught by its size.
    run = archived.run_dirs(archived.destinations[0])[2]
    f = run / "snapshot.sqlite.zst.age"
    f.write_bytes(f.read_bytes()[:-1])
    res = verify(archived, "--from", archived.destinations[0], "--max-duration", "0", "--json")
    assert res.code == 1
    (problem,) = json.loads(res.out)["copies"][0]["problems"]
    assert problem["run"] == run.name and "truncated" in problem["message"]


def test_deep_verify_with_a_wrong_identity_is_exit_2(archived, tmp_path):
    age_keygen = need_tool("age-keygen")
    other = tmp_path / "other.txt"
    subprocess.run([age_keygen, "-o", str(other)], check=True, capture_output=True)
    res = verify(archived, "--deep", "--identity", other)
    assert res.code == 2 and "matches none of the recipients" in res.err, res
    assert "AGE-SECRET-KEY" not in res.err


def test_a_copy_that_missed_a_run_is_not_called_damaged(store, other_disk):
    """The key was unplugged one evening (exit 4), or one run went elsewhere with --to: no false alarm after."""
    b = store.destinations[1]
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    b.rename(b.with_name("unplugged"))
    assert run_coffre("archive", "--config", store.config, "--yes").code == 4
    b.with_name("unplugged").rename(b)
    elsewhere = other_disk / "elsewhere"
    elsewhere.mkdir()
    assert run_coffre("archive", "--config", store.config, "--yes", "--to", elsewhere).code == 0
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    res = verify(store)
    assert res.code == 0, res
    assert len(store.run_dirs(b)) == 2 and len(store.run_dirs(store.destinations[0])) == 3
    # while a run that WAS written there and is gone still is an alarm
    shutil.rmtree(store.run_dirs(store.destinations[0])[1])
    res = verify(store)
    assert res.code == 1 and "no longer in this copy" in res.err, res


def test_an_interrupted_run_asked_for_by_name_is_not_called_intact(archived):
    a = archived.destinations[0]
    newest = archived.run_dirs(a)[-1]
    cut = newest.parent / (newest.name[:-6] + "ffffff")  # sorts after it: a later run killed before its signature
    shutil.copytree(newest, cut)
    (cut / "MANIFEST.b3.minisig").unlink()
    assert verify(archived, "--from", a).code == 0  # among the others: said, not counted as a run
    res = verify(archived, "--from", a, "--run", cut.name)
    assert res.code == 1, res
    assert cut.name in res.err and "interrupted" in res.err and "Traceback" not in res.err


def test_the_record_keeps_how_many_runs_a_verify_read_not_their_ids(archived):
    """A thousand checks are kept: with each one's run ids, the record would grow with the store's runs until it can
    no longer be read. The counts, and when each run was read (data_checks), are what status needs."""
    from pipeline import config
    assert verify(archived).code == 0
    assert verify(archived, "--deep", "--identity", archived.identity).code == 0
    state = config.load(archived.config).state_dir
    record = json.loads((state / f"{archived.store_id}.history.json").read_text())
    copies = [one for check in record["checks"] for one in check["copies"]]
    assert len(copies) == 4 and all(one["runs"] == 3 for one in copies), copies
    assert all(type(one["data_read"]) is int and one["data_read"] <= 3 for one in copies), copies
    assert [one["data_read"] for one in record["checks"][-1]["copies"]] == [3, 3]  # the deep one read every run
    status = json.loads(run_coffre("status", "--config", archived.config, "--json").out)
    for copy in status["destinations"]:
        assert copy["last_verify"]["ok"] and copy["last_deep_verify"]["ok"], copy
        assert copy["runs_never_read_back_by_verify"] == 0, copy


def test_an_older_records_run_ids_become_counts_at_the_next_verify(archived):
    from pipeline import config
    state = config.load(archived.config).state_dir
    path = state / f"{archived.store_id}.history.json"
    record = json.loads(path.read_text())
    ids = [r["run_id"] for r in record["runs"]]
    record["checks"] = [{"kind": "verify", "at": "2026-01-01T00:00:00Z", "copies": [
        {"destination": str(archived.destinations[0]), "medium": None, "ok": True, "missing": False, "runs": ids,
         "data_read": ids[:1], "problems": []}]}]
    path.write_text(json.dumps(record))
    assert verify(archived).code == 0
    older = json.loads(path.read_text())["checks"][0]["copies"][0]
    assert (older["runs"], older["data_read"]) == (3, 1)
