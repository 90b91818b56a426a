"""Checks the runs of one copy: signature, every file's BLAKE3, nothing missing or unlisted, the chain."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from pipeline.destinations import NotRegular, not_a_file, why_not_read
from pipeline.destinations.medium import MEDIUM_FILE
from pipeline.hashing import hash_stream
from pipeline.i18n import _, ngettext
from pipeline.progress import CountedReader
from pipeline.manifest import format as fmt
from pipeline.manifest.check import SignatureInvalid, verify as verify_signature
from pipeline.manifest.blocks import MAX_LIST, BlockListError, is_block_list, list_lines
from pipeline.retention.removal import read_removals
from pipeline.verify.blocks import BlockChecks
from pipeline.verify.identity import CopyIdentity, identify
from pipeline.system_errors import error_words
from pipeline.unreadable_blocks import block_path, by_reason, runs_named

LATEST = "latest"  # accepted wherever a run is named: the newest one
CONTROL_LIMIT = 1 << 20  # far above any control file Coffre writes (a few kB): a larger one is not read


@dataclass
class Problem:
    destination: str
    run_id: str | None
    file: str | None
    message: str

    def sentence(self) -> str:
        where = " / ".join(x for x in (self.destination, self.run_id, self.file) if x)
        return _("{where}: {message}").format(where=where, message=self.message)


@dataclass
class RunReport:
    run_id: str
    ok: bool = True
    complete: bool = True  # False: no signature, an interrupted run, not counted as a run
    authentic: bool = False  # signed with the pinned key, for this store and this run id (its files may be damaged)
    manifest: dict | None = None
    manifest_blake3: str | None = None
    data_read: bool = False  # every data byte was read (and, deep, decrypted) this time
    deep: bool = False
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)  # worth saying, not a problem of this copy


@dataclass
class CopyReport:
    destination: str
    spec: str = ""
    runs: list[RunReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key: str = ""  # the copy's key in the record (its medium id, or its normalised spelling)
    missing: bool = False  # the copy could not be reached at all (an unplugged key, a remote folder gone)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class VerifyOptions:
    pinned_key: str
    read_data: Callable[[str], bool] = lambda run_id: True  # whether to read this run's data files now
    # Which shared blocks (format 2) to read now, whatever the run naming them (verify --read-data-subset); None: the
    # blocks of the runs whose data is read. Not for deep, which opens a run's blocks together, to its contents root.
    read_block: Callable[[str], bool] | None = None
    # The verify command's: whether the block lists of a run whose data is not read are read all the same, and every
    # block they name looked for in the copy's listing. Restore and the other commands that check a run's signature
    # only: never.
    look_for_blocks: Callable[[str], bool] = lambda run_id: False
    # Runs verified before the others, when which runs' data is read is known beforehand (a subset): a block found
    # damaged by a run that reads it is then named with the runs that only looked it up too.
    read_first: Callable[[str], bool] | None = None
    deep: Callable | None = None  # deep(dest, run_report, listed, problem) reads data files itself
    progress: Callable[[int], None] | None = None  # told of the bytes read (a progress task, pipeline/progress.py)


def verify_run(dest, store_id: str, run_id: str, opts: VerifyOptions, problems: list[Problem],
               blocks: BlockChecks | None = None) -> RunReport:
    """`blocks`: the copy's block checks shared by the runs of one verify, which says each damaged block once with
    the runs that need it; without, this run's damaged blocks are its own problems."""
    rep = RunReport(run_id)
    label = dest.describe()

    def problem(file, message):
        rep.ok = False
        problems.append(Problem(label, run_id, file, message))

    try:
        present = dest.files(store_id, run_id)
    except NotRegular as err:
        problem(None, str(err))
        return rep
    except OSError as err:
        problem(None, _("the run folder cannot be listed ({reason})").format(reason=error_words(err)))
        return rep
    if fmt.SIGNATURE not in present:
        rep.ok, rep.complete = False, False
        return rep

    # Nothing is opened that the listing already shows is not what Coffre wrote: a FIFO or a link is not a file
    # of this copy, and a huge file would be read for nothing (a hostile copy must not make verify hang or work).
    def refused(name: str) -> bool:
        if present.get(name, 0) >= 0:
            return False
        problem(name, str(not_a_file(_kind_of(dest, store_id, run_id, name))))
        return True

    def too_large(name: str) -> bool:
        if present.get(name, 0) <= CONTROL_LIMIT:
            return False
        problem(name, _("is {size} bytes, larger than any file of this kind Coffre writes; not read").format(
            size=present[name]))
        return True

    signed = {}
    for name in (fmt.MANIFEST_B3, fmt.SIGNATURE):
        if name not in present:
            problem(name, _("is missing"))
            return rep
        if refused(name) or too_large(name):
            return rep
        try:
            signed[name] = read_small(dest, store_id, run_id, name)
        except FileNotFoundError:
            problem(name, _("is missing"))
            return rep
        except OSError as err:
            problem(name, why_not_read(err))
            return rep
    b3 = signed[fmt.MANIFEST_B3]
    try:
        # The trusted comment names the store and the run: a real run copied under another folder name is not
        # a run there.
        comment = verify_signature(opts.pinned_key, b3, signed[fmt.SIGNATURE])
    except SignatureInvalid as err:
        problem(fmt.SIGNATURE, _("{reason} (checked with the public key pinned in the configuration)").format(reason=err))
        return rep
    rep.authentic = comment == fmt.trusted_comment(store_id, run_id)
    if not rep.authentic:
        problem(fmt.SIGNATURE, _("signs another run than this folder's (its signed comment says {comment}): "
                                 "a run copied or renamed").format(comment=repr(comment[:120])))
    try:
        listed = fmt.parse_b3(b3)
    except fmt.ManifestError as err:
        problem(fmt.MANIFEST_B3, str(err))
        return rep
    for name in sorted(set(present) - set(listed) - {fmt.MANIFEST_B3, fmt.SIGNATURE}):
        problem(name, _("is not listed in MANIFEST.b3 (an unlisted file was added)"))
    missing = {name for name in listed if name not in present}
    for name in sorted(missing):
        problem(name, _("is missing"))
    unread = set(missing)  # never opened
    for name in sorted(set(listed) - missing):
        if refused(name):
            unread.add(name)

    def hash_file(name: str, limit: int) -> str | None:
        try:
            with dest.open_read(store_id, run_id, name) as f:
                # One byte past the listed size is enough to tell a file that grew since it was listed.
                got, size = hash_stream(CountedReader(f, opts.progress) if opts.progress else f, limit=limit + 1)
        except OSError as err:
            problem(name, why_not_read(err))
            return None
        rep.bytes_read += size
        if got != listed[name]:
            problem(name, _("is damaged: its BLAKE3 differs from MANIFEST.b3"))
            return None
        return got

    # The small control files first: manifest.json tells which files are data and their sizes.
    if fmt.MANIFEST_JSON not in listed:
        problem(fmt.MANIFEST_JSON, _("is not listed in MANIFEST.b3"))
    elif fmt.MANIFEST_JSON not in unread and not too_large(fmt.MANIFEST_JSON) \
            and hash_file(fmt.MANIFEST_JSON, CONTROL_LIMIT):
        rep.manifest_blake3 = listed[fmt.MANIFEST_JSON]
        try:
            rep.manifest = fmt.parse_manifest(read_small(dest, store_id, run_id, fmt.MANIFEST_JSON))
        except fmt.ManifestError as err:
            problem(fmt.MANIFEST_JSON, str(err))
        except OSError as err:
            problem(fmt.MANIFEST_JSON, why_not_read(err))
    data_files = {f["name"]: f for f in rep.manifest["files"]} if rep.manifest else {}
    if rep.manifest:
        unread |= _cross_check(rep, listed, present, problem, store_id)
    for name in sorted(listed):
        if name in unread or name == fmt.MANIFEST_JSON or name in data_files:
            continue
        # Without a trusted manifest the data files cannot be told apart: only the known control files are read.
        if (rep.manifest or name in fmt.CONTROL_FILES) and not too_large(name):
            hash_file(name, CONTROL_LIMIT)
    if not rep.manifest:
        return rep  # problems already said
    todo = [n for n in data_files if n not in unread]
    lists = [n for n in todo if is_block_list(data_files[n])]
    if not opts.read_data(run_id):
        # Its data is not read this time, but (a subset) its block lists are, and every block they name is looked
        # for in the copy's listing: a block deleted from a copy shows in every slice, whichever reads it.
        read = opts.read_block if opts.deep is None and opts.read_block is not None else _no_block
        for name in lists if opts.look_for_blocks(run_id) else ():
            if hash_file(name, data_files[name]["size"]):
                _check_blocks(dest, store_id, rep, name, blocks or BlockChecks(), problem, blocks is None,
                              opts.progress, read)
        return rep
    rep.data_read = True
    if opts.deep is not None:
        rep.deep = True
        stopped = opts.deep(dest, store_id, rep, {n: listed.get(n) for n in todo}, problem) or ()
        # Decryption stops at a list's first damaged block: each block of such a list is then held to its BLAKE3,
        # so that every damaged one is named, as a plain verify names them.
        for name in sorted(stopped):
            if name in todo and is_block_list(data_files[name]):
                _check_blocks(dest, store_id, rep, name, blocks or BlockChecks(), problem, blocks is None,
                              opts.progress)
    else:
        alone = blocks is None
        checks = BlockChecks() if alone else blocks
        for name in todo:
            if hash_file(name, data_files[name]["size"]) and name in lists:
                _check_blocks(dest, store_id, rep, name, checks, problem, alone, opts.progress, opts.read_block)
        if lists and opts.read_block is not None:
            rep.data_read = False  # a slice of its blocks only
    return rep


