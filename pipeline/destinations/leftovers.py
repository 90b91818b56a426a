"""Removes what interrupted archive runs left on a destination: run folders that never got their signature.

Called by the archive under the store lock, before it starts its own folder: no other run of this store on this
machine is alive then, so an unsigned folder older than the new run is a dead run's (its `.tmp-` files with it).
Such a folder was never a run (FORMAT.md §2): removing it loses nothing and keeps it from filling the medium.
"""

from __future__ import annotations


def remove_leftovers(dest, store_id: str, before_run: str, runs: list[str], signed: set[str]) -> list[str]:
    """The run ids of the unsigned folders removed (`runs` and `signed`: the store's run folders as just listed);
    a folder that cannot be removed is left for next time."""
    removed = []
    for run_id in runs:
        if run_id in signed or run_id >= before_run:
            continue
        try:
            dest.remove_run(store_id, run_id)
        except OSError:
            continue
        removed.append(run_id)
    return removed
