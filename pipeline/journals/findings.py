"""What the journal checks found: one finding per record named, counted per check and bounded per check."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from pipeline.i18n import _
from pipeline.journals.connection import UNREADABLE

MAX_FINDINGS_PER_CHECK = 200  # a wholly broken journal must not drown the report


def _named(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", UNREADABLE)  # as the rows are read (connection.py)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


@dataclass
class Finding:
    journal: str
    check: str  # signature, chain_link, numbering_gap, numbering_duplicate, closure_total, grand_total, tail_deleted
    record: dict  # what names the record: register, kind, number / seq
    message: str  # in the language of the process that made the finding (the check is the machine's name of it)

    def __post_init__(self):
        # SQLite keeps any type in any column: a blob that names a record (a register code, a closure's kind) is
        # named by its text, as the export writes it, and a real past its range (a number 1e999) by its name, so
        # that the finding can be written as JSON (which has no Infinity).
        if any(isinstance(v, bytes) or (isinstance(v, float) and not math.isfinite(v)) for v in self.record.values()):
            self.record = {k: _named(v) for k, v in self.record.items()}

    def to_json(self) -> dict:
        return {"journal": self.journal, "check": self.check, "record": self.record, "message": self.message,
                "text": self.sentence()}

    def sentence(self) -> str:
        rec = ", ".join(f"{k} {v}" for k, v in self.record.items())
        return _("{journal} [{record}]: {message}").format(journal=self.journal, record=rec, message=self.message)


@dataclass
class CheckResult:
    findings: list[Finding] = field(default_factory=list)
    signatures_verified: int = 0
    signatures_trusted_from_checkpoint: int = 0
    seals_checked: int = 0  # records of the till's own chains held to their recipe (journals/source_chains.py)
    records: dict[str, int] = field(default_factory=dict)
    truncated_checks: list[str] = field(default_factory=list)
    checkpoint: dict = field(default_factory=dict)
    till_keys: list = field(default_factory=list)  # [key id, public key] seen by this check
    _kept: set = field(default_factory=set, repr=False, compare=False)  # what add() has kept, to say each once
    _per_check: dict = field(default_factory=dict, repr=False, compare=False)  # findings kept per (journal, check)

    def add(self, f: Finding) -> None:
        """Kept unless the same finding is kept already (the full re-check of a chain meets again what the first pass
        said) or its check has said MAX_FINDINGS_PER_CHECK; a check past its bound is named once in truncated_checks.

        In constant time: a till whose every record fails (a forged or re-keyed till) makes one finding per record, and
        a walk of the kept findings at each would cost as much again as verifying them (40 us a record)."""
        key = (f.journal, f.check, _frozen(f.record), f.message)
        if key in self._kept:
            return
        check = (f.journal, f.check)
        same = self._per_check.get(check, 0)
        if same < MAX_FINDINGS_PER_CHECK:
            self.findings.append(f)
            self._kept.add(key)
            self._per_check[check] = same + 1
        elif f"{f.journal}/{f.check}" not in self.truncated_checks:
            self.truncated_checks.append(f"{f.journal}/{f.check}")

    def named(self, per_check: int = 20) -> list[dict]:
        """The first findings of each check, as a run keeps them in its facts (the whole list is in findings.json)."""
        seen: dict[str, int] = {}
        out = []
        for f in self.findings:
            key = f"{f.journal}/{f.check}"
            seen[key] = seen.get(key, 0) + 1
            if seen[key] <= per_check:
                out.append(f.to_json())
        return out

    def summary(self) -> dict:
        by = {}
        for f in self.findings:
            by[f"{f.journal}/{f.check}"] = by.get(f"{f.journal}/{f.check}", 0) + 1
        return {"findings": len(self.findings), "by_check": by, "signatures_verified": self.signatures_verified, "seals_checked": self.seals_checked,
                "signatures_unchanged_since_last_check": self.signatures_trusted_from_checkpoint,
                "records": self.records, "truncated": self.truncated_checks}


def _frozen(record: dict):
    """A record as a set member, equal when the records are equal (as dicts compare: 1 == 1.0)."""
    try:
        return frozenset(record.items())
    except TypeError:  # a value that cannot be hashed (a list): its text
        return repr(sorted(record.items(), key=lambda kv: kv[0]))


def clauses(parts) -> str:
    """Differences said one after the other: "a; b; c" (the French puts a space before the semicolon)."""
    said = ""
    for part in parts:
        said = part if not said else _("{clauses}; {clause}").format(clauses=said, clause=part)
    return said


def closure_name(kind) -> str:
    """The closure of a kind, as a sentence names it."""
    if kind == "daily":
        return _("the daily closure (Z)")
    if kind == "monthly":
        return _("the monthly closure")
    if kind == "yearly":
        return _("the yearly closure")
    return _("the {kind} closure").format(kind=kind)


def closures_of_kind(kind) -> str:
    """The closures a roll-up adds up, as a sentence names them ("from its daily closures")."""
    if kind == "daily":
        return _("its daily closures")
    if kind == "monthly":
        return _("its monthly closures")
    return _("its {kind} closures").format(kind=kind)