def _no_block(_name: str) -> bool:
    return False


def _check_blocks(dest, store_id: str, rep: RunReport, name: str, checks: BlockChecks, problem, alone: bool,
                  progress, read: Callable[[str], bool] | None = None) -> None:
    """A block list's blocks (format 2), each read once per verify whatever the runs that share it; `read`: which
    of them to read, the others being looked for in the copy's listing only (BlockChecks.check)."""
    try:
        with dest.open_read(store_id, rep.run_id, name) as f:
            data = f.read(MAX_LIST + 1)
        for _line in list_lines(data, name):
            pass  # a list with an odd line is refused whole, before any of its blocks is read
    except BlockListError as err:
        problem(name, str(err))
        return
    except OSError as err:
        problem(name, why_not_read(err))
        return
    before = checks.bytes_read
    # Its lines one at a time: a supermarket's list of 130,000 blocks, held as a list of tuples of texts, is 38 MB.
    blocks = ((block.decode("ascii"), digest.decode("ascii")) for block, digest in list_lines(data, name))
    bad = checks.check(dest, store_id, rep.run_id, blocks, progress, read)
    rep.bytes_read += checks.bytes_read - before
    if bad:
        rep.ok = False
        if alone:
            for key in bad:
                block = key.partition(":")[0]
                problem(name, _("block {block} {reason}").format(block=block, reason=checks.done[key]))


