"""The fiscal journals in every run: opened with stock tools, one row per table row, valid JSON twins, findings named."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess

import pytest

from conftest import REPO, need_tool, run_coffre, stock_plain

JOURNALS = ("tickets", "ticket_lines", "payments", "closures", "jet", "duplicates")


def open_journals(run_dir, identity, into):
    """The run's journals by the stock tools alone (age, zstd, tar), whichever format the run is in."""
    tar = need_tool("tar")
    into.mkdir()
    subprocess.run([tar, "x", "-C", str(into)], input=stock_plain(run_dir, "journals.tar", identity), check=True)
    return into / "journals"


def archive_json(store, env=None):
    """An archive run that saved every copy: exit 0, or 5 when it needs a person (a finding always does)."""
    res = run_coffre("archive", "--config", store.config, "--yes", "--json", env=env)
    assert res.code in (0, 5), res
    out = json.loads(res.out)
    assert res.code == (5 if out["attention"] else 0) and (res.code == 5 or not out["findings"]), res
    return out, res


def test_journals_open_with_stock_tools_one_row_per_table_row(store, tmp_path):
    jsonschema = pytest.importorskip("jsonschema")
    summary, _ = archive_json(store)
    assert summary["findings"] == []
    run = store.run_dirs(store.destinations[0])[-1]
    folder = open_journals(run, store.identity, tmp_path / "x")
    conn = sqlite3.connect(store.db)
    for name in JOURNALS:
        assert (folder / f"{name}.csv").read_bytes()[:3] == b"\xef\xbb\xbf", name  # the BOM French Excel needs
        with open(folder / f"{name}.csv", encoding="utf-8-sig", newline="") as f:
            rows = list(csv.reader(f, delimiter=";"))
        schema = json.loads((REPO / "schemas" / "journals" / f"{name}.schema.json").read_text())
        fields = list(schema["items"]["properties"])
        # each amount in cents is followed by the same in euros, for a spreadsheet
        euros = {f[:-6] + "_eur": f for f in fields if f.endswith("_cents")}
        assert [h for h in rows[0] if h not in euros] == fields, name
        assert all(rows[0][rows[0].index(e) - 1] == c for e, c in euros.items()), name
        assert len(rows) - 1 == conn.execute(f"SELECT count(*) FROM {name}").fetchone()[0], name
        twin = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
        jsonschema.validate(twin, schema)
        assert len(twin) == len(rows) - 1
        first = dict(zip(rows[0], rows[1]))
        assert [str(v) if v is not None else "" for v in twin[0].values()] == [first[f] for f in fields], name
        for e, c in euros.items():
            cents = int(first[c])
            assert first[e] == f"{'-' if cents < 0 else ''}{abs(cents) // 100},{abs(cents) % 100:02d}", (name, e)
    lisezmoi = (folder / "LISEZMOI.txt").read_text(encoding="utf-8")
    assert "Ce dossier contient les journaux" in lisezmoi and "centimes" in lisezmoi
    for name in JOURNALS:
        assert f"{name}.csv" in lisezmoi
    assert "550:{ht_550_cents}:{tva_550_cents}" in lisezmoi  # the exact chain recipe
    findings = json.loads((folder / "findings.json").read_text())
    assert findings["findings"] == [] and findings["summary"]["records"]["tickets"] > 0


def _ticket(conn, register, number):
    return conn.execute("SELECT t.id FROM tickets t JOIN registers r ON r.id = t.register_id WHERE r.code=? AND t.number=?",
                        (register, number)).fetchone()[0]


def test_a_raised_ticket_total_is_named_and_the_backup_still_succeeds(store, tmp_path):
    conn = sqlite3.connect(store.db)
    conn.execute("UPDATE tickets SET total_ttc = total_ttc + 1000 WHERE id = ?", (_ticket(conn, "CAISSE-01", 42),))
    conn.commit()
    summary, res = archive_json(store)
    texts = [f["text"] for f in summary["findings"]]
    assert any("tickets [register CAISSE-01, number 42]" in t and "signature" in t for t in texts), texts
    run = store.run_dirs(store.destinations[0])[-1]
    findings = json.loads((open_journals(run, store.identity, tmp_path / "x") / "findings.json").read_text())
    assert any(f["journal"] == "tickets" and f["record"] == {"register": "CAISSE-01", "number": 42} for f in findings["findings"])
    human = run_coffre("archive", "--config", store.config, "--yes")
    assert human.code == 5 and "number 42" in human.err and "ATTENTION" in human.err


def test_a_deleted_ticket_leaves_a_named_gap(store):
    conn = sqlite3.connect(store.db)
    tid = _ticket(conn, "CAISSE-02", 100)
    for table in ("ticket_lines", "payments", "duplicates"):
        conn.execute(f"DELETE FROM {table} WHERE ticket_id = ?", (tid,))
    conn.execute("UPDATE tickets SET original_ticket_id = NULL WHERE original_ticket_id = ?", (tid,))
    conn.execute("DELETE FROM tickets WHERE id = ?", (tid,))
    conn.commit()
    summary, _ = archive_json(store)
    gaps = [f for f in summary["findings"] if f["check"] == "numbering_gap"]
    assert [(g["record"]["register"], g["record"]["number"]) for g in gaps] == [("CAISSE-02", 100)]
    assert "100 missing" in gaps[0]["text"]


