"""Health at a glance, from this machine's own record: last run, last verify, last drill, per copy."""

from __future__ import annotations

import calendar
import time

from pipeline.config import Config
from pipeline.state.history import History
from pipeline.verify.identity import CopyIdentity, normalised as _normalised


def _age_hours(stamp: str | None, now: float) -> float | None:
    if not stamp:
        return None
    try:
        return (now - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))) / 3600
    except ValueError:
        return None


def store_status(cfg: Config, now: float | None = None) -> dict:
    now = now or time.time()
    h = History.of(cfg)
    last = h.runs[-1] if h.runs else None
    checks = h.doc.get("checks") or []
    per_dest = {}
    places = h.doc.get("destinations") or {}
    for spec in cfg.destinations:
        where = _normalised(spec)
        medium = (places.get(where) or {}).get("medium")
        copy = CopyIdentity(medium, where, {medium} if medium else set())
        entry = {"destination": spec, "last_run_written": None, "last_verify": None, "last_deep_verify": None, "last_drill": None}
        written = [r["run_id"] for r in h.runs if copy.written_here(r)]
        entry["last_run_written"] = written[-1] if written else None
        for c in reversed(checks):
            key = {"verify": "last_verify", "verify-deep": "last_deep_verify", "drill": "last_drill"}.get(c.get("kind"))
            if not key or entry[key]:
                continue
            for one in c.get("copies", []):
                if (medium and one.get("medium") == medium) or (where and _normalised(one.get("destination")) == where):
                    entry[key] = {"at": c["at"], "ok": one.get("ok"), "run_id": one.get("run_id")}
                    break
        read = h.data_checks(copy.key)
        entry["runs_never_read_back_by_verify"] = sum(1 for rid in written if rid not in read)
        per_dest[spec] = entry
    problems = []
    if last is None:
        problems.append("no archive run yet")
    else:
        if last.get("failed"):
            problems.append(f"the last run {last['run_id']} missed: " + ", ".join(last["failed"]))
        for sentence in last.get("attention") or []:
            problems.append(f"the last run {last['run_id']} needs a person: {sentence}")
        age = _age_hours(last.get("created_at"), now)
        if age is not None and age > 36:
            problems.append(f"the last run is {age:.0f} hours old")
    for spec, e in per_dest.items():
        for key, what in (("last_verify", "verify"), ("last_deep_verify", "deep verify"), ("last_drill", "drill")):
            if e[key] and not e[key]["ok"]:
                problems.append(f"the last {what} of {spec} failed ({e[key]['at']})")
        if not e["last_drill"] or not e["last_drill"]["ok"]:
            if not e["last_drill"]:
                problems.append(f"{spec} has never passed a restore drill")
    findings = (last or {}).get("findings") or {}
    return {"store_id": cfg.store_id, "last_run": last, "last_run_findings": findings, "runs": len(h.runs), "destinations": list(per_dest.values()),
            "problems": problems, "ok": not problems}
