"""-q, -v and --json on every command: -q keeps errors, warnings and the result line; -v says more where a command
has more; --json prints one JSON object (English keys) on standard output."""

from __future__ import annotations

import json
import os

import pytest

from conftest import run_coffre

COMMANDS = ["archive", "verify", "restore", "drill", "prune", "status", "list", "journals export", "export-auditor",
            "rebuild-record", "schedule", "sample-db", "demo", "init", "completion"]


def one_json_object(text: str) -> dict:
    doc = json.loads(text)
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_takes_quiet_verbose_and_json(command):
    res = run_coffre(*command.split(), "--help")
    assert res.code == 0, res
    for option in ("-q, --quiet", "-v, --verbose", "--json"):
        assert option in res.out, (command, option, res.out)


def test_sample_db_quiet_says_only_its_result_and_json_is_one_object(tmp_path):
    quiet = run_coffre("sample-db", tmp_path / "q.db", "--days", "1", "--tickets-per-day", "5", "-q")
    assert quiet.code == 0, quiet
    assert quiet.out == "" and quiet.err.count("\n") == 1 and "Sample shop written to" in quiet.err
    res = run_coffre("sample-db", tmp_path / "j.db", "--days", "2", "--tickets-per-day", "5", "--json")
    assert res.code == 0, res
    doc = one_json_object(res.out)
    assert doc["path"] == str(tmp_path / "j.db") and doc["days"] == 2 and doc["exit_code"] == 0
    assert doc["counts"] and all(isinstance(n, int) for n in doc["counts"].values())
    bad = run_coffre("sample-db", tmp_path / "j.db", "--json")  # exists: one sentence, exit 2, never a traceback
    assert bad.code == 2 and "already exists" in bad.err and "Traceback" not in bad.err


def test_archive_quiet_verbose_and_json(store):
    normal = run_coffre("archive", "--config", store.config, "--yes")
    assert normal.code == 0, normal
    assert f"  OK     {store.destinations[0]}" in normal.err
    quiet = run_coffre("archive", "--config", store.config, "--yes", "-q")
    assert quiet.code == 0, quiet
    lines = quiet.err.splitlines()
    # The final line (a second run: what the second copy held already is read again on its own evening only).
    assert lines[-1].startswith("Every copy was written and read back.") and lines[-2].startswith("Run "), quiet.err
    # -q keeps the warnings a stage says (no destination off-site here): only the progress and the chatter go.
    assert [line for line in lines[:-2]] == [line for line in normal.err.splitlines() if line.startswith("Warning:")]
    assert lines[0].startswith("Warning: copy policy"), quiet.err
    assert "  OK " not in quiet.err and len(lines) < len(normal.err.splitlines())
    verbose = run_coffre("archive", "--config", store.config, "--yes", "-v")
    assert verbose.code == 0 and "Every copy was written and read back." in verbose.err
    res = run_coffre("archive", "--config", store.config, "--yes", "--json")
    doc = one_json_object(res.out)
    assert res.code == 0 and doc["store_id"] == store.store_id and doc["run_id"]


def test_verify_verbose_names_each_run_and_quiet_keeps_the_verdicts(store):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    normal = run_coffre("verify", "--config", store.config)
    verbose = run_coffre("verify", "--config", store.config, "-v")
    quiet = run_coffre("verify", "--config", store.config, "-q")
    assert normal.code == verbose.code == quiet.code == 0, (normal, verbose, quiet)
    runs = [p.name for p in store.run_dirs(store.destinations[0])]
    assert len(runs) == 2
    for run_id in runs:
        assert f"  {run_id}: intact, data read" in verbose.err, verbose.err
        assert run_id not in normal.err
    for dest in store.destinations:
        assert f"{dest}: intact — 2 runs" in quiet.err
    doc = one_json_object(run_coffre("verify", "--config", store.config, "--json").out)
    assert doc["exit_code"] == 0 and len(doc["copies"]) == 2


