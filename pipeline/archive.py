"""The end-of-day archive run, stage by stage: snapshot, pack, tee to every copy, read back, sign."""

from __future__ import annotations

import datetime as _dt
import json
import sqlite3
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import blake3

from pipeline import clock, heap
from pipeline.config import Config
from pipeline.destinations import Destination, why_not_read
from pipeline.attention import baseline, needs_a_person
from pipeline.destinations.leftovers import remove_leftovers
from pipeline.destinations.medium import MEDIUM_FILE, MediumFileInvalid, new_medium_id, read_medium
from pipeline.destinations.medium import render as render_medium
from pipeline.destinations.places import one_per_place
from pipeline.destinations.transaction import CopyOutcome, RunTransaction
from pipeline.destinations.presence import absent_reason
from pipeline.copy_policy import policy_gaps
from pipeline.i18n import _, ngettext
from pipeline.progress import NO_PROGRESS, Progress
from pipeline.errors import CANNOT_RUN, NEEDS_PERSON, OK, PARTIAL, CannotRun, CoffreError, CopyAbsent, UsageError
from pipeline.keys import signing
from pipeline.keys.age_identity import parse_recipient
from pipeline.manifest import format as fmt
from pipeline.manifest.sign import sign
from pipeline.manifest.write import FILE_KINDS, control_files
from pipeline.manifest.block_table import BlockTable
from pipeline.manifest.blocks import LAYOUT, LIST_SUFFIX, list_chunks, refuse_odd
from pipeline.unreadable_blocks import block_path
from pipeline.pack.blocks import BLOCK, BlockCache, pack_blocks
from pipeline.pack.shared import SNAPSHOT_BLOCK, BlockNames, SharedBlocks, place_snapshot, place_stream
from pipeline.pack.stream import cpu_count, pack_bytes
from pipeline.journals.apart import ExportStopped
from pipeline.journals.cache import FrameCache
from pipeline.journals.incremental import journals_for_run
from pipeline.journals.secret import chain_secret
from pipeline.pack.frames import FrameTar, seal
from pipeline.snapshot import open_source
from pipeline.state.scratch import scratch_folder
from pipeline.journals.run import tables_wanted
from pipeline.state.activity_log import ActivityLog, check_against
from pipeline.state.activity_log import head as log_head
from pipeline.state.history import History, append_check
from pipeline.state.lock import StoreLock
from pipeline.state.record_lock import record_lock
from pipeline.state.sentences import english
from pipeline.verify.identity import CopyIdentity, twins, unnamed_at, unsure_at
from pipeline.verify.blocks import vouched_blocks
from pipeline.verify.unrecorded import find_placed, find_unrecorded
from pipeline.system_errors import error_words

JOURNALS_STATE_CONTEXT = "coffre 2026-12-06 journals state seal"


@dataclass
class ArchiveResult:
    run_id: str | None
    store_id: str
    copies: list[CopyOutcome]
    files: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    findings: list[dict] = field(default_factory=list)
    journals: dict | None = None
    attention: list[str] = field(default_factory=list)  # what needs a person although the run is saved (exit 5)
    journals_problem: str | None = None
    foreign_database: bool = False  # the database does not match the journal mapping: not the till's, it seems
    pruned: dict | None = None  # what the prune after the run removed ([retention] after_archive)
    held_blocks_read: int | None = None  # format 2: blocks the copies held already, read again tonight
    # format 2: {copy: blocks tonight's run names there that it held already and did not read tonight ([archive]
    # reread_days)}: the run's own new bytes are read back, these were last read on their own evening
    held_not_read: dict[str, int] = field(default_factory=dict)
    reread_days: int | None = None
    first_run: bool = False  # no run before this one in the record: every record is checked, as it must be
    # format 2: {copy: what tonight said of the blocks earlier runs need that it found damaged there}, recorded so that
    # status says it until a verify that reads the whole copy passes (the evenings after go round those blocks).
    held_damaged: dict[str, list[str]] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        good = sum(c.ok for c in self.copies)
        if good < len(self.copies):
            return PARTIAL if good else CANNOT_RUN
        return NEEDS_PERSON if self.attention else OK

    def to_json(self) -> dict:
        snap = self.facts.get("snapshot", {})
        return {
            "run_id": self.run_id,
            "store_id": self.store_id,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "copies": [{"destination": c.destination, "ok": c.ok, "reason": c.reason} for c in self.copies],
            "files": self.files,
            "snapshot": {k: snap.get(k) for k in ("plain_size", "row_counts", "quick_check")},
            "warnings": self.warnings,
            "attention": self.attention,
            "journals": self.journals,
            "findings": self.findings,
            "pruned": self.pruned,
            "held_blocks_read": self.held_blocks_read,
            "held_blocks_not_read_tonight": self.held_not_read,
        }


def run_archive(cfg: Config, destination_specs: list[str], allow_same_disk: bool = False,
                say=print, progress: Progress = NO_PROGRESS) -> ArchiveResult:
    """One archive run. `say` gets one-line messages; `progress` is told how far each long stage has gone."""
    started = time.time()
    heap.one_arena()  # before the run's threads start: each would otherwise keep an arena of its own
    if not destination_specs:
        raise UsageError(_("No destination: give --to DEST or configure destinations in the config file."))
    source = open_source(cfg.source, cfg.source_lock_wait, cfg.source_stall_timeout)
    recipients = [parse_recipient(r) for r in cfg.recipients]
    secret_key = signing.load_secret(cfg.signing_secret_key_file)
    with StoreLock(cfg.state_dir, cfg.store_id, say=say):
        history = History.of(cfg)
        result = ArchiveResult(None, cfg.store_id, [])
        plan = _prepare(cfg, destination_specs, source, history, allow_same_disk or cfg.allow_same_disk, result, say)
        result.first_run = plan.previous is None
        with _scratch(cfg) as scratch:
            sealed = None
            try:
                written, sealed = _write(cfg, plan, source, scratch, history, recipients, secret_key, result,
                                         progress, say)
                _commit(cfg, plan, written, sealed, history, destination_specs, result, say)
            except BaseException:
                _discard_sealed(sealed)
                raise
    _after(cfg, history, result, say)
    result.seconds = time.time() - started
    return result


