"""A run whose signature reached a copy as that copy failed: the archive said the copy failed, yet the run is there,
signed and whole. It is this machine's run, never "copied here by hand": verify says so, and the next archive reads it
whole there and counts it on that copy."""

from __future__ import annotations

import errno
import json

import pytest

from conftest import run_coffre


def test_a_run_signed_on_a_copy_as_it_failed_is_not_taken_for_a_copied_one_and_is_counted_there_next(store,
                                                                                                     monkeypatch):
    """Found by helper 8: the cloud copy died the moment the signature was moved into place. The archive said it
    failed (exit 4), the run stayed there signed, and from then on every verify said the copy's id file "names another
    medium than the one this machine wrote 1 of its runs to: the file was replaced, or runs were copied here by hand"
    (exit 1); no archive, repair or verify cleared it. The next archive now reads it whole there and counts it."""
    from pipeline import config
    from pipeline.archive import run_archive
    from pipeline.destinations import local

    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    a, b = store.destinations
    commit = local.LocalRunWriter.commit

    def signature_lands_then_the_medium_goes(self, name):
        commit(self, name)
        if name == "MANIFEST.b3.minisig" and str(self.folder).startswith(str(b)):
            raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(local.LocalRunWriter, "commit", signature_lands_then_the_medium_goes)
    result = run_archive(config.load(store.config), [str(a), str(b)], say=lambda m: None)
    monkeypatch.undo()
    assert result.exit_code == 4 and [c.ok for c in result.copies] == [True, False], result.to_json()
    assert (b / store.store_id / result.run_id / "MANIFEST.b3.minisig").is_file()
    # Till the next archive, verify says what it is: not a run copied by hand, nor a sign that the copy is another
    # medium (which held it to the other copy's runs, and said those deleted).
    res = run_coffre("verify", "--config", store.config, "--from", b, "--json")
    assert res.code == 0, res
    (copy,) = json.loads(res.out)["copies"]
    assert any(n.startswith(f"run {result.run_id} is signed here, though the archive that wrote it said this copy "
                            "failed") for n in copy["notes"]), copy
    listed = json.loads(run_coffre("list", "--config", store.config, "--json").out)["copies"]
    (on_b,) = [c for c in listed if c["destination"] == str(b)]
    (run,) = [r for r in on_b["runs"] if r["run_id"] == result.run_id]
    assert run["state"] == "signed here as the copy failed: the next archive reads it whole and counts it", run

    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0, res
    assert f"Note: run {result.run_id} was said not written to {b}, but it is signed and whole there" in res.err, res.err
    status = json.loads(run_coffre("status", "--config", store.config, "--json", "--no-look").out)
    (on_b,) = [d for d in status["destinations"] if d["destination"] == str(b)]
    assert on_b["runs_held"] == 3, on_b
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 0 and "was said not written" not in res.err, res.err  # counted once
    assert run_coffre("verify", "--config", store.config).code == 0


def test_a_run_copied_by_hand_onto_a_copy_that_was_away_that_evening_is_never_counted_there(store):
    """Found by review: a copy only missing that evening (the run never started there) is no copy whose signature may
    have landed: a run copied there by hand, blocks and all or its folder alone, stays one copied by hand."""
    import shutil

    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    a, b = store.destinations
    away = b.with_name("disk-B-away")
    b.rename(away)
    res = run_coffre("archive", "--config", store.config, "--yes", "--json")
    assert res.code == 4, res
    run_id = json.loads(res.out)["run_id"]
    away.rename(b)
    shutil.copytree(a / store.store_id / run_id, b / store.store_id / run_id)
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert "was said not written" not in res.err, res.err
    res = run_coffre("verify", "--config", store.config, "--from", b)
    assert res.code == 1 and "copied here by hand" in res.err, res


