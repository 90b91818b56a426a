"""The record of what was written where, kept beside the config; verify holds copies against it."""

from __future__ import annotations

import json
import os
from pathlib import Path


class History:
    def __init__(self, state_dir: Path, store_id: str):
        self.path = state_dir / f"{store_id}.history.json"
        self.doc = self._load()

    def _load(self) -> dict:
        try:
            doc = json.loads(self.path.read_text())
            if isinstance(doc, dict) and isinstance(doc.get("runs"), list):
                return doc
        except (OSError, ValueError):
            pass
        return {"runs": [], "last_destinations": [], "checks": []}

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

    def add_run(self, record: dict, destinations: list[str]) -> None:
        self.runs.append(record)
        self.doc["last_destinations"] = destinations
        self.save()

    def data_checks(self, spec: str) -> dict[str, dict]:
        """When each run's data was last read at destination `spec`: {run_id: {at, deep, ok}}."""
        return dict((self.doc.get("data_checks") or {}).get(spec) or {})

    def record_data_check(self, spec: str, run_id: str, record: dict) -> None:
        """Kept in memory; saved with the next add_check, which every command that reads data makes."""
        self.doc.setdefault("data_checks", {}).setdefault(spec, {})[run_id] = record

    def add_check(self, record: dict) -> None:
        self.doc.setdefault("checks", []).append(record)
        self.doc["checks"] = self.doc["checks"][-1000:]
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(self.doc, f, indent=2, sort_keys=True)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)
