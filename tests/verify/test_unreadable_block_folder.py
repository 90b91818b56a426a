"""A block folder of a copy that cannot be read (its mode, a failing medium) makes verify name the blocks in it as
unreadable, with the reason; the other blocks of the copy are read and found intact, never all called missing."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import REPO, Result, need_tool, run_coffre


def as_the_owner_without_override(*args) -> Result:
    """coffre run so that a folder's mode binds it: root keeps its ownership, not its right to read anything."""
    argv = [sys.executable, "-m", "pipeline", *map(str, args)]
    if os.geteuid() == 0:
        setpriv = need_tool("setpriv")
        argv = [setpriv, "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-dac_override,-dac_read_search",
                *argv]
    return Result(subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=300))


@pytest.mark.parametrize("deep", [False, True], ids=["verify", "verify-deep"])
def test_an_unreadable_block_folder_names_its_blocks_and_no_other(store, deep):
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    blocks = store.destinations[0] / store.store_id / "blocks"
    run = store.run_dirs(store.destinations[0])[0]
    listed = {line.rsplit("/", 1)[1] for name in ("snapshot.sqlite.blocks", "journals.tar.blocks")
              for line in (run / name).read_text().splitlines()}
    folder = blocks / sorted(listed)[0][:2]
    inside = {b for b in listed if b[:2] == folder.name}
    folder.chmod(0)
    try:
        res = as_the_owner_without_override("verify", "--config", store.config, "--from", store.destinations[0],
                                            *(["--deep", "--identity", store.identity] if deep else []))
    finally:
        folder.chmod(0o755)
    assert res.code == 1, res
    assert "Traceback" not in res.err and "is missing" not in res.err, res.err
    named = {b for b in listed if b in res.err}
    assert named == inside, (named, inside, res.err)
    assert "permission denied" in res.err, res.err
    res = run_coffre("verify", "--config", store.config, "--from", store.destinations[0])
    assert res.code == 0, res  # readable again, the copy is whole
