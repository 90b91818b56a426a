"""verify --deep over two copies decrypts each data file once: the other copy's bytes are read whole and held to the
same signed BLAKE3; damage on either copy is still found and named on the copy that has it, whichever copy is read
first."""

from __future__ import annotations

import json
import threading
from collections import Counter

import pytest

from conftest import run_coffre
from pipeline import config as config_file
from pipeline.destinations import open_destination
from pipeline.keys.age_identity import load_identities
from pipeline.verify import deep
from pipeline.verify.run import verify_destinations


def archived(store) -> None:
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res


@pytest.fixture
def decryptions(monkeypatch):
    """(copy, file) -> how many times it was decrypted in this process."""
    seen: Counter = Counter()
    lock = threading.Lock()
    real = deep.unpack_data_file

    def counted(dest, store_id, run_id, entry, *args, **kwargs):
        with lock:
            seen[(dest.describe(), entry["name"])] += 1
        return real(dest, store_id, run_id, entry, *args, **kwargs)

    monkeypatch.setattr(deep, "unpack_data_file", counted)
    return seen


def deep_verify(store):
    cfg = config_file.load(store.config)
    return verify_destinations(cfg, cfg.destinations, identities=load_identities(store.identity))


def test_two_intact_copies_have_each_data_file_decrypted_once_and_both_are_verified_deep(store, decryptions):
    archived(store)
    outcome = deep_verify(store)
    assert [r.ok for r in outcome.reports] == [True, True]
    assert all(run.deep and run.data_read for r in outcome.reports for run in r.runs)
    data = {name for (_copy, name) in decryptions if not name.startswith("facts")}
    assert data == {"snapshot.sqlite.blocks", "journals.tar.blocks"}
    for name in data:  # once over both copies, not once per copy
        assert sum(n for (_copy, f), n in decryptions.items() if f == name) == 1, decryptions
    # The facts, which say what the rest must be, are read on each copy.
    assert sum(n for (_copy, f), n in decryptions.items() if f.startswith("facts")) == 2
    # What both copies read is on record as a deep check of each.
    checks = json.loads((store.config.parent / "coffre-state" / "boutique.history.json").read_text())["checks"]
    assert checks[-1]["kind"] == "verify-deep" and all(c["ok"] for c in checks[-1]["copies"])


@pytest.mark.parametrize("damaged_copy", [0, 1])
def test_a_damaged_block_is_named_on_its_copy_whichever_copy_is_read_first(store, decryptions, damaged_copy):
    archived(store)
    dest = store.destinations[damaged_copy]
    run = store.run_dirs(dest)[0]
    block = (run / "snapshot.sqlite.blocks").read_text().splitlines()[0].rsplit("/", 1)[1]
    path = dest / store.store_id / "blocks" / block[:2] / block
    data = bytearray(path.read_bytes())
    data[-1] ^= 1
    path.write_bytes(bytes(data))
    outcome = deep_verify(store)
    assert [r.ok for r in outcome.reports] == [damaged_copy == 1, damaged_copy == 0]
    bad = outcome.reports[damaged_copy]
    said = " ".join(p.sentence() for p in bad.problems)
    assert block in said and "snapshot.sqlite.blocks" in said, said
    good = outcome.reports[1 - damaged_copy]
    assert not good.problems and all(run.deep for run in good.runs)
    # The intact copy's snapshot was decrypted there: it was not taken on the damaged copy's word.
    assert decryptions[(open_destination(str(store.destinations[1 - damaged_copy])).describe(),
                        "snapshot.sqlite.blocks")] == 1
