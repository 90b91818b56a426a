"""`prune`: removes from each copy the runs no rule keeps, each removal a signed act written before anything goes.

Per copy, in this order: the plan (policy.py: the keep rules and the legal years, plus two protections of the copy:
the newest run written to it and the newest run a verify or drill found intact there); the removal record, signed
with the store key, written to the copy (removal.py: it names every run removed from the copy so far); the record of
this machine marks the runs removed there; then each run goes, signature first, and last the copy's earlier removal
records the new one supersedes; Coffre's own chained log says what went. Killed at any point, every copy still
verifies: a run is either whole, or no longer a run (no signature) and named by a signed removal.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from pipeline import __version__, clock
from pipeline.config import Config
from pipeline.destinations import open_destination
from pipeline.destinations.medium import MediumFileInvalid, read_medium
from pipeline.destinations.presence import unmounted_reason
from pipeline.errors import CANNOT_RUN, OK, PARTIAL, CoffreError, UsageError
from pipeline.i18n import _, ngettext
from pipeline.keys import signing
from pipeline.retention import removal
from pipeline.retention.policy import LEGAL_YEARS, plan_at
from pipeline.retention.sweep import sweep, unsigned_stop
from pipeline.state.activity_log import ActivityLog
from pipeline.state.history import History
from pipeline.state.lock import StoreLock
from pipeline.state.sentences import english
from pipeline.destinations.places import normalised
from pipeline.verify.identity import CopyIdentity
from pipeline.system_errors import error_words


@dataclass
class CopyPrune:
    destination: str
    ok: bool = True
    reason: str = ""
    removed: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    freed: int = 0  # bytes, from the record's size of each run removed
    notes: list[str] = field(default_factory=list)
    superseded: list[str] = field(default_factory=list)  # the copy's earlier removal records the new one replaces
    swept: int = 0  # blocks no run named any more, removed (format 2)


@dataclass
class PruneResult:
    act_id: str
    dry_run: bool
    copies: list[CopyPrune]
    reasons: dict[str, list[str]]  # run_id -> why kept ([] : not kept by the rules)

    @property
    def exit_code(self) -> int:
        if all(c.ok for c in self.copies):
            return OK
        # Nothing pruned anywhere (every copy missing): could not run, as an archive with no copy.
        return PARTIAL if any(c.ok or c.removed for c in self.copies) else CANNOT_RUN

    @property
    def acted(self) -> bool:
        """A removal record was written somewhere: the act exists."""
        return not self.dry_run and any(c.removed for c in self.copies)

    def to_json(self) -> dict:
        return {"act_id": self.act_id if self.acted else None, "dry_run": self.dry_run,
                "exit_code": self.exit_code, "kept": {r: w for r, w in self.reasons.items() if w},
                "copies": [{"destination": c.destination, "ok": c.ok, "reason": c.reason, "removed": c.removed,
                            "kept": c.kept, "freed_bytes": c.freed, "blocks_removed": c.swept, "notes": c.notes}
                           for c in self.copies]}


def prune(cfg: Config, specs: list[str], dry_run: bool = False, i_know: bool = False, say=print) -> PruneResult:
    if not specs:
        raise UsageError(_("No destination to prune: give --from DEST or configure destinations."))
    if cfg.retention.legal_years < LEGAL_YEARS and not (i_know or cfg.below_legal_accepted):
        raise UsageError(_("The rules keep runs {years} years, below the {legal} years French law keeps a till's "
                           "data: set below_legal_accepted = true in [retention], or add --i-know, to prune all the "
                           "same.").format(years=cfg.retention.legal_years, legal=LEGAL_YEARS))
    secret_key = None if dry_run else signing.load_secret(cfg.signing_secret_key_file)
    with StoreLock(cfg.state_dir, cfg.store_id, say=say):
        history = History.of(cfg)
        at = clock.now()
        # Stamped like a run id and after every run it may remove: status measures a copy's growth by both.
        act_id = clock.new_run_id(at, max((r["run_id"] for r in history.runs), default=None))
        runs = [r for r in history.runs if r.get("written")]
        reasons = plan_at(runs, cfg.retention, ZoneInfo(cfg.journals_timezone), at)
        result = PruneResult(act_id, dry_run, [], reasons)
        # Per copy, first its plan and its signed removal record; then the record of this machine, once for all
        # the copies; then the runs go.
        work = []
        for spec in specs:
            one = CopyPrune(spec)
            result.copies.append(one)
            with _stopped(one, say):
                work.append((one, _plan_copy(cfg, spec, history, runs, reasons, one, act_id, at, secret_key,
                                             dry_run)))
        if dry_run:
            # What the prune would meet: a run whose signature is gone stops its copy's sweep (exit 4), said now.
            for one, (dest, _key, _go, _unfinished, unsigned) in work:
                if one.ok and unsigned and dest.blocks(cfg.store_id):
                    one.ok, one.reason = False, unsigned_stop(unsigned)
            return result
        marked: dict[str, list[str]] = {}  # run_id -> the copies (record keys) it goes from
        for one, (_dest, key, go, _unfinished, _unsigned) in work:
            for r in go if one.ok else []:
                marked.setdefault(r["run_id"], []).append(key)
        if marked:
            with history.update() as doc:
                for r in doc["runs"]:
                    for key in marked.get(r["run_id"], []):
                        r.setdefault("removed", {})[key] = act_id
        log = ActivityLog(cfg.state_dir, cfg.store_id)
        for one, (dest, _key, go, unfinished, unsigned) in work:
            if not one.ok:
                continue
            with _stopped(one, say):
                for r in go + unfinished:
                    dest.remove_signed_run(cfg.store_id, r["run_id"])
                    one.removed.append(r["run_id"])
                    one.freed += r.get("bytes") or 0
                # Last: killed before, both records stand, and a reader honours what either names.
                for name in one.superseded:
                    for file in (name, name + ".minisig"):
                        dest.remove_store_file(cfg.store_id, removal.FOLDER, file)
                # Every prune sweeps (format 2), whatever it removed: what a killed sweep or archive left goes too.
                swept = sweep(dest, cfg.store_id, cfg.signing_public_key, unsigned=unsigned)
                if swept.stopped:
                    # Nothing of the removed runs' data went: the copy is not pruned, and a person must hear it.
                    one.ok, one.reason, one.freed = False, swept.stopped, 0
                elif swept.blocks or swept.kept:
                    # Format 2: what the removed runs alone needed is what the medium gets back.
                    one.freed = swept.bytes
                    one.swept = swept.blocks
            if one.removed:
                log.append("prune", "ok" if one.ok else "partial", act_id=act_id, destination=one.destination,
                           removed=one.removed)
        # For status: a prune that could not do its work (every evening, unattended) must reach a person; per copy,
        # so that pruning one copy neither hides nor blames another.
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
        with history.update() as doc:
            # What each act gave back on each copy (format 2 frees the blocks no run names, not what the removed runs
            # wrote): status measures a copy's size and growth by it.
            freed = doc.setdefault("freed", {})
            for one, (_dest, key, _go, _unfinished, _unsigned) in work:
                if one.removed and key:
                    mine = freed.get(key) if isinstance(freed.get(key), dict) else {"since": act_id, "total": 0,
                                                                                      "recent": []}
                    mine.update(total=(mine.get("total") or 0) + one.freed,
                                recent=(mine.get("recent") or [])[-99:] + [[act_id, one.freed]])
                    freed[key] = mine
            pruned = doc.setdefault("last_prune", {})
            for c in result.copies:
                pruned[normalised(c.destination) or c.destination] = {"at": stamp, "ok": c.ok,
                                                                         "problem": english(c.reason)}
    return result


@contextmanager
def _stopped(one: CopyPrune, say):
    """A copy that cannot be pruned (absent, read-only, failing) is said and left; the others go on."""
    try:
        yield
    except (CoffreError, OSError, MediumFileInvalid) as err:
        one.ok = False
        # The copy is named by every sentence that gives the reason (here, prune's summary, status).
        one.reason = error_words(err)
        say(_("Prune of {destination} stopped: {reason}").format(destination=one.destination, reason=one.reason))


def _plan_copy(cfg: Config, spec: str, history: History, runs: list[dict], reasons: dict, one: CopyPrune,
               act_id: str, at: float, secret_key, dry_run: bool):
    """What goes from this copy, its removal record written there first; (destination, copy key, runs to remove,
    runs a removal cut short left, runs written there whole that hold no signature now)."""
    open_destination(spec, glance=True).check_ready()  # a remote that does not answer is absent in seconds
    dest = open_destination(spec)
    dest.check_ready()  # the medium this prune works on, held to it to the end (the sweep asks again)
    where = dest.normalised()
    unmounted = unmounted_reason(dest, (history.doc.get("destinations") or {}).get(where))
    if unmounted:
        raise unmounted
    medium = read_medium(dest)
    seen = set(((history.doc.get("destinations") or {}).get(where) or {}).get("media_seen") or [])
    ident = CopyIdentity(medium, where, {medium} if medium else seen)
    signed = dest.signed_runs(cfg.store_id)
    present = set(dest.runs(cfg.store_id))
    here = [r for r in runs if ident.written_here(r) and r["run_id"] in signed]
    protected = set()
    if here:
        protected.add(here[-1]["run_id"])  # the newest run this copy holds
    intact = [rid for rid, c in history.data_checks(ident.key).items() if c.get("ok") and rid in signed]
    if intact:
        protected.add(max(intact))  # the newest run a verify or drill found intact here
    go = [r for r in here if not reasons.get(r["run_id"]) and r["run_id"] not in protected
          and not ident.removed_here(r)]
    # A removal cut short (the key pulled out): the runs already given up here are removed now.
    unfinished = [r for r in runs if ident.removed_here(r) and r["run_id"] in present]
    # A run written here whole whose signature is gone since (deleted, a failing medium) is damaged, not interrupted:
    # what it needs cannot be told, and the sweep stops on it. One the rules no longer keep, older than the newest run
    # held here, goes as any other would (named in the signed removal record first), and then needs no block.
    damaged = [r for r in runs if ident.written_here(r) and not ident.removed_here(r) and r["run_id"] in present
               and r["run_id"] not in signed]
    newest = here[-1]["run_id"] if here else None
    go += [r for r in damaged if not reasons.get(r["run_id"]) and newest is not None and r["run_id"] < newest]
    go.sort(key=lambda r: r["run_id"])
    unsigned = [r["run_id"] for r in damaged if r not in go]
    one.kept = [r["run_id"] for r in here if r not in go and r not in unfinished]
    unknown = sorted(signed - {r["run_id"] for r in runs})
    if unknown:
        one.notes.append(ngettext("{count} run here is not in this machine's record (another machine's, or before a "
                                  "rebuilt record): left alone",
                                  "{count} runs here are not in this machine's record (another machine's, or before "
                                  "a rebuilt record): left alone", len(unknown)).format(count=len(unknown)))
    if dry_run:
        one.removed = [r["run_id"] for r in go]
        one.freed = sum(r.get("bytes") or 0 for r in go)
    elif go:
        created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
        # The new record names the runs the copy's earlier valid records name, and supersedes them.
        earlier = removal.read_removals(dest, cfg.store_id, cfg.signing_public_key, medium)
        named = [dict(r, why="kept by no rule", previous_run=_before_here(r, runs, ident)) for r in go]
        named += [earlier.runs[rid] for rid in sorted(set(earlier.runs) - {r["run_id"] for r in go})]
        record = removal.render(cfg.store_id, act_id, created, __version__, medium, where, cfg.retention.to_json(),
                                sorted(named, key=lambda r: r["run_id"]))
        # The signature first: a kill between the two leaves a lone signature, which allows nothing.
        dest.put_store_file(cfg.store_id, removal.FOLDER, f"{act_id}.json.minisig",
                            removal.signed(secret_key, cfg.store_id, act_id, record))
        dest.put_store_file(cfg.store_id, removal.FOLDER, f"{act_id}.json", record)
        one.superseded = earlier.valid
    return dest, ident.key, go, unfinished, unsigned


def _before_here(run: dict, runs: list[dict], ident: CopyIdentity) -> dict | None:
    """The run `run` chains to, when this copy received it too: verify follows the chain through removed runs to
    the one before them (None: the chain starts here on this copy, as far as this machine knows)."""
    prev = next((r for r in runs if r["run_id"] == run.get("previous")), None)
    if prev is None or not ident.written_here(prev):
        return None
    return {"run_id": prev["run_id"], "manifest_blake3": prev["manifest_blake3"]}