@dataclass
class _Plan:
    """Tonight's run before anything is written: where it goes, what it follows, its id."""

    dests: dict[str, Destination]
    copies: dict[str, CopyOutcome]
    media: dict[str, str]
    adopted: list[dict]  # runs signed on a copy that this machine's record missed, recorded with this one
    placed: dict[str, list[str]]  # runs the record says failed on copies where they are signed whole after all
    unnamed: dict[str, set[str]]  # per copy, the runs signed there that were written to it before it had an id
    lost: dict[str, tuple[str, str, bool]]  # copies without their id file: (the id their runs show, a run of it,
    # whether it was never written there)
    before: dict[str, tuple[int, str]]  # copies without an id where another medium held runs: (how many, the newest)
    previous: dict | None
    run_id: str
    created_at: str


@dataclass
class _Written:
    run: RunTransaction
    control: list[tuple[str, bytes]]
    hashes: dict[str, str]  # the control files' BLAKE3
    blocks: BlockCache | None  # format 1's kept frames of the snapshot
    written_bytes: int = 0  # format 2: the bytes of the blocks this run wrote to each copy


def _prepare(cfg: Config, specs: list[str], source, history: History, allow_same_disk: bool,
             result: ArchiveResult, say) -> _Plan:
    """The copies that can take tonight's run, what the record missed, the run id; what killed runs left, swept."""
    dests, media, listed, lost, before = _ready_destinations(cfg, specs, source, history, allow_same_disk, result,
                                                             say)
    if not dests:
        raise CannotRun(_("No destination can be written: {reasons}").format(
            reasons=" ".join(c.reason for c in result.copies)))
    said: set[str] = set()
    for spec, others in twins(dests).items():
        if dests[spec].describe() in said:
            continue  # one sentence for the pair
        said.update(others)
        result.attention.append(_("the copy {copy} carries the same medium id as {others}: one medium reached two "
                                  "ways, or an id file copied from one medium to another").format(
            copy=dests[spec].describe(), others=", ".join(others)))
    unrecorded = find_unrecorded(dests, {s: signed for s, (_, signed) in listed.items()}, cfg.store_id,
                                 cfg.signing_public_key, history.runs)
    result.attention += unrecorded.forks
    for r in unrecorded.adopted:
        say(_("Note: run {run_id} is signed on {copies} but was not in this machine's record (an archive "
              "interrupted before it could record it, or another machine archiving this store): it is recorded now, "
              "and this run follows it.").format(run_id=r["run_id"], copies=", ".join(r["written"])))
    placed = find_placed(dests, {s: signed for s, (_, signed) in listed.items()}, cfg.store_id,
                         cfg.signing_public_key, history.runs)
    at = clock.now()
    run_id = clock.new_run_id(at, max([r["run_id"] for r in history.runs[-1:] + unrecorded.adopted] or [""]))
    with history.update() as doc:  # so that, killed, this run's folders are known to be this machine's
        ours = set(doc.get("started") or [])
        doc["started"] = sorted(ours | {run_id})[-50:]
    for spec, d in dests.items():
        # What interrupted runs left (unsigned folders, their .tmp- files) goes before this run starts.
        try:
            remove_leftovers(d, cfg.store_id, run_id, *listed[spec], ours)
        except OSError as err:
            say(_("Note: what interrupted runs left on {destination} could not be removed ({error}); it is never "
                  "counted, and the next run tries again.").format(destination=d.describe(), error=err))
    unnamed = {spec: {r["run_id"] for r in history.runs if r["run_id"] in listed[spec][1]
                      and unnamed_at(r, d.normalised())} for spec, d in dests.items()}
    return _Plan(dests, {c.destination: c for c in result.copies}, media, unrecorded.adopted, placed, unnamed, lost,
                 before, unrecorded.adopted[-1] if unrecorded.adopted else history.last_run(), run_id,
                 time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)))


def _scratch(cfg: Config):
    """A private folder for the snapshot's plain copy, removed however the run ends (state/scratch.py)."""
    # Under the store's lock no other run of this store is alive: a folder of its own left here is a killed run's (a
    # plain copy of the till database), removed now. '@' cannot be in a store id, so no other store's matches; the
    # state folder's digest keeps apart two stores that share an id on this machine (their locks do).
    place = blake3.blake3(str(Path(cfg.state_dir).absolute()).encode()).hexdigest()[:12]
    return scratch_folder("archive", f"{cfg.store_id}@{place}", cfg.scratch_dir, alone=True)


