"""Scratch folders on a file system without locks (flock says ENOLCK): the command goes on, as it did before its
folder was locked; under the store's lock a dead run's folder is still removed, a live one never.

The share is stood in for by a wrapper that makes flock fail with ENOLCK under one folder, as the kernel's NFS client
does without lockd; everything else (the archive, the copies, the stock tools) is real."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import tomllib

from conftest import REPO

# `coffre ARGS` with flock failing ENOLCK on whatever lies under $NO_LOCKS.
_WITHOUT_LOCKS = r"""
import errno, fcntl, os, runpy, sys
real, root = fcntl.flock, os.environ["NO_LOCKS"]
def flock(fd, op):
    if os.readlink(f"/proc/self/fd/{fd if isinstance(fd, int) else fd.fileno()}").startswith(root):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))
    return real(fd, op)
fcntl.flock = flock
sys.argv = ["coffre", *sys.argv[1:]]
runpy.run_module("pipeline", run_name="__main__", alter_sys=True)
"""


def _coffre_without_locks(share: Path, *args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _WITHOUT_LOCKS, *map(str, args)], cwd=REPO, capture_output=True,
                          text=True, env={**os.environ, "NO_LOCKS": str(share), "PYTHONPATH": str(REPO)}, timeout=300)


def test_an_archive_whose_scratch_folder_has_no_locks_goes_on_and_removes_a_dead_runs_folder(store, tmp_path):
    share = tmp_path / "share"
    scratch = share / "scratch"
    scratch.mkdir(parents=True)
    text = Path(store.config).read_text(encoding="utf-8")
    Path(store.config).write_text(text.replace("[archive]\n", f"[archive]\nscratch_dir = \"{scratch}\"\n", 1),
                                  encoding="utf-8")
    assert tomllib.loads(Path(store.config).read_text(encoding="utf-8"))["archive"]["scratch_dir"] == str(scratch)
    first = _coffre_without_locks(share, "archive", "--config", store.config, "--yes")
    assert first.returncode == 0, first.stderr
    assert list(scratch.iterdir()) == []
    # What a run killed a moment ago left there: a plain copy of the till's database, in a folder no lock can tell
    # dead on this share; the store's lock can, and the next run removes it.
    dead = scratch / (_archive_prefix(store, scratch) + "killed")
    dead.mkdir()
    (dead / "snapshot.sqlite").write_bytes(Path(store.db).read_bytes())
    second = _coffre_without_locks(share, "archive", "--config", store.config, "--yes")
    assert second.returncode == 0, second.stderr
    assert list(scratch.iterdir()) == [], list(scratch.iterdir())
    # Another command's folders there: archive leaves them; that command's next run takes the one untouched for a day
    # (no lock tells whether its command is alive, a day does), and leaves the recent one and the one whose folder
    # looks old but whose file is being written (a file server's clock a day behind, or a folder made long ago).
    old, recent, writing = (scratch / f"coffre-journals@boutique@{n}" for n in ("old", "recent", "writing"))
    for folder in (old, recent, writing):
        folder.mkdir()
        (folder / "tickets.csv").write_text("plain sales")
    os.utime(old / "tickets.csv", (0, 0))
    os.utime(old, (0, 0))
    os.utime(recent, (time.time() - 3600,) * 2)
    os.utime(writing, (0, 0))
    third = _coffre_without_locks(share, "archive", "--config", store.config, "--yes")
    assert third.returncode == 0, third.stderr
    assert old.exists() and recent.exists()
    export = _coffre_without_locks(share, "journals", "export", "--config", store.config, "--out", tmp_path / "j")
    assert export.returncode == 0, export.stderr
    assert sorted(p.name for p in scratch.iterdir()) == sorted([recent.name, writing.name])


def _archive_prefix(store, scratch: Path) -> str:
    """The archive's scratch prefix for this store (pipeline/archive.py: the store id and a digest of its state)."""
    from pipeline.archive import _scratch
    from pipeline.config import load

    with _scratch(load(store.config)) as folder:
        assert folder.parent == scratch
        return folder.name[:folder.name.rindex("@") + 1]


def test_an_archive_keeps_a_folder_of_its_prefix_whose_lock_is_held(store, tmp_path):
    """Two archivers can share a store id, a state path and a scratch folder with store locks of their own (two
    containers on one host): the store's lock does not make the other's live folder a dead one's."""
    import fcntl

    scratch = tmp_path / "scratch"
    scratch.mkdir()
    text = Path(store.config).read_text(encoding="utf-8")
    Path(store.config).write_text(text.replace("[archive]\n", f"[archive]\nscratch_dir = \"{scratch}\"\n", 1),
                                  encoding="utf-8")
    live = scratch / (_archive_prefix(store, scratch) + "the-other-one")
    live.mkdir()
    (live / "snapshot.sqlite").write_bytes(b"the other archive's plain copy")
    fd = os.open(live, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        res = subprocess.run([sys.executable, "-m", "pipeline", "archive", "--config", str(store.config), "--yes"],
                             cwd=REPO, capture_output=True, text=True, timeout=300)
    finally:
        os.close(fd)
    assert res.returncode == 0, res.stderr
    assert (live / "snapshot.sqlite").read_bytes() == b"the other archive's plain copy"