def _kind_of(dest, store_id: str, run_id: str, name: str) -> str:
    try:
        return dest.entry_kind(store_id, run_id, name)
    except OSError:
        return _("an entry that cannot be examined")


def _cross_check(rep: RunReport, listed: dict, present: dict, problem, store_id: str) -> set[str]:
    """manifest.json against MANIFEST.b3 and the listing; returns the data files not to read (wrong size)."""
    m = rep.manifest
    if m["run_id"] != rep.run_id or m["store_id"] != store_id:
        problem(fmt.MANIFEST_JSON, _("names run {run_id} of store {store_id}, not this folder's").format(
            run_id=m["run_id"], store_id=m["store_id"]))
    described = {f["name"] for f in m["files"]}
    for name in sorted(set(listed) - described - set(fmt.CONTROL_FILES)):
        problem(name, _("is listed in MANIFEST.b3 but not in manifest.json"))
    wrong_size = set()
    for f in m["files"]:
        if listed.get(f["name"]) != f["blake3"]:
            problem(f["name"], _("manifest.json and MANIFEST.b3 disagree about this file"))
        elif present.get(f["name"], -1) >= 0 and present[f["name"]] != f["size"]:
            problem(f["name"], _("is {size} bytes, manifest.json says {recorded} (truncated or grown)").format(
                size=present[f["name"]], recorded=f["size"]))
            wrong_size.add(f["name"])
    return wrong_size


def read_small(dest, store_id, run_id, name) -> bytes:
    with dest.open_read(store_id, run_id, name) as f:
        return f.read(CONTROL_LIMIT + 1)


