"""The shop's identity for the inspector (company, SIREN/SIRET, address, VAT number, NAF, till software), checked as
the French registries define each number, so that a mistyped SIRET is caught at init and not on the day of the
inspection."""

from __future__ import annotations

import re

from pipeline.errors import UsageError
from pipeline.i18n import _

# key in the config's [shop] table -> how the report and the letter name it
FIELDS = {
    "name": "Raison sociale",
    "siren": "SIREN",
    "siret": "SIRET",
    "address": "Adresse",
    "vat_number": "N° de TVA intracommunautaire",
    "naf": "Code NAF (APE)",
    "till_software": "Logiciel de caisse",
    "till_version": "Version",
    "till_certificate": "Certificat (NF525 ou attestation)",
}
MISSING = "non renseigné"


def _luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        n = int(c) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return total % 10 == 0


def siren_ok(value: str) -> bool:
    return bool(re.fullmatch(r"\d{9}", value)) and _luhn(value)


def siret_ok(value: str) -> bool:
    # La Poste's establishments (SIREN 356000000) follow their own rule: the digits add up to a multiple of 5.
    if not re.fullmatch(r"\d{14}", value):
        return False
    if value.startswith("356000000"):
        return sum(int(c) for c in value) % 5 == 0
    return _luhn(value)


def vat_number(siren: str) -> str:
    """The French intra-EU VAT number of a SIREN: FR, a two-digit key, the SIREN."""
    return f"FR{(12 + 3 * (int(siren) % 97)) % 97:02d}{siren}"


def normalised(shop: dict) -> dict:
    """The identity as given, spaces taken out of the numbers, SIREN taken from the SIRET when only that is given;
    UsageError naming the first number that is not one."""
    out = {k: str(v).strip() for k, v in shop.items() if k in FIELDS and v is not None and str(v).strip()}
    for key in ("siren", "siret", "vat_number", "naf"):
        if key in out:
            out[key] = re.sub(r"[\s.]", "", out[key]).upper()
    if "siret" in out and not siret_ok(out["siret"]):
        raise UsageError(_("The SIRET {siret} is not a valid SIRET (14 digits whose check digit holds).").format(
            siret=out["siret"]))
    if "siren" not in out and "siret" in out:
        out["siren"] = out["siret"][:9]
    if "siren" in out:
        if not siren_ok(out["siren"]):
            raise UsageError(_("The SIREN {siren} is not a valid SIREN (9 digits whose check digit holds).").format(
                siren=out["siren"]))
        if "siret" in out and out["siret"][:9] != out["siren"]:
            raise UsageError(_("The SIRET {siret} does not belong to the SIREN {siren}.").format(
                siret=out["siret"], siren=out["siren"]))
    if "vat_number" in out:
        vat = out["vat_number"]
        # A French shop's number: FR, a key, its SIREN. A numeric key is the SIREN's (12 + 3 x SIREN mod 97) mod 97;
        # the tax office gives keys with letters to a few, which are accepted as they are.
        if not re.fullmatch(r"FR[0-9A-HJ-NP-Z]{2}\d{9}", vat):
            raise UsageError(_("The VAT number {vat} is not a French VAT number (FR, two characters, the "
                               "SIREN).").format(vat=vat))
        if vat[2:4].isdigit() and vat != vat_number(vat[4:]):
            raise UsageError(_("The VAT number {vat} does not hold: its key is not that of the SIREN {siren} "
                               "(expected {expected}).").format(vat=vat, siren=vat[4:], expected=vat_number(vat[4:])))
        if "siren" in out and vat[4:] != out["siren"]:
            raise UsageError(_("The VAT number {vat} does not match the SIREN {siren} (expected {expected}).").format(
                vat=vat, siren=out["siren"], expected=vat_number(out["siren"])))
    if "naf" in out and not re.fullmatch(r"\d{2}\.?\d{2}[A-Z]", out["naf"]):
        raise UsageError(_("The NAF code {naf} is not a NAF code (for example 47.11B).").format(naf=out["naf"]))
    if "naf" in out and "." not in out["naf"]:
        out["naf"] = out["naf"][:2] + "." + out["naf"][2:]
    return out


def lines(shop: dict) -> list[tuple[str, str]]:
    """(label, value or 'non renseigné') for every field, in the order an inspector reads them."""
    return [(label, shop.get(key) or MISSING) for key, label in FIELDS.items()]
