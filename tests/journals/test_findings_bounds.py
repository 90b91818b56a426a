"""A check says at most MAX_FINDINGS_PER_CHECK findings, each once, and a check past its bound is named once: a till
whose every record fails (a forged or re-keyed till) must not fill the report, nor the memory, with one entry per
record past the bound."""

from __future__ import annotations

from pipeline.journals.findings import MAX_FINDINGS_PER_CHECK, CheckResult, Finding


def test_a_check_past_its_bound_is_named_once_however_many_records_fail():
    result = CheckResult()
    for n in range(MAX_FINDINGS_PER_CHECK * 20):
        result.add(Finding("tickets", "signature", {"register": "CAISSE-01", "number": n}, "bad"))
        result.add(Finding("jet", "signature", {"seq": n}, "bad"))
    result.add(Finding("closures", "closure_total", {"number": 1}, "off"))
    assert [f.record["number"] for f in result.findings if f.journal == "tickets"] == list(range(MAX_FINDINGS_PER_CHECK))
    assert result.truncated_checks == ["tickets/signature", "jet/signature"]
    assert result.summary()["by_check"] == {"tickets/signature": MAX_FINDINGS_PER_CHECK,
                                            "jet/signature": MAX_FINDINGS_PER_CHECK, "closures/closure_total": 1}


def test_the_same_finding_is_kept_once_as_records_compare():
    result = CheckResult()
    said = [Finding("tickets", "chain_link", {"register": "A", "number": 3}, "link"),
            Finding("tickets", "chain_link", {"number": 3, "register": "A"}, "link"),  # the same record
            Finding("tickets", "chain_link", {"register": "A", "number": 3.0}, "link"),  # 3 == 3.0, as dicts say
            Finding("tickets", "chain_link", {"register": "A", "number": 3}, "another message"),
            Finding("tickets", "signature", {"register": "A", "number": 3}, "link"),
            Finding("tickets", "chain_link", {"register": "B", "number": 3}, "link"),
            Finding("odd", "check", {"numbers": [1, 2]}, "a list in a record"),
            Finding("odd", "check", {"numbers": [1, 2]}, "a list in a record")]
    for f in said:
        result.add(f)
    assert result.findings == [said[0], said[3], said[4], said[5], said[6]]
    assert result.truncated_checks == []


def test_a_chain_whose_bad_record_is_past_the_bound_is_not_taken_as_a_checkpoint(tmp_path):
    """210 bad signatures on one register fill the check's 200 findings; the one bad signature of the other register
    is not kept. Its chain must not be checkpointed all the same: the next run would trust the record, never say it."""
    import sqlite3

    from conftest import run_coffre

    from pipeline.journals.checks import check_journals
    from pipeline.journals.connection import open_snapshot
    from pipeline.journals.mapping import load_mapping

    db = tmp_path / "caisse.db"
    assert run_coffre("sample-db", db, "--days", "2", "--tickets-per-day", "500", "--seed", "7").code == 0
    conn = sqlite3.connect(db)
    first = [r[0] for r in conn.execute("SELECT t.id FROM tickets t JOIN registers r ON r.id = t.register_id "
                                        "WHERE r.code = 'CAISSE-01' ORDER BY t.number LIMIT 210")]
    last = conn.execute("SELECT t.id FROM tickets t JOIN registers r ON r.id = t.register_id WHERE r.code = 'CAISSE-02' "
                        "ORDER BY t.number DESC LIMIT 1").fetchone()[0]
    conn.executemany("UPDATE tickets SET total_ttc = total_ttc + 1 WHERE id = ?", [(i,) for i in first + [last]])
    conn.commit()
    conn.close()
    mapping = load_mapping("reference-pos", "Europe/Paris")
    snap = open_snapshot(db, mapping.timezone)
    first_run = check_journals(snap, mapping)
    assert "tickets/signature" in first_run.truncated_checks
    assert not any(f.record.get("register") == "CAISSE-02" for f in first_run.findings if f.journal == "tickets")
    assert (first_run.checkpoint.get("tickets") or {}) == {}, first_run.checkpoint.get("tickets")
    tickets = snap.execute("SELECT count(*) FROM tickets").fetchone()[0]
    again = check_journals(snap, mapping, first_run.checkpoint)  # every ticket verified again, none trusted
    assert again.signatures_verified >= tickets and again.checkpoint.get("tickets") == {}
    snap.close()
