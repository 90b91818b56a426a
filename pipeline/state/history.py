"""The record of what was written where, kept beside the config; verify holds copies against it.

Several commands change it (archive adds runs, verify and drill add checks), sometimes at the same moment: every
change is made under the record lock, on the record as it is on disk then, and saved through a new file and a
rename. A record that cannot be read is never replaced: the command stops and says how to rebuild it.
"""

from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import CannotRun
from pipeline.state.record_lock import record_lock

LIMIT = 256 << 20  # far above six years of evenings; a larger file is not a record of ours
KEEP_CHECKS = 1000


class RecordUnreadable(CannotRun):
    """The record exists but cannot be trusted as written (exit 3): nothing may replace it unseen."""

    def __init__(self, path: Path, why: str, config_path: Path | None = None):
        how = f"coffre rebuild-record --config {config_path}" if config_path else "coffre rebuild-record --config FILE"
        super().__init__(f"The record of what this machine wrote, {path}, cannot be read ({why}); nothing was changed. "
                         f"Run `{how}` to keep it aside and rebuild it from the copies.")
        self.path = path


def empty_record() -> dict:
    return {"runs": [], "last_destinations": [], "checks": []}


def _problem(doc) -> str | None:
    """Why a parsed record is not one Coffre wrote, or None."""
    if not isinstance(doc, dict):
        return "it is not a JSON object"
    runs = doc.get("runs")
    if not isinstance(runs, list) or not all(isinstance(r, dict) and isinstance(r.get("run_id"), str) for r in runs):
        return "its list of runs is malformed"
    if not all(isinstance(r.get("written", []), list) for r in runs):
        return "a run's list of copies is malformed"
    for key, kind in (("checks", list), ("last_destinations", list), ("data_checks", dict), ("destinations", dict)):
        if key in doc and not isinstance(doc[key], kind):
            return f"its `{key}` is malformed"
    return None


def load_record(path: Path, config_path: Path | None = None) -> dict:
    try:
        with open(path, "rb") as f:
            data = f.read(LIMIT + 1)
    except FileNotFoundError:
        return empty_record()
    except OSError as err:
        raise RecordUnreadable(path, err.strerror or str(err), config_path)
    if len(data) > LIMIT:
        raise RecordUnreadable(path, "it is larger than any record Coffre writes", config_path)
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise RecordUnreadable(path, "it is not valid JSON: damaged or truncated", config_path)
    why = _problem(doc)
    if why:
        raise RecordUnreadable(path, why, config_path)
    return doc


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
            checks = doc.setdefault("checks", [])
            checks.append(record)
            doc["checks"] = checks[-KEEP_CHECKS:]
            for key, runs in (data_checks or {}).items():
                doc.setdefault("data_checks", {}).setdefault(key, {}).update(runs)

    def _save(self, doc: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
