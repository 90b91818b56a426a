"""Runs signed on a copy that the machine's record does not hold: an interrupted archive's, or another machine's.

An archive killed after its signature reached a copy but before the record was saved leaves a real run the record
does not know. The next run takes it as its parent (and records it), so that the chain of runs stays one line.
A signed run that does not follow the record's last run is a fork: said, never adopted.

A run the record says failed on a copy as its signature was being published there (`unsure`) can still be signed
there: the medium or the network went as the signature was moved into place, and the archive could not hear it.
Found whole there (every byte read and held to its lists), with the manifest the record holds, that copy is counted
as holding it (find_placed). Until then, verify takes it for a run copied there by hand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.i18n import _, ngettext
from pipeline.verify.copy import VerifyOptions, verify_run


@dataclass
class Unrecorded:
    adopted: list[dict] = field(default_factory=list)  # record entries for the interrupted runs taken over
    forks: list[str] = field(default_factory=list)  # sentences


def find_unrecorded(dests: dict, signed: dict[str, set[str]], store_id: str, pinned_key: str,
                    runs: list[dict]) -> Unrecorded:
    """`dests` {spec: destination}, `signed` {spec: the run folders with a signature file}; `runs` the record's
    runs, oldest first."""
    known = {r["run_id"] for r in runs}
    followed = _followed(runs)
    last = next((r for r in reversed(runs) if r.get("written")), None)
    found: dict[str, dict] = {}  # run id -> {"manifest": …, "blake3": …, "written": [spec…]}
    for spec, dest in dests.items():
        for run_id in sorted(signed[spec] - known):
            problems: list = []
            rep = verify_run(dest, store_id, run_id, VerifyOptions(pinned_key, read_data=lambda r: False), problems)
            if rep.authentic and rep.manifest and not problems:
                entry = found.setdefault(run_id, {"manifest": rep.manifest, "blake3": rep.manifest_blake3, "written": []})
                entry["written"].append(spec)
    out = Unrecorded()
    for run_id in sorted(found):
        entry = found[run_id]
        prev = entry["manifest"].get("previous_run")
        prev_id = prev.get("run_id") if prev else None
        follows_last = (prev is None and last is None) or (
            prev is not None and last is not None and prev_id == last["run_id"]
            and prev.get("manifest_blake3") == last.get("manifest_blake3"))
        if follows_last and prev_id not in followed:
            last = {"run_id": run_id, "created_at": entry["manifest"].get("created_at"), "previous": prev_id,
                    "manifest_blake3": entry["blake3"], "written": entry["written"], "recovered": True}
            out.adopted.append(last)
            followed[prev_id] = run_id
        elif prev_id in followed or (prev is None and runs):
            # The record knows another run that follows the same one: two lines of runs from one point.
            where = _(" and ").join(dests[s].describe() for s in entry["written"])
            other = followed.get(prev_id)
            if prev_id:
                said = ngettext(
                    "{where} holds run {run_id}, which this machine's record does not know and which follows run "
                    "{previous}, as run {other} does: the chain of runs forks (another machine archives this store, "
                    "or the record was restored from an older backup)",
                    "{where} hold run {run_id}, which this machine's record does not know and which follows run "
                    "{previous}, as run {other} does: the chain of runs forks (another machine archives this store, "
                    "or the record was restored from an older backup)", len(entry["written"]))
            else:
                said = ngettext(
                    "{where} holds run {run_id}, which this machine's record does not know and which follows no "
                    "run, as run {other} does: the chain of runs forks (another machine archives this store, or the "
                    "record was restored from an older backup)",
                    "{where} hold run {run_id}, which this machine's record does not know and which follows no "
                    "run, as run {other} does: the chain of runs forks (another machine archives this store, or the "
                    "record was restored from an older backup)", len(entry["written"]))
            out.forks.append(said.format(where=where, run_id=run_id, previous=prev_id, other=other))
        # Otherwise it hangs from a run the record does not know either (a copy the record never held): no alarm.
    return out


def _followed(runs: list[dict]) -> dict:
    """{run id: the recorded run that follows it} (None for the first run's "previous"). Runs recorded before the
    record kept `previous` followed the last run before them that reached a copy, as the archive then chose."""
    out: dict = {}
    last = None
    for r in runs:
        prev = r["previous"] if "previous" in r else last
        out.setdefault(prev, r["run_id"])
        if r.get("written"):
            last = r["run_id"]
    return out


def find_placed(dests: dict, signed: dict[str, set[str]], store_id: str, pinned_key: str,
                runs: list[dict]) -> dict[str, list[str]]:
    """{run id: the copies it failed on as its signature was published, where it is signed and whole, with the
    manifest the record holds}."""
    from pipeline.verify.identity import pending_at

    placed: dict[str, list[str]] = {}
    for r in runs:
        if not r.get("unsure") or not r.get("manifest_blake3"):
            continue
        for spec, dest in dests.items():
            if r["run_id"] not in signed.get(spec, ()) or not pending_at(r, dest.normalised()):
                continue
            problems: list = []
            rep = verify_run(dest, store_id, r["run_id"], VerifyOptions(pinned_key, read_data=lambda _r: True),
                             problems)
            if rep.authentic and not problems and rep.manifest_blake3 == r["manifest_blake3"]:
                placed.setdefault(r["run_id"], []).append(spec)
    return placed
