"""verify --read-data-subset n/m in a store of shared blocks: the slices are of the blocks, so that m verifies read
each block once, however many runs share it; a block gone from a copy shows in every verify, read or not."""

from __future__ import annotations

import json

import pytest

from pipeline.verify.run import _slice_of
from store.test_shared_blocks import archive, blocks_dir, coffre, damage, listed, sell

M = 3


def slice_of(block: str) -> int:
    return int(block[:8], 16) % M + 1


@pytest.fixture
def three_evenings(store):
    for n in (0, 40, 40):
        if n:
            sell(store, n)
        archive(store)
    return store


def verify_json(store, *args) -> tuple[int, dict]:
    res = coffre(store, "verify", "--from", store.destinations[1], "--json", *args)
    assert "Traceback" not in res.err, res
    return res.code, json.loads(res.out)


def bytes_read(report: dict) -> int:
    return sum(r["bytes_read"] for c in report["copies"] for r in c["runs"])


def test_the_slices_share_out_the_blocks_so_that_m_verifies_read_the_copy_about_once(three_evenings):
    store = three_evenings
    runs = store.run_dirs(store.destinations[1])
    names = {b for run in runs for b in listed(run)}
    blocks = blocks_dir(store, store.destinations[1])
    weight = {n: (blocks / n[:2] / n).stat().st_size for n in names}
    code, full = verify_json(store)
    assert code == 0, full
    assert bytes_read(full) >= sum(weight.values())  # every block once, and the run folders' files
    overhead = bytes_read(full) - sum(weight.values())
    for n in range(1, M + 1):
        code, part = verify_json(store, "--read-data-subset", f"{n}/{M}")
        assert code == 0, part
        in_slice = sum(w for b, w in weight.items() if slice_of(b) == n)
        # This slice's blocks, and at most the small files of the runs (lists, facts): never another slice's blocks.
        assert in_slice <= bytes_read(part) <= in_slice + overhead, (n, bytes_read(part), in_slice, overhead)
        # A run whose blocks were read only in part is not said to have had its data read.
        assert not any(r["data_read"] for c in part["copies"] for r in c["runs"]), part


def test_a_damaged_block_is_found_by_its_own_slice_only_and_a_deleted_one_by_every_slice(three_evenings):
    store = three_evenings
    b = store.destinations[1]
    runs = store.run_dirs(b)
    shared = sorted(set(listed(runs[0])) & set(listed(runs[1])) & set(listed(runs[2])))
    hit = shared[0]
    gone = next(x for x in shared if slice_of(x) != slice_of(hit))
    damage(store, b, hit)
    (blocks_dir(store, b) / gone[:2] / gone).unlink()
    for n in range(1, M + 1):
        code, report = verify_json(store, "--read-data-subset", f"{n}/{M}")
        said = " ".join(f"{p['file']}: {p['message']}" for c in report["copies"] for p in c["problems"])
        assert code == 1 and gone in said and "is missing" in said, (n, report)
        assert (hit in said) == (slice_of(hit) == n), (n, said)
        if hit in said:
            assert "damaged" in said and all(r.name in said for r in runs), said  # with every run that needs it


def test_deep_slices_by_run_and_still_names_every_run_that_needs_a_damaged_or_deleted_block(three_evenings):
    """--deep decrypts the runs of its slice; the others' lists are looked up in the copy. A block found damaged by a
    decrypted run is named with every run that needs it, whatever order the runs come in."""
    store = three_evenings
    b = store.destinations[1]
    runs = store.run_dirs(b)
    shared = sorted(set(listed(runs[0])) & set(listed(runs[1])) & set(listed(runs[2])))
    only_old = sorted(set(listed(runs[0])) - set(listed(runs[1])) - set(listed(runs[2])))
    assert only_old, "the first evening's snapshot has blocks the later ones changed"
    damage(store, b, shared[0])
    (blocks_dir(store, b) / only_old[0][:2] / only_old[0]).unlink()
    # Slices of the runs that each decrypt some of them and not all.
    m = next(m for m in range(2, 20) if len({_slice_of(r.name, m) for r in runs}) > 1)
    for n in sorted({_slice_of(r.name, m) for r in runs}):
        verify_json(store)  # every run read now: the next verify takes them oldest first, decrypted or not
        code, report = verify_json(store, "--deep", "--identity", str(store.identity), "--read-data-subset", f"{n}/{m}")
        decrypted = {r["run_id"] for c in report["copies"] for r in c["runs"] if r["data_read"]}
        assert code == 1 and decrypted == {r.name for r in runs if _slice_of(r.name, m) == n}, report
        lines = {p["file"]: p["message"] for c in report["copies"] for p in c["problems"] if p["run"] is None}
        gone = lines[f"blocks/{only_old[0][:2]}/{only_old[0]}"]
        assert "is missing" in gone and runs[0].name in gone, lines  # whether runs[0] was decrypted or not
        hit = lines.get(f"blocks/{shared[0][:2]}/{shared[0]}")
        assert hit is not None and "damaged" in hit and all(r.name in hit for r in runs), lines


def test_a_subset_of_one_slice_reads_everything_and_says_so(three_evenings):
    code, report = verify_json(three_evenings, "--read-data-subset", "1/1")
    assert code == 0 and all(r["data_read"] for c in report["copies"] for r in c["runs"]), report


@pytest.mark.parametrize("given", ["²/3", "1/³", "٣/3", " 1/3", "1/3\n", "0/3", "4/3", "1/0", "1/", "/3", "a/b"])
def test_a_subset_not_written_n_over_m_in_digits_is_a_usage_error(three_evenings, given):
    res = coffre(three_evenings, "verify", "--read-data-subset", given)
    assert res.code == 2 and "--read-data-subset" in res.err and "Traceback" not in res.err, res
