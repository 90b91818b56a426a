"""A removal record as FORMAT.md §9 writes it down: its JSON Schema, and the stock minisign checking its signature."""

from __future__ import annotations

import json
import subprocess

import jsonschema

from tests.conftest import REPO, need_tool, run_coffre

RULES = "\n[retention]\nkeep_last = 1\nkeep_daily = 1\nkeep_weekly = 0\nkeep_monthly = 0\n"


def test_a_removal_record_matches_its_schema_and_the_stock_minisign_verifies_it(store):
    minisign = need_tool("minisign")
    for _ in range(3):
        assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    manifests = {p.name: json.loads((p / "manifest.json").read_text()) for p in store.run_dirs(store.destinations[0])}
    store.config.write_text(store.config.read_text() + RULES)
    res = run_coffre("prune", "--config", store.config, "--json")
    assert res.code == 0, res
    act = json.loads(res.out)["act_id"]
    schema = json.loads((REPO / "schemas" / "removal.schema.json").read_text())
    for dest in store.destinations:
        folder = dest / store.store_id / "removals"
        assert sorted(p.name for p in folder.iterdir()) == [f"{act}.json", f"{act}.json.minisig"]
        record = json.loads((folder / f"{act}.json").read_text())
        jsonschema.validate(record, schema)
        assert record["medium"] == json.loads((dest / "coffre-medium.json").read_text())["coffre_medium"]
        # Each removed run is named with the manifest its successor chains to, and the run before it.
        removed = sorted(record["runs"], key=lambda r: r["run_id"])
        assert len(removed) == 2 and removed[0]["previous_run"] is None
        assert removed[1]["previous_run"] == {"run_id": removed[0]["run_id"],
                                              "manifest_blake3": manifests[removed[1]["run_id"]]["previous_run"]["manifest_blake3"]}
        out = subprocess.run([minisign, "-V", "-p", str(store.public_key_file), "-m", f"{act}.json"], cwd=folder,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        assert f"coffre removal store:{store.store_id} act:{act}" in out.stdout
        assert [p.name for p in store.run_dirs(dest)] == [max(manifests)]
    assert run_coffre("verify", "--config", store.config).code == 0


def test_each_prune_supersedes_the_copys_earlier_record_and_a_prune_killed_before_it_could_still_verifies(store):
    """However many evenings are pruned, a copy holds one record naming every run removed from it (on a remote, each
    record verify reads is a round trip); killed before the older record went, both stand and both are honoured."""
    store.config.write_text(store.config.read_text() + RULES)
    acts, removed = [], set()
    for _ in range(3):
        for _ in range(2):
            assert run_coffre("archive", "--config", store.config, "--yes").code == 0
        res = run_coffre("prune", "--config", store.config, "--json")
        assert res.code == 0, res
        out = json.loads(res.out)
        acts.append(out["act_id"])
        removed |= set(out["copies"][0]["removed"])
    folder = store.destinations[0] / store.store_id / "removals"
    assert sorted(p.name for p in folder.iterdir()) == [f"{acts[-1]}.json", f"{acts[-1]}.json.minisig"]
    assert {r["run_id"] for r in json.loads((folder / f"{acts[-1]}.json").read_text())["runs"]} == removed
    assert len(removed) == 5
    # A prune killed after its new record, before the one it supersedes went: the older one is still there.
    kept = {p.name: p.read_bytes() for p in folder.iterdir()}
    for _ in range(2):
        assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    assert run_coffre("prune", "--config", store.config).code == 0
    for name, data in kept.items():
        (folder / name).write_bytes(data)
    assert len(list(folder.iterdir())) == 4
    assert run_coffre("verify", "--config", store.config).code == 0
    # The next prune supersedes both.
    for _ in range(2):
        assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    assert run_coffre("prune", "--config", store.config).code == 0
    assert len(list(folder.iterdir())) == 2
    assert run_coffre("verify", "--config", store.config).code == 0
