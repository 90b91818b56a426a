"""A wrong configuration gets one sentence naming the key, and exit 2."""

from __future__ import annotations

import pytest

from conftest import run_coffre


@pytest.mark.parametrize("edit, key", [
    (lambda t: t.replace('store_id = "boutique"', "store_id = 12"), "store_id"),
    (lambda t: t.replace("compression_level = 3", 'compression_level = "fast"'), "compression_level"),
    (lambda t: t.replace("allow_same_disk = false", 'allow_same_disk = "no"'), "allow_same_disk"),
    (lambda t: t.replace('store_id = "boutique"', 'store_id = "../escape"'), "store_id"),
    (lambda t: t.replace("[encryption]", "[encryption]\nrecipients = 5\n[x]"), "encryption.recipients"),
    (lambda t: t + "\n[[[", "not valid TOML"),
])
def test_bad_config_is_one_sentence_exit_2(store, edit, key):
    store.config.write_text(edit(store.config.read_text()))
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 2, res
    assert key in res.err and "Traceback" not in res.err
    assert len(res.err.strip().splitlines()) == 1
    assert all(store.run_dirs(d) == [] for d in store.destinations)


def test_missing_config_and_unreadable_source(store, tmp_path):
    res = run_coffre("archive", "--config", tmp_path / "nope.toml", "--yes")
    assert res.code == 2 and "does not exist" in res.err
    store.db.unlink()
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 3 and "does not exist" in res.err, res
    assert all(store.run_dirs(d) == [] for d in store.destinations)
