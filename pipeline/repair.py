"""`repair`: heals each copy's damaged or missing blocks (format 2) from another copy that holds them intact.

A block is intact when its bytes hash to the BLAKE3 the signed block lists of the runs that name it give; only such
bytes are ever written, through a temporary name, over the damaged block (or where it is missing), then read back.
A block no copy holds intact is named, with every run that needs it: those runs stay damaged on that copy.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, field

import blake3

from pipeline.config import Config
from pipeline.destinations import NotRegular, open_destination, why_not_read
from pipeline.errors import CANNOT_RUN, CHECK_FAILED, OK, CoffreError
from pipeline.i18n import _
from pipeline.manifest.blocks import MAX_BLOCK
from pipeline.state.activity_log import ActivityLog
from pipeline.state.lock import StoreLock
from pipeline.verify.blocks import signed_lists
from pipeline.system_errors import error_words, out_of_room


@dataclass
class CopyRepair:
    destination: str
    reachable: bool = True
    reason: str = ""
    checked: int = 0
    healed: list[str] = field(default_factory=list)
    unhealed: dict[str, list[str]] = field(default_factory=dict)  # block -> runs that need it
    # block -> (the copy that holds it intact, why it could not be written here): unhealed, but not for want of a copy
    unwritten: dict[str, tuple[str, str]] = field(default_factory=dict)
    unchecked: list[str] = field(default_factory=list)  # signed runs whose block lists do not check
    unreadable: dict[str, str] = field(default_factory=dict)  # block -> why this copy would not give it (not damage)
    no_room: set[str] = field(default_factory=set)  # blocks intact elsewhere that the copy, full, could not take


@dataclass
class RepairResult:
    copies: list[CopyRepair]

    @property
    def exit_code(self) -> int:
        if not any(c.reachable for c in self.copies):
            return CANNOT_RUN
        if any(set(c.unhealed) - c.no_room or c.unchecked or not c.reachable for c in self.copies):
            return CHECK_FAILED
        # Every block left is intact on another copy and only wanted room: the destination is full (DESIGN: exit 3).
        return CANNOT_RUN if any(c.unhealed for c in self.copies) else OK

    def to_json(self) -> dict:
        return {"exit_code": self.exit_code,
                "copies": [{"destination": c.destination, "reachable": c.reachable, "reason": c.reason,
                            "blocks_checked": c.checked, "healed": c.healed, "unhealed": c.unhealed,
                            "unwritten": {b: {"intact_on": o, "reason": r} for b, (o, r) in c.unwritten.items()},
                            "unreadable": c.unreadable, "no_room": sorted(c.no_room),
                            "runs_unchecked": c.unchecked}
                           for c in self.copies]}


def _read(dest, store_id: str, name: str) -> bytes | None:
    return _read_or_why(dest, store_id, name)[0]


def _read_or_why(dest, store_id: str, name: str) -> tuple[bytes | None, str | None]:
    """A block's bytes (None: missing or too large), or why the copy would not give them (its medium, its
    permissions: not the block's damage)."""
    try:
        with dest.open_block(store_id, name) as f:
            data = f.read(MAX_BLOCK + 1)
    except (FileNotFoundError, NotRegular, IsADirectoryError, ValueError):
        return None, None  # missing, or something else in its place: written over if it can be (or said why not)
    except OSError as err:
        return None, why_not_read(err)
    return (data if len(data) <= MAX_BLOCK else None), None