def _write(cfg: Config, plan: _Plan, source, scratch: Path, history: History, recipients: list, secret_key,
           result: ArchiveResult, progress, say) -> tuple[_Written, "_SealedJournals | None"]:
    """snapshot -> (journals || pack) -> facts -> control files -> signature, to every copy at once."""
    for warning in source.warnings():  # said before the snapshot they are about
        result.warnings.append(warning)
        say(warning)
    wanted = tables_wanted(cfg.journals_mapping, cfg.journals_timezone) if cfg.journals_enabled else None
    snap = source.take(scratch, progress, wanted)
    result.run_id = plan.run_id
    run = RunTransaction(cfg.store_id, plan.run_id, plan.dests, plan.copies, say, progress)
    journals = None
    shared = _shared_blocks(cfg, plan, run, recipients, secret_key) if cfg.store_format == 2 else None
    try:
        with ThreadPoolExecutor(2) as pool:
            try:
                # Beside the packing of the snapshot, from the same instant: its facts, and the journals, which
                # are sealed into the run as soon as they are ready (both files stream to every copy).
                inspected = pool.submit(snap.inspect)
                journals = pool.submit(_journals_sealed, cfg, snap.journals_db, scratch / "journals", history,
                                       plan.run_id, run, recipients, result, say, progress, shared,
                                       journals_state_key(secret_key)) \
                    if cfg.journals_enabled else None
                with snap.stream() as f:
                    tick = progress.task(_("Compressing and encrypting the snapshot"), snap.size)
                    if shared is None:
                        blocks = BlockCache.open(cfg.state_dir, cfg.store_id, cfg.compression_level)
                        data_name = snap.name + ".zst.age"
                        plain_hash, plain_size = run.data_file(
                            data_name, "snapshot", lambda sink: pack_blocks(f, sink, recipients, blocks, tick,
                                                                            cpu_count()))
                        made = {"size": BLOCK, "count": blocks.count, "compressed": blocks.compressed,
                                "reused": blocks.reused}
                        snap_extra = {}
                    else:
                        blocks = None
                        data_name = snap.name + LIST_SUFFIX
                        with run.placing():
                            placed, plain_hash, plain_size, tally, contents = place_snapshot(
                                f, shared, cfg.compression_level, tick, cpu_count())
                        write_list(run, data_name, "snapshot", placed)
                        made = {"size": SNAPSHOT_BLOCK, "count": tally.blocks, "written": tally.written,
                                "shared": tally.blocks - tally.written}
                        snap_extra = {"blocks_blake3": contents}
                    tick.done()
                snap.finish()
                snap_facts = dict(snap.facts, **inspected.result())
                sealed = journals.result() if journals else None
            except BaseException:
                snap.close()  # a session ended, a dump stopped: nothing the other threads wait for stays pending
                raise
    except BaseException:
        _discard_sealed(journals)
        raise
    finally:
        snap.close()
    try:
        facts = _facts(plan.run_id, cfg.store_id, dict(
            snap_facts, file=data_name, plain_name=snap.name, plain_blake3=plain_hash, plain_size=plain_size,
            blocks=made, **snap_extra),
            sealed, result)
        result.attention += needs_a_person(facts["snapshot"], baseline(history.runs), cfg.journals_enabled,
                                           sealed is not None, result.journals_problem, len(result.findings))
        run.data_file("facts.json.zst.age", "facts",
                      lambda sink: pack_bytes(json.dumps(facts, indent=2, sort_keys=True).encode(), sink,
                                              recipients, cfg.compression_level))
        run.read_back()
        control = control_files(plan.run_id, cfg.store_id, plan.created_at, plan.previous, cfg.recipients, run.files)
        try:
            hashes = run.publish(control, fmt.SIGNATURE, lambda b3: sign(
                secret_key, b3, fmt.trusted_comment(cfg.store_id, plan.run_id)), shared.sure if shared else None)
        finally:
            result.held_blocks_read = shared.held_read if shared is not None else None
            if shared is not None:
                result.held_not_read, result.reread_days = shared.unread(), cfg.reread_days
            if shared is not None:
                _damaged_held(shared, result)
    except BaseException:
        _discard_sealed_value(sealed)
        raise
    result.files = sorted(run.files, key=lambda f: FILE_KINDS.index(f["kind"]))
    return _Written(run, control, hashes, blocks, run.block_bytes), sealed


def _damaged_held(shared: SharedBlocks, result: "ArchiveResult") -> None:
    """Blocks an earlier run left on a copy that tonight found damaged or unreadable there: tonight's run went round
    them, but the runs that name them do not restore from that copy until repaired; a person must hear it."""
    # A copy that failed during the run (gone out of reach, its medium failing) has its failure said: the blocks it
    # could no longer give are not known damaged, and are not said so; those it gave and that were not the bytes
    # its lists say, or that its listing showed emptied or gone, are.
    live = set(shared.run.live_specs())
    damaged = {spec: names if spec in live else names & shared.damaged_seen.get(spec, set())
               for spec, names in shared.damaged_held.items()}
    damaged = {spec: names for spec, names in damaged.items() if names}
    # Damaged (or gone) on every copy that held it, every copy of the store being here tonight: no copy can heal it,
    # and the runs that need it restore from none. A copy not here may still hold it: then each copy is said alone.
    everyone = {c.destination for c in result.copies} <= set(shared.listed)
    lost = {n for names in damaged.values() for n in names
            if everyone and all(n in damaged.get(s, ()) for s in shared.damaged_holders.get(n) or ())}
    if lost:
        said = _one_or_many(lost, _(
            "block {name}, which earlier runs need, is damaged, gone or unreadable on every copy that held it: those "
            "runs no longer restore from any copy (coffre verify names them)"), _(
            "{count} blocks that earlier runs need are damaged, gone or unreadable on every copy that held them ({name} "
            "among them): those runs no longer restore from any copy (coffre verify names them)"))
        result.attention.append(said)
        for spec, names in damaged.items():
            if names & lost:
                result.held_damaged.setdefault(spec, []).append(said)
    for spec, names in sorted(damaged.items()):
        if names - lost:
            said = _one_or_many(names - lost, _(
                "on {copy}, block {name}, which earlier runs need, is damaged or cannot be read: they do not restore "
                "from that copy until coffre repair heals it from another copy (then run coffre verify)"), _(
                "on {copy}, {count} blocks that earlier runs need are damaged or cannot be read ({name} among them): "
                "those runs do not restore from that copy until coffre repair heals them from another copy (then run "
                "coffre verify)"), copy=spec)
            result.attention.append(said)
            result.held_damaged.setdefault(spec, []).append(said)


