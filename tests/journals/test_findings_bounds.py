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
