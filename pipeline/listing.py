"""`list`: the runs of each copy, from this machine's record and the copy itself, with what is known of each."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from pipeline import clock
from pipeline.config import Config
from pipeline.destinations import open_destination
from pipeline.errors import CoffreError
from pipeline.i18n import _
from pipeline.retention.policy import plan_at
from pipeline.state.history import History
from pipeline.destinations.places import normalised
from pipeline.verify.identity import CopyIdentity, unsure_at
from pipeline.system_errors import error_words

# A run the record says failed on this copy as its signature was published, found signed here.
PENDING = "signed here as the copy failed: the next archive reads it whole and counts it"


def list_runs(cfg: Config, specs: list[str], look: bool = True) -> list[dict]:
    h = History.of(cfg)
    zone = ZoneInfo(cfg.journals_timezone)
    kept = plan_at(h.runs, cfg.retention, zone, clock.now())
    out = []
    for spec in specs:
        where = normalised(spec)
        place = (h.doc.get("destinations") or {}).get(where) or {}
        medium = place.get("medium")
        copy = CopyIdentity(medium, where, set(place.get("media_seen") or []) | ({medium} if medium else set()))
        entry = {"destination": spec, "role": cfg.role(spec), "reached": None, "runs": []}
        present = None
        if look:
            try:
                dest = open_destination(spec, glance=True)
                dest.check_ready()
                present = dest.signed_runs(cfg.store_id)
                entry["reached"] = True
            except (CoffreError, OSError) as err:
                entry["reached"], entry["why_not"] = False, error_words(err)
        read = h.data_checks(copy.key)
        drilled = _drilled(h, copy)
        recorded = set()
        for r in h.runs:
            if not copy.written_here(r):
                continue
            recorded.add(r["run_id"])
            removed = copy.removed_here(r)
            state = "removed by retention" if removed else "held"
            if present is not None and not removed and r["run_id"] not in present:
                state = "MISSING from the copy"
            check = read.get(r["run_id"]) or {}
            entry["runs"].append({
                "run_id": r["run_id"], "created_at": r.get("created_at"), "bytes": r.get("bytes"),
                "findings": sum((r.get("findings") or {}).values()), "state": state,
                "verified": check.get("at") if check.get("ok") else None, "drilled": drilled.get(r["run_id"]),
                "kept_because": kept.get(r["run_id"]) or []})
        by_id = {r["run_id"]: r for r in h.runs}
        for rid in sorted((present or set()) - recorded):
            r = by_id.get(rid) or {}
            if r and unsure_at(r, where):  # its signature landed as the copy failed (verify/unrecorded.py)
                entry["runs"].append({"run_id": rid, "created_at": r.get("created_at"), "bytes": r.get("bytes"),
                                      "findings": sum((r.get("findings") or {}).values()), "state": PENDING,
                                      "verified": None, "drilled": None, "kept_because": kept.get(rid) or []})
                continue
            entry["runs"].append({"run_id": rid, "created_at": None, "bytes": None, "findings": None,
                                  "state": "not in this machine's record", "verified": None, "drilled": None,
                                  "kept_because": []})
        out.append(entry)
    return out


def state_text(state: str) -> str:
    """A run's `state` as a person reads it (the values themselves stay English: code compares them, --json keeps
    them)."""
    return {"held": _("held"), "removed by retention": _("removed by retention"),
            "MISSING from the copy": _("MISSING from the copy"),
            "not in this machine's record": _("not in this machine's record"),
            PENDING: _("signed here as the copy failed: the next archive reads it whole and counts it")}.get(state, state)


def _drilled(h: History, copy: CopyIdentity) -> dict[str, str]:
    """{run_id: when a drill restored it from this copy and found it sound}."""
    done = {}
    for c in h.doc.get("checks") or []:
        if c.get("kind") != "drill":
            continue
        for one in c.get("copies") or []:
            if one.get("ok") and one.get("run_id") and copy.judged_in(one):
                done[one["run_id"]] = c["at"]
    return done
