"""The verify command's work: every chosen copy checked, the verdict recorded for `status`."""

from __future__ import annotations

import time

from pipeline.config import Config
from pipeline.destinations import open_destination
from pipeline.errors import CoffreError, UsageError
from pipeline.state.history import History
from pipeline.verify.copy import CopyReport, Problem, verify_copy


def verify_destinations(cfg: Config, specs: list[str], run_id: str | None = None) -> list[CopyReport]:
    if not specs:
        raise UsageError("No destination to verify: give --from DEST or configure destinations.")
    history = History(cfg.state_dir, cfg.store_id)
    reports = []
    for spec in specs:
        dest = open_destination(spec)
        try:
            dest.check_ready()
        except CoffreError as err:  # a missing copy is a failed copy, not a crash
            rep = CopyReport(dest.describe())
            rep.problems.append(Problem(dest.describe(), None, None, str(err)))
            reports.append(rep)
            continue
        reports.append(verify_copy(dest, cfg.store_id, cfg.signing_public_key, run_id, history.runs))
    history.add_check({"kind": "verify", "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                       "copies": [{"destination": r.destination, "ok": r.ok, "runs": [x.run_id for x in r.runs],
                                   "problems": [p.sentence() for p in r.problems]} for r in reports]})
    return reports
