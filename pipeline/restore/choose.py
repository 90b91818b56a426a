"""Which run restore, drill and export-auditor take, and from which copy: never older data without saying so.

The newest signed run found on any copy reached comes first, tried on each copy that holds it in the order given;
a folder that only looks like a run (a junk or copied folder with a far-future id, a forged signature) is passed
over for the next newest. The machine's record says which run was written last: restoring an older one is said.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.destinations import open_destination
from pipeline.destinations.presence import unmounted_reason
from pipeline.errors import CoffreError
from pipeline.i18n import _
from pipeline.state.history import History, RecordUnreadable
from pipeline.verify.identity import CopyIdentity, identify
from pipeline.system_errors import error_words


@dataclass
class Reached:
    spec: str
    dest: object
    signed: set[str]  # run folders that hold a signature file (checked when taken)
    ident: CopyIdentity | None = None  # which runs the record says were written to this copy


@dataclass
class Plan:
    copies: list[Reached] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # copies that could not be reached, and why
    newest_written: str | None = None  # the newest run the machine's record says reached a copy
    newest_record: dict | None = None  # its entry in the record
    record_note: str | None = None  # why the record could not be used, if it could not

    def candidates(self, run_id: str | None) -> list[str]:
        """The runs to try, newest first (only `run_id` when one is asked for)."""
        if run_id:
            return [run_id]
        return sorted(set().union(*(c.signed for c in self.copies)), reverse=True)

    def holders(self, run_id: str) -> list[Reached]:
        return [c for c in self.copies if run_id in c.signed]

    def lost_newest(self) -> list[str]:
        """The copies reached that the record says got the newest run: called once that run could not be taken from
        any of them (deleted, its signature or files damaged)."""
        if not self.newest_record:
            return []
        return [c.dest.describe() for c in self.copies if c.ident and c.ident.written_here(self.newest_record)]


def plan(cfg, specs: list[str]) -> Plan:
    p = Plan()
    record = None
    try:
        history = History.of(cfg)
        record, last = history.doc, history.last_run()
        p.newest_written, p.newest_record = (last["run_id"], last) if last else (None, None)
    except RecordUnreadable as err:
        # The day the till died, the record may be gone with it: the copies still restore.
        p.record_note = str(err)
    places = (record or {}).get("destinations") or {}
    for spec in specs:
        dest = open_destination(spec)
        try:
            dest.check_ready()
            # An unplugged key whose mount point remains is out of reach, not a copy whose runs were deleted.
            unmounted = unmounted_reason(dest, places.get(dest.normalised()))
            if unmounted:
                raise unmounted
            signed = dest.signed_runs(cfg.store_id)
        except (CoffreError, OSError) as err:
            p.skipped.append(_("{where}: {reason}").format(where=dest.describe(), reason=error_words(err)))
            continue
        p.copies.append(Reached(spec, dest, signed, identify(dest, signed, record) if record else None))
    return p


def older_than_written(p: Plan, chosen: str, why_not_newer: list[str], asked: bool = False) -> str | None:
    """The sentence to say when the run taken is older than the newest one this machine wrote (`asked`: by name, so
    the newer one was not tried)."""
    if not p.newest_written or chosen >= p.newest_written:
        return None
    if asked:
        return _("run {chosen}, as asked, is older than run {newest}, the last this machine wrote").format(
            chosen=chosen, newest=p.newest_written)
    where = "; ".join(why_not_newer[:3]) if why_not_newer else _("it is on none of the copies reached")
    return _("this is NOT the newest run: run {newest}, the last this machine wrote, could not be restored "
             "({reason}); run {chosen} is older").format(newest=p.newest_written, reason=where, chosen=chosen)


def newer_than_written(p: Plan, chosen: str) -> str | None:
    if not p.newest_written or chosen <= p.newest_written:
        return None
    return _("run {chosen} is newer than the last one this machine's record knows ({newest}): another machine "
             "wrote it, or the record is behind").format(chosen=chosen, newest=p.newest_written)


def lacking(p: Plan, chosen: str, taken_from: str) -> list[str]:
    """Sentences for the copies, tried before the one used, that do not hold the run taken."""
    said = []
    for c in p.copies:
        if c.spec == taken_from:
            break
        if chosen not in c.signed:
            said.append(_("the copy {copy} does not hold run {chosen} (was it plugged in that evening?); it was "
                          "taken from {taken_from}").format(copy=c.dest.describe(), chosen=chosen,
                                                            taken_from=taken_from))
    return said
