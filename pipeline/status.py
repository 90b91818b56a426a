"""Health at a glance, from this machine's own record: last run, last verify, last drill, per copy."""

from __future__ import annotations

import calendar
import time

from pipeline.config import Config
from pipeline.state.history import History


def _age_hours(stamp: str | None, now: float) -> float | None:
    if not stamp:
        return None
    try:
        return (now - calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ"))) / 3600
    except ValueError:
        return None


def store_status(cfg: Config, now: float | None = None) -> dict:
    now = now or time.time()
    h = History(cfg.state_dir, cfg.store_id)
    last = h.runs[-1] if h.runs else None
    checks = h.doc.get("checks") or []
    per_dest = {}
    for spec in cfg.destinations:
        entry = {"destination": spec, "last_run_written": None, "last_verify": None, "last_deep_verify": None, "last_drill": None}
        for r in reversed(h.runs):
            if spec in r.get("written", []):
                entry["last_run_written"] = r["run_id"]
                break
        for c in reversed(checks):
            key = {"verify": "last_verify", "verify-deep": "last_deep_verify", "drill": "last_drill"}.get(c.get("kind"))
            if not key or entry[key]:
                continue
            for copy in c.get("copies", []):
                if copy.get("destination") == spec:
                    entry[key] = {"at": c["at"], "ok": copy.get("ok"), "run_id": copy.get("run_id")}
                    break
        written = [r["run_id"] for r in h.runs if spec in r.get("written", [])]
        read = h.data_checks(spec)
        entry["runs_never_read_back_by_verify"] = sum(1 for rid in written if rid not in read)
        per_dest[spec] = entry
    problems = []
    if last is None:
        problems.append("no archive run yet")
    else:
        if last.get("failed"):
            problems.append(f"the last run {last['run_id']} missed: " + ", ".join(last["failed"]))
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
    return {"store_id": cfg.store_id, "last_run": last, "runs": len(h.runs), "destinations": list(per_dest.values()),
            "problems": problems, "ok": not problems}
