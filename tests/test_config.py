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


def test_an_unknown_key_in_a_destination_table_names_the_closest(store):
    a, b = store.destinations
    text = re.sub(r"(?m)^destinations = .*$", f'destinations = [{{ too = "{a}" }}, "{b}"]', store.config.read_text())
    assert "too =" in text
    store.config.write_text(text)
    res = run_coffre("archive", "--config", store.config, "--yes")
    assert res.code == 2, res
    assert "a destination has an unknown key 'too' (did you mean 'to'?)" in res.err, res.err
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    # Nothing close: the known keys are listed.
    store.config.write_text(text.replace("too =", "where ="))
    res = run_coffre("status", "--config", store.config)
    assert res.code == 2 and "unknown key 'where'; known: to, role." in res.err, res.err


def test_an_unknown_journals_mapping_is_refused_at_load(store):
    from pipeline.config_schema import MAPPINGS

    text = store.config.read_text()
    text = (re.sub(r'(?m)^mapping = .*$', 'mapping = "nope"', text) if "\nmapping = " in text
            else text.replace("[journals]\n", '[journals]\nmapping = "nope"\n'))
    store.config.write_text(text)
    # Refused by every command, status first: not "all is well" tonight and exit 5 every evening.
    for args in (["status"], ["archive", "--yes"], ["verify"]):
        res = run_coffre(*args, "--config", store.config)
        assert res.code == 2, (args, res)
        assert ('`journals.mapping` is "nope": Coffre knows "dolibarr-pos", "odoo-pos", "reference-pos", or the path '
                'of a file ending in .json.') in res.err, res.err
        assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    assert "reference-pos" in MAPPINGS
    assert all(store.run_dirs(d) == [] for d in store.destinations)


def test_the_json_schema_and_the_reference_list_the_mappings():
    import json

    from pipeline.config_schema import MAPPINGS, REFERENCE_FILE, SCHEMA_FILE

    schema = json.loads(SCHEMA_FILE.read_text())
    names, files = schema["properties"]["journals"]["properties"]["mapping"]["anyOf"]
    assert names["enum"] == list(MAPPINGS) and files["pattern"] == "\\.json$"
    row = next(line for line in REFERENCE_FILE.read_text().splitlines() if line.startswith("| `mapping` |"))
    assert all(f'`"{name}"`' in row for name in MAPPINGS), row
