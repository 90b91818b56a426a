"""The record of what was written where, kept beside the config; verify holds copies against it.

Several commands change it (archive adds runs, verify and drill add checks), sometimes at the same moment: every
change is made under the record lock, on the record as it is on disk then, and saved through a new file and a
rename. A record that cannot be read is never replaced: the command stops and says how to rebuild it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
from contextlib import contextmanager
from pathlib import Path

from pipeline.destinations.places import normalised
from pipeline.durable import fsync_dir
from pipeline.errors import CannotRun
from pipeline.i18n import _
from pipeline.manifest.format import HEX64, RUN_ID
from pipeline.state.record_lock import record_lock
from pipeline.system_errors import error_words

LIMIT = 256 << 20  # far above six years of evenings; a larger file is not a record of ours
KEEP_CHECKS = 1000


class RecordUnreadable(CannotRun):
    """The record exists but cannot be trusted as written (exit 3): nothing may replace it unseen."""

    def __init__(self, path: Path, why: str, config_path: Path | None = None):
        how = f"coffre rebuild-record --config {config_path}" if config_path else "coffre rebuild-record --config FILE"
        super().__init__(_("The record of what this machine wrote, {path}, cannot be read ({reason}); nothing was "
                           "changed. Run `{command}` to keep it aside and rebuild it from the copies.").format(
            path=path, reason=why, command=how))
        self.path = path


def empty_record() -> dict:
    return {"runs": [], "last_destinations": [], "checks": []}


def _is(value, kind, inner=None) -> bool:
    """`value` is a `kind` (list or dict) whose items (or values) are all `inner`; None passes for optional keys."""
    if value is None:
        return True
    if not isinstance(value, kind):
        return False
    items = value.values() if isinstance(value, dict) else value
    return inner is None or all(isinstance(v, inner) for v in items)


def _run_problem(r) -> str | None:
    if not isinstance(r, dict) or not isinstance(r.get("run_id"), str) or not RUN_ID.match(r["run_id"]):
        return _("a run's id is malformed")
    if not _is(r.get("written"), list, str) or not _is(r.get("media"), dict, str) or not _is(r.get("failed"), dict, str) \
            or not _is(r.get("unsure"), list, str):
        return _("run {run_id}'s list of copies is malformed").format(run_id=r["run_id"])
    if r.get("written") and not (isinstance(r.get("manifest_blake3"), str) and HEX64.match(r["manifest_blake3"])):
        return _("run {run_id}'s manifest hash is malformed").format(run_id=r["run_id"])
    if not (r.get("previous") is None or (isinstance(r["previous"], str) and RUN_ID.match(r["previous"]))):
        return _("run {run_id}'s previous run is malformed").format(run_id=r["run_id"])
    if not _is(r.get("created_at"), str) or not _is(r.get("attention"), list, str) \
            or not _is(r.get("row_counts"), dict, (int, type(None))) or not _is(r.get("findings"), dict, int) \
            or not _is(r.get("removed"), dict, str) or not _is(r.get("last_yearly_closure"), str) \
            or not (r.get("bytes") is None or (isinstance(r["bytes"], int) and not isinstance(r["bytes"], bool))):
        return _("run {run_id} is malformed").format(run_id=r["run_id"])
    return None


def _check_copy_ok(copy) -> bool:
    return isinstance(copy, dict) and _is(copy.get("destination"), str) and _is(copy.get("medium"), str) \
        and _is(copy.get("run_id"), str) and _is(copy.get("ok"), bool) and _is(copy.get("problems"), list, str) \
        and _is(copy.get("replaced_since"), str)


def _problem(doc) -> str | None:
    """Why a parsed record is not one Coffre wrote, or None: every part a command reads is checked here, so that
    none meets a value of another shape later (and a record of another shape gets the way out, rebuild-record)."""
    if not isinstance(doc, dict):
        return _("it is not a JSON object")
    if not isinstance(doc.get("runs"), list):
        return _("its list of runs is malformed")
    for r in doc["runs"]:
        why = _run_problem(r)
        if why:
            return why
    # Lists and maps may be absent, not null (the code adds to them); the checkpoints may be null.
    containers = {"checks": (list, dict), "last_destinations": (list, str), "started": (list, str),
                  "data_checks": (dict, dict), "destinations": (dict, dict)}
    for key, (kind, inner) in containers.items():
        if key in doc and (doc[key] is None or not _is(doc[key], kind, inner)):
            return _("its `{key}` is malformed").format(key=key)
    for key in ("log_carried", "journal_checkpoint", "rebuilt", "last_prune"):
        if not _is(doc.get(key), dict):
            return _("its `{key}` is malformed").format(key=key)
    if not all(isinstance(v, dict) and all(isinstance(c, dict) and isinstance(c.get("at"), str) for c in v.values())
               for v in (doc.get("data_checks") or {}).values()):
        return _("its `data_checks` is malformed")
    if not all(isinstance(c.get("at"), str) and isinstance(c.get("kind"), str) and _is(c.get("run_id"), str)
               and isinstance(c.get("copies"), list) and all(_check_copy_ok(x) for x in c["copies"])
               for c in doc.get("checks") or []):
        return _("its `checks` is malformed")
    if not all(all(_is(d.get(k), str) for k in ("spec", "medium", "mount_point", "last_run"))
               and _is(d.get("media_seen"), list, str) and _is(d.get("media_unwritten"), list, str)
               for d in (doc.get("destinations") or {}).values()):
        return _("its `destinations` is malformed")
    if not all(isinstance(c, dict) and isinstance(c.get("at"), str) and isinstance(c.get("ok"), bool)
               and _is(c.get("problem"), str) for c in (doc.get("last_prune") or {}).values()):
        return _("its `last_prune` is malformed")
    cp, carried = doc.get("journal_checkpoint"), doc.get("log_carried")
    if cp is not None and not (isinstance(cp.get("mapping"), str) and _is(cp.get("chains"), dict)
                               and _is(cp.get("till_keys"), list, list)):
        return _("its `journal_checkpoint` is malformed")
    entries = (carried or {}).get("entries")
    if carried is not None and not (_is(entries, int) and not isinstance(entries, bool) and (entries or 0) >= 0
                                    and _is(carried.get("head"), str)):
        return _("its `log_carried` is malformed")
    return None


def load_record(path: Path, config_path: Path | None = None) -> dict:
    # Nothing there is an empty record; anything there that is not a plain file (a link, perhaps to a disk not
    # mounted, a FIFO, a folder) is unreadable, never taken for "no record" nor waited on.
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise RecordUnreadable(path, _("it is a symbolic link to nothing"), config_path)
        return empty_record()
    except OSError as err:
        why = _("it is a symbolic link, not a file") if err.errno == errno.ELOOP else error_words(err)
        raise RecordUnreadable(path, why, config_path)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise RecordUnreadable(path, _("it is not a regular file"), config_path)
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(LIMIT + 1)
        except OSError as err:
            raise RecordUnreadable(path, error_words(err), config_path)
    if len(data) > LIMIT:
        raise RecordUnreadable(path, _("it is larger than any record Coffre writes"), config_path)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RecordUnreadable(path, _("it is not valid JSON: damaged or truncated"), config_path)
    why = _problem(doc)
    if why:
        raise RecordUnreadable(path, why, config_path)
    return doc


def append_check(doc: dict, record: dict) -> None:
    """Adds a verdict on copies to the record being updated: a verify's, a drill's, or what an archive found.

    The last KEEP_CHECKS are kept, and before them what an archive said of a copy's damaged blocks until a verify
    reads that whole copy and finds it sound: status says it till then, and a nightly verify of one run would push
    it out of the last thousand in under three years."""
    checks = (doc.get("checks") or []) + [record]
    cut = len(checks) - KEEP_CHECKS
    if cut > 0:
        runs = doc.get("runs") or []
        standing = []
        for i, c in enumerate(checks[:cut]):
            if c.get("kind") != "archive":
                continue
            later = checks[i + 1:]
            # Kept with the copies it names that no verify of their own settled: one that did would be said again
            # once that verify left the window.
            copies = [one for one in c.get("copies") or [] if isinstance(one, dict)
                      and not settled(one, later, runs, for_good=True)]
            if not copies:
                continue
            # A whole verify of another medium at its place, about to leave the window, still settles it while that
            # medium is not seen again: noted on it, so that status does not say it again meanwhile.
            for one in copies:
                _, since, start = _read_since(one, later)
                if since is not None and not _seen_since(one["medium"], since, later, start, runs):
                    one["replaced_since"] = since
                else:
                    one.pop("replaced_since", None)
            standing.append(dict(c, copies=copies))
        checks = standing[-KEEP_CHECKS:] + checks[cut:]
    doc["checks"] = checks


def _reads_whole(kind, one: dict) -> bool:
    """A verify's verdict on one copy that read that whole copy (a record older than `whole` counts as whole). One that
    found the copy out of reach read nothing."""
    return kind in ("verify", "verify-deep") and one.get("whole", True) and not one.get("missing")


def settled(said: dict, later: list, runs: list, for_good: bool = False) -> bool:
    """What an evening said of one copy's damaged blocks (`said`: that copy's entry in the archive's check) is settled
    by a later verify that read that whole medium and found it sound, the medium found by its id (without one, by the
    folder however spelt). A failed one does not: status says its failure by place, which a pass of another medium
    there would clear.

    Two USB keys that take turns at one mount point are two media: a verify of the one plugged in says nothing of the
    other, whose words stand. Such a verify of another medium at that place settles them too, not `for_good`, while
    the medium they are about is not seen again after it (a key replaced, thrown away): seen again, by a run written
    to it or a check that reached it, they stand until a verify reads it whole."""
    own, since, start = _read_since(said, later)
    return own or (not for_good and since is not None and not _seen_since(said["medium"], since, later, start, runs))


def _read_since(said: dict, later: list) -> tuple[bool, str | None, int | None]:
    """(a later verify read that copy's medium whole and found it sound; when the latest such verify of another
    medium at its place was, or the one noted on it when the checks that held it were dropped; where that verify is
    in `later`, None for a noted one)."""
    medium = said.get("medium")
    where = normalised(said.get("destination"))
    noted = said.get("replaced_since")
    since, start = (noted, None) if medium and isinstance(noted, str) else (None, None)
    for i, c in enumerate(later):
        for one in c.get("copies") or []:
            if not isinstance(one, dict) or not one.get("ok") or not _reads_whole(c.get("kind"), one):
                continue
            if medium and one.get("medium") == medium:
                return True, None, 0
            if where and normalised(one.get("destination")) == where:
                if not medium:
                    return True, None, 0
                since, start = str(c.get("at") or ""), i
    return False, since, start


def _seen_since(medium: str, at: str, later: list, start: int | None, runs: list) -> bool:
    """A check that reached the medium after the verify that settles (at `start` in `later`: by their order in the
    record; for one noted and dropped, by time), or a run written to it from `at` on (runs are not dropped: the same
    second counts, and a doubt keeps what was said)."""
    checks = later[start:] if start is not None else [c for c in later if str(c.get("at") or "") > at]
    if any(isinstance(one, dict) and one.get("medium") == medium and not one.get("missing")
           for c in checks for one in c.get("copies") or []):
        return True
    return any(isinstance(r, dict) and isinstance(r.get("media"), dict) and medium in r["media"]
               and str(r.get("created_at") or "") >= at for r in runs)


class History:
    def __init__(self, state_dir: Path, store_id: str, config_path: Path | None = None):
        self.state_dir, self.store_id, self.config_path = Path(state_dir), store_id, config_path
        self.path = self.state_dir / f"{store_id}.history.json"
        self.doc = load_record(self.path, config_path)

    @classmethod
    def of(cls, cfg) -> "History":
        return cls(cfg.state_dir, cfg.store_id, cfg.path)

    @property
    def runs(self) -> list[dict]:
        return self.doc["runs"]

    def last_run(self) -> dict | None:
        """The newest run that reached at least one destination with its signature: the next run's parent."""
        for run in reversed(self.runs):
            if run.get("written"):
                return run
        return None

    def last_destinations(self) -> list[str]:
        return list(self.doc.get("last_destinations") or [])

    def data_checks(self, key: str) -> dict[str, dict]:
        """When each run's data was last read on the copy `key` (a medium id, or a spec): {run_id: {at, deep, ok}}."""
        return dict((self.doc.get("data_checks") or {}).get(key) or {})

    @contextmanager
    def update(self):
        """Yields the record as it is on disk now, under the record lock, and saves it when the block ends."""
        with record_lock(self.state_dir, self.store_id):
            doc = load_record(self.path, self.config_path)
            yield doc
            self._save(doc)
            self.doc = doc

    def add_check(self, record: dict, data_checks: dict[str, dict[str, dict]] | None = None) -> None:
        """Adds a verify or drill verdict, and when each run's data was read ({copy key: {run_id: record}})."""
        with self.update() as doc:
            append_check(doc, record)
            for one in (x for c in doc["checks"] for x in c.get("copies") or []):
                for key in ("runs", "data_read"):  # an older verify's run ids: how many, as a verify now keeps them
                    if isinstance(one.get(key), list):
                        one[key] = len(one[key])
            for key, runs in (data_checks or {}).items():
                doc.setdefault("data_checks", {}).setdefault(key, {}).update(runs)

    def _save(self, doc: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        # No indent: json's fast encoder, for a record of six years of evenings rewritten several times an evening.
        data = json.dumps(doc, sort_keys=True)
        with open(tmp, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        fsync_dir(self.path.parent)


