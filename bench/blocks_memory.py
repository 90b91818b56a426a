#!/usr/bin/env python3
"""What an evening holds for its blocks, at a supermarket's six years, without building its 32 GB database.

The benchmark's large sample is 30 days of the supermarket (2,262 blocks a copy): memory that grows with the number of
blocks does not show there. This builds, in memory, what `coffre archive` holds for the blocks of an evening with
`--blocks` blocks in its run and `--listed` blocks on each of two copies (older runs keep more than tonight names),
through the same code: each copy's listing and the newest run's stored BLAKE3 as BlockTables, then SharedBlocks
placing every block of the run (most held already, read again on both copies as a first evening after a copy is
added would), then its block list written out. It reports the bytes held a block, under tracemalloc, and the same
listing and lists held as dicts of hex names, as Coffre held them before 7263b01.

    PYTHONPATH=. .venv/bin/python bench/blocks_memory.py                       # 130,000 blocks, 250,000 a copy
    PYTHONPATH=. .venv/bin/python bench/blocks_memory.py --blocks 2262 --listed 2388   # the large sample's evening
"""

from __future__ import annotations

import argparse
import gc
import random
import tracemalloc

import blake3

from pipeline.keys.age_identity import generate, parse_recipient
from pipeline.manifest.block_table import BlockTable
from pipeline.manifest.blocks import list_chunks, list_lines, parse_list, render_list
from pipeline.pack.shared import BlockNames, SharedBlocks, Tally

COPIES = ("A", "B")


class _Run:
    """The RunTransaction's part SharedBlocks uses: a held block reads back as its content (its name's bytes)."""

    def live_specs(self) -> list[str]:
        return list(COPIES)

    def read_block(self, spec: str, name: str) -> bytes:
        return bytes.fromhex(name)

    def put_block(self, specs, name: str, data: bytes, digest: str) -> None:
        pass

    def fail_copy(self, spec: str, why: str) -> None:
        raise RuntimeError(why)


def _names(n: int, seed: int) -> list[str]:
    rnd = random.Random(seed)
    return [rnd.randbytes(32).hex() for _ in range(n)]


def measure(blocks: int, listed: int, new: int) -> dict:
    """Bytes held for: the listings, the newest run's lists, tonight's placing; as tables, and as the dicts before."""
    held = _names(blocks - new, 1)  # tonight's blocks the copies hold, named by the newest run
    older = _names(listed - len(held), 2)  # kept by older runs only
    fresh = _names(new, 3)  # written tonight
    newest = render_list([(n, blake3.blake3(bytes.fromhex(n)).hexdigest()) for n in held])
    listing = [(n, 75_000 + i % 1000) for i, n in enumerate(held + older)]
    random.Random(4).shuffle(listing)  # a folder walk gives them in no order
    out = {"blocks": blocks, "listed_per_copy": listed, "written_tonight": new, "newest_list_bytes": len(newest)}

    def bytes_of(make) -> tuple[int, int, object]:
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            kept = make()
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        return after - before, peak - before, kept

    # Each copy lists its blocks with texts of its own (a folder walk, a remote's listing): copies of the names here.
    def copy_of(pairs):
        return ((bytes.fromhex(n).hex(), v) for n, v in pairs)

    def tables():
        listed_t = {spec: BlockTable(copy_of(listing)) for spec in COPIES}
        known_t = {spec: BlockTable.of_list_lines(list_lines(newest, "x.blocks")) for spec in COPIES}
        return listed_t, known_t

    def dicts():
        listed_d = {spec: dict(copy_of(listing)) for spec in COPIES}
        known_d = {spec: {n: d for n, d in parse_list(newest, "x.blocks")} for spec in COPIES}
        return listed_d, known_d

    out["tables_held"], out["tables_peak"], (listed_t, known_t) = bytes_of(tables)
    out["dicts_held"], out["dicts_peak"], _ = bytes_of(dicts)

    recipient = parse_recipient(generate()[1])

    def placing():
        shared = SharedBlocks(_Run(), BlockNames(b"k" * 32), [recipient], listed_t, known_t, day=0,
                              reread_days=1, first=list(COPIES))
        tally = Tally()
        placed = [shared.place(n, lambda n=n: bytes.fromhex(n), tally) for n in held + fresh]
        if shared.sure() != set(COPIES):
            raise SystemExit("blocks_memory: the simulated copies were not both seen to hold every block")
        return shared, placed

    out["placing_held"], out["placing_peak"], (shared, placed) = bytes_of(placing)
    written = sum(len(c) for c in list_chunks((p.name, p.digest) for p in placed))
    out["list_written_bytes"] = written
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="What an evening holds for its blocks at a supermarket's six years.")
    p.add_argument("--blocks", type=int, default=130_000, help="blocks tonight's run names (default: 130,000)")
    p.add_argument("--listed", type=int, default=250_000, help="blocks on each of the two copies (default: 250,000)")
    p.add_argument("--new", type=int, default=1_000, help="of the run's blocks, those written tonight (default 1,000)")
    args = p.parse_args(argv)
    if not 0 <= args.new <= args.blocks <= args.listed + args.new:
        p.error("need 0 <= --new <= --blocks <= --listed + --new")
    r = measure(args.blocks, args.listed, args.new)
    mb = 1 / (1 << 20)
    print(f"{r['blocks']:,} blocks in tonight's run ({r['written_tonight']:,} written tonight), "
          f"{r['listed_per_copy']:,} on each of 2 copies; the newest run's list is {r['newest_list_bytes'] * mb:.1f} MB")
    print(f"  listings and newest lists of both copies, as BlockTables: {r['tables_held'] * mb:6.1f} MB held "
          f"(peak {r['tables_peak'] * mb:.1f} MB while built)")
    print(f"  the same as dicts of hex names (before 7263b01):          {r['dicts_held'] * mb:6.1f} MB held "
          f"(peak {r['dicts_peak'] * mb:.1f} MB while built)")
    print(f"  placing the run's blocks (SharedBlocks, its Placed list):  {r['placing_held'] * mb:6.1f} MB held "
          f"(peak {r['placing_peak'] * mb:.1f} MB), {r['placing_held'] / r['blocks']:.0f} bytes a block")
    total = r["tables_held"] + r["placing_held"]
    print(f"  in all: {total * mb:.1f} MB for the blocks, {total / r['blocks']:.0f} bytes a block of the run")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
