"""A kill -9 at 20 points of an archive into the shared block store (format 2) and of a prune with its sweep: after
each, `coffre verify` finds every copy intact, and the stock tools alone (b3sum, age, zstd) restore every run that
remains, to the very bytes its facts recorded; the next archive and prune then work."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

import blake3
import pytest

from pipeline.sample import SaleWriter

from conftest import need_tool, run_coffre

from .helpers import two_copy_store

HOOK = Path(__file__).parent / "killhook"
RULES = "\n[retention]\nkeep_last = 1\nkeep_daily = 0\nkeep_weekly = 0\nkeep_monthly = 0\nlegal_years = 1\n" \
        "below_legal_accepted = true\n"
POINTS = 20


def sell(db: Path, n: int = 30) -> None:
    w = SaleWriter(db, seed=5)  # the seed the sample was built with: its till key
    for _ in range(n):
        w.commit_ticket()
    w.close()


def hooked(store, *args, kill_at: int = 0, count_to: Path | None = None):
    env = {"PYTHONPATH": os.pathsep.join([str(HOOK), os.environ.get("PYTHONPATH", "")])}
    if kill_at:
        env["COFFRE_TEST_KILL_AT"] = str(kill_at)
    if count_to:
        env["COFFRE_TEST_COUNT_TO"] = str(count_to)
    return run_coffre(*args, "--config", store.config, env=env)


def changes(store, tmp: Path, *args) -> int:
    """How many changes a whole command makes (the kill points to choose among)."""
    out = tmp / "count"
    res = hooked(store, *args, count_to=out)
    assert res.code == 0, res
    return int(out.read_text())


def points(total: int) -> list[int]:
    """POINTS kill points spread from the first change to the last but one."""
    assert total > POINTS, total
    return sorted({1 + (total - 2) * i // (POINTS - 1) for i in range(POINTS)})


def stock_restore_every_run(store, tmp: Path, restored: set) -> int:
    """Each signed run of each copy, by the stock tools only: b3sum checks its MANIFEST.b3 and every block its lists
    name; a run not restored before is then restored (age decrypts the blocks one after the other, zstd decompresses)
    and its snapshot must hash to its facts' plain BLAKE3. A run restored after an earlier kill whose every byte still
    checks (blocks are never written over) restores as it did: it is not decrypted again."""
    runs = 0
    for dest in store.destinations:
        for run in store.run_dirs(dest):
            if not (run / "MANIFEST.b3.minisig").exists():
                continue  # an interrupted run or a removal cut short: not a run
            subprocess.run(["b3sum", "--check", "--quiet", "MANIFEST.b3", *sorted(p.name for p in run.glob("*.blocks"))],
                           cwd=run, check=True)
            runs += 1
            if (dest, run.name) in restored:
                continue
            facts = json.loads(subprocess.run(
                f"age -d -i {store.identity} facts.json.zst.age | zstd -dc", shell=True, cwd=run, check=True,
                capture_output=True).stdout)
            for listed in sorted(run.glob("*.blocks")):
                plain = subprocess.run(
                    f"set -o pipefail; cut -c 67- {listed.name} | while read -r b; do age -d -i {store.identity} "
                    f"\"$b\" || exit 1; done | zstd -dc", shell=True, executable="/bin/bash", cwd=run, check=True,
                    capture_output=True).stdout
                if listed.name.startswith("snapshot."):
                    assert blake3.blake3(plain).hexdigest() == facts["snapshot"]["plain_blake3"], run
                else:
                    assert len(plain) == facts["journals"]["plain_size"], run
            restored.add((dest, run.name))
    return runs


def intact(store) -> None:
    res = run_coffre("verify", "--config", store.config, "--json")
    assert res.code == 0, res
    assert all(c["ok"] for c in json.loads(res.out)["copies"]), res.out


@pytest.fixture
def shared_store(tmp_path):
    for tool in ("b3sum", "age", "zstd"):
        need_tool(tool)
    with two_copy_store(tmp_path, days=2, tickets_per_day=40, seed=5) as store:
        assert run_coffre("archive", "--config", store.config, "--yes").code == 0
        yield store


def kept_as_it_is(store, tmp: Path):
    """Saves the store (its copies, the record and state of this machine) so that each kill starts from the same
    place: the kill points are then exactly the command's changes counted once."""
    places = [*store.destinations, store.state_dir]
    saved = tmp / "as-it-was"
    for i, place in enumerate(places):
        shutil.copytree(place, saved / str(i), symlinks=True)

    def back() -> None:
        for i, place in enumerate(places):
            shutil.rmtree(place)
            shutil.copytree(saved / str(i), place, symlinks=True)
    return back


def completes_after_the_kill(store, command: str) -> None:
    """What a kill left, the next run of the same command finishes, and every copy is intact."""
    res = run_coffre(command, "--config", store.config, *(["--yes"] if command == "archive" else []))
    assert res.code == 0, res
    intact(store)
    for dest in store.destinations:
        runs = [r for r in store.run_dirs(dest) if (r / "MANIFEST.b3.minisig").exists()]
        named = {line.rsplit("/", 1)[1] for r in runs for lst in r.glob("*.blocks") for line in lst.read_text().splitlines()}
        held = {p.name for p in (dest / store.store_id / "blocks").glob("*/*")}
        if command == "prune":
            assert held == named, "the sweep leaves exactly the blocks the remaining runs name"
        else:
            assert held >= named


@pytest.mark.slow
def test_an_archive_killed_at_twenty_points_leaves_every_copy_intact_and_restorable(shared_store, tmp_path):
    store = shared_store
    assert any((d / store.store_id / "blocks").is_dir() for d in store.destinations)
    sell(store.db)  # tonight's sales: the archive writes new blocks into the shared store
    back = kept_as_it_is(store, tmp_path)
    total = changes(store, tmp_path, "archive", "--yes")
    killed, restored = 0, set()
    for n, at in enumerate(points(total)):
        back()
        res = hooked(store, "archive", "--yes", kill_at=at)
        killed += res.code == -signal.SIGKILL
        intact(store)
        assert stock_restore_every_run(store, tmp_path, restored) >= 2
        if n % 4 == 3:
            completes_after_the_kill(store, "archive")
    assert killed >= POINTS - 2, killed  # the points are the command's own changes: nearly all are reached


@pytest.mark.slow
def test_a_prune_killed_at_twenty_points_leaves_every_copy_intact_and_restorable(shared_store, tmp_path):
    store = shared_store
    with store.config.open("a") as f:
        f.write(RULES)
    for _ in range(2):  # three runs: the prune removes two (keep_last = 1) and sweeps the blocks they alone named
        sell(store.db)
        assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    back = kept_as_it_is(store, tmp_path)
    total = changes(store, tmp_path, "prune")
    killed, restored = 0, set()
    for n, at in enumerate(points(total)):
        back()
        res = hooked(store, "prune", kill_at=at)
        killed += res.code == -signal.SIGKILL
        intact(store)
        assert stock_restore_every_run(store, tmp_path, restored) >= 2
        if n % 4 == 3:
            completes_after_the_kill(store, "prune")
    assert killed >= POINTS - 2, killed
