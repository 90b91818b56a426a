"""Health at a glance: per copy, what was written, read back, verified and drilled, whether the medium is there and
how many evenings it has room for; the copy policy; what the last run found; what a person must do."""

from __future__ import annotations

import calendar
import time

from pipeline import clock
from pipeline.config import Config
from pipeline.copy_policy import policy_gaps
from pipeline.destinations import open_destination
from pipeline.destinations.presence import unmounted_reason
from pipeline.errors import CoffreError
from pipeline.system_errors import error_words
from pipeline.i18n import _, ngettext
from pipeline.units import number, short_size
from pipeline.state.history import History, settled
from pipeline.state.sentences import shown
from pipeline.destinations.places import normalised as _normalised
from pipeline.verify.identity import CopyIdentity

GROWTH_RUNS = 10  # the growth of a copy is measured over its last this many runs
MAX_AGE_HOURS = 36
FILE_SLACK = 8 * 4096  # bytes: the blocks a run's eight files leave partly used on the medium


def _stamp(stamp: str | None) -> float | None:
    if not stamp:
        return None
    try:
        return calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))
    except ValueError:
        return None


def store_status(cfg: Config, now: float | None = None, look: bool = True) -> dict:
    """`look`: also reach each destination (is the medium there, its free space); without, the record only."""
    now = now or clock.now()
    h = History.of(cfg)
    last = h.runs[-1] if h.runs else None
    per_dest = [_copy_status(cfg, spec, h, now, look) for spec in cfg.destinations]
    problems, warnings = [], []
    if last is None:
        problems.append(_("no archive run yet"))
    else:
        if last.get("failed"):
            problems.append(_("the last run {run_id} missed: {copies}").format(run_id=last["run_id"],
                                                                               copies=", ".join(last["failed"])))
        # The last run's words on damaged blocks of a copy that a whole verify has read since are settled: that
        # verify said the damage itself, or found it healed.
        kept = [c for c in h.doc.get("checks") or [] if c.get("kind") == "archive" and c.get("run_id") == last["run_id"]]
        configured = {_normalised(spec) for spec in cfg.destinations}
        kept_said = {p for c in kept for one in c.get("copies") or [] if _normalised(one.get("destination")) in configured
                     for p in one.get("problems") or []}
        standing = {p for e in per_dest for held in e["held_blocks_damaged"] if held["run_id"] == last["run_id"]
                    for p in held["problems"]}
        for sentence in last.get("attention") or []:  # stored in English: said in the reader's language
            if sentence in kept_said and sentence not in standing:
                continue
            problems.append(_("the last run {run_id} needs a person: {sentence}").format(run_id=last["run_id"],
                                                                                         sentence=shown(sentence)))
        at = _stamp(last.get("created_at"))
        if at is not None and (now - at) / 3600 > MAX_AGE_HOURS:
            hours = round((now - at) / 3600)
            problems.append(ngettext("the last run is {hours} hour old", "the last run is {hours} hours old",
                                     hours).format(hours=hours))
    pruned = h.doc.get("last_prune") or {}
    for spec in cfg.destinations:
        prune = pruned.get(_normalised(spec) or spec)
        if prune and not prune["ok"]:
            problems.append(_("the last prune of {destination} ({at}) did not complete: {problem}").format(
                destination=spec, at=prune["at"], problem=shown(prune["problem"])))
    missed, standing = policy_gaps(cfg, h.runs)
    problems += [_("copy policy: {sentence}").format(sentence=m) for m in missed]
    warnings += [_("copy policy: {sentence}").format(sentence=s) for s in standing]
    for e in per_dest:
        spec = e["destination"]
        for key, failed in (("last_verify", _("the last verify of {destination} failed ({at})")),
                            ("last_deep_verify", _("the last deep verify of {destination} failed ({at})")),
                            ("last_drill", _("the last drill of {destination} failed ({at})"))):
            if e[key] and not e[key]["ok"]:
                if e[key].get("part_passed_since"):
                    failed = {"last_verify": _(
                        "the verify of {destination} failed ({at}), and no verify that read the whole copy has passed "
                        "since (those of one run, a slice or within a time limit do not clear it)"),
                        "last_deep_verify": _(
                        "the deep verify of {destination} failed ({at}), and no deep verify that read the whole copy "
                        "has passed since (those of one run, a slice or within a time limit do not clear it)")}[key]
                problems.append(failed.format(destination=spec, at=e[key]["at"]))
        for held in e["held_blocks_damaged"]:
            if held["run_id"] == (last or {}).get("run_id"):
                continue  # the last run's own are said with it, above
            for sentence in held["problems"]:
                said = _("the run {run_id} ({at}) needs a person: {sentence}; said until a verify that reads the "
                         "whole copy passes").format(run_id=held["run_id"], at=held["at"], sentence=shown(sentence))
                if said not in problems:  # a block lost to every copy is said once, not once per copy
                    problems.append(said)
        if not e["last_drill"]:
            problems.append(_("{destination} has never passed a restore drill").format(destination=spec))
        left = e["evenings_left"]
        if left is not None and left <= cfg.warn_evenings:
            if left == 0:
                problems.append(_("{destination} is full: the next run will not fit ({free} free, a run takes "
                                  "{run_size}); prune ([retention]) or use a larger medium").format(
                    destination=spec, free=short_size(e["free_bytes"]), run_size=short_size(e["run_bytes"])))
            else:
                problems.append(ngettext(
                    "{destination} will be full in about {left} evening at the current growth ({free} free, "
                    "{growth} an evening): prune ([retention]) or use a larger medium",
                    "{destination} will be full in about {left} evenings at the current growth ({free} free, "
                    "{growth} an evening): prune ([retention]) or use a larger medium", left).format(
                    destination=spec, left=number(left), free=short_size(e["free_bytes"]),
                    growth=short_size(e["growth_bytes"])))
    findings = (last or {}).get("findings") or {}
    return {"store_id": cfg.store_id, "last_run": last, "last_run_findings": findings, "runs": len(h.runs),
            "destinations": per_dest, "problems": problems, "warnings": warnings, "ok": not problems}


