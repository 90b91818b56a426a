"""A run whose signature reached a copy as that copy failed: the archive said the copy failed, yet the run is there,
signed and whole. It is this machine's run, never "copied here by hand"; the next archive counts it on that copy."""

from __future__ import annotations

import errno
import json

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
