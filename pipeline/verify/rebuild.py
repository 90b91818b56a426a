"""Rebuilds the machine's record from the copies: every run signed with the pinned key, where it was found.

The way out when the record cannot be read: the unreadable file is kept aside (never deleted, never overwritten),
and a new record lists the runs the copies reached today hold, against their media. What only the old record knew
(runs on a copy not plugged in now, when each run was last verified) is not in the new one; the next archive
checks every journal again, since the checkpoint it starts from is gone with it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.destinations import open_destination
from pipeline.destinations.medium import MediumFileInvalid, read_medium
from pipeline.errors import CoffreError, UsageError
from pipeline.i18n import _
from pipeline.state.history import History, RecordUnreadable, empty_record, load_record
from pipeline.state.lock import StoreLock
from pipeline.verify.copy import VerifyOptions, verify_run
from pipeline.system_errors import error_words


@dataclass
class Rebuilt:
    kept_aside: Path | None
    runs: int
    copies_read: list[str] = field(default_factory=list)
    copies_missed: list[str] = field(default_factory=list)  # not reachable: their runs are not in the new record


def rebuild_record(cfg, specs: list[str], say=lambda m: None) -> Rebuilt:
    with StoreLock(cfg.state_dir, cfg.store_id, say=say):  # no archive adds a run meanwhile
        return _rebuild(cfg, specs)


def _rebuild(cfg, specs: list[str]) -> Rebuilt:
    path = Path(cfg.state_dir) / f"{cfg.store_id}.history.json"
    aside = None
    if os.path.lexists(path):  # whatever is there, a link or a folder included, is kept aside as it is
        try:
            load_record(path)
        except RecordUnreadable:
            aside = path.with_name(f"{path.name}.unreadable-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}")
            os.rename(path, aside)
        else:
            raise UsageError(_("The record {path} can be read: there is nothing to rebuild.").format(path=path))
    out = Rebuilt(aside, 0)
    runs: dict[str, dict] = {}
    places: dict[str, dict] = {}
    for spec in specs:
        dest = open_destination(spec)
        try:
            dest.check_ready()
            signed = dest.signed_runs(cfg.store_id)
            try:
                medium = read_medium(dest)
            except MediumFileInvalid:
                medium = None
        except (CoffreError, OSError) as err:
            out.copies_missed.append(_("{where}: {reason}").format(where=dest.describe(),
                                                                    reason=error_words(err)))
            continue
        out.copies_read.append(dest.describe())
        newest = None
        for run_id in sorted(signed):
            problems: list = []
            rep = verify_run(dest, cfg.store_id, run_id, VerifyOptions(cfg.signing_public_key, read_data=lambda r: False),
                             problems)
            if not (rep.authentic and rep.manifest):
                continue
            prev = rep.manifest.get("previous_run")
            entry = runs.setdefault(run_id, {"run_id": run_id, "created_at": rep.manifest.get("created_at"),
                                             "previous": prev["run_id"] if prev else None,
                                             "manifest_blake3": rep.manifest_blake3, "written": [], "media": {},
                                             "failed": {}, "rebuilt": True})
            entry["written"].append(spec)
            if medium:
                entry["media"][medium] = spec
            newest = run_id
        if medium:
            mount_point = getattr(dest, "mount_point", None)
            places[dest.normalised()] = {"spec": spec, "medium": medium, "last_run": newest,
                                         "mount_point": mount_point() if mount_point else None}
    history = History.of(cfg)
    with history.update() as doc:
        doc.clear()
        doc.update(empty_record())
        doc["runs"] = [runs[r] for r in sorted(runs)]
        doc["destinations"] = places
        doc["last_destinations"] = list(specs)
        doc["rebuilt"] = {"at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                          "kept_aside": aside.name if aside else None, "copies_read": out.copies_read}
    out.runs = len(runs)
    return out
