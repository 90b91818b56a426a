"""The runs that checked a period's records, each with what it found, read from its own signed facts.

An evening archive that caught a deletion or a re-signed chain said so that evening; a package made months later
re-checks only what is still there. So the package lists every run from the period's first day to the run it
comes from, with the findings each one signed into its facts: an alarm raised once reaches the inspector.
"""

from __future__ import annotations

from pipeline.verify.copy import VerifyOptions, verify_run
from pipeline.verify.deep import FactsReader


def run_day(run_id: str) -> str:
    return f"{run_id[:4]}-{run_id[4:6]}-{run_id[6:8]}"


def runs_of_period(dest, store_id: str, pinned_key: str, identities: list, period: tuple[str, str],
                   upto: str) -> list[dict]:
    """One entry per signed run on `dest` made from the period's first day up to `upto`, oldest first."""
    reader = FactsReader(identities)
    out = []
    for run_id in sorted(dest.signed_runs(store_id)):
        if run_id > upto or run_day(run_id) < period[0]:
            continue
        problems: list = []
        rep = verify_run(dest, store_id, run_id, VerifyOptions(pinned_key, deep=reader), problems)
        facts = reader.facts.get(run_id)
        journals = (facts or {}).get("journals") if isinstance(facts, dict) else None
        journals = journals if isinstance(journals, dict) else {}
        checks = journals.get("checks") if isinstance(journals.get("checks"), dict) else {}
        by_check = checks.get("by_check") if isinstance(checks.get("by_check"), dict) else {}
        entry = {"run_id": run_id, "authentic": bool(rep.authentic and facts is not None),
                 "checked": journals.get("checked"), "findings": sum(v for v in by_check.values() if isinstance(v, int)),
                 "by_check": by_check, "named": [f for f in journals.get("findings") or [] if isinstance(f, dict)]}
        if facts is None:
            entry["problem"] = "; ".join(p.sentence() for p in problems) or "its facts could not be read"
        out.append(entry)
    return out
