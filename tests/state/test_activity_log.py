"""Coffre's log appended by several processes at once: every line kept, the chain intact.

The end-to-end loop (archive, verify and drill at once) seldom shows it: archive and export-auditor append for a
millisecond each at the end of their run. Without the record lock in ActivityLog.append, this one fails."""

import multiprocessing as mp

from pipeline.state.activity_log import ActivityLog, check_log


def _hammer(state_dir, n, start):
    start.wait()
    log = ActivityLog(state_dir, "shop")
    for i in range(n):
        log.append("test", "ok", i=i)


def test_appends_from_several_processes_keep_the_chain(tmp_path):
    ctx = mp.get_context("fork")
    start = ctx.Barrier(6)
    procs = [ctx.Process(target=_hammer, args=(tmp_path, 150, start)) for _ in range(6)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    lines = ActivityLog(tmp_path, "shop").lines()
    assert len(lines) == 900
    assert check_log(lines) == []
