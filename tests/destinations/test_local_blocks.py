"""A local copy's blocks are reached from the destination's path for each block, never through a link: a blocks folder
replaced during a command (a key unplugged and plugged again, a copy synced anew) is the one read."""

from __future__ import annotations

import os
import shutil

import pytest

from pipeline.destinations.local import LocalDestination
from pipeline.destinations import NotRegular

A, B = "ab" + "0" * 62, "cd" + "1" * 62


@pytest.fixture
def copy(tmp_path):
    (tmp_path / "key").mkdir()  # a destination exists before anything is written to it (local.py never makes it)
    dest = LocalDestination(str(tmp_path / "key"))
    writer = dest.start_blocks("s1")
    writer.put(A, b"block a")
    writer.put(B, b"block b")
    return dest, tmp_path / "key" / "s1" / "blocks"


def test_a_blocks_folder_replaced_during_a_command_is_looked_for_again(copy):
    dest, blocks = copy
    with dest.open_block("s1", A) as f:
        assert f.read() == b"block a"
    shutil.copytree(blocks, blocks.with_name("blocks.new"))
    blocks.rename(blocks.with_name("blocks.old"))
    blocks.with_name("blocks.new").rename(blocks)
    shutil.rmtree(blocks.with_name("blocks.old"))
    with dest.open_block("s1", B) as f:
        assert f.read() == b"block b"


def test_a_link_in_place_of_a_blocks_subfolder_is_still_refused(copy, tmp_path):
    dest, blocks = copy
    with dest.open_block("s1", B) as f:  # a block read first: nothing of it may be kept to go round the link
        f.read()
    elsewhere = tmp_path / "elsewhere"
    shutil.move(blocks / "ab", elsewhere)
    os.symlink(elsewhere, blocks / "ab")
    with pytest.raises(NotRegular):
        dest.open_block("s1", A)


def test_a_folder_named_like_a_leftover_is_left_and_a_leftover_file_removed(copy):
    """Coffre writes no .tmp- folder: one among the blocks is someone's, and must not stop every prune of the copy."""
    dest, blocks = copy
    (blocks / "ab" / ".tmp-photos").mkdir()
    (blocks / "ab" / ".tmp-photos" / "photo.jpg").write_bytes(b"someone's file")
    (blocks / "ab" / f".tmp-{A}").write_bytes(b"half a block")
    dest.remove_block_leftovers("s1")
    assert (blocks / "ab" / ".tmp-photos" / "photo.jpg").read_bytes() == b"someone's file"
    assert not (blocks / "ab" / f".tmp-{A}").exists()
