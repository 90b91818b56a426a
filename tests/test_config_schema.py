"""One description of the configuration (pipeline/config_schema.py) is the source of its checks, of the published
JSON Schema and of docs/CONFIG.md; the file `coffre init` writes is commented and checks against both."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from dataclasses import fields

import jsonschema
import pytest

from conftest import REPO
from pipeline import config, config_schema, shop
from pipeline.errors import UsageError
from pipeline.retention.policy import Rules


def test_generated_files_are_current():
    for path, text in config_schema.generated().items():
        assert path.read_text(encoding="utf-8") == text, f"{path} is stale: run `python -m pipeline.config_schema`"
    res = subprocess.run([sys.executable, "-m", "pipeline.config_schema", "--check"], capture_output=True, text=True,
                         cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr


def test_the_schema_agrees_with_what_the_code_uses():
    # The inspector's table, the retention rules and the config's defaults are the schema's.
    assert config_schema.TABLE_KEYS["shop"] == tuple(shop.FIELDS)
    for name in ("keep_last", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly", "legal_years",
                 "fiscal_year_start"):
        assert config_schema.key(f"retention.{name}").default == getattr(Rules, name), name
    defaults = {f.name: f.default for f in fields(config.Config)}
    for dotted, attribute in [("archive.compression_level", "compression_level"),
                              ("archive.allow_same_disk", "allow_same_disk"),
                              ("archive.source_lock_wait", "source_lock_wait"), ("journals.enabled", "journals_enabled"),
                              ("journals.mapping", "journals_mapping"), ("journals.timezone", "journals_timezone"),
                              ("status.warn_evenings", "warn_evenings")]:
        assert config_schema.key(dotted).default == defaults[attribute], dotted
    assert set(config_schema.TABLE_KEYS["retention"]) == set(Rules.__dataclass_fields__) | {"after_archive",
                                                                                           "below_legal_accepted"}


def test_written_config_is_commented_and_checks_against_the_schema(store):
    text = store.config.read_text()
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if " = " in line and not line.startswith("#"):
            assert lines[i - 1].startswith("# "), f"no comment above {line!r}"
        if line.startswith("["):
            assert lines[i - 1].startswith("# "), f"no comment above {line!r}"
    assert "# The zstd compression level of the snapshot" in text
    doc = tomllib.loads(text)
    jsonschema.validate(doc, config_schema.json_schema())
    jsonschema.validate(doc, json.loads((REPO / "schemas" / "config.schema.json").read_text()))
    cfg = config.load(store.config)  # and the validator takes it
    assert cfg.store_id == store.store_id
    # Written again from what was read: the same file (the comments come from the schema, not from the old file).
    config.save(cfg)
    assert store.config.read_text() == text


def test_the_reference_example_checks_against_the_schema():
    jsonschema.validate(config_schema.EXAMPLE, config_schema.json_schema())
    assert tomllib.loads(config_schema.render_toml(config_schema.EXAMPLE)) == config_schema.EXAMPLE


@pytest.mark.parametrize("value", ['say "hi"', "back\\slash", "two\nlines", "tab\tand\x7fdel", "Épicerie « Martin »",
                                   "\x01", ""])
def test_any_text_round_trips_through_the_written_toml(value):
    doc = {"store_id": value, "hooks": {"on_failure": [value, "x"]}, "destinations": [{"to": value, "role": "on-site"}]}
    assert tomllib.loads(config_schema.render_toml(doc)) == doc


def _config(tmp_path, store, extra: str) -> str:
    path = tmp_path / "edited.toml"
    text = store.config.read_text()
    # A table appended at the end; a top-level key before the first table.
    path.write_text(text + extra if extra.lstrip().startswith("[") else extra.strip() + "\n" + text)
    return path


@pytest.mark.parametrize("extra, said", [
    ("\n[retention]\nkeep_lastt = 2\n", "did you mean 'keep_last'"),
    ("\ncompresion = 9\n", "`compresion` is not a key Coffre knows"),
    ("\n[shop]\nsirett = '73282932000074'\n", "did you mean 'siret'"),
    ("\n[hooks]\ntimeout = 0\n", "`hooks.timeout` must be a whole number from 1 to 3600"),
    ("\n[status]\nwarn_evenings = 400\n", "`status.warn_evenings` must be a whole number from 1 to 365"),
])
def test_the_validator_and_the_schema_refuse_the_same(tmp_path, store, extra, said):
    path = _config(tmp_path, store, extra)
    with pytest.raises(UsageError) as err:
        config.load(path)
    assert said in str(err.value)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(tomllib.loads(path.read_text()), config_schema.json_schema())


def test_a_newer_format_is_refused(tmp_path, store):
    path = tmp_path / "newer.toml"
    path.write_text(store.config.read_text().replace("format = 1", "format = 2"))
    with pytest.raises(UsageError, match="format"):
        config.load(path)


def test_the_comments_speak_the_language_of_the_process():
    from pipeline import i18n

    i18n.set_language("fr")
    try:
        text = config_schema.render_toml(config_schema.EXAMPLE)
        translated = i18n._("The shop's address.") != "The shop's address."
    finally:
        i18n.set_language("en")
    if not translated:
        pytest.skip("the French catalogue is not compiled yet (scripts/catalogue folds parts/config.po)")
    assert "# Le niveau de compression zstd de l'instantané" in text
    assert tomllib.loads(text) == config_schema.EXAMPLE