def _one_or_many(names: set[str], one: str, many: str, **values) -> str:
    """Two messages, not a plural form: the record keeps the sentence in English, and status finds it back in the
    reader's language from the catalogue's plain messages only (state/sentences.py)."""
    return (one if len(names) == 1 else many).format(name=block_path(min(names)), count=len(names), **values)


def _shared_blocks(cfg: Config, plan: _Plan, run: RunTransaction, recipients: list, secret_key) -> SharedBlocks:
    """Format 2: what each copy holds already (its blocks, and their stored BLAKE3 from its newest run's lists)."""
    listed, known = {}, {}
    for spec in run.live_specs():
        dest = plan.dests[spec]
        try:
            listed[spec] = dest.blocks(cfg.store_id)
            newest = max(dest.signed_runs(cfg.store_id), default=None)
        except OSError:
            listed[spec], newest = BlockTable(), None
        vouched = vouched_blocks(dest, cfg.store_id, newest, cfg.signing_public_key) if newest else None
        known[spec] = BlockTable(digests=True) if vouched is None else vouched
    day = _dt.date(int(plan.run_id[:4]), int(plan.run_id[4:6]), int(plan.run_id[6:8])).toordinal()
    live = set(run.live_specs())  # in the config's order, the copies on this machine first
    on_this_machine = sorted((spec for spec in plan.dests if spec in live),
                             key=lambda spec: _is_remote(plan.dests[spec]))
    return SharedBlocks(run, BlockNames(signing.raw_secret(secret_key)), recipients, listed, known, day,
                        cfg.reread_days, on_this_machine)


def _is_remote(dest: Destination) -> bool:
    try:
        return dest.device() is None
    except OSError:
        return True


def write_list(run: RunTransaction, name: str, kind: str, placed: list) -> None:
    """A data file's block list, written to every copy as the run's own file (read back, listed in MANIFEST.b3)."""
    refuse_odd((p.name, p.digest) for p in placed)

    def produce(sink) -> None:
        for chunk in list_chunks((p.name, p.digest) for p in placed):
            sink.write(chunk)

    run.data_file(name, kind, produce,
                  extra={"layout": LAYOUT, "blocks": len(placed), "stored": sum(p.size for p in placed)})


def _facts(run_id: str, store_id: str, snapshot: dict, sealed: "_SealedJournals | None", result: ArchiveResult) -> dict:
    """facts.json: what a restore must find again, and what the journals found (signed with the run, so that it
    outlives this machine's record)."""
    facts = {"run_id": run_id, "store_id": store_id, "snapshot": snapshot}
    if sealed is not None:
        outcome = sealed.outcome
        facts["journals"] = {"file": sealed.name, "mapping": outcome.mapping, "records": outcome.counts,
                             "zst_blake3": sealed.zst_blake3, "zst_size": sealed.zst_size,
                             "plain_size": sealed.plain_size,
                             "checked": "new records only" if outcome.incremental else "all records",
                             "checks": outcome.checks.summary(), "seconds": round(outcome.seconds, 3),
                             "findings": outcome.checks.named()}
        if sealed.blocks_blake3 is not None:
            facts["journals"]["blocks_blake3"] = sealed.blocks_blake3
        if outcome.last_yearly_closure:
            facts["journals"]["last_yearly_closure"] = outcome.last_yearly_closure
        if outcome.full_because:
            facts["journals"]["all_records_because"] = outcome.full_because
        result.findings = [f.to_json() for f in outcome.checks.findings]
        result.journals = facts["journals"]
    result.facts = facts
    return facts


def _commit(cfg: Config, plan: _Plan, written: _Written, sealed: "_SealedJournals | None", history: History,
            specs: list[str], result: ArchiveResult, say) -> None:
    """The run is signed: what the next run starts from (kept frames, journals checkpoint), the media's ids, the
    record of this machine and Coffre's own log."""
    copies = plan.copies
    done = [s for s, c in copies.items() if c.ok]
    if written.blocks is not None:
        written.blocks.commit()  # the snapshot's frames, for the next run to copy where its blocks are the same
    also = {}
    if sealed is not None:
        outcome = sealed.outcome
        outcome.commit()  # the journals kept for the next run, with what it starts from
        sealed.committed = True
        also = {"log_carried": sealed.carried,
                # Keyed by the mapping as the config names it (a vendor's file by its path), as the next run reads it.
                "journal_checkpoint": {"mapping": cfg.journals_mapping, "run_id": plan.run_id,
                                       "chains": outcome.checks.checkpoint, "till_keys": outcome.checks.till_keys}}
    unwritten = _name_new_media(plan.dests, done, plan.media, plan.lost, plan.before, result, say)
    # What one copy of this run takes on its medium (the signature: a few hundred bytes, not counted).
    size = sum(f["size"] for f in written.run.files if f.get("layout") != LAYOUT) + written.written_bytes \
        + sum(len(data) for _, data in written.control)
    entry = {"run_id": plan.run_id, "created_at": plan.created_at,
             "previous": plan.previous["run_id"] if plan.previous else None,
             "manifest_blake3": written.hashes[fmt.MANIFEST_JSON], "bytes": size}
    _record_run(history, entry, done, copies, plan.media, plan.dests, specs, result, also, plan.adopted,
                plan.placed, plan.unnamed, unwritten)
    for run_id, specs_there in plan.placed.items():  # said once counted: tonight's run may yet fail whole
        say(_("Note: run {run_id} was said not written to {copies}, but it is signed and whole there (its signature "
              "was published as the medium or the network went): it is counted there now.").format(
            run_id=run_id, copies=", ".join(specs_there)))
    log = ActivityLog(cfg.state_dir, cfg.store_id)
    for r in plan.adopted:
        log.append("archive-recorded-later", "ok", run_id=r["run_id"], written=r["written"])
    log.append("archive", "ok" if len(done) == len(copies) else "partial", run_id=plan.run_id, written=done,
               failed=sorted(s for s, c in copies.items() if not c.ok), findings=len(result.findings),
               attention=len(result.attention))


