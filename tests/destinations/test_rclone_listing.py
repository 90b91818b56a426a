"""An rclone copy's listing of its blocks says what stands in a block's place as a local copy's does: a folder there is
not the block (verify names it, repair leaves it), and the evenings go on writing that copy."""

from __future__ import annotations

import json
import os

import pytest

from conftest import need_tool, run_coffre, without_override
from pipeline.destinations.rclone import _listed_blocks, _PipeReader
from store.test_shared_blocks import archive, blocks_dir, coffre, listed, sell

A, B = "ab" + "0" * 62, "cd" + "1" * 62


def test_a_listing_names_a_folder_in_a_blocks_place_and_a_block_beside_a_folder_of_its_name_is_the_block():
    lines = ["-1;ab/", "-1;cd/", f"5;ab/{A}", f"-1;ab/{A}/", f"2;ab/{A}/x", f"-1;cd/{B}/", f"-1;cd/{B}/in/",
             f"3;cd/{B}/in/z", "-1;cd/.tmp-x/", "7;cd/.tmp-y", "-1;cd/junk/"]
    got = dict(_listed_blocks("\n".join(lines) + "\n"))
    assert got[A] == 5  # an object store may hold NAME and NAME/x: the block is NAME
    assert got[B] == -1  # a folder where the block should be
    assert got["cd/junk"] == -1 and "cd" not in got and "ab" not in got
    assert not [k for k in got if ".tmp-" in k]


def test_a_reader_whose_program_ends_before_reading_its_name_says_what_the_program_said():
    """The name goes to the program's standard input; a program that ended first (a broken pipe at the flush) is
    judged by its exit, never by a BrokenPipeError out of the reader."""
    for _ in range(200):
        reader = _PipeReader(["true"], "a" * 64, names="a" * 64)
        try:
            assert reader.read() == b""
        finally:
            reader.close()


@pytest.fixture(params=["daemon", "a program per block"])
def rclone_local(store, monkeypatch, request):
    """Copy A written through rclone's own local backend (no server between: what rclone lists is what is there),
    through the rclone daemon, or without it (a path with "]" in it, which the daemon's URLs cannot name)."""
    need_tool("rclone")
    monkeypatch.setenv("RCLONE_CONFIG_RLOCAL_TYPE", "local")
    a, b = store.destinations
    if request.param != "daemon":
        moved = a.with_name("usb]A")
        a.rename(moved)
        store.destinations[0] = a = moved
    text = store.config.read_text()
    old = str(store.destinations[0].with_name("usb-A"))
    assert text.count(f'"{old}"') == 1, text
    store.config.write_text(text.replace(f'"{old}"', f'"rclone:rlocal:{a}"'))
    return store


def archived_on_the_remote(store):
    """(the remote's spelling, the first block of its first run, that block's place), after one archive."""
    a = store.destinations[0]
    archive(store)
    name = listed(store.run_dirs(a)[0])[0]
    return f"rclone:rlocal:{a}", name, blocks_dir(store, a) / name[:2] / name


def test_a_folder_in_a_blocks_place_on_an_rclone_copy_is_named_left_and_written_around(rclone_local):
    store = rclone_local
    a, b = store.destinations
    remote, name, place = archived_on_the_remote(store)
    place.unlink()
    place.mkdir()
    (place / "photo.jpg").write_bytes(b"someone's file")

    res = coffre(store, "verify", "--from", remote, "--json")
    assert res.code == 1, res
    (problem,) = json.loads(res.out)["copies"][0]["problems"]
    assert name in problem["file"] and "not a regular file" in problem["message"], problem
    # --deep opens the block itself: a folder, said as a local copy says it, never the folder's files read as it.
    res = coffre(store, "verify", "--from", remote, "--deep", "--identity", store.identity, "--json")
    said = " ".join(p["message"] for p in json.loads(res.out)["copies"][0]["problems"])
    assert res.code == 1 and "is a folder, not a regular file" in said and "BLAKE3" not in said, res

    res = coffre(store, "repair", "--json")
    assert res.code == 1, res
    copy_a = next(c for c in json.loads(res.out)["copies"] if c["destination"] == remote)
    assert copy_a["healed"] == [] and list(copy_a["unhealed"]) == [name] and copy_a["unreadable"] == {}, copy_a
    assert copy_a["unwritten"][name]["intact_on"] == str(b) and "folder" in copy_a["unwritten"][name]["reason"], copy_a
    assert (place / "photo.jpg").read_bytes() == b"someone's file"  # nothing of it was removed
    assert not list(place.parent.glob(".tmp-*"))

    # The evening still writes that copy: the content goes there under another name.
    sell(store, 5)
    run = archive(store)
    assert all(c["ok"] for c in run["copies"]), run
    newest = store.run_dirs(a)[-1]
    assert name not in listed(newest)
    res = run_coffre("verify", "--config", store.config, "--from", remote, "--run", newest.name)
    assert res.code == 0, res
    assert "Traceback" not in res.err


