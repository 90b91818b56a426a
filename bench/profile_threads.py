"""Runs a `coffre` command under cProfile in EVERY thread, not only the main one.

`python -m cProfile -m pipeline archive …` sees the main thread only. There, work handed to a
ThreadPoolExecutor (the snapshot's inspection, the fiscal journals) shows up as time spent waiting on a
lock. This wrapper gives each thread its own profiler, writes the main thread's stats and the merged
stats, and prints which thread spent how long.

    .venv/bin/python bench/profile_threads.py OUT_PREFIX archive --config C --yes

Writes OUT_PREFIX.main.prof (main thread) and OUT_PREFIX.all.prof (all threads merged). Part of the
benchmark, not of Coffre.
"""

from __future__ import annotations

import cProfile
import json
import sys
import threading
import time

_profiles: list[tuple[str, float, cProfile.Profile]] = []
_lock = threading.Lock()
_original_run = threading.Thread.run


def _profiled_run(self):
    prof = cProfile.Profile()
    started = time.perf_counter()
    prof.enable()
    try:
        _original_run(self)
    finally:
        prof.disable()
        with _lock:
            _profiles.append((self.name, time.perf_counter() - started, prof))


def main() -> None:
    prefix, args = sys.argv[1], sys.argv[2:]
    threading.Thread.run = _profiled_run
    from pipeline.cli import cli  # imported before profiling starts: what is timed below is the command

    main_prof = cProfile.Profile()
    started = time.perf_counter()
    main_prof.enable()
    code = 0
    try:
        cli.main(args=args, prog_name="coffre")
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        main_prof.disable()
    wall = time.perf_counter() - started
    main_prof.dump_stats(prefix + ".main.prof")
    import pstats

    stats = pstats.Stats(main_prof)
    for _, _, p in _profiles:
        stats.add(p)
    stats.dump_stats(prefix + ".all.prof")
    with open(prefix + ".threads.json", "w") as f:
        json.dump({"wall_seconds": wall, "exit_code": code,
                   "threads": [{"name": n, "seconds": s} for n, s, _ in _profiles]}, f, indent=2)
    sys.exit(code)


if __name__ == "__main__":
    main()
