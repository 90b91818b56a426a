"""A verify that passes without reading the whole copy (one run, a slice, a time limit) does not clear a failed verify
in status: what the failed one found damaged may be what the passing one did not read (found by review: status said
"All good" with a copy whose oldest run could not be restored)."""

from __future__ import annotations

import json

from conftest import run_coffre
from pipeline.sample import SaleWriter


def _listed(run) -> set[str]:
    return {line.rsplit("/", 1)[1] for name in ("snapshot.sqlite.blocks", "journals.tar.blocks")
            for line in (run / name).read_text().splitlines()}


def _status(store) -> dict:
    res = run_coffre("status", "--config", store.config, "--json", "--no-look")
    return json.loads(res.out)


def test_a_verify_of_part_of_a_copy_never_clears_a_failed_verify_of_it(store):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    writer = SaleWriter(str(store.db), seed=7)
    for _ in range(300):
        writer.commit_ticket()
    writer.conn.close()
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    a, b = store.destinations
    old, new = store.run_dirs(a)
    only_old = sorted(_listed(old) - _listed(new))
    assert only_old, "the two runs share every block"
    block = a / store.store_id / "blocks" / only_old[0][:2] / only_old[0]
    data = bytearray(block.read_bytes())
    data[len(data) // 2] ^= 1
    block.write_bytes(bytes(data))

    assert run_coffre("verify", "--config", store.config).code == 1
    for partial in (["--run", "latest"], ["--read-data-subset", "1/1000"], ["--max-duration", "0"]):
        res = run_coffre("verify", "--config", store.config, "--from", a, *partial)
        assert res.code in (0, 1), res
        if partial[0] == "--run":
            assert res.code == 0, res  # the newest run does not need the damaged block
        st = _status(store)
        entry = next(e for e in st["destinations"] if e["destination"] == str(a))
        assert entry["last_verify"]["ok"] is False, (partial, entry)
        said = [p for p in st["problems"] if str(a) in p and "verify" in p]
        assert len(said) == 1, (partial, st["problems"])
        # Passed (its run or slice misses the block): the failure stands, and why is said.
        assert (res.code == 0) == ("no verify that read the whole copy has passed since" in said[0]), (partial, said)
    # B was read whole and is intact: its verdict is its own.
    entry_b = next(e for e in _status(store)["destinations"] if e["destination"] == str(b))
    assert entry_b["last_verify"]["ok"] is True, entry_b

    assert run_coffre("repair", "--config", store.config).code == 0
    assert run_coffre("verify", "--config", store.config, "--from", a).code == 0
    st = _status(store)
    entry = next(e for e in st["destinations"] if e["destination"] == str(a))
    assert entry["last_verify"]["ok"] is True and not [p for p in st["problems"] if "verify" in p], st


def test_a_copy_only_out_of_reach_at_its_last_verify_is_cleared_by_a_verify_of_part_of_it(store):
    """A verify that found the copy missing (its key unplugged) found nothing damaged: a pass of any part of it after
    the key is back clears it."""
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    a, _b = store.destinations
    a.rename(a.with_name("usb-A-unplugged"))
    assert run_coffre("verify", "--config", store.config, "--from", a).code == 1
    a.with_name("usb-A-unplugged").rename(a)
    entry = next(e for e in _status(store)["destinations"] if e["destination"] == str(a))
    assert entry["last_verify"]["ok"] is False, entry
    assert run_coffre("verify", "--config", store.config, "--from", a, "--run", "latest").code == 0
    st = _status(store)
    entry = next(e for e in st["destinations"] if e["destination"] == str(a))
    assert entry["last_verify"]["ok"] is True and not [p for p in st["problems"] if "verify" in p], st