def _after(cfg: Config, history: History, result: ArchiveResult, say) -> None:
    """Once the store is unlocked: the copy policy, what needs a person, and the prune the config asks for."""
    missed, standing = policy_gaps(cfg, history.runs)
    for sentence in missed + standing:
        warning = _("Warning: copy policy (at least two copies, one off-site): {sentence}.").format(sentence=sentence)
        result.warnings.append(warning)
        say(warning)
    for sentence in result.attention:
        say(_("Needs a person: {sentence}.").format(sentence=sentence))
    if cfg.prune_after_archive:
        _prune_after(cfg, [c.destination for c in result.copies if c.ok], result, say)


def _prune_after(cfg: Config, written: list[str], result: ArchiveResult, say) -> None:
    """[retention] after_archive: the copies written tonight are pruned; a prune that fails is said, never fatal
    (the run is saved; the next evening prunes again)."""
    from pipeline.prune import prune

    try:
        pruned = prune(cfg, written, say=say)
    except CoffreError as err:
        pruned, why = None, str(err)
    else:
        # Each copy named: a prune's reasons may speak of "this copy", and several copies are pruned at once.
        why = "; ".join(_("{destination}: {reason}").format(destination=c.destination, reason=c.reason)
                        for c in pruned.copies if not c.ok)
    if pruned is not None:
        result.pruned = pruned.to_json()
    if why:
        warning = _("Warning: the prune after the run did not complete: {reason}").format(reason=why)
        result.warnings.append(warning)
        say(warning)


def _ready_destinations(cfg: Config, specs: list[str], source, history: History, allow_same_disk: bool,
                        result: "ArchiveResult", say) -> tuple[dict[str, Destination], dict[str, str], dict, dict,
                                                               dict]:
    """The destinations that can take a copy tonight, each with its medium id and its run folders (all, signed);
    the others are failed copies. Last, the copies whose id file is gone, with the id their runs show, and those
    without an id at a place where another medium held runs (_medium_before)."""
    known = history.doc.get("destinations") or {}
    dests: dict[str, Destination] = {}
    media: dict[str, str] = {}
    listed: dict[str, tuple[list[str], set[str]]] = {}
    distinct, same_as = one_per_place(specs)
    for spec, other in same_as.items():
        say(_("Note: {destination} is the same destination as {other}: one copy, written once.").format(
            destination=spec, other=other))
    for spec, d in distinct.items():
        where = d.normalised()
        copy = CopyOutcome(spec)
        result.copies.append(copy)
        why, warning = absent_reason(d, source, known.get(where), allow_same_disk)
        if warning:
            result.warnings.append(warning)
            say(warning)
        if why is None:
            try:
                # A medium without an id gets one with its first run (written once the run is signed there).
                media[spec] = read_medium(d) or ""
                # A store folder that cannot be listed (or is a link) takes no copy.
                listed[spec] = (d.runs(cfg.store_id), d.signed_runs(cfg.store_id))
            except (OSError, MediumFileInvalid) as err:
                reason = why_not_read(err) if isinstance(err, OSError) else err
                why = CopyAbsent(_("The destination {destination} cannot be prepared: {reason}.").format(
                    destination=d.describe(), reason=reason), _("cannot be prepared: {reason}").format(reason=reason))
        if why is not None:
            copy.ok, copy.reason, copy.words = False, str(why), error_words(why)
            say(_("Skipping: {reason}").format(reason=why))
            continue
        dests[spec] = d
    # The ids that copies here tonight without one were to get, as the runs each holds show: each is that copy's,
    # not a candidate for another (two copies whose id files both failed one evening).
    awaited = {spec: _awaited(dests[spec], listed[spec][1], history) for spec in dests if not media[spec]}
    confirmed = {spec: _confirmed(dests[spec], listed[spec][1], history, ids) for spec, ids in awaited.items()}
    lost = {spec: found for spec in dests if not media[spec]
            for found in [_lost_medium(dests[spec], spec, listed[spec][1], history, media, confirmed)] if found}
    for spec, ids in awaited.items():
        if spec not in lost and len(ids) == 1 and not _runs_lacking(dests[spec], next(iter(ids)), listed[spec][1],
                                                                    history):
            # The runs it holds went to that id but cannot yet tell it from another copy's medium: tonight's run goes
            # to it too, still unwritten. A new id would leave the copy's runs another medium's, "copied here by hand".
            # Only a copy holding every run of an id never written is known to be that medium (_runs_lacking).
            lost[spec] = (next(iter(ids)), "", True)
    before = {spec: found for spec in dests if not media[spec] and spec not in lost
              for found in [_medium_before(dests[spec], listed[spec][1], history)] if found}
    return dests, media, listed, lost, before


def _medium_before(d: Destination, signed: set[str], history: History) -> tuple[int, str] | None:
    """(how many, the newest) of the runs the medium last seen at this place holds, by the record, that this copy
    without an id does not: a new key put in its place, or that medium emptied and its id file deleted, which nothing
    on it tells apart. The copy gets an id of its own with tonight's run, and a person hears which runs it lacks."""
    old = ((history.doc.get("destinations") or {}).get(d.normalised()) or {}).get("medium")
    lacks = _runs_lacking(d, old, signed, history) if old else []
    return (len(lacks), lacks[-1]["run_id"]) if lacks else None


def _runs_lacking(d: Destination, medium: str, signed: set[str], history: History) -> list[dict]:
    """The runs recorded as written to `medium` (and not removed from it by retention) that this copy does not hold."""
    was = CopyIdentity(medium, d.normalised(), {medium})
    return [r for r in history.runs if was.written_here(r) and not was.removed_here(r) and r["run_id"] not in signed]


