"""The verify command's work: every chosen copy checked, the verdict recorded for `status`."""

from __future__ import annotations

import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import blake3

from pipeline.config import Config
from pipeline.destinations.places import one_per_place
from pipeline.destinations.presence import unmounted_reason
from pipeline.errors import CannotRun, CoffreError, UsageError
from pipeline.i18n import _
from pipeline.progress import NO_PROGRESS, Progress
from pipeline.state.history import History, RecordUnreadable
from pipeline.verify.copy import CopyReport, Problem, VerifyOptions, verify_copy
from pipeline.verify.deep import DeepChecker
from pipeline.verify.identity import twins
from pipeline.system_errors import error_words


@dataclass
class DataSelection:
    """Which runs have their data files read this time (metadata is always checked for all)."""

    # (n, m): the n-th of m fixed slices of the data: of the shared blocks (format 2) by their names, of the runs
    # written whole (format 1) by their ids. A run's blocks are spread over every slice, so that m verifies read each
    # block once; slicing runs instead read every slice nearly all of a store's blocks, which its runs share.
    subset: tuple[int, int] | None = None
    max_seconds: float | None = None  # budget: least recently read runs first (one at least), stop when spent

    def read_block(self, name: str) -> bool:
        """Whether a shared block is in this verify's slice (only asked with a subset)."""
        n, m = self.subset
        return int(name[:8], 16) % m + 1 == n  # names are keyed hashes: evenly spread

    def describe(self) -> str:
        if self.subset:
            return _("data of slice {n}/{m} (the blocks, and the runs written whole, that fall in it)").format(
                n=self.subset[0], m=self.subset[1])
        if self.max_seconds is not None:
            return _("data of the least recently checked runs, for {seconds} s").format(seconds=f"{self.max_seconds:g}")
        return _("data of every run")


def parse_subset(text: str) -> tuple[int, int]:
    n, sep, m = text.partition("/")
    # ASCII digits: str.isdigit() also takes "²", which int() then refuses.
    if not sep or not _DIGITS.fullmatch(n) or not _DIGITS.fullmatch(m) or not 1 <= int(n) <= int(m):
        raise UsageError(_("--read-data-subset takes n/m with 1 <= n <= m, not {given}.").format(given=repr(text)))
    return int(n), int(m)


_DIGITS = re.compile(r"[0-9]{1,9}")


def _slice_of(run_id: str, m: int) -> int:
    return int(blake3.blake3(run_id.encode()).hexdigest()[:8], 16) % m + 1


@dataclass
class VerifyOutcome:
    reports: list[CopyReport]
    recorded: bool = True  # False: the verdict could not be written to the record (a read-only state folder)
    not_recorded_because: str = ""
    same_as: dict[str, str] = field(default_factory=dict)  # a destination named twice: {the second name: the first}


def verify_destinations(cfg: Config, specs: list[str], run_id: str | None = None, identities: list | None = None,
                        selection: DataSelection | None = None, progress: Progress = NO_PROGRESS) -> VerifyOutcome:
    if not specs:
        raise UsageError(_("No destination to verify: give --from DEST or configure destinations."))
    selection = selection or DataSelection()
    history = History.of(cfg)
    started = time.monotonic()
    dests, same_as = one_per_place(specs)
    specs = list(dests)
    deep = DeepChecker(identities, side_by_side=len(specs) == 1) if identities else None
    same_medium = twins(dests)

    def one_copy(spec: str) -> CopyReport:
        dest = dests[spec]
        try:
            dest.check_ready()
            # An unplugged key whose mount point remains is a missing copy, not one whose every run was deleted.
            unmounted = unmounted_reason(dest, (history.doc.get("destinations") or {}).get(dest.normalised()))
            if unmounted:
                raise unmounted
        except CoffreError as err:  # a missing copy is a failed copy, not a crash
            rep = CopyReport(dest.describe(), spec, missing=True)
            rep.problems.append(Problem(dest.describe(), None, None, error_words(err)))
            return rep
        reads = [0]

        def read_data(rid: str) -> bool:
            if selection.subset:
                return _slice_of(rid, selection.subset[1]) == selection.subset[0]
            if selection.max_seconds is not None:
                # At least one run per copy each time, so that coverage always moves on.
                if reads[0] and time.monotonic() - started >= selection.max_seconds:
                    return False
            reads[0] += 1
            return True

        # What this machine wrote there is what there is to read, about (the bar ends when the copy is read).
        written = sum(r.get("bytes") or 0 for r in history.runs if spec in (r.get("written") or [])
                      and (run_id is None or r.get("run_id") == run_id))
        # --deep decrypts without telling the bytes: its bar shows the time only, not a total it would never reach.
        task = progress.task(_("Verifying copy {destination}").format(destination=dest.describe()),
                             None if deep else written or None)
        # A subset reads every run's block lists, since a block is read in its slice whichever run names it; a time
        # budget does not (a supermarket's list takes a second to look up, and there may be hundreds of runs).
        subset = selection.subset is not None
        sliced = subset and selection.subset[1] > 1  # 1/1 is every block, every run read whole
        opts = VerifyOptions(pinned_key=cfg.signing_public_key, read_data=read_data, deep=deep, progress=task or None,
                             read_block=selection.read_block if sliced else None,
                             look_for_blocks=lambda rid: subset, read_first=read_data if subset else None)
        try:
            return verify_copy(dest, cfg.store_id, opts, run_id, history.doc, same_medium.get(spec))
        finally:
            task.done()

    # The copies are on separate media (a USB key, a disk, a remote): they are read at the same time, and
    # reported in the order given.
    # Deep, two at a time: each copy read at once holds its zstd windows and facts in memory, and two already keep
    # both cores busy decrypting, so memory stays within a constant however many copies there are.
    with ThreadPoolExecutor(max(1, min(len(specs), 2 if deep else 4)), thread_name_prefix="coffre-verify") as pool:
        reports = list(pool.map(one_copy, specs))
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    read = {r.key: {run.run_id: {"at": now, "deep": run.deep, "ok": run.ok} for run in r.runs if run.data_read}
            for r in reports if r.key}
    # How many runs, not which: the record keeps a thousand checks, and their lists of run ids would grow with the
    # store (a nightly verify of three copies of six years of evenings: past the record's 256 MB, which then stops
    # every command). Which runs' data was read, and when, is in data_checks, one entry per run and copy.
    check = {"kind": "verify-deep" if deep else "verify", "at": now,
             # `whole`: every run of the copy read whole. Only such a verify clears a failed one in status: a verify
             # of one run, of a slice or within a time budget did not read what the failed one found damaged.
             "copies": [{"destination": r.spec, "medium": r.key, "ok": r.ok, "missing": r.missing,
                         "whole": run_id is None and all(x.data_read for x in r.runs),
                         "runs": len(r.runs), "data_read": sum(1 for x in r.runs if x.data_read),
                         "problems": [p.sentence() for p in r.problems]} for r in reports]}
    try:
        history.add_check(check, read)
    except RecordUnreadable:
        raise
    except (OSError, CannotRun) as err:
        # Whoever may read the copies may check them: a state folder they cannot write costs only the record.
        return VerifyOutcome(reports, False, error_words(err), same_as)
    return VerifyOutcome(reports, same_as=same_as)
