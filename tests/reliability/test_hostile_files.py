"""A person who can write to one copy (a USB key left in the shop) puts a FIFO, a device, a symbolic link or a huge
file in it: verify names it at once, without following or reading it, and restore and the drill take the other copy."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from conftest import need_tool

from .helpers import archived_once, fail_or_skip, no_traceback, two_copy_store

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1

SNAPSHOT, RESTORE = "snapshot.sqlite.zst.age", "RESTORE.txt"
# Every command here ends in about a second; a hang on a FIFO or /dev/zero must fail the test, not stall the suite.
TIMEOUT = 30


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """One archived run on two copies; each case puts one hostile entry in copy A and takes it away."""
    with two_copy_store(tmp_path_factory.mktemp("hostile"), days=1, tickets_per_day=30, seed=41) as store:
        yield store, archived_once(store)


@contextlib.contextmanager
def in_place_of(path: Path, make):
    """`make(path)` puts a hostile entry where `path` was; the original is put back afterwards, whatever happened."""
    aside = path.parent.parent / f"aside-{uuid.uuid4().hex[:8]}"
    os.rename(path, aside)
    try:
        make(path)
        yield
    finally:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)
        os.rename(aside, path)


def fifo(path: Path) -> None:
    os.mkfifo(path)


def device(path: Path) -> None:
    try:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # a character device: the kernel's /dev/zero
    except PermissionError:
        fail_or_skip("creating a device node needs root")


def link_to(target):
    return lambda path: os.symlink(target(path) if callable(target) else target, path)


def in_copy_b(store):
    """The same entry in copy B (a link from copy A to copy B's own, identical, file or folder)."""
    a, b = store.destinations
    return lambda path: b / path.relative_to(a)


def outside_copy(store):
    """A true copy of the file outside any copy, reached by a relative link climbing out of the run folder."""
    def target(path: Path) -> str:
        out = store.base / "outside" / path.name
        out.parent.mkdir(exist_ok=True)
        shutil.copyfile(in_copy_b(store)(path), out)
        return os.path.relpath(out, path.parent)
    return target


def coffre(store, *args):
    try:
        return store.coffre(*args, timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"coffre {args[0]} did not end within {TIMEOUT} s: it hangs on the hostile entry", pytrace=False)


def verify_a_and_b(store) -> tuple[dict, dict]:
    started = time.monotonic()
    res = coffre(store, "verify", "--from", store.destinations[0], "--from", store.destinations[1], "--json")
    assert time.monotonic() - started < 10, "verify took long: it read or waited on the hostile entry"
    no_traceback(res)
    assert res.code == 1, res
    a, b = json.loads(res.out)["copies"]
    assert b["ok"] and b["problems"] == [], b
    assert not a["ok"], a
    return a, b


def read_by_verify(store, run: Path, *not_read: str) -> int:
    """The bytes verify hashes in copy A's run when `not_read` are left alone: every other listed file, whole."""
    real = in_copy_b(store)(run)
    return sum(p.stat().st_size for p in real.iterdir()
               if p.name not in ("MANIFEST.b3", "MANIFEST.b3.minisig", *not_read))


def said(copy: dict) -> list[str]:
    return [" / ".join(x for x in (p["run"], p["file"], p["message"]) if x) for p in copy["problems"]]


def restore_and_drill_take_copy_b(store, tmp_path, *mentions, not_a_run_there=False) -> None:
    """`not_a_run_there`: copy A holds no run folder of its own (a linked one is not one), so restore says copy A
    does not hold the run rather than that it passed over a damaged one."""
    res = coffre(store, "restore", *store.identity_args(), "--out", tmp_path / "restored")
    no_traceback(res)
    assert res.code == 0, res
    assert f"from {store.destinations[1]}" in res.err, res
    said_of_a = "Warning: The copy" if not_a_run_there else "Passed over:"
    passed_over = [line for line in res.err.splitlines() if line.startswith(said_of_a)]
    assert len(passed_over) == 1 and str(store.destinations[0]) in passed_over[0], res
    for m in mentions:
        assert m in passed_over[0], (m, res)
    assert (tmp_path / "restored" / "snapshot.sqlite").is_file()

    res = coffre(store, "drill", *store.identity_args(), "--json")
    no_traceback(res)
    assert res.code == 1, res
    outcomes = {c["destination"]: c for c in json.loads(res.out)["copies"]}
    assert not outcomes[str(store.destinations[0])]["ok"], outcomes
    assert outcomes[str(store.destinations[1])]["ok"], outcomes
    for m in mentions if not not_a_run_there else ("no complete run",):
        assert m in outcomes[str(store.destinations[0])]["problem"], (m, outcomes)


FILE_CASES = [
    pytest.param(SNAPSHOT, fifo, "a FIFO (named pipe)", id="data-file-is-a-fifo"),
    pytest.param(RESTORE, fifo, "a FIFO (named pipe)", id="restore-txt-is-a-fifo"),
    pytest.param(SNAPSHOT, device, "a device", id="data-file-is-a-device"),
    pytest.param(SNAPSHOT, link_to("/dev/zero"), "a symbolic link", id="data-file-links-to-dev-zero"),
    pytest.param(RESTORE, link_to("/dev/zero"), "a symbolic link", id="restore-txt-links-to-dev-zero"),
    pytest.param(SNAPSHOT, "copy-b", "a symbolic link", id="data-file-links-to-the-other-copy"),
    pytest.param(RESTORE, "outside", "a symbolic link", id="restore-txt-links-out-of-the-folder"),
]


@pytest.mark.parametrize("name, make, kind", FILE_CASES)
def test_a_file_that_is_not_a_regular_file_is_named_and_never_opened(hostile, tmp_path, name, make, kind):
    store, run = hostile
    make = {"copy-b": link_to(in_copy_b(store)), "outside": link_to(outside_copy(store))}.get(make, make)
    with in_place_of(run / name, make):
        a, _ = verify_a_and_b(store)
        assert f"{run.name} / {name} / is {kind}, not a regular file; not read" in said(a), a
        assert [r["bytes_read"] for r in a["runs"]] == [read_by_verify(store, run, name)], a  # nothing through it
        restore_and_drill_take_copy_b(store, tmp_path, name, kind)


def test_a_linked_run_folder_is_not_followed(hostile, tmp_path):
    store, run = hostile
    with in_place_of(run, link_to(in_copy_b(store))):
        a, _ = verify_a_and_b(store)
        assert said(a) == [f"{run.name} / is a symbolic link, not a folder; not followed"], a
        restore_and_drill_take_copy_b(store, tmp_path, "does not hold run", not_a_run_there=True)


def test_a_linked_store_folder_is_not_followed(hostile, tmp_path):
    store, run = hostile
    with in_place_of(run.parent, link_to(in_copy_b(store))):
        a, _ = verify_a_and_b(store)
        assert said(a) == [f"the store folder {store.store_id} is a symbolic link, not a folder; not followed"], a
        restore_and_drill_take_copy_b(store, tmp_path, "the store folder", "a symbolic link")


def test_an_archive_does_not_write_through_a_linked_store_folder(tmp_path):
    """Copy A's store folder links to copy B's: copy A fails, and its failure removes nothing of copy B's run."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=10, seed=43) as store:
        a, b = store.destinations
        (b / store.store_id).mkdir()
        os.symlink(b / store.store_id, a / store.store_id)
        res = coffre(store, "archive", "--yes", "--json")
        no_traceback(res)
        assert res.code == 4, res
        copies = json.loads(res.out)["copies"]
        assert [c["ok"] for c in copies] == [False, True], copies
        assert "the store folder" in copies[0]["reason"] and "symbolic link" in copies[0]["reason"], copies
        res = coffre(store, "verify", "--from", b)
        assert res.code == 0, res


def test_a_huge_control_file_is_not_read(hostile, tmp_path):
    """A 100 MB RESTORE.txt (sparse: it costs the attacker nothing) and a data file grown by 50 MB are named from
    their listed size; neither is read."""
    store, run = hostile
    with in_place_of(run / RESTORE, lambda p: os.truncate(_created(p), 100 << 20)), \
            in_place_of(run / SNAPSHOT, lambda p: _grown(p, in_copy_b(store)(p), 50 << 20)):
        started = time.monotonic()
        a, _ = verify_a_and_b(store)
        problems = said(a)
        assert f"{run.name} / {RESTORE} / is {100 << 20} bytes, larger than any file of this kind Coffre writes; " \
               "not read" in problems, a
        assert any(p.startswith(f"{run.name} / {SNAPSHOT} / is ") and "manifest.json says" in p for p in problems), a
        assert [r["bytes_read"] for r in a["runs"]] == [read_by_verify(store, run, RESTORE, SNAPSHOT)], a
        assert time.monotonic() - started < 5
        restore_and_drill_take_copy_b(store, tmp_path, RESTORE, "larger than any file")


def _created(path: Path) -> Path:
    path.touch()
    return path


def _grown(path: Path, original: Path, by: int) -> None:
    shutil.copyfile(original, path)
    os.truncate(path, original.stat().st_size + by)


def test_rclone_does_not_follow_links_nor_open_fifos(hostile, monkeypatch):
    """The same hostile entries in a copy read through rclone's local backend: rclone lists neither a link (it is
    never given -L) nor a FIFO, so they are missing, and Coffre opens nothing the listing does not show."""
    need_tool("rclone")
    store, run = hostile
    monkeypatch.setenv("RCLONE_CONFIG_HOSTILELOCAL_TYPE", "local")
    spec = f"rclone:hostilelocal:{store.destinations[0]}"
    with in_place_of(run / "MANIFEST.b3", fifo):
        res = coffre(store, "verify", "--from", spec, "--json")
        no_traceback(res)
        assert res.code == 1, res
        (copy,) = json.loads(res.out)["copies"]
        assert said(copy) == [f"{run.name} / MANIFEST.b3 / is missing"], copy
    with in_place_of(run / SNAPSHOT, link_to(in_copy_b(store))):
        res = coffre(store, "verify", "--from", spec, "--json")
        no_traceback(res)
        assert res.code == 1, res
        (copy,) = json.loads(res.out)["copies"]
        assert f"{run.name} / {SNAPSHOT} / is missing" in said(copy), copy
