"""verify --read-data-subset n/m in a store of shared blocks: the slices are of the blocks, so that m verifies read
each block once, however many runs share it; a block gone from a copy shows in every verify, read or not."""

from __future__ import annotations

import json

import pytest

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


def test_a_deleted_block_shows_even_in_runs_whose_data_is_not_read_this_time(three_evenings):
    """--max-duration 0 reads one run's data; the others' lists are still read and their blocks looked for."""
    store = three_evenings
    b = store.destinations[1]
    runs = store.run_dirs(b)
    only_old = sorted(set(listed(runs[0])) - set(listed(runs[1])) - set(listed(runs[2])))
    assert only_old, "the first evening's snapshot has blocks the later ones changed"
    code, first = verify_json(store, "--max-duration", "0")
    assert code == 0, first
    read_first = [r["run_id"] for c in first["copies"] for r in c["runs"] if r["data_read"]]
    assert read_first == [runs[0].name]  # least recently read first: the oldest, on a fresh record
    (blocks_dir(store, b) / only_old[0][:2] / only_old[0]).unlink()
    code, report = verify_json(store, "--max-duration", "0")  # reads another run's data: not runs[0]'s
    assert [r["run_id"] for c in report["copies"] for r in c["runs"] if r["data_read"]] != read_first
    said = [p for c in report["copies"] for p in c["problems"]]
    assert code == 1 and any(only_old[0] in str(p["file"]) and runs[0].name in p["message"] for p in said), said
    # Deep, sliced by run, does the same for the runs it does not decrypt.
    res = coffre(store, "verify", "--from", b, "--deep", "--identity", store.identity, "--read-data-subset", "2/2")
    assert res.code == 1 and only_old[0] in res.err and "Traceback" not in res.err, res