def _lost_medium(d: Destination, spec: str, signed: set[str], history: History, media: dict[str, str],
                 awaited: dict[str, set[str]]) -> tuple[str, str, bool] | None:
    """(the id, a run of it, whether that id was never written there) for a copy whose id file is gone or was never
    written, when its recorded runs tell which medium it is.

    A new id would leave it held to those runs all the same (verify/identity.py), and said to be a medium that
    runs were copied to by hand at every verify after, with no way out. The id written back (once tonight's run is
    signed there, _name_new_media) holds it to every run of that medium: a run deleted with the file still shows.
    Only what the runs show is taken: the medium every run it holds went to, the others among them being copies
    read tonight under their own ids. Where the place it stands at would be the only clue (another disk may stand
    there), nothing is written and verify says it. The other copies' id files can be forged as this one can: the
    write-back needs a person (exit 5)."""
    where = d.normalised()
    held = _held(d, signed, history)
    if not held:
        return None
    ids = set.intersection(*(set(r["media"]) for r in held))
    ids -= {m for other, m in media.items() if other != spec}  # media seen elsewhere tonight: not this one
    ids -= {m for other, theirs in awaited.items() if other != spec and len(theirs) == 1 for m in theirs}
    place = (history.doc.get("destinations") or {}).get(where) or {}
    unwritten = set(place.get("media_unwritten") or [])
    # An id never written is this copy's only if it holds every run recorded under it: a disk lacking one of them
    # is not known to be that medium, whatever else its runs share with it.
    ids -= {m for m in ids & unwritten if _runs_lacking(d, m, signed, history)}
    seen = place.get("media_seen")
    if len(ids) != 1 or (seen and not ids & set(seen)):
        return None
    # An id that could not be written when the copy got its first run here (_name_new_media) is its own, not one
    # that went missing: no finding.
    return next(iter(ids)), held[-1]["run_id"], bool(ids & unwritten)


def _held(d: Destination, signed: set[str], history: History) -> list[dict]:
    """The recorded runs this copy holds that say which medium it is (not rebuilt, not unsure or unnamed there)."""
    where = d.normalised()
    return [r for r in history.runs if r["run_id"] in signed and isinstance(r.get("media"), dict) and r["media"]
            and not r.get("rebuilt") and not unsure_at(r, where) and not unnamed_at(r, where)]


def _awaited(d: Destination, signed: set[str], history: History) -> set[str]:
    """The ids recorded at this copy's place whose file could not be written there (_name_new_media) that the runs
    it holds went to."""
    pending = set(((history.doc.get("destinations") or {}).get(d.normalised()) or {}).get("media_unwritten") or [])
    if not pending:
        return set()
    return {m for r in history.runs if r["run_id"] in signed and isinstance(r.get("media"), dict)
            for m in r["media"] if m in pending}


def _confirmed(d: Destination, signed: set[str], history: History, awaited: set[str]) -> set[str]:
    """Of the ids this copy awaits, those every run it holds went to: its place and its runs agree. Only such an id
    is ruled out for the other copies (a disk moved to another copy's place holds runs its place's id never had)."""
    held = _held(d, signed, history)
    return awaited & set.intersection(*(set(r["media"]) for r in held)) if held and awaited else set()


def _name_new_media(dests: dict[str, Destination], written: list[str], media: dict[str, str],
                    lost: dict[str, tuple[str, str, bool]], before: dict[str, tuple[int, str]], result: "ArchiveResult",
                    say) -> set[str]:
    """Writes the id file of every medium that got its first run tonight (not before: a copy that failed leaves
    nothing behind), and gives a copy whose id file is gone the id its runs show (_lost_medium): said, as a finding,
    with the run that records it. Returns the copies whose id file could not be written: tonight's run is recorded
    under the id they were to get all the same, which the next archive writes there when it finds that run."""
    unwritten = set()
    for spec in written:
        if media[spec]:
            continue
        d = dests[spec]
        if spec in before:
            count, example = before[spec]
            warning = ngettext(
                "Warning: {destination} has no {file} and is taken for a new medium, with an id of its own. {count} "
                "run written to the medium last seen there (such as {example}) is not on it: if that medium was "
                "emptied rather than put away, that run is on the other copies only.",
                "Warning: {destination} has no {file} and is taken for a new medium, with an id of its own. {count} "
                "runs written to the medium last seen there (such as {example}) are not on it: if that medium was "
                "emptied rather than put away, those runs are on the other copies only.",
                count).format(destination=d.describe(), file=MEDIUM_FILE, count=count, example=example)
            result.warnings.append(warning)
            say(warning)
        medium, example, pending = lost.get(spec) or (new_medium_id(), None, False)
        if pending and not example:  # awaited (_ready_destinations): unwritten till the runs tell it apart
            media[spec] = medium
            unwritten.add(spec)
            say(_("Note: the id that {destination} was to get with its first run is not written yet: the runs it "
                  "holds do not tell it from the medium of a copy not reached tonight.").format(
                destination=d.describe()))
            continue
        try:
            if d.create_root_file(MEDIUM_FILE, render_medium(medium)):
                media[spec] = medium
                if pending:
                    say(_("Note: the id of {destination}, which could not be written with its first run, is written "
                          "now.").format(destination=d.describe()))
                elif example:
                    # A person hears it: the file went (a tidy-up, or a hand hiding something), and an id file can be
                    # copied from one medium to another, which no rule here can tell from the truth; a verify of
                    # every copy together can.
                    result.attention.append(_(
                        "{file} was missing on {destination}: the id of the medium its runs were written to (such as "
                        "{example}) is written back; run `coffre verify` of every copy together to make sure no run "
                        "is missing from any").format(file=MEDIUM_FILE, destination=d.describe(), example=example))
                continue
            media[spec] = read_medium(d) or ""  # another run wrote one meanwhile: that one is the medium's
            if media[spec]:
                continue
            raise OSError(_("{file} cannot be written").format(file=MEDIUM_FILE))
        except (OSError, MediumFileInvalid) as err:
            # Tonight's run went to this medium all the same: recorded under the id it was to get, so that it is held
            # to its runs, and another key put in its place is not; the next archive that finds those runs there
            # writes that id (_lost_medium).
            media[spec] = medium
            if example and not pending:  # the finding waits for the write-back that makes it
                warning = _("Warning: {file} is missing on {destination}, and it could not be written back ({error}): "
                            "verify will say so.").format(file=MEDIUM_FILE, destination=d.describe(),
                                                          error=error_words(err))
            else:
                unwritten.add(spec)
                warning = _("Warning: the run was written to {destination}, but its medium could not be given an id "
                            "({error}): the next run tries again.").format(
                    destination=d.describe(), error=error_words(err))
            result.warnings.append(warning)
            say(warning)
    return unwritten


