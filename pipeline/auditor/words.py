"""The words the auditor's documents share, in the language of the document (not the process's): the shop's
identity labels, the journals' and records' names, what each check found."""

from __future__ import annotations

from pipeline import shop as shop_identity
from pipeline.fiscal_rules import CHECKS
from pipeline.i18n import in_language


def shop_lines(shop: dict, lang: str) -> list[tuple[str, str, bool]]:
    """(label, value, missing) for every identity field, in the order an inspector reads them."""
    labels = {
        "name": in_language(lang, "Company name"),
        "siren": in_language(lang, "SIREN"),
        "siret": in_language(lang, "SIRET"),
        "address": in_language(lang, "Address"),
        "vat_number": in_language(lang, "Intra-EU VAT number"),
        "naf": in_language(lang, "NAF code (APE)"),
        "till_software": in_language(lang, "Till software"),
        "till_version": in_language(lang, "Version"),
        "till_certificate": in_language(lang, "Certificate (NF525 or attestation)"),
    }
    missing = in_language(lang, "not given")
    return [(labels.get(key, label), shop.get(key) or missing, not shop.get(key))
            for key, label in shop_identity.FIELDS.items()]


def journal_name(lang: str, journal: str) -> str:
    names = {"tickets": in_language(lang, "tickets"), "ticket_lines": in_language(lang, "lines"),
             "payments": in_language(lang, "payments"), "closures": in_language(lang, "closures"),
             "jet": in_language(lang, "JET"), "duplicates": in_language(lang, "duplicates"),
             "till_keys": in_language(lang, "till keys")}
    return names.get(journal, journal)


def record_field(lang: str, field: str) -> str:
    names = {"register": in_language(lang, "till"), "number": in_language(lang, "number"),
             "kind": in_language(lang, "kind"), "period_start": in_language(lang, "start"),
             "seq": in_language(lang, "sequence"), "ticket_number": in_language(lang, "ticket"),
             "line_no": in_language(lang, "line"), "numbers": in_language(lang, "numbers"),
             "last_seen": in_language(lang, "last number seen"), "ticket_source_id": in_language(lang, "ticket (id)"),
             "key_id": in_language(lang, "key"), "public_key": in_language(lang, "public key")}
    return names.get(field, field)


def closure_kind(lang: str, kind) -> str:
    names = {"daily": in_language(lang, "daily Z"), "monthly": in_language(lang, "month"),
             "yearly": in_language(lang, "year")}
    return names.get(kind, str(kind))


def ticket_type(lang: str, kind) -> str:
    names = {"sale": in_language(lang, "sales"), "refund": in_language(lang, "refunds"),
             "cancellation": in_language(lang, "cancellations"), "training": in_language(lang, "training")}
    return names.get(kind, str(kind))


def check_meaning(lang: str, check: str) -> str:
    """What a finding of this check means: fiscal_rules' own words (it is copied into the package beside verify.py,
    which reads it without Coffre's catalogue), French for a French document, English otherwise."""
    said = CHECKS.get(check)
    if said is None:
        return check
    return said[1] if lang == "fr" else said[0]


def record_text(lang: str, journal: str, record: dict) -> str:
    rec = ", ".join(f"{record_field(lang, k)} {closure_kind(lang, v) if k == 'kind' else v}" for k, v in record.items())
    return f"{journal_name(lang, journal)} [{rec}]"