class _FsyncFailsFor:
    """The `os` the local writer sees, whose fsync fails for one file (a medium that goes as it is flushed)."""

    def __init__(self, real, path_part: str, folder: str):
        self._real, self._part, self._folder = real, path_part, folder

    def __getattr__(self, name):
        return getattr(self._real, name)

    def fsync(self, fd):
        path = self._real.readlink(f"/proc/self/fd/{fd}")
        if self._part in path and path.startswith(self._folder):
            raise OSError(errno.EIO, "Input/output error")
        return self._real.fsync(fd)


@pytest.mark.parametrize("when", ["its temporary file cannot be made", "its temporary file cannot be flushed",
                                  "the copy is failed just before it is signed"])
def test_a_copy_that_failed_before_the_signature_was_published_there_never_counts_a_run_copied_there_by_hand(
        store, monkeypatch, when):
    """Found by review (helper 11): a copy that failed while the signature's temporary file was made, sent or
    flushed, or in the check of its blocks just before, was marked as maybe holding the signature; a run copied
    there by hand was then counted as the one the archive wrote. Only a failure as the file is published (a rename,
    a remote move) or read back leaves that doubt."""
    import os
    import shutil

    from pipeline import config
    from pipeline.archive import run_archive
    from pipeline.destinations import local
    from pipeline.pack import shared
    from pipeline.state.history import History

    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    a, b = store.destinations
    signature = "MANIFEST.b3.minisig"
    if when == "its temporary file cannot be made":
        open_file = local.LocalRunWriter.open

        def no_room_for_the_signature(self, name):
            if name == signature and str(self.folder).startswith(str(b)):
                raise OSError(errno.ENOSPC, "No space left on device")
            return open_file(self, name)

        monkeypatch.setattr(local.LocalRunWriter, "open", no_room_for_the_signature)
    elif when == "its temporary file cannot be flushed":
        monkeypatch.setattr(local, "os", _FsyncFailsFor(os, signature, str(b)))
    else:
        confirm = shared.SharedBlocks.confirm

        def b_fails(self):
            confirm(self)
            self.run.fail_copy(str(b), "its block x cannot be read")

        monkeypatch.setattr(shared.SharedBlocks, "confirm", b_fails)
    result = run_archive(config.load(store.config), [str(a), str(b)], say=lambda m: None)
    monkeypatch.undo()
    assert result.exit_code == 4 and [c.ok for c in result.copies] == [True, False], result.to_json()
    record = History.of(config.load(store.config)).runs[-1]
    assert record["run_id"] == result.run_id and record["unsure"] == [], record
    assert not (b / store.store_id / result.run_id).exists()
    shutil.copytree(a / store.store_id / result.run_id, b / store.store_id / result.run_id)
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert "was said not written" not in res.err, res.err
    res = run_coffre("verify", "--config", store.config, "--from", b)
    assert res.code == 1 and "copied here by hand" in res.err, res


def test_a_run_already_counted_on_a_copy_by_its_name_is_not_said_pending_there(tmp_path):
    """A copy whose id file could not be written when its run was counted there is listed in the run's `written`
    only: it must not be said, at every verify after, to be counted by "the next archive"."""
    from pipeline.destinations.local import LocalDestination
    from pipeline.verify.identity import identify

    copy = tmp_path / "disk-B"
    copy.mkdir()
    run = {"run_id": "20261207T190000Z-abcdef", "written": ["/elsewhere/usb-A"], "media": {"a" * 32: "/elsewhere/usb-A"},
           "unsure": [str(copy)], "manifest_blake3": "0" * 64}
    pending = identify(LocalDestination(str(copy)), {run["run_id"]}, {"runs": [run]})
    assert [n for n in pending.notes if run["run_id"] in n], pending
    counted = dict(run, written=run["written"] + [f"{copy}/"])  # counted there, under another spelling
    assert not [n for n in identify(LocalDestination(str(copy)), {run["run_id"]}, {"runs": [counted]}).notes
                if run["run_id"] in n]