def verify_copy(dest, store_id: str, opts: VerifyOptions, only_run: str | None, record: dict,
                twins_of: list[str] | None = None) -> CopyReport:
    """Verifies every run (or one) of a copy, then the chain, holding the copy to what the machine's `record` says
    was written to its medium. Runs are read least recently read first, so that a time budget (verify
    --max-duration) covers every run over successive verifies."""
    report = CopyReport(dest.describe(), dest.spec)
    try:
        run_ids = dest.runs(store_id)
        signed = dest.signed_runs(store_id)
    except OSError as err:
        why = str(err) if isinstance(err, NotRegular) else _("cannot be listed ({reason})").format(
            reason=error_words(err))
        report.problems.append(Problem(report.destination, None, None, why))
        return report
    if only_run == LATEST:  # the newest run this copy holds (a copy with none: said below as not in this copy)
        only_run = max(signed, default=LATEST)
    ident = identify(dest, signed, record, twins_of)
    report.key = ident.key
    report.problems += [Problem(report.destination, None, MEDIUM_FILE, p) for p in ident.problems]
    report.notes += ident.notes
    removals = read_removals(dest, store_id, opts.pinned_key, ident.medium)
    ident.signed_removals = removals.runs
    report.problems += [Problem(report.destination, None, None, p) for p in removals.problems]
    if only_run == LATEST:
        report.problems.append(Problem(report.destination, None, None, _("this copy holds no run of this store")))
        return report
    if only_run and only_run not in run_ids:
        report.problems.append(Problem(report.destination, only_run, None, _("this run is not in this copy")))
        return report
    history_runs = record.get("runs") or []
    last_read = ((record.get("data_checks") or {}).get(ident.key) or {})
    by_id = {}
    blocks = BlockChecks()
    first = opts.read_first or (lambda r: True)
    order = sorted(run_ids, key=lambda r: (not first(r), (last_read.get(r) or {}).get("at", ""), r))
    for run_id in [only_run] if only_run else order:
        rep = verify_run(dest, store_id, run_id, opts, report.problems, blocks)
        if not rep.complete:
            if run_id in ident.signed_removals or any(r["run_id"] == run_id and ident.removed_here(r)
                                                      for r in history_runs):
                report.notes.append(_("{run_id}: a removal by retention cut short (its signature went first); "
                                      "the next prune or archive finishes it").format(run_id=run_id))
            elif any(r["run_id"] == run_id and ident.written_here(r) for r in history_runs):
                report.problems.append(Problem(report.destination, run_id, fmt.SIGNATURE,
                                               _("is missing from a run this machine wrote completely")))
            elif only_run:  # asked for by name: the one run asked for is not a run
                report.problems.append(Problem(report.destination, run_id, fmt.SIGNATURE, _(
                    "is missing: an interrupted run, which nothing vouches for (the runs are listed by coffre list)")))
            else:
                report.notes.append(_("{run_id}: an interrupted run (no signature); not counted as a run").format(
                    run_id=run_id))
            continue
        report.runs.append(rep)
        report.notes.extend(_("{run_id}: {note}").format(run_id=run_id, note=n) for n in rep.notes)
        by_id[run_id] = rep
    _block_problems(report, blocks.problems())
    report.runs.sort(key=lambda r: r.run_id)
    _check_chain(report, run_ids, by_id, history_runs, ident, only_run is None)
    return report


def _block_problems(report: CopyReport, problems) -> None:
    """BlockChecks.problems() as the copy's problems: a damaged or missing block named with every run that needs it,
    and blocks that could not be read grouped by their reason (unreadable_blocks.py)."""
    unreadable: dict[str, tuple[str, list[str]]] = {}  # block -> (why, the runs that need it)
    for block, reason, runs, cannot_read in problems:
        if cannot_read:  # the copy's medium or permissions, not the block's bytes: nothing to heal from elsewhere
            unreadable[block] = (reason, runs)
            continue
        said = _("{reason}; the runs that need it: {runs} (coffre repair heals it from another copy that holds it "
                 "intact)")
        report.problems.append(Problem(report.destination, None, block_path(block),
                                       said.format(reason=reason, runs=", ".join(runs))))
    many, few = by_reason({block: why for block, (why, _runs) in unreadable.items()})
    for block in few:
        reason, runs = unreadable[block]
        said = _("{reason}; the runs that need it: {runs} (check the copy's medium and permissions, then verify again)")
        report.problems.append(Problem(report.destination, None, block_path(block),
                                       said.format(reason=reason, runs=", ".join(runs))))
    for blocks in many:
        said = ngettext("{count} block was not checked, for this reason: {reason}; {first} and {second} among them; "
                        "the runs that need them: {runs} (check the copy's medium and permissions, then verify again)",
                        "{count} blocks were not checked, each for the same reason: {reason}; {first} and {second} "
                        "among them; the runs that need them: {runs} (check the copy's medium and permissions, then "
                        "verify again)", len(blocks))
        report.problems.append(Problem(report.destination, None, "blocks/", said.format(
            count=len(blocks), reason=unreadable[blocks[0]][0], first=block_path(blocks[0]),
            second=block_path(blocks[1]), runs=runs_named({r for b in blocks for r in unreadable[b][1]}))))