def _record_run(history: History, entry: dict, written: list[str], copies: dict, media: dict[str, str],
                dests: dict[str, Destination], specs: list[str], result: "ArchiveResult", also: dict,
                adopted: list[dict], placed: dict[str, list[str]], unnamed: dict[str, set[str]],
                unwritten: set[str]) -> None:
    """The run, where it went (by medium and by spelling), and what it must be compared with next time."""
    places = {}
    for spec in written:
        d = dests[spec]
        mount_point = getattr(d, "mount_point", None)
        places[d.normalised()] = {"spec": spec, "medium": media[spec] or None, "last_run": entry["run_id"],
                                  "mount_point": mount_point() if mount_point else None}
        if spec in unwritten:
            places[d.normalised()]["unwritten"] = True
    record = dict(entry,
                  written=written, media={media[s]: s for s in written if media[s]},
                  failed={s: english(c.reason) for s, c in copies.items() if not c.ok},
                  unsure=[s for s, c in copies.items() if not c.ok and c.maybe_signed],
                  row_counts=(result.facts.get("snapshot") or {}).get("row_counts") or {},
                  attention=[english(a) for a in result.attention],
                  findings=dict(((result.journals or {}).get("checks") or {}).get("by_check") or {}))
    if (result.journals or {}).get("last_yearly_closure"):
        record["last_yearly_closure"] = result.journals["last_yearly_closure"]  # retention's legal rule
    if result.foreign_database:
        record["foreign_database"] = True  # its row counts are not the next run's baseline
    for r in adopted:
        r["media"] = {media[s]: s for s in r["written"] if media.get(s)}
    with history.update() as doc:
        if any(r.get("run_id") == record["run_id"] for r in doc["runs"]):
            raise CannotRun(_("Run {run_id} is already in the record {path}.").format(run_id=record["run_id"],
                                                                                      path=history.path))
        for r in doc["runs"]:
            for spec in placed.get(r["run_id"], ()):
                # Signed there after all: held to that copy as to those it was written to (its medium among the
                # run's media, so verify/identity.py takes it for a run of that medium). What the run said of it
                # (`failed`, `unsure`) stays, as said.
                r["written"] = (r.get("written") or []) + [spec]
                if media.get(spec):
                    r["media"] = dict(r.get("media") or {}, **{media[spec]: spec})
            for spec in written:
                # Written there before the copy had an id, and signed there tonight: a run of the medium it has now.
                if r["run_id"] in unnamed.get(spec, ()) and media.get(spec) and isinstance(r.get("media"), dict) \
                        and unnamed_at(r, dests[spec].normalised()):
                    r["media"] = dict(r["media"], **{media[spec]: spec})
        doc["runs"] += adopted + [record]
        if result.held_damaged:
            # Kept with the verifies' verdicts: status says it until a verify that reads the whole copy passes.
            append_check(doc, {
                "kind": "archive", "at": entry["created_at"], "run_id": entry["run_id"],
                "copies": [{"destination": spec, "medium": media.get(spec) or None, "ok": False, "whole": False,
                            "problems": [english(s) for s in said]} for spec, said in result.held_damaged.items()]})
        doc["started"] = [r for r in doc.get("started") or [] if r > record["run_id"]]  # done, or dead and swept
        doc["last_destinations"] = specs
        known = doc.setdefault("destinations", {})
        for where, place in places.items():
            # Every medium ever written at this place: a copy whose id file was copied from another is still held
            # to the runs written here (verify/identity.py).
            before = known.get(where) or {}
            seen = set(before.get("media_seen") or []) | {m for m in (before.get("medium"), place["medium"]) if m}
            # The ids recorded here whose file could not be written yet: the one the copy was to get is written there
            # by the next archive that finds its runs on it (_lost_medium), even after other keys took turns here.
            pending = set(before.get("media_unwritten") or [])
            if place.pop("unwritten", False):
                pending.add(place["medium"])
            else:
                pending.discard(place["medium"])
            known[where] = dict(place, media_seen=sorted(seen), media_unwritten=sorted(pending))
        doc.update(also)


@dataclass
class _SealedJournals:
    outcome: object  # journals.incremental.RunJournals
    carried: dict  # the head of Coffre's own log that this run carries
    name: str
    zst_blake3: str
    zst_size: int
    plain_size: int
    blocks_blake3: str | None  # the blocks' contents root (format 2), FORMAT.md §11
    committed: bool = False  # kept for the next run
    discarded: bool = False


