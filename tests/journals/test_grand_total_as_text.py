"""A grand total the till stored as text (a damaged cell, an edit) is a finding on the closures it breaks, said in the
journals, never a stop of the checks that leaves the run without its journals."""

from __future__ import annotations

import json
import sqlite3

import pytest

from conftest import run_coffre


@pytest.mark.parametrize("value", ["x", "99999999999999999999999999x"])
def test_a_grand_total_stored_as_text_is_said_on_the_closures_it_breaks(store, tmp_path, value):
    conn = sqlite3.connect(store.db)
    with conn:
        cid, register, number = conn.execute(
            "SELECT c.id, r.code, c.number FROM closures c JOIN registers r ON r.id = c.register_id "
            "WHERE c.kind = 'daily' ORDER BY c.id LIMIT 1 OFFSET 2").fetchone()
        conn.execute("UPDATE closures SET grand_total_perpetual_ttc = ? WHERE id = ?", (value, cid))
    conn.close()
    out = tmp_path / "export"
    res = run_coffre("journals", "export", "--config", store.config, "--out", out)
    assert res.code == 5, res
    findings = json.loads((out / "findings.json").read_text(encoding="utf-8"))["findings"]
    said = {f["record"]["number"] for f in findings if f["check"] == "grand_total"
            and f["record"]["register"] == register and f["record"]["kind"] == "daily"}
    assert {number, number + 1} <= said, findings
    nxt = next(f for f in findings if f["check"] == "grand_total" and f["record"]["number"] == number + 1
               and f["record"]["register"] == register)
    assert f"{value} + " in nxt["message"], nxt
    assert (out / "closures.csv").is_file() and (out / "tickets.csv").is_file()

    res = run_coffre("archive", "--config", store.config, "--yes", "--json")
    assert res.code == 5, res
    summary = json.loads(res.out)
    assert summary["journals"] is not None and any(f["check"] == "grand_total" for f in summary["findings"]), summary
