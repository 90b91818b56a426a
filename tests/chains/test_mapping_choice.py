"""Choosing how the till is read: `init --mapping` takes a shipped name or a vendor's file and refuses, in one
sentence and before anything is written, a name there is none of, a recipe Coffre does not know, or a secret file
that cannot be read; the secret's path goes into the config, never its content."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import run_coffre

REPO = Path(__file__).resolve().parents[2]
USAGE = 2


def _init(tmp_path, other_disk, sample_db, *extra):
    (other_disk / "usb").mkdir(exist_ok=True)
    return run_coffre("init", "--config", tmp_path / "etc" / "coffre.toml", "--source", f"sqlite:{sample_db}",
                      "--to", other_disk / "usb", "--i-know", "--identity-out", tmp_path / "keys" / "identity.txt",
                      *extra)


def test_an_unknown_mapping_name_is_refused_before_anything_is_written(tmp_path, other_disk, sample_db):
    res = _init(tmp_path, other_disk, sample_db, "--mapping", "odoo-pso")
    assert res.code == USAGE, res
    assert "No source mapping named 'odoo-pso'." in res.err and "Traceback" not in res.err, res
    assert not (tmp_path / "etc").exists() and not (tmp_path / "keys").exists()


def test_a_mapping_naming_an_unknown_recipe_is_refused(tmp_path, other_disk, sample_db):
    doc = json.loads((REPO / "fixtures" / "vendor-till" / "caisse-libre.json").read_text(encoding="utf-8"))
    doc["journals"]["source_chain"]["source_chain"]["recipe"] = "sha512-text"
    vendor = tmp_path / "till.json"
    vendor.write_text(json.dumps(doc), encoding="utf-8")
    res = _init(tmp_path, other_disk, sample_db, "--mapping", vendor)
    assert res.code == USAGE, res
    assert "names the recipe 'sha512-text'; Coffre knows" in res.err and "sha256-text" in res.err, res
    assert not (tmp_path / "etc").exists()


def test_the_secret_file_must_be_readable_and_only_its_path_is_kept(tmp_path, other_disk, sample_db):
    res = _init(tmp_path, other_disk, sample_db, "--chain-secret-file", tmp_path / "nowhere")
    assert res.code == USAGE and "The till's secret file" in res.err and "cannot be read" in res.err, res
    secret = tmp_path / "secret"
    secret.write_text("s3cr3t-dolibarr-instance-key\n", encoding="utf-8")
    res = _init(tmp_path, other_disk, sample_db, "--chain-secret-file", secret, "--json")
    assert res.code == 0, res
    config = (tmp_path / "etc" / "coffre.toml").read_text(encoding="utf-8")
    assert f'chain_secret_file = "{secret}"' in config
    assert "s3cr3t" not in config + res.out + res.err


def test_a_mapping_for_another_kind_of_database_or_not_a_mapping_is_refused(tmp_path, other_disk, sample_db):
    res = _init(tmp_path, other_disk, sample_db, "--mapping", "odoo-pos")
    assert res.code == USAGE, res
    assert "The mapping odoo-pos reads a till on postgresql, not on sqlite" in res.err, res
    not_one = tmp_path / "list.json"
    not_one.write_text("[1, 2]", encoding="utf-8")
    res = _init(tmp_path, other_disk, sample_db, "--mapping", not_one)
    assert res.code == USAGE and "is not a mapping: its file must hold a JSON object" in res.err, res
    res = _init(tmp_path, other_disk, sample_db, "--mapping", tmp_path / "nowhere.json")
    assert res.code == USAGE and f"The mapping file {tmp_path / 'nowhere.json'} does not exist." in res.err, res
    assert not (tmp_path / "etc").exists()