def test_a_changed_line_names_its_days_closure(store):
    conn = sqlite3.connect(store.db)
    tid, day = conn.execute("SELECT id, substr(timestamp, 1, 10) FROM tickets WHERE type = 'sale' AND register_id = 1 "
                            "ORDER BY id LIMIT 1 OFFSET 150").fetchone()
    conn.execute("UPDATE ticket_lines SET line_total_ttc = line_total_ttc + 250 WHERE id = "
                 "(SELECT min(id) FROM ticket_lines WHERE ticket_id = ?)", (tid,))
    conn.commit()
    summary, _ = archive_json(store)
    closures = [f for f in summary["findings"] if f["journal"] == "closures"]
    assert closures and all(f["record"]["period_start"] == day and f["record"]["kind"] == "daily" for f in closures)


def test_tampering_an_already_checked_record_is_still_found(store):
    """The second run trusts the first run's digest, not the records: a record changed since shows."""
    first, _ = archive_json(store)
    assert first["journals"]["checks"]["signatures_verified"] > 0
    second, _ = archive_json(store)
    assert second["journals"]["checks"]["signatures_verified"] == 0
    assert second["journals"]["checks"]["signatures_unchanged_since_last_check"] == first["journals"]["checks"]["signatures_verified"]
    conn = sqlite3.connect(store.db)
    conn.execute("UPDATE jet SET detail = 'rien à signaler' WHERE seq = 5")
    conn.commit()
    third, _ = archive_json(store)
    assert any(f["journal"] == "jet" and f["record"].get("seq") == 5 and f["check"] == "signature" for f in third["findings"])
    fourth, _ = archive_json(store)  # and it keeps being reported
    assert any(f["journal"] == "jet" and f["record"].get("seq") == 5 for f in fourth["findings"])


def test_deleted_tail_is_reported(store):
    archive_json(store)
    conn = sqlite3.connect(store.db)
    last = conn.execute("SELECT max(seq) FROM jet").fetchone()[0]
    conn.execute("DELETE FROM jet WHERE seq = ?", (last,))
    conn.commit()
    summary, _ = archive_json(store)
    assert any(f["journal"] == "jet" and f["check"] == "tail_deleted" for f in summary["findings"]), summary["findings"]


def test_journals_export_command_for_a_period_and_from_a_run(store, tmp_path):
    res = run_coffre("journals", "export", "--config", store.config, "--out", tmp_path / "p", "--period", "2025-01-02..2025-01-02")
    assert res.code == 0, res
    conn = sqlite3.connect(store.db)
    n = conn.execute("SELECT count(*) FROM tickets WHERE substr(timestamp, 1, 10) = '2025-01-02'").fetchone()[0]
    with open(tmp_path / "p" / "tickets.csv", encoding="utf-8-sig") as f:
        assert sum(1 for _ in f) - 1 == n
    archive_json(store)
    run_id = store.run_dirs(store.destinations[1])[-1].name
    res = run_coffre("journals", "export", "--config", store.config, "--out", tmp_path / "r", "--run", run_id,
                     "--identity", store.identity, "--json")
    assert res.code == 0, res
    assert json.loads(res.out)["records"]["tickets"] == conn.execute("SELECT count(*) FROM tickets").fetchone()[0]
    res = run_coffre("journals", "export", "--config", store.config, "--out", tmp_path / "r")
    assert res.code == 2 and "not empty" in res.err


def test_coffre_log_is_chained_and_travels_in_runs(store, tmp_path):
    from pipeline.state.activity_log import check_log

    archive_json(store)
    archive_json(store)
    run = store.run_dirs(store.destinations[0])[-1]
    lines = (open_journals(run, store.identity, tmp_path / "x") / "coffre-log.jsonl").read_text().splitlines()
    assert len(lines) == 1 and json.loads(lines[0])["action"] == "archive"
    local = store.config.with_name("coffre-state") / "boutique.coffre-log.jsonl"
    all_lines = local.read_text().splitlines()
    assert check_log(all_lines) == []
    assert all_lines[0] == lines[0]
    rewritten = [all_lines[0].replace('"ok"', '"partial"')] + all_lines[1:]
    assert check_log(rewritten)
    assert check_log(all_lines[1:])


def test_a_rewritten_or_truncated_coffre_log_is_shouted_at_the_next_run(store):
    archive_json(store)
    archive_json(store)
    archive_json(store)
    local = store.config.with_name("coffre-state") / "boutique.coffre-log.jsonl"
    lines = local.read_text().splitlines()
    local.write_text("\n".join(lines[:1]) + "\n")  # someone hides the last runs
    summary, _ = archive_json(store)
    assert any("lines were deleted" in w or "does not follow" in w for w in summary["warnings"]), summary["warnings"]