def repair(cfg: Config, specs: list[str], say=print) -> RepairResult:
    result = RepairResult([])
    with StoreLock(cfg.state_dir, cfg.store_id, say=say):
        dests, needs, checked_runs = {}, {}, {}
        for spec in specs:
            one = CopyRepair(spec)
            result.copies.append(one)
            dest = open_destination(spec)
            try:
                dest.check_ready()
                # The blocks only, not which runs name them: a store never pruned holds runs x blocks names (six
                # years of a supermarket's evenings: some 10^8), and the runs matter only for a block not healed.
                needed: set[tuple[str, str]] = set()
                runs = []
                for run_id in sorted(dest.signed_runs(cfg.store_id)):
                    lists = signed_lists(dest, cfg.store_id, run_id, cfg.signing_public_key)
                    if lists is None:  # its signature or a list does not check: what it needs cannot be told
                        one.unchecked.append(run_id)
                        continue
                    runs.append(run_id)
                    for blocks in lists.values():
                        needed.update(blocks)
            except (CoffreError, OSError) as err:
                one.reachable, one.reason = False, error_words(err)
                continue
            dests[spec], needs[spec], checked_runs[spec] = dest, needed, runs
        # Which copy holds each needed block intact: read once per copy, kept only as long as it is needed.
        intact: dict[str, set[tuple[str, str]]] = {}
        for spec, dest in dests.items():
            good = intact[spec] = set()
            one = next(c for c in result.copies if c.destination == spec)
            for name, digest in needs[spec]:
                data, why = _read_or_why(dest, cfg.store_id, name)
                if why is not None:
                    one.unreadable[name] = why
                if data is not None and blake3.blake3(data).hexdigest() == digest:
                    good.add((name, digest))
            one.checked = len(needs[spec])
        for spec, dest in dests.items():
            one = next(c for c in result.copies if c.destination == spec)
            writer = dest.start_blocks(cfg.store_id)
            unhealed: set[tuple[str, str]] = set()
            for key in sorted(needs[spec]):
                if key in intact[spec]:
                    continue
                name, digest = key
                healed, failed = False, None
                for other, holds in intact.items():
                    if other == spec or key not in holds:
                        continue
                    data = _read(dests[other], cfg.store_id, name)
                    if data is None or blake3.blake3(data).hexdigest() != digest:
                        continue
                    try:
                        writer.put(name, data, replace=True)
                        back = _read(dest, cfg.store_id, name)
                    except OSError as err:
                        back, failed = None, (dests[other].describe(), _write_failure(err))
                        if out_of_room(err):
                            one.no_room.add(name)
                    healed = back is not None and blake3.blake3(back).hexdigest() == digest
                    if not healed and failed is None:
                        failed = (dests[other].describe(), _("it does not read back as written (is the medium "
                                                             "failing?)"))
                    break
                if healed:
                    one.healed.append(name)
                    one.unreadable.pop(name, None)
                    say(_("{destination}: block {block} healed from {other}.").format(
                        destination=dest.describe(), block=name, other=dests[other].describe()))
                else:
                    unhealed.add(key)
                    one.unhealed[name] = []
                    if failed is not None:
                        one.unwritten[name] = failed
            if unhealed:
                _name_runs(dest, cfg, checked_runs[spec], unhealed, one)
        log = ActivityLog(cfg.state_dir, cfg.store_id)
        for one in result.copies:
            if one.healed or one.unhealed:
                log.append("repair", "ok" if not one.unhealed else "partial", destination=one.destination,
                           healed=one.healed, unhealed=sorted(one.unhealed))
    return result


def _name_runs(dest, cfg: Config, runs: list[str], unhealed: set[tuple[str, str]], one: CopyRepair) -> None:
    """Every run that needs a block left unhealed, from the block lists read again: a second reading only when a
    block could not be healed, rather than every run of every block kept in memory all along."""
    for run_id in runs:
        lists = signed_lists(dest, cfg.store_id, run_id, cfg.signing_public_key)
        if lists is None:  # checked a moment ago, and now not: the medium is failing
            one.unchecked.append(run_id)
            continue
        named = {name for blocks in lists.values() for name, digest in blocks if (name, digest) in unhealed}
        for name in named:
            one.unhealed[name].append(run_id)


def _write_failure(err: OSError) -> str:
    """Why a block read intact from another copy could not be written over this copy's: a folder in its place is
    not Coffre's to remove (it may hold someone's files), so the person is asked to move it."""
    if err.errno == errno.EISDIR:
        return _("a folder stands in its place, which Coffre does not remove: move it away, then run coffre repair "
                 "again")
    return _("it could not be written there ({error})").format(error=error_words(err))
