"""Removes what interrupted archive runs left on a destination: run folders that never got their signature.

Called by the archive under the store lock, before it starts its own folder: no other run of this store on this
machine is alive then, so an unsigned folder of a run this machine started is a dead run's (its `.tmp-` files with
it). Another machine writing the same store (which it should not) may be writing its own run at this moment: an
unsigned folder this machine did not start is removed only once it is hours old. Such a folder was never a run
(FORMAT.md §2): removing it loses nothing and keeps it from filling the medium.
"""

from __future__ import annotations

import calendar
import time

FOREIGN_AFTER = 6 * 3600  # seconds: far longer than any archive run takes


def remove_leftovers(dest, store_id: str, before_run: str, runs: list[str], signed: set[str], ours: set[str],
                     now: float | None = None) -> list[str]:
    """The run ids of the unsigned folders removed (`runs` and `signed`: the store's run folders as just listed;
    `ours`: the runs this machine started and did not finish); a folder that cannot be removed is left for next
    time."""
    now = time.time() if now is None else now
    removed = []
    for run_id in runs:
        if run_id in signed or run_id >= before_run:
            continue
        if run_id not in ours and now - _started_at(run_id) < FOREIGN_AFTER:
            continue
        try:
            dest.remove_run(store_id, run_id)
        except OSError:
            continue
        removed.append(run_id)
    return removed


def _started_at(run_id: str) -> float:
    return calendar.timegm(time.strptime(run_id[:16], "%Y%m%dT%H%M%SZ"))
