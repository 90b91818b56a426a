"""The restore drill: each copy restored into a scratch folder, checked against the facts, timed, removed.

The drill is the thorough one: besides what every restore checks (signature, every stored BLAKE3, age, the plain
BLAKE3 and row counts of the database), SQLite's PRAGMA integrity_check runs on the restored database, and the
journals are decrypted and decompressed (streamed, never written) and held to their recorded hash and size."""

from __future__ import annotations

import os
import tempfile

import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.config import Config
from pipeline.errors import CannotRun, CheckFailed
from pipeline.i18n import _
from pipeline.progress import NO_PROGRESS, Progress
from pipeline.restore.restore import restore
from pipeline.snapshot import reader_of
from pipeline.snapshot.sqlite import PathTooLong
from pipeline.state.history import History, RecordUnreadable
from pipeline.state.scratch import scratch_folder
from pipeline.system_errors import error_words


@dataclass
class DrillOutcome:
    destination: str
    ok: bool
    run_id: str | None = None
    seconds: float = 0.0
    restored_bytes: int = 0
    tables: int = 0
    rows: int = 0
    problem: str = ""
    notes: list[str] = field(default_factory=list)  # said of a copy that passed (an older run taken, and why)
    row_counts: dict[str, int] = field(default_factory=dict)  # counted in the restored database, table by table


@dataclass
class DrillReport:
    at: str
    outcomes: list[DrillOutcome] = field(default_factory=list)
    not_recorded_because: str = ""  # set when the verdict could not be written to the machine's record

    @property
    def ok(self) -> bool:
        return bool(self.outcomes) and all(o.ok for o in self.outcomes)

    def to_json(self) -> dict:
        return {"at": self.at, "ok": self.ok, "copies": [o.__dict__ for o in self.outcomes]}

    @property
    def recorded(self) -> bool:
        return not self.not_recorded_because


def drill(cfg: Config, identities: list, specs: list[str], run_id: str | None = None, scratch: Path | None = None,
          say=lambda m: None, progress: Progress = NO_PROGRESS) -> DrillReport:
    report = DrillReport(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    history = History.of(cfg)  # a record that cannot be read stops the drill before it starts, with the way out
    for spec in specs:
        started = time.time()
        with scratch_folder("drill", cfg.store_id, scratch or cfg.scratch_dir) as work:
            try:
                res = restore(cfg, identities, work / "restored", run_id, [spec], say=say, journals="check",
                              integrity="full", progress=progress)
                snap = res.facts.get("snapshot", {})
                counts = _counted(cfg, res, snap, work)
                report.outcomes.append(DrillOutcome(
                    spec, True, res.run_id, round(time.time() - started, 3),
                    sum(p.stat().st_size for p in res.files), len(counts), sum(counts.values()),
                    notes=res.warnings, row_counts=counts))
            except PathTooLong as err:  # this machine's setting, not the copy's failing: nothing is recorded
                # What the drill adds below the setting's folder (its own folder, restored/) counts against SQLite's
                # room: the sentence gives the most the setting itself may have.
                setting = scratch or cfg.scratch_dir
                base = Path(os.path.realpath(setting or tempfile.gettempdir()))
                n = len(os.fsencode(str(base)))
                most = err.most - (err.length - n)
                if setting is None:
                    raise CannotRun(_("The drill's scratch folder {folder}, the system's temporary folder, has a path "
                                      "of {n} bytes, too long for SQLite to open the database the drill restores "
                                      "inside it ({most} at most): set [archive] scratch_dir to a shorter folder.")
                                    .format(folder=base, n=n, most=most))
                raise CannotRun(_("The drill's scratch folder {folder} has a path of {n} bytes, too long for SQLite to "
                                  "open the database the drill restores inside it ({most} at most): set a shorter "
                                  "[archive] scratch_dir.").format(folder=base, n=n, most=most))
            except (CheckFailed, CannotRun) as err:
                report.outcomes.append(DrillOutcome(spec, False, run_id, round(time.time() - started, 3),
                                                    problem=str(err)))
    try:
        history.add_check({"kind": "drill", **report.to_json()})
    except RecordUnreadable:
        raise
    except (OSError, CannotRun) as err:
        # The drill's verdict stands; only the record of it is lost (a state folder this user cannot write).
        report.not_recorded_because = error_words(err)
    return report


def _counted(cfg: Config, res, snap: dict, work: Path) -> dict[str, int]:
    """The restored database loaded as its kind loads it (a server's into a scratch database of its own, dropped
    after), its rows counted and held to the counts recorded at archive time."""
    kind = reader_of(snap)
    database = next(p for p in res.files if p.name == kind.PLAIN_NAME)
    counts = kind.drill(database, snap, cfg.source, work)
    wrong = [_("table {table}: {got} rows restored, {count} recorded at archive time").format(
        table=table, got=counts.get(table), count=count)
        for table, count in sorted((snap.get("row_counts") or {}).items())
        if count is not None and counts.get(table) != count]
    if wrong:
        raise CheckFailed(_("{copy}: the restored database does not hold what was archived: {problems}.").format(
            copy=res.destination, problems="; ".join(wrong)))
    return counts
