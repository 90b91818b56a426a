"""The sweep after a prune (format 2): the blocks no run of the copy names any more are removed, mark then sweep.

Mark: every block named by the block lists of every signed run folder of the copy. Sweep: every other block goes.
Killed at any point, the copy still verifies: only blocks no run names are ever removed, and a run whose lists
cannot be read (a bad signature, a damaged list), or whose signature is gone while this machine's record says it was
written there whole, stops the sweep, since what it names cannot be told. Runs cut short
by a prune (no signature) and interrupted archives are not runs: their blocks go too. The store lock keeps an
archive from writing blocks while they are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.errors import CoffreError
from pipeline.i18n import _
from pipeline.system_errors import error_words
from pipeline.verify.blocks import named_blocks


@dataclass
class Swept:
    blocks: int = 0
    bytes: int = 0
    kept: int = 0
    stopped: str | None = None  # why nothing was swept


def unsigned_stop(unsigned: list[str]) -> str:
    """Why a copy holding a run written whole there, whose signature is gone, is swept of nothing."""
    return _("run {run_id} was written whole to this copy, but its signature is gone: no block is removed while what "
             "it needs cannot be told (verify names it)").format(run_id=min(unsigned))


def sweep(dest, store_id: str, pinned_key: str, say=None, unsigned: list[str] = ()) -> Swept:
    """`unsigned`: run folders of the copy that this machine's record says were written there whole, and that hold no
    signature now. Such a run is damaged, not interrupted: what it needs cannot be told, and nothing is swept."""
    out = Swept()
    present = dest.blocks(store_id)
    dest.remove_block_leftovers(store_id)
    if not present:
        return out
    if unsigned:
        out.stopped = unsigned_stop(unsigned)
        return out
    marked: set[str] = set()
    for run_id in sorted(dest.signed_runs(store_id)):
        names = named_blocks(dest, store_id, run_id, pinned_key)
        if names is None:
            out.stopped = _gone(dest) or _(
                "run {run_id} holds a signature, but its block lists cannot be read and checked: no block is removed "
                "while what it needs cannot be told").format(run_id=run_id)
            return out
        marked |= names
    for name, size in present.items():  # the blocks in the order of their names (a BlockTable), then odd entries
        if name in marked or "/" in name or size < 0:
            out.kept += name in marked
            continue  # what is not a block of Coffre's is left for verify to say
        dest.remove_block(store_id, name)
        out.blocks += 1
        out.bytes += size
    return out


def _gone(dest) -> str | None:
    """Why the copy itself is out of reach now, if it is: a medium or a remote that went during the sweep is said as
    such, not as a run whose lists do not check."""
    try:
        dest.check_ready()
    except (CoffreError, OSError) as err:
        return _("the copy went out of reach as its runs' block lists were read ({reason}): no block is removed").format(
            reason=error_words(err))
    return None
