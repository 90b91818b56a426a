"""A wrong configuration gets one sentence naming the key, and exit 2."""

from __future__ import annotations

import re

import pytest

from conftest import run_coffre


@pytest.mark.parametrize("edit, key", [
    (lambda t: t.replace('store_id = "boutique"', "store_id = 12"), "store_id"),
    (lambda t: t.replace("compression_level = 3", 'compression_level = "fast"'), "compression_level"),
    (lambda t: t.replace("allow_same_disk = false", 'allow_same_disk = "no"'), "allow_same_disk"),
    (lambda t: t.replace('store_id = "boutique"', 'store_id = "../escape"'), "store_id"),
    (lambda t: re.sub(r"recipients = \[[^\]]*\]", "recipients = 5", t), "encryption.recipients"),
    # A misspelt table would switch retention or the hooks off unseen.
    (lambda t: t + "\n[retentions]\nkeep_last = 1\n", "did you mean `retention`"),
    (lambda t: t + "\n[hook]\non_failure = 'mail'\n", "did you mean `hooks`"),
    (lambda t: "retention = 3\n" + t, "`retention` must be a table"),
    (lambda t: t + "\n[retention]\nfiscal_year_start = '02-30'\n", "fiscal_year_start"),
    (lambda t: t + "\n[retention]\nlegal_years = 3\nafter_archive = true\n", "below_legal_accepted"),
    (lambda t: t + "\n[hooks]\nping_url = 'http://'\n", "hooks.ping_url"),
    (lambda t: t.replace("[journals]\n", "[journals]\ntimezon = 'America/Martinique'\n"), "did you mean 'timezone'"),
    (lambda t: t + "\n[status]\nwarn_evening = 3\n", "did you mean 'warn_evenings'"),
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