def _copy_status(cfg: Config, spec: str, h: History, now: float, look: bool) -> dict:
    where = _normalised(spec)
    place = (h.doc.get("destinations") or {}).get(where) or {}
    medium = place.get("medium")
    copy = CopyIdentity(medium, where, {medium} if medium else set())
    entry = {"destination": spec, "role": cfg.role(spec), "last_run_written": None, "last_written_at": None,
             "last_verify": None, "last_deep_verify": None, "last_drill": None}
    written = [r for r in h.runs if copy.written_here(r)]
    held = [r for r in written if not copy.removed_here(r)]
    if written:
        entry["last_run_written"], entry["last_written_at"] = written[-1]["run_id"], written[-1].get("created_at")
    entry["runs_held"] = len(held)
    total, freed = _freed(h, copy, written)
    # What the runs wrote here, less what prunes gave back (format 2: removed runs' blocks that kept runs still name
    # stay on the copy); without a record of what every prune here freed (a store pruned before Coffre kept it), the
    # sizes of the runs held.
    entry["bytes_held"] = sum(r.get("bytes") or 0 for r in written) - total if total is not None \
        else sum(r.get("bytes") or 0 for r in held)
    seen = [_stamp(entry["last_written_at"])]
    decided: set[str] = set()  # the kinds whose verdict is known: a failure, or a pass that reads the whole copy
    entry["held_blocks_damaged"] = []  # newest first
    checks = h.doc.get("checks") or []
    for i in range(len(checks) - 1, -1, -1):
        c = checks[i]
        key = {"verify": "last_verify", "verify-deep": "last_deep_verify", "drill": "last_drill"}.get(c.get("kind"))
        for one in c.get("copies", []):
            if not copy.judged_in(one):
                continue
            if c.get("kind") == "archive":
                # Blocks earlier runs need that an evening found damaged here: the evenings after go round them and
                # never read them again, so it stands until a whole verify of that medium (state/history.settled).
                if not one.get("ok") and not settled(one, checks[i + 1:], h.runs):  # each evening's: its own blocks
                    entry["held_blocks_damaged"].append({"at": c["at"], "run_id": c.get("run_id"),
                                                         "problems": list(one.get("problems") or [])})
                continue  # each copy it names that is this one (by folder or by medium): a key moved here too
            if not one.get("missing") and (one.get("ok") or one.get("runs")):
                seen.append(_stamp(c["at"]))
            if key and key not in decided:
                verdict = {"at": c["at"], "ok": one.get("ok"), "run_id": one.get("run_id")}
                # A verify that passed without reading the whole copy (one run, a slice, a time budget) does not
                # clear an older failure: what that one found damaged may be what this one did not read. A
                # failure, a whole verify and a drill settle it (a record older than `whole` counts as whole).
                if not one.get("ok") and entry[key] and one.get("missing"):
                    decided.add(key)  # the copy was only out of reach: nothing found damaged for a pass to miss
                elif not one.get("ok"):
                    if entry[key]:  # passes of part of the copy since: said, but they do not clear it
                        verdict["part_passed_since"] = entry[key]["at"]
                    entry[key] = verdict
                    decided.add(key)
                else:
                    entry[key] = entry[key] or verdict  # the newest pass is the one shown
                    if key == "last_drill" or one.get("whole", True):
                        decided.add(key)
            break
    read = h.data_checks(copy.key)
    entry["runs_never_read_back_by_verify"] = sum(1 for r in held if r["run_id"] not in read)
    entry.update(present=None, absent_because=None, free_bytes=None)
    if look:
        try:
            dest = open_destination(spec, glance=True)
            dest.check_ready()
            why = unmounted_reason(dest, place)
            if why:
                raise why
            entry["present"] = True
            seen.append(now)
            entry["free_bytes"] = dest.free_space()
        except (CoffreError, OSError) as err:
            entry["present"], entry["absent_because"] = False, error_words(err)
    last_seen = max((s for s in seen if s is not None), default=None)
    entry["days_since_present"] = None if last_seen is None else max(0, int((now - last_seen) // 86400))
    entry.update(_room(written[-GROWTH_RUNS:], written, copy, entry["free_bytes"], freed))
    return entry


def _freed(h: History, copy: CopyIdentity, written: list[dict]) -> tuple[int | None, list]:
    """(bytes every prune here freed, or None when some prune here was not recorded; [(act id, bytes)] of the recent
    ones, [] likewise)."""
    doc = h.doc.get("freed") or {}
    mine = next((doc[k] for k in (copy.medium, copy.where) if k and isinstance(doc.get(k), dict)), None)
    if not mine or not isinstance(mine.get("total"), int) or not isinstance(mine.get("since"), str):
        return None, []
    if any(act < mine["since"] for r in written if copy.removed_here(r) for act in _acts(r, copy)):
        return None, []
    recent = [tuple(x) for x in mine.get("recent") or [] if isinstance(x, list) and len(x) == 2
              and isinstance(x[0], str) and isinstance(x[1], int)]
    return mine["total"], recent


def _room(recent: list[dict], written: list[dict], copy: CopyIdentity, free: int | None, freed: list) -> dict:
    """The copy's growth an evening (the sizes of the last runs written to it, less what prunes removed from it
    meanwhile) and how many more evenings of runs its free space holds; None where it cannot tell."""
    out = {"run_bytes": None, "growth_bytes": None, "evenings_left": None}
    if not recent:
        return out
    # A run's files each end on a partly used block of the file system: a few KiB per file over its bytes.
    run = (recent[-1].get("bytes") or 0) + FILE_SLACK
    since = recent[0]["run_id"]
    added = sum(r.get("bytes") or 0 for r in recent)
    # Act ids are stamped like run ids: a removal after the first of the recent runs counts against their growth.
    removed = sum(b for act, b in freed if act > since) if freed and freed[0][0] <= since else \
        sum(r.get("bytes") or 0 for r in written if copy.removed_here(r) and max(_acts(r, copy), default="") > since)
    growth = (added - removed) / len(recent)
    out.update(run_bytes=run, growth_bytes=round(growth))
    if free is not None and run:
        if free < run:
            out["evenings_left"] = 0
        elif growth > 0:
            out["evenings_left"] = int((free - run) // growth) + 1
    return out


def _acts(run: dict, copy: CopyIdentity) -> list[str]:
    removed = run.get("removed") or {}
    return [removed[k] for k in (copy.medium, copy.where) if k and k in removed]
