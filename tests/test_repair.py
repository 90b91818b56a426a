"""repair's memory: a store never pruned names the same blocks in every run; what repair keeps must not grow with that.

The copies and their signed lists are stand-ins here (the healing itself, on real copies with the stock tools, is in
tests/store/test_shared_blocks.py): what is measured is what repair holds while it reads runs x blocks names.
"""

from __future__ import annotations

import io
import tracemalloc
from types import SimpleNamespace

import blake3

import pipeline.repair as repair_module
from pipeline.errors import CHECK_FAILED
from pipeline.repair import repair

BLOCKS = 3000


class _Copy:
    """A copy whose runs all name the same blocks, as a store's evenings do for a database that barely changes."""

    def __init__(self, spec: str, runs: int, blocks: dict[str, bytes]):
        self.spec, self.run_ids, self.held = spec, [f"2026{n:04d}T000000Z-000000" for n in range(runs)], blocks
        self.written: list[str] = []

    def describe(self) -> str:
        return self.spec

    def check_ready(self) -> None:
        pass

    def signed_runs(self, store_id: str) -> set[str]:
        return set(self.run_ids)

    def open_block(self, store_id: str, name: str):
        if name not in self.held:
            raise FileNotFoundError(2, "missing")
        return io.BytesIO(self.held[name])

    def start_blocks(self, store_id: str):
        copy = self

        class Writer:
            def put(self, name: str, data: bytes, replace: bool = False) -> None:
                copy.held[name] = data
                copy.written.append(name)

        return Writer()


def _store(monkeypatch, tmp_path, runs: int, lost: set[int] = frozenset(), damaged_on_a: set[int] = frozenset()):
    contents = {f"{n:064x}": f"block {n}".encode() for n in range(BLOCKS)}
    listed = [(name, blake3.blake3(data).hexdigest()) for name, data in contents.items()]
    a = _Copy("A", runs, {name: (b"damaged" if n in damaged_on_a else data)
                          for n, (name, data) in enumerate(contents.items()) if n not in lost})
    b = _Copy("B", runs, {name: data for n, (name, data) in enumerate(contents.items()) if n not in lost})
    copies = {"A": a, "B": b}
    monkeypatch.setattr(repair_module, "open_destination", lambda spec: copies[spec])
    # Each run's list read afresh, as from its file: a new list of new tuples every time.
    monkeypatch.setattr(repair_module, "signed_lists",
                        lambda dest, store_id, run_id, key: {"snapshot.sqlite.blocks": [(n, d) for n, d in listed]})
    cfg = SimpleNamespace(state_dir=tmp_path, store_id="shop", signing_public_key="RW...")
    return cfg, copies, [name for name, _digest in listed]


def _peak(monkeypatch, tmp_path, runs: int) -> int:
    cfg, _copies, _names = _store(monkeypatch, tmp_path / str(runs), runs)
    (tmp_path / str(runs)).mkdir()
    tracemalloc.start()
    try:
        repair(cfg, ["A", "B"], say=lambda *a: None)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_what_repair_holds_does_not_grow_with_the_runs_that_name_the_same_blocks(monkeypatch, tmp_path):
    few, many = _peak(monkeypatch, tmp_path, 20), _peak(monkeypatch, tmp_path, 400)
    # Keeping, for every block, the set of runs naming it costs about 20 bytes a name: 24 MB more at 400 runs.
    assert many < few * 1.5, (few, many)


def test_a_block_lost_on_every_copy_is_still_named_with_every_run_that_needs_it(monkeypatch, tmp_path):
    cfg, copies, names = _store(monkeypatch, tmp_path, 5, lost={7}, damaged_on_a={3})
    result = repair(cfg, ["A", "B"], say=lambda *a: None)
    a, b = result.copies
    assert a.healed == [names[3]] and copies["A"].written == [names[3]]
    assert a.unhealed == {names[7]: copies["A"].run_ids} and b.unhealed == {names[7]: copies["B"].run_ids}
    assert result.exit_code == CHECK_FAILED
