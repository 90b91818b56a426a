"""Blocks a copy would not give, gathered by their reason: one cause (an unreadable folder, a failing medium) is said
once, not once per block (hundreds of thousands for a supermarket's six years)."""

from __future__ import annotations

import re

from pipeline.i18n import ngettext
from pipeline.manifest.blocks import BLOCKS_DIR, block_folder

GROUP_FROM = 4  # blocks of one same reason said in one line from this many
RUNS_NAMED = 10  # a grouped line names its runs up to this many, else how many and the first and last


def same_reason(reason: str, block: str) -> str:
    """What makes two blocks' reasons one: a remote's error names the block it was reading, or how many of its bytes
    were missing."""
    return re.sub(r"[0-9]+", "#", reason.replace(block, "\0"))


def by_reason(reasons: dict[str, str]) -> tuple[list[list[str]], list[str]]:
    """{block: why} as (the groups of GROUP_FROM or more blocks of one same reason, each sorted; the other blocks)."""
    groups: dict[str, list[str]] = {}
    for block in sorted(reasons):
        groups.setdefault(same_reason(reasons[block], block), []).append(block)
    many = [blocks for blocks in groups.values() if len(blocks) >= GROUP_FROM]
    few = sorted(b for blocks in groups.values() if len(blocks) < GROUP_FROM for b in blocks)
    return many, few


def runs_named(runs) -> str:
    """The runs a grouped line names: all of them up to RUNS_NAMED, else how many and the first and last."""
    runs = sorted(runs)
    if len(runs) <= RUNS_NAMED:
        return ", ".join(runs)
    return ngettext("{count} run, from {first} to {last}", "{count} runs, from {first} to {last}",
                    len(runs)).format(count=len(runs), first=runs[0], last=runs[-1])


def block_path(block: str) -> str:
    """Where a block stands in its store's folder on a copy, as a person reads it."""
    return f"{BLOCKS_DIR}/{block_folder(block)}/{block}"
