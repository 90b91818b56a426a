"""The removal record: the signed act by which retention removed runs from one copy (FORMAT.md §9).

Written to `<store>/removals/<act_id>.json` with its minisign signature beside it (`.minisig`), on the copy whose
runs it removes, before any of them is touched. Each record names every run removed from that copy so far, so that
the records it supersedes can go: a copy holds one or two, however many evenings were pruned (a reader reads them
all, and on a remote each file read is a round trip). Verify honours a gap in the chain of runs only when a removal record
signed with the store's pinned key names the missing run, with the BLAKE3 of its manifest: whoever can write to a
USB key cannot make a deleted run look pruned, and a run deleted by hand is still reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pipeline.i18n import _
from pipeline.manifest import format as fmt
from pipeline.manifest.check import SignatureInvalid, verify
from pipeline.manifest.sign import sign
from pipeline.system_errors import error_words

FOLDER = "removals"
FORMAT_NAME = "coffre-removal"
FORMAT_VERSION = 1
LIMIT = 16 << 20  # bytes: far above any record (about 300 bytes per run removed; six years of evenings: 700 kB)
MAX_RECORDS = 20000  # far above six years of evening prunes; a copy holding more is not read further


def trusted_comment(store_id: str, act_id: str) -> str:
    return f"coffre removal store:{store_id} act:{act_id}"


def render(store_id: str, act_id: str, removed_at: str, version: str, medium: str | None, destination: str,
           rules: dict, runs: list[dict]) -> bytes:
    doc = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, "store_id": store_id, "act_id": act_id,
           "removed_at": removed_at, "tool": {"name": "coffre", "version": version}, "medium": medium,
           "destination": destination, "rules": rules,
           "runs": [{k: r.get(k) for k in ("run_id", "manifest_blake3", "created_at", "previous_run", "why")}
                    for r in runs]}
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=True) + "\n").encode()


def signed(secret_key, store_id: str, act_id: str, record: bytes) -> bytes:
    return sign(secret_key, record, trusted_comment(store_id, act_id))


@dataclass
class Removals:
    """What the removal records of one copy allow, and what is wrong with them."""

    runs: dict[str, dict] = field(default_factory=dict)  # run_id -> its entry {manifest_blake3, previous_run, ...}
    valid: list[str] = field(default_factory=list)  # the records that passed every check (file names)
    acts: dict[str, str] = field(default_factory=dict)  # run_id -> the act that removed it
    problems: list[str] = field(default_factory=list)


def read_removals(dest, store_id: str, pinned_key: str, medium: str | None) -> Removals:
    """Every removal record of the copy, each checked against the pinned key, the store and the copy's medium.
    A record that fails any check allows nothing and is a problem of the copy."""
    out = Removals()
    try:
        names = dest.store_files(store_id, FOLDER)
    except OSError as err:
        out.problems.append(_("{folder}/ cannot be listed ({error})").format(
            folder=FOLDER, error=error_words(err)))
        return out
    present = set(names)
    records = [n for n in names if n.endswith(".json")]
    for name in sorted(present - set(records) - {n + ".minisig" for n in records}):
        if not name.endswith(".json.minisig"):  # a lone signature is a prune killed before its record: allows nothing
            out.problems.append(_("{file} is not a removal record of Coffre's").format(file=f"{FOLDER}/{name}"))
    if len(records) > MAX_RECORDS:
        out.problems.append(_("{folder}/ holds {count} records, more than Coffre ever writes; only the first {limit} "
                              "are read").format(folder=FOLDER, count=len(records), limit=MAX_RECORDS))
        records = records[:MAX_RECORDS]
    for name in records:
        act_id = name[:-len(".json")]
        where = f"{FOLDER}/{name}"
        if name + ".minisig" not in present:
            out.problems.append(_("{file} has no signature beside it: not a removal this store made").format(file=where))
            continue
        try:
            data = dest.read_store_file(store_id, FOLDER, name, LIMIT)
            sig = dest.read_store_file(store_id, FOLDER, name + ".minisig", LIMIT)
        except (OSError, ValueError) as err:
            out.problems.append(_("{file} cannot be read ({error})").format(file=where,
                                                                             error=error_words(err)))
            continue
        if len(data) > LIMIT or len(sig) > LIMIT:
            out.problems.append(_("{file} is larger than any removal record; not read").format(file=where))
            continue
        try:
            comment = verify(pinned_key, data, sig, signed=name)
        except SignatureInvalid as err:
            out.problems.append(_("{file}: {error} (checked with the public key pinned in the configuration); the runs "
                                  "it names count as deleted").format(file=where, error=err))
            continue
        why = _problem(data, store_id, act_id, medium) if comment == trusted_comment(store_id, act_id) \
            else _("its signature names another store or act")
        if why:
            out.problems.append(_("{file}: {reason}; the runs it names count as deleted").format(file=where, reason=why))
            continue
        for run in json.loads(data)["runs"]:
            out.runs[run["run_id"]] = run
            out.acts[run["run_id"]] = act_id
        out.valid.append(name)
    return out


def _problem(data: bytes, store_id: str, act_id: str, medium: str | None) -> str | None:
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return _("it is not valid JSON")
    if not isinstance(doc, dict) or doc.get("format") != FORMAT_NAME or doc.get("format_version") != FORMAT_VERSION:
        return _("it is not a removal record of a format this version reads")
    # An act id has a run id's shape.
    if doc.get("store_id") != store_id or doc.get("act_id") != act_id or not fmt.RUN_ID.match(act_id):
        return _("it names another store or act than its file")
    if medium and doc.get("medium") and doc["medium"] != medium:
        return _("it removed runs from another medium ({medium}), not this copy").format(medium=doc["medium"])
    runs = doc.get("runs")
    if not isinstance(runs, list) or not all(
            isinstance(r, dict) and isinstance(r.get("run_id"), str) and fmt.RUN_ID.match(r["run_id"])
            and isinstance(r.get("manifest_blake3"), str) and fmt.HEX64.match(r["manifest_blake3"])
            and _link_ok(r.get("previous_run")) for r in runs):
        return _("its list of runs is malformed")
    return None


def _link_ok(link) -> bool:
    """A removed run's previous run on the same copy, or None for the first run the copy received."""
    return link is None or (isinstance(link, dict) and isinstance(link.get("run_id"), str)
                            and bool(fmt.RUN_ID.match(link["run_id"])) and isinstance(link.get("manifest_blake3"), str)
                            and bool(fmt.HEX64.match(link["manifest_blake3"])))