def _follow(report: CopyReport, follower: str, prev: dict, present: set[str], by_id: dict, recorded: dict,
            ident: CopyIdentity, run_ids: list[str]) -> None:
    """Follows the chain back from `follower` through the runs retention removed (each signed removal names the run
    before it on this copy) to a run the copy holds, and says where it breaks."""
    pid, digest, walked = prev["run_id"], prev["manifest_blake3"], set()
    while pid not in present:
        entry = ident.signed_removals.get(pid)
        if entry is None:
            if pid in recorded and ident.removed_here(recorded[pid]):
                return  # pruned, says the record; a removal record gone from the copy is said apart
            # A run this copy never received (the key was unplugged that evening, or `--to` pointed elsewhere) is
            # no alarm: the record says where each run went. Without a record, a gap amid older runs is one (runs
            # still here, or runs a signed removal says this copy held), and so is a run a signed removal says came
            # before it here.
            if (ident.written_here(recorded[pid]) if pid in recorded
                    else follower in ident.signed_removals
                    or any(r < pid for r in run_ids) or any(r < pid for r in ident.signed_removals)):
                report.problems.append(Problem(report.destination, pid, None,
                                               _("is missing from this copy (run {follower} chains to it): "
                                                 "deleted?").format(follower=follower)))
            return
        if entry["manifest_blake3"] != digest:
            report.problems.append(Problem(report.destination, pid, None,
                                           _("is missing from this copy, and the signed removal record that names "
                                             "it names another manifest than the one run {follower} chains to").format(
                                               follower=follower)))
            return
        if pid in walked or not entry.get("previous_run"):
            return  # the first run this copy received
        walked.add(pid)
        follower, pid, digest = pid, entry["previous_run"]["run_id"], entry["previous_run"]["manifest_blake3"]
    if pid in by_id and by_id[pid].manifest_blake3 and by_id[pid].manifest_blake3 != digest:
        report.problems.append(Problem(report.destination, pid, fmt.MANIFEST_JSON,
                                       _("differs from the one run {follower} chains to (the run was "
                                         "replaced)").format(follower=follower)))


def _check_chain(report: CopyReport, run_ids: list[str], by_id: dict, history_runs: list[dict],
                 ident: CopyIdentity, whole: bool) -> None:
    present = set(run_ids)
    recorded = {r["run_id"]: r for r in history_runs}
    followers: dict[str | None, list[str]] = {}
    for rep in by_id.values():
        if not rep.manifest:
            continue  # what it follows is unknown: its own problems are said already
        prev = rep.manifest.get("previous_run")
        followers.setdefault(prev["run_id"] if prev else None, []).append(rep.run_id)
        if not prev:
            continue
        _follow(report, rep.run_id, prev, present, by_id, recorded, ident, run_ids)
    forks = [(pid, sorted(runs)) for pid, runs in followers.items() if len(runs) > 1] if whole else []
    for pid, runs in forks:
        if pid:
            said = _("the chain of runs forks: {runs} all follow run {previous}; two machines archive this store, "
                     "or a record was lost, rebuilt too late or restored from an older copy")
        else:
            said = _("the chain of runs forks: {runs} all follow no previous run (each is a first run); two machines "
                     "archive this store, or a record was lost, rebuilt too late or restored from an older copy")
        report.problems.append(Problem(report.destination, runs[-1], fmt.MANIFEST_JSON,
                                       said.format(runs=", ".join(runs), previous=pid)))
    if whole:
        for r in history_runs:
            if ident.written_here(r) and ident.removed_here(r) and r["run_id"] not in present \
                    and r["run_id"] not in ident.signed_removals:
                report.problems.append(Problem(report.destination, r["run_id"], None,
                                               _("was removed by retention, and the signed removal record written "
                                                 "here before it went is no longer in this copy (deleted?)")))
            if ident.written_here(r) and r["run_id"] not in present and not ident.removed_here(r) \
                    and r["run_id"] not in ident.signed_removals:
                if not any(p.run_id == r["run_id"] for p in report.problems):
                    report.problems.append(Problem(report.destination, r["run_id"], None,
                                                   _("was written here by this machine and is no longer in this "
                                                     "copy")))