def _journals_sealed(cfg: Config, snapshot: Callable[[], Path], folder: Path, history: History, run_id: str, run: RunTransaction,
                     recipients: list, result: "ArchiveResult", say,
                     progress: Progress = NO_PROGRESS, shared: SharedBlocks | None = None,
                     state_key: bytes | None = None) -> _SealedJournals | None:
    """In a thread beside the snapshot's packing: the journals stage, then its tar sealed into every copy."""
    outcome = _journals_result(lambda: _journals_stage(cfg, snapshot, folder, history, run_id, progress,
                                                       _secret_or_none(cfg, result, say), state_key),
                               cfg.journals_mapping, result, say)
    if outcome is None:
        return None
    try:
        # Coffre's own log travels in every run; it must still hold what the last run carried.
        with record_lock(cfg.state_dir, cfg.store_id):  # not a line another command is appending
            log_lines = ActivityLog(cfg.state_dir, cfg.store_id).lines()
        for problem in check_against(log_lines, history.doc.get("log_carried")):
            warning = _("Warning: {problem}.").format(problem=problem)
            result.warnings.append(warning)
            say(warning)
        if log_lines:
            (outcome.folder / "coffre-log.jsonl").write_text("\n".join(log_lines) + "\n", encoding="utf-8",
                                                             errors="surrogateescape")
        carried = dict(log_head(log_lines), run_id=run_id)
        stream = FrameTar(outcome.members(cfg.compression_level), "journals", cfg.compression_level, int(time.time()))
        if shared is None:
            name = "journals.tar.zst.age"
            zst_hash, zst_size = run.data_file(name, "journals", lambda sink: seal(stream, sink, recipients))
            contents = None
        else:
            name = "journals.tar" + LIST_SUFFIX
            with run.placing():
                placed, zst_hash, zst_size, _tally, contents = place_stream(stream.chunks(), shared, cpu_count())
            write_list(run, name, "journals", placed)
    except BaseException:
        outcome.discard()
        raise
    return _SealedJournals(outcome, carried, name, zst_hash, zst_size, stream.plain_size, contents)


def _discard_sealed(job: "Future | _SealedJournals | None") -> None:
    """A run that fails after its journals were sealed must not leave their new frames as kept ones."""
    if isinstance(job, Future):
        if job.done() and not job.cancelled() and job.exception() is None:
            _discard_sealed_value(job.result())
    else:
        _discard_sealed_value(job)


def _discard_sealed_value(sealed: "_SealedJournals | None") -> None:
    if sealed is not None and not sealed.committed and not sealed.discarded:
        sealed.discarded = True
        sealed.outcome.discard()


def journals_state_key(secret_key) -> bytes:
    """The key that seals the journals' state (journals/cache.py state_seal), derived from the signing key."""
    return blake3.blake3(signing.raw_secret(secret_key), derive_key_context=JOURNALS_STATE_CONTEXT).digest()


def _secret_or_none(cfg: Config, result: "ArchiveResult", say) -> bytes | None:
    """The till's secret; a secret file that cannot be read costs only the checks of what it seals (said, and said
    again by the journals as records not checked), never the journals themselves."""
    try:
        return chain_secret(cfg.chain_secret_file)
    except UsageError as err:
        msg = _("Warning: {error} The records sealed with the till's secret are not checked.").format(error=err)
        result.warnings.append(msg)
        say(msg)
        return None


def _journals_stage(cfg: Config, snapshot: Callable[[], Path], folder: Path, history: History, run_id: str,
                    progress: Progress = NO_PROGRESS, secret: bytes | None = None, state_key: bytes | None = None):
    cp = history.doc.get("journal_checkpoint") or {}
    previous = cp if cp.get("mapping") == cfg.journals_mapping else None
    if previous is None and isinstance((cp.get("chains") or {}).get("source_chain"), dict):
        # The till's own chain is its numbers and seals whatever mapping reads it: what earlier runs archived of it
        # stays what this run is held to, though the mapping was changed (or given under another name).
        previous = {"chains": {"source_chain": cp["chains"]["source_chain"]}}
    return journals_for_run(snapshot(), folder, cfg.journals_mapping, previous, FrameCache(cfg.state_dir, cfg.store_id, state_key),
                            cfg.compression_level, {"store_id": cfg.store_id, "run_id": run_id,
                                                    "timezone": cfg.journals_timezone}, cfg.journals_timezone,
                            progress, secret)


def _journals_result(stage, mapping: str, result: "ArchiveResult", say):
    """The journals never block a backup: a failure to export them is shouted, the snapshot is saved anyway."""
    try:
        outcome = stage()
    except CannotRun:
        raise  # the source failed (a server gone, a right missing): the run fails with its one sentence
    except UsageError as err:
        problem = _("the fiscal journals were not exported: {error}").format(error=str(err).rstrip("."))
        msg = _("Warning: the fiscal journals were not exported: {error}").format(error=err)
    except sqlite3.DatabaseError as err:  # the mapping's SQL no longer runs on this database
        msg = _("Warning: the fiscal journals could not be exported: the till database no longer fits the journal "
                "mapping {mapping} ({error}); the database itself is saved.").format(mapping=repr(mapping), error=err)
        problem = _("the till database no longer fits the journal mapping {mapping} ({error}): did the till software "
                    "change?").format(mapping=repr(mapping), error=err)
    except Exception as err:  # noqa: BLE001 - the backup goes on; the message says what broke
        # An export process killed from outside is said in words; anything else is a bug, named as Python names it.
        error = str(err) if isinstance(err, ExportStopped) else f"{type(err).__name__}: {err}"
        msg = _("Warning: the fiscal journals could not be exported ({error}); the database itself is saved.").format(
            error=error)
        problem = _("the fiscal journals could not be exported ({error}); the database itself is saved").format(
            error=error)
    else:
        if outcome is None:
            msg = _("Note: this database does not match the configured journal mapping; no journals were exported.")
            result.foreign_database = True
            problem = _("the till database does not match the journal mapping {mapping}: is it the till's database, "
                        "or did the till change?").format(mapping=repr(mapping))
        else:
            return outcome
    # Said after "Needs a person: " with a full stop of its own.
    result.journals_problem = problem
    result.warnings.append(msg)
    say(msg)
    return None
