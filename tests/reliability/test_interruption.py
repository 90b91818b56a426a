"""`kill -9` of `coffre archive` at seeded random points: earlier runs stay intact, a half run is never counted,
the lock never blocks the next run, and the next run succeeds and verifies."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from .helpers import expect_fixed, init_store, make_sample_db, no_traceback, other_device_dir

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1

KILL_SEED = 20261128
KILLS = 20  # runs actually cut by kill -9 (points where the run had already ended are drawn again)
MAX_POINTS = 40
TAIL_EVERY = 4  # one point in four near the end of a run, where manifests, signature and record are written


@pytest.fixture(scope="module")
def kill_store(tmp_path_factory):
    """A shop big enough (4 days of 400 tickets, ~1 MB, with its fiscal journals) for a run to be cut at many
    points, small enough for 30 kills and their checks to take under a minute; two copies."""
    base = tmp_path_factory.mktemp("interrupt")
    db = make_sample_db(base / "shop" / "caisse.db", days=4, tickets_per_day=400, seed=5)
    with other_device_dir(base) as dev:
        dests = [dev / "usb-A", dev / "disk-B"]
        for d in dests:
            d.mkdir()
        store = init_store(base, db, dests)
        durations = []
        for _ in range(3):  # the earlier runs every kill must leave intact; their length sets the kill window
            started = time.monotonic()
            res = store.coffre("archive", "--yes")
            durations.append(time.monotonic() - started)
            assert res.code == 0, res
        # The first run checks every journal signature; the next ones start from its checkpoint: they set the window.
        yield store, min(durations[1:])


def runs_on(store, dest: Path) -> set[str]:
    return {p.name for p in store.run_dirs(dest)}


def is_signed(store, dest: Path, run_id: str) -> bool:
    return (store.run_dir(dest, run_id) / "MANIFEST.b3.minisig").exists()


def start_archive(store, err_file):
    return subprocess.Popen([sys.executable, "-m", "pipeline", "archive", "--config", str(store.config), "--yes"],
                            stdout=subprocess.DEVNULL, stderr=err_file, stdin=subprocess.DEVNULL)


def kill_9(proc) -> bool:
    """SIGKILL to the one process we started; True if it was still running."""
    running = proc.poll() is None
    if running:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    return running


def assert_copies_verify(store) -> dict:
    """Every complete run of every copy passes `coffre verify --from DEST`; a folder without a signature is only a
    note, never listed among the runs nor counted as a problem."""
    args = [x for d in store.destinations for x in ("--from", d)]
    res = store.coffre("verify", *args, "--json")
    no_traceback(res)
    assert res.code == 0, res
    report = json.loads(res.out)
    for copy in report["copies"]:
        dest = Path(copy["destination"])
        present = runs_on(store, dest)
        complete = {r for r in present if is_signed(store, dest, r)}
        assert {r["run_id"] for r in copy["runs"]} == complete, copy
        assert all(r["ok"] and r["data_read"] for r in copy["runs"]), copy
        assert copy["problems"] == [], copy
        for r in present - complete:
            assert any(r in n and "not counted" in n for n in copy["notes"]), (r, copy["notes"])
    return report


def archive_after_kill(store, lock_left: bool) -> str:
    res = store.coffre("archive", "--yes", "--json")
    no_traceback(res)
    assert res.code == 0, res
    assert "holds the lock" not in res.err, res
    if lock_left:
        assert "Taking over the lock" in res.err, res
    run_id = json.loads(res.out)["run_id"]
    assert all(is_signed(store, d, run_id) for d in store.destinations)
    return run_id


def test_kill_9_at_seeded_random_points(kill_store, figures):
    store, normal = kill_store
    rng = random.Random(KILL_SEED)
    stats = Counter()
    lock_file = store.state_dir / f"{store.store_id}.lock"
    delays = []
    while len(delays) - stats["finished before the kill"] < KILLS and len(delays) < MAX_POINTS:
        i = len(delays)
        delay = rng.uniform(0.7 * normal, 1.0 * normal) if i % TAIL_EVERY == TAIL_EVERY - 1 else rng.uniform(0, normal)
        delays.append(delay)
        before = {d: runs_on(store, d) for d in store.destinations}
        with open(store.base / f"kill-{i}.stderr", "wb") as err:
            proc = start_archive(store, err)
            time.sleep(delay)
            killed = kill_9(proc)
        if not killed:
            stats["finished before the kill"] += 1
            assert proc.returncode == 0, (store.base / f"kill-{i}.stderr").read_text()
        else:
            new = {(d, r) for d in store.destinations for r in runs_on(store, d) - before[d]}
            unsigned = {(d, r) for d, r in new if not is_signed(store, d, r)}
            if not new:
                stats["killed before any run folder existed"] += 1
            elif unsigned:
                stats["killed mid-run (unsigned run folder left)"] += 1
                if len(unsigned) < len(new):
                    stats["killed between the signatures of the two copies"] += 1
            else:
                stats["killed after every copy was signed, before exit"] += 1
        lock_left = lock_file.exists() and lock_file.read_bytes().strip() != b""
        stats["lock note left by a killed run"] += killed and lock_left
        assert_copies_verify(store)  # the earlier runs, and the run made after the previous kill
        archive_after_kill(store, lock_left)
    report = assert_copies_verify(store)
    last = max(r["run_id"] for r in report["copies"][0]["runs"])
    res = store.coffre("verify", "--run", last, "--deep", "--identity", store.identity)
    assert res.code == 0, res
    leftovers = sorted(p.name for p in store.scratch.iterdir())
    killed = len(delays) - stats["finished before the kill"]
    figures(f"interruption: {len(delays)} kill -9 points tried (seed {KILL_SEED}, normal run {normal:.2f} s), "
            f"{killed} killed while running, {stats['killed mid-run (unsigned run folder left)']} interrupted mid-run "
            f"(unsigned folder left, never counted)")
    figures("interruption: " + ", ".join(f"{k}: {v}" for k, v in sorted(stats.items())))
    figures(f"interruption: {sum(len(report_copy['runs']) for report_copy in report['copies'])} complete runs across "
            f"both copies verify; {len(leftovers)} scratch folder(s) with a plain snapshot left by killed runs")
    assert killed >= KILLS, f"only {killed} of {len(delays)} points cut a running archive"


def _kill_while_writing_data(store) -> str:
    """Kills the archive once the snapshot's data file is being written to the first copy; returns that run id."""
    first = store.destinations[0] / store.store_id
    before = runs_on(store, store.destinations[0])
    with open(store.base / "kill-det.stderr", "wb") as err:
        proc = start_archive(store, err)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and proc.poll() is None:
            if any(p.parent.name not in before for p in first.glob("*/.tmp-snapshot.sqlite.zst.age")):
                break
            time.sleep(0.001)
        assert kill_9(proc), "the run ended before the kill: the sample shop is too small"
    (run_id,) = runs_on(store, store.destinations[0]) - before
    return run_id


def test_kill_while_writing_data_leaves_a_note_only(kill_store, tmp_path):
    store, _ = kill_store
    run_id = _kill_while_writing_data(store)
    assert not is_signed(store, store.destinations[0], run_id)
    report = assert_copies_verify(store)
    assert all(run_id not in [r["run_id"] for r in c["runs"]] for c in report["copies"])
    # The half run is never restored: restore takes the latest complete run.
    latest = max(r["run_id"] for r in report["copies"][0]["runs"])
    res = store.coffre("restore", "--identity", store.identity, "--out", tmp_path / "out")
    no_traceback(res)
    assert res.code == 0 and f"Restored run {latest} " in res.err, res
    archive_after_kill(store, lock_left=True)


def test_scratch_of_a_killed_run_is_cleaned_by_the_next_run(kill_store):
    store, _ = kill_store
    _kill_while_writing_data(store)
    assert list(store.scratch.iterdir()), "the killed run was packing: its snapshot sits in the scratch folder"
    archive_after_kill(store, lock_left=True)
    expect_fixed(list(store.scratch.iterdir()) == [], "plain snapshots of killed runs pile up in the scratch folder")
