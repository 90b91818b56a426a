"""Checks the runs of one copy: signature, every file's BLAKE3, nothing missing or unlisted, the chain."""

from __future__ import annotations

from dataclasses import dataclass, field

from pipeline.manifest import format as fmt
from pipeline.manifest.check import SignatureInvalid, verify as verify_signature
from pipeline.pack.hashing import hash_stream


@dataclass
class Problem:
    destination: str
    run_id: str | None
    file: str | None
    message: str

    def sentence(self) -> str:
        where = " / ".join(x for x in (self.destination, self.run_id, self.file) if x)
        return f"{where}: {self.message}"


@dataclass
class RunReport:
    run_id: str
    ok: bool = True
    complete: bool = True  # False: no signature, an interrupted run, not counted as a run
    manifest: dict | None = None
    manifest_blake3: str | None = None
    bytes_read: int = 0


@dataclass
class CopyReport:
    destination: str
    runs: list[RunReport] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_run(dest, store_id: str, run_id: str, pinned_key: str, problems: list[Problem]) -> RunReport:
    rep = RunReport(run_id)
    label = dest.describe()

    def problem(file, message):
        rep.ok = False
        problems.append(Problem(label, run_id, file, message))

    try:
        present = set(dest.files(store_id, run_id))
    except OSError as err:
        problem(None, f"the run folder cannot be listed ({err.strerror or err})")
        return rep
    if fmt.SIGNATURE not in present:
        rep.ok, rep.complete = False, False
        return rep
    try:
        b3 = _read_small(dest, store_id, run_id, fmt.MANIFEST_B3)
        sig = _read_small(dest, store_id, run_id, fmt.SIGNATURE)
    except FileNotFoundError:
        problem(fmt.MANIFEST_B3, "is missing")
        return rep
    except OSError as err:
        problem(fmt.MANIFEST_B3, f"cannot be read ({err.strerror or err})")
        return rep
    try:
        verify_signature(pinned_key, b3, sig)
    except SignatureInvalid as err:
        problem(fmt.SIGNATURE, f"{err} (checked with the public key pinned in the configuration)")
        return rep
    try:
        listed = fmt.parse_b3(b3)
    except fmt.ManifestError as err:
        problem(fmt.MANIFEST_B3, str(err))
        return rep
    for name in sorted(present - set(listed) - {fmt.MANIFEST_B3, fmt.SIGNATURE}):
        problem(name, "is not listed in MANIFEST.b3 (an unlisted file was added)")
    for name, digest in sorted(listed.items()):
        if name not in present:
            problem(name, "is missing")
            continue
        try:
            with dest.open_read(store_id, run_id, name) as f:
                got, size = hash_stream(f)
        except OSError as err:
            problem(name, f"cannot be read ({err.strerror or err})")
            continue
        rep.bytes_read += size
        if got != digest:
            problem(name, "is damaged: its BLAKE3 differs from MANIFEST.b3")
        elif name == fmt.MANIFEST_JSON:
            rep.manifest_blake3 = got
    if fmt.MANIFEST_JSON not in listed:
        problem(fmt.MANIFEST_JSON, "is not listed in MANIFEST.b3")
    elif rep.manifest_blake3:
        try:
            rep.manifest = fmt.parse_manifest(_read_small(dest, store_id, run_id, fmt.MANIFEST_JSON))
        except (fmt.ManifestError, OSError) as err:
            problem(fmt.MANIFEST_JSON, str(err))
            return rep
        _cross_check(rep, listed, problem, store_id)
    return rep


def _cross_check(rep: RunReport, listed: dict, problem, store_id: str) -> None:
    m = rep.manifest
    if m["run_id"] != rep.run_id or m["store_id"] != store_id:
        problem(fmt.MANIFEST_JSON, f"names run {m['run_id']} of store {m['store_id']}, not this folder's")
    for f in m["files"]:
        if listed.get(f["name"]) != f["blake3"]:
            problem(f["name"], "manifest.json and MANIFEST.b3 disagree about this file")


def _read_small(dest, store_id, run_id, name) -> bytes:
    with dest.open_read(store_id, run_id, name) as f:
        data = f.read((1 << 20) + 1)
    return data


def verify_copy(dest, store_id: str, pinned_key: str, only_run: str | None, history_runs: list[dict]) -> CopyReport:
    """Verifies every run (or one) of a copy, then the chain that links them."""
    report = CopyReport(dest.describe())
    try:
        run_ids = dest.runs(store_id)
    except OSError as err:
        report.problems.append(Problem(report.destination, None, None, f"cannot be listed ({err.strerror or err})"))
        return report
    targets = [only_run] if only_run else run_ids
    if only_run and only_run not in run_ids:
        report.problems.append(Problem(report.destination, only_run, None, "this run is not in this copy"))
        return report
    by_id = {}
    for run_id in targets:
        rep = verify_run(dest, store_id, run_id, pinned_key, report.problems)
        if not rep.complete:
            written_here = any(r["run_id"] == run_id and dest.spec in r.get("written", []) for r in history_runs)
            if written_here:
                report.problems.append(Problem(report.destination, run_id, fmt.SIGNATURE,
                                               "is missing from a run this machine wrote completely"))
            else:
                report.notes.append(f"{run_id}: an interrupted run (no signature); not counted as a run")
            continue
        report.runs.append(rep)
        by_id[run_id] = rep
    _check_chain(report, dest, run_ids, by_id, history_runs, only_run is None)
    return report


def _check_chain(report: CopyReport, dest, run_ids: list[str], by_id: dict, history_runs: list[dict], whole: bool) -> None:
    present = set(run_ids)
    for rep in by_id.values():
        prev = rep.manifest and rep.manifest.get("previous_run")
        if not prev:
            continue
        pid = prev["run_id"]
        if pid in by_id and by_id[pid].manifest_blake3 and by_id[pid].manifest_blake3 != prev["manifest_blake3"]:
            report.problems.append(Problem(report.destination, pid, fmt.MANIFEST_JSON,
                                           f"differs from the one run {rep.run_id} chains to (the run was replaced)"))
        elif pid not in present and (any(r < pid for r in run_ids) or _written_here(history_runs, pid, dest.spec)):
            report.problems.append(Problem(report.destination, pid, None,
                                           f"is missing from this copy (run {rep.run_id} chains to it): deleted?"))
    if whole:
        for r in history_runs:
            if dest.spec in r.get("written", []) and r["run_id"] not in present and not r.get("removed"):
                if not any(p.run_id == r["run_id"] for p in report.problems):
                    report.problems.append(Problem(report.destination, r["run_id"], None,
                                                   "was written here by this machine and is no longer in this copy"))


def _written_here(history_runs: list[dict], run_id: str, spec: str) -> bool:
    return any(r["run_id"] == run_id and spec in r.get("written", []) for r in history_runs)