def test_status_and_list_quiet(store):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    normal = run_coffre("status", "--config", store.config)
    quiet = run_coffre("status", "--config", store.config, "-q")
    # Never drilled: a person must act (exit 1); -q keeps the first line and what needs a person, nothing else.
    assert normal.code == quiet.code == 1, (normal, quiet)
    lines = normal.out.splitlines()
    assert quiet.out.splitlines() == [lines[0]] + [line for line in lines if line.lstrip().startswith("!")]
    assert len(quiet.out.splitlines()) == 3 and len(lines) > 3
    listed = run_coffre("list", "--config", store.config, "-q")
    assert listed.code == 0 and listed.out.splitlines() == [f"{d} (on-site): 1 run" for d in store.destinations]
    doc = one_json_object(run_coffre("list", "--config", store.config, "--json").out)
    assert doc["store_id"] == store.store_id


def test_restore_drill_rebuild_and_export_print_one_json_object(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    (run,) = store.run_dirs(store.destinations[0])
    res = run_coffre("restore", "--config", store.config, "--identity", store.identity, "--out", tmp_path / "r",
                     "--json")
    doc = one_json_object(res.out)
    assert res.code == 0 and doc["run_id"] == run.name and doc["out"] == str(tmp_path / "r")
    assert any(f.endswith("snapshot.sqlite") for f in doc["files"])
    quiet = run_coffre("restore", "--config", store.config, "--identity", store.identity, "--out", tmp_path / "q", "-q")
    assert quiet.code == 0 and f"Restored run {run.name}" in quiet.err and "Passed over" not in quiet.err
    res = run_coffre("drill", "--config", store.config, "--identity", store.identity, "--json")
    assert res.code == 0 and one_json_object(res.out)
    (record,) = store.config.parent.rglob(f"{store.store_id}.history.json")
    record.write_text("{ not json")  # an unreadable record: what rebuild-record is for
    res = run_coffre("rebuild-record", "--config", store.config, "--json")
    doc = one_json_object(res.out)
    assert res.code == 0 and doc["runs"] == 1 and len(doc["copies_read"]) == 2
    res = run_coffre("export-auditor", "--config", store.config, "--identity", store.identity, "--period",
                     "2025-01-01..2025-01-03", "--out", tmp_path / "a.zip", "--password-env", "COFFRE_TEST_ZIP",
                     "--json", env={"COFFRE_TEST_ZIP": "un mot de passe assez long pour le test"})
    doc = one_json_object(res.out)
    assert res.code in (0, 5) and doc["package"] == str(tmp_path / "a.zip") and doc["exit_code"] == res.code
    assert "mot de passe" not in res.out
    res = run_coffre("journals", "export", "--config", store.config, "--out", tmp_path / "j", "--json")
    assert res.code in (0, 5) and one_json_object(res.out)["records"]
    res = run_coffre("prune", "--config", store.config, "--dry-run", "--json")
    assert res.code == 0 and one_json_object(res.out)


def test_schedule_json_holds_the_units_or_the_cron_lines(store):
    res = run_coffre("schedule", "--config", store.config, "--at", "20:30", "--json")
    doc = one_json_object(res.out)
    assert res.code == 0 and doc["at"] == "20:30" and doc["store_id"] == store.store_id
    assert any(name.endswith(".timer") and "OnCalendar" in text for name, text in doc["units"].items())
    res = run_coffre("schedule", "--config", store.config, "--at", "20:30", "--cron", "--verify-weekly", "--json")
    doc = one_json_object(res.out)
    assert res.code == 0 and len(doc["cron"]) == 2 and all("coffre" in line for line in doc["cron"])


def test_demo_json_and_quiet(tmp_path):
    res = run_coffre("demo", "--dir", tmp_path / "d", "--days", "2", "--json")
    doc = one_json_object(res.out)
    assert res.code == 0 and doc["ok"] is True and doc["exit_code"] == 0 and doc["steps"], res
    quiet = run_coffre("demo", "--dir", tmp_path / "q", "--days", "2", "-q")
    assert quiet.code == 0 and quiet.err.strip() == "Demo finished: every step passed.", quiet


def test_quiet_still_says_the_error(tmp_path):
    res = run_coffre("verify", "--config", tmp_path / "none.toml", "-q")
    assert res.code == 2 and res.err.startswith("coffre: ") and "Traceback" not in res.err, res
    assert os.path.basename(str(tmp_path / "none.toml")) in res.err