def test_an_empty_file_in_a_blocks_place_is_a_damaged_block_through_either_path(rclone_local):
    """A block is never empty: nothing read is told apart, and an empty file is what it is, not a missing block."""
    store = rclone_local
    remote, name, place = archived_on_the_remote(store)
    place.write_bytes(b"")
    for deep in ((), ("--deep", "--identity", store.identity)):
        res = coffre(store, "verify", "--from", remote, *deep, "--json")
        said = [p for p in json.loads(res.out)["copies"][0]["problems"] if name in (p["file"] or "")]
        assert res.code == 1 and said and all("damaged" in p["message"] for p in said), (deep, res)


def test_a_block_the_remote_will_not_give_is_said_unreadable_without_a_program_more_per_block(rclone_local, tmp_path,
                                                                                             monkeypatch):
    """Only rclone's "is a directory" sends Coffre to look whether a folder stands there: a copy whose blocks cannot
    be read (a medium failing, their modes) must not cost one rclone program more per block."""

    store = rclone_local
    remote, name, place = archived_on_the_remote(store)
    calls = tmp_path / "rclone-calls"
    wrapper = tmp_path / "bin" / "rclone"
    wrapper.parent.mkdir()
    wrapper.write_text(f'#!/bin/sh\necho "$*" >> "{calls}"\nexec "{need_tool("rclone")}" "$@"\n')
    wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{wrapper.parent}:{os.environ['PATH']}")
    place.chmod(0)
    try:
        res = without_override("verify", "--config", store.config, "--from", remote, "--json")
    finally:
        place.chmod(0o600)
    (problem,) = json.loads(res.out)["copies"][0]["problems"]
    assert res.code == 1 and name in problem["file"] and "cannot be read" in problem["message"], res
    assert calls.exists() and "lsjson" not in calls.read_text(), calls.read_text()


def test_a_link_in_a_blocks_place_is_never_followed_out_of_the_copy_and_repair_puts_the_block_back(rclone_local,
                                                                                                     tmp_path):
    """A link to a true copy of the block, outside the copy: what the copy holds is not the block (deep verify must
    not call it intact), nothing outside is read as it or touched, and repair puts the block itself there."""
    store = rclone_local
    remote, name, place = archived_on_the_remote(store)
    outside = tmp_path / "outside-the-copy"
    outside.write_bytes(place.read_bytes())
    place.unlink()
    place.symlink_to(outside)
    res = coffre(store, "verify", "--from", remote, "--deep", "--identity", store.identity)
    assert res.code == 1 and name in res.err and "Traceback" not in res.err, res
    res = coffre(store, "repair")
    assert res.code == 0 and name in res.err, res
    assert not place.is_symlink() and place.read_bytes() == outside.read_bytes()
    assert coffre(store, "verify", "--from", remote, "--deep", "--identity", store.identity).code == 0


def test_a_link_as_long_as_the_block_to_a_true_copy_of_it_is_neither_taken_for_it_nor_kept_by_repair(rclone_local,
                                                                                                       tmp_path):
    """rclone compares a link by its own size (its path's length) and its time: a link padded to the block's size, of
    the same time, to a true copy outside, once passed for the block, and a repair kept it (and touched its target)."""
    store = rclone_local
    remote, _name, _place = archived_on_the_remote(store)
    a = store.destinations[0]
    blocks = blocks_dir(store, a)
    name = min(listed(store.run_dirs(a)[0]), key=lambda n: (blocks / n[:2] / n).stat().st_size)
    place = blocks / name[:2] / name
    size = place.stat().st_size
    outside = tmp_path / "o"
    outside.write_bytes(place.read_bytes())
    os.utime(outside, (1_600_000_000, 1_600_000_000))
    target = str(outside.parent) + "/" * (size - len(str(outside)) + 1) + outside.name
    assert len(target) == size < 4096, (len(target), size)
    place.unlink()
    place.symlink_to(target)
    os.utime(place, (1_600_000_000, 1_600_000_000), follow_symlinks=False)
    res = coffre(store, "verify", "--from", remote, "--deep", "--identity", store.identity)
    assert res.code == 1 and name in res.err, res
    res = coffre(store, "repair")
    assert res.code == 0 and name in res.err, res
    assert not place.is_symlink() and place.read_bytes() == outside.read_bytes()
    assert outside.stat().st_mtime == 1_600_000_000  # the target outside the copy, untouched
