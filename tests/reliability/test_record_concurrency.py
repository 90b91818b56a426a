"""Commands that change the machine's record at the same moment: none may drop what another added."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .helpers import archive_ok, two_copy_store


def start(store, *args):
    return subprocess.Popen([sys.executable, "-m", "pipeline", args[0], "--config", str(store.config), *args[1:]],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_the_record_keeps_every_run_and_check_when_verify_drill_and_archive_run_at_once(tmp_path, figures):
    """50 times over: an archive, a verify and a drill started together. Each rewrote the whole record from what it
    had read at its start, so the last to save dropped what the others had added (a run, a check)."""
    from pipeline.state.activity_log import check_log

    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=3) as store:
        archive_ok(store)  # the drill and the verify need a run to read
        rounds = 50
        for i in range(rounds):
            procs = [start(store, "archive", "--yes"), start(store, "verify"),
                     start(store, "drill", "--identity", str(store.identity))]
            codes = []
            for p in procs:
                _, err = p.communicate(timeout=120)
                codes.append((p.returncode, err))
            assert codes[0][0] == 0, codes[0][1]
            assert all(code in (0, 1) and "Traceback" not in err and "internal error" not in err
                       for code, err in codes[1:]), codes
        record = json.loads((store.state_dir / f"{store.store_id}.history.json").read_text())
        runs = [r["run_id"] for r in record["runs"]]
        on_copies = sorted(p.name for p in store.run_dirs(store.destinations[0]))
        assert len(runs) == rounds + 1 and runs == on_copies, (len(runs), len(on_copies))
        kinds = [c["kind"] for c in record["checks"]]
        assert kinds.count("verify") == rounds and kinds.count("drill") == rounds, kinds
        lines = (store.state_dir / f"{store.store_id}.coffre-log.jsonl").read_text().splitlines()
        assert check_log(lines) == []
        assert [json.loads(line)["action"] for line in lines].count("archive") == rounds + 1
        # Everything the copies hold is what the record says: verify finds nothing wrong after all of it.
        res = store.coffre("verify")
        assert res.code == 0, res
        figures(f"record under concurrency: {rounds} rounds of archive + verify + drill at once; "
                f"{len(runs)} runs and {len(kinds)} checks kept, log chain intact")
