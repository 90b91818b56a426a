"""The sample till's NF525-style recipes: VAT split, signed payloads, Ed25519 sign and verify.

Everything here is pure and reads rows by column name (a dict or a sqlite3.Row), so a
fiscal journals checker can read the rows back with the queries in JOURNALS and
recompute every chain without the generator.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from typing import Any, Callable, Mapping, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

Row = Mapping[str, Any]

VAT_RATES_BP = (550, 1000, 2000)
KEY_DERIVATION_PREFIX = b"coffre-sample-till-key:"


def vat_from_ttc(ttc_cents: int, rate_bp: int) -> int:
    """VAT inside a VAT-included amount, rounded half away from zero.

    Computed on the absolute value so a refund of the same lines is the exact negative
    of the sale, which Python's round-half-even would not guarantee.
    """
    divisor = 10000 + rate_bp
    vat = (abs(ttc_cents) * rate_bp * 2 + divisor) // (2 * divisor)
    return vat if ttc_cents >= 0 else -vat


# --- keys and signatures -------------------------------------------------------------


def derive_private_key(seed: int) -> Ed25519PrivateKey:
    """The sample till's key: SHA-256(b"coffre-sample-till-key:" + decimal seed) as Ed25519 seed."""
    secret = hashlib.sha256(KEY_DERIVATION_PREFIX + str(seed).encode("ascii")).digest()
    return Ed25519PrivateKey.from_private_bytes(secret)


def public_key_b64(public_key: Ed25519PublicKey) -> str:
    """Raw 32-byte public key in standard base64, as stored in till_keys.public_key_b64."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return base64.b64encode(raw).decode("ascii")


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def load_public_key(b64: str) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(base64.b64decode(b64, validate=True))


def sign(private_key: Ed25519PrivateKey, payload: str) -> str:
    """Ed25519 over the UTF-8 payload, base64url without '=' padding."""
    signature = private_key.sign(payload.encode("utf-8"))
    return base64.urlsafe_b64encode(signature).rstrip(b"=").decode("ascii")


def verify(public_key: Ed25519PublicKey, payload: str, signature: str) -> bool:
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        public_key.verify(raw, payload.encode("utf-8"))
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


# --- payloads ------------------------------------------------------------------------
# Fields are joined by ','. Codes, numbers and times never hold a comma; free text (JET
# label and detail) is escaped so that no two different records can give one payload.


def _text(value: Any) -> str:
    if value is None:
        return ""
    return str(value).replace("\\", "\\\\").replace(",", "\\,")


def _vat_breakdown(row: Row) -> list[str]:
    return [f"{rate}:{row[f'ht_{rate}']}:{row[f'tva_{rate}']}" for rate in VAT_RATES_BP]


def line_part(line_no: int, sku: str, quantity, unit_price: int, discount: int, vat_rate_bp: int, total: int) -> str:
    """One line as the ticket's signature covers it: line_no:sku:quantity:unit_price:discount:vat_rate_bp:total."""
    return f"{line_no}:{sku}:{quantity}:{unit_price}:{discount}:{vat_rate_bp}:{total}"


def payment_part(means: str, amount: int) -> str:
    return f"{means}:{amount}"


def digest(parts: list[str]) -> str:
    """SHA-256 (hex) of the parts joined by '|', in their order (lines by line_no, payments as recorded)."""
    return hashlib.sha256("|".join(parts).encode("utf-8")).hexdigest()


def ticket_payload(row: Row) -> str:
    """550:ht:tva,1000:ht:tva,2000:ht:tva,total_ttc,timestamp,register_code,number,type,operator_code,
    original_register,original_number,lines_sha256,payments_sha256,previous_signature

    As certified tills do (Odoo's French certification hashes each line's product, quantity, price, discount and
    taxes), the signature covers the ticket's lines and payments through their digests, who sold, and for a refund
    or a cancellation the sale it undoes ('' when none)."""
    fields = _vat_breakdown(row) + [
        row["total_ttc"],
        row["timestamp"],
        row["register_code"],
        row["number"],
        row["type"],
        row["operator_code"],
        row.get("original_register") or "",
        "" if row.get("original_number") is None else row["original_number"],
        row["lines_sha256"],
        row["payments_sha256"],
        row["previous_signature"],
    ]
    return ",".join(str(f) for f in fields)


def means_text(sums: dict[str, int]) -> str:
    """A closure's payments per means as it signs them: 'means:amount' sorted by means, joined by '|'."""
    return "|".join(f"{m}:{a}" for m, a in sorted(sums.items()))


def closure_payload(row: Row) -> str:
    """550:ht:tva,1000:ht:tva,2000:ht:tva,total_ttc,ticket_count,grand_total_perpetual_ht,
    grand_total_perpetual_ttc,period_start,period_end,timestamp,register_code,kind,number,payments_by_means,
    previous_signature"""
    fields = _vat_breakdown(row) + [
        row["total_ttc"],
        row["ticket_count"],
        row["grand_total_perpetual_ht"],
        row["grand_total_perpetual_ttc"],
        row["period_start"],
        row["period_end"],
        row["timestamp"],
        row["register_code"],
        row["kind"],
        row["number"],
        row["payments_by_means"],
        row["previous_signature"],
    ]
    return ",".join(str(f) for f in fields)


def jet_payload(row: Row) -> str:
    """seq,code,register_code,operator_code,timestamp,label,detail,previous_signature
    (register_code and operator_code '' when NULL; label and detail escape '\\' and ',')"""
    fields = [
        str(row["seq"]),
        str(row["code"]),
        _text(row["register_code"]),
        _text(row["operator_code"]),
        str(row["timestamp"]),
        _text(row["label"]),
        _text(row["detail"]),
        str(row["previous_signature"]),
    ]
    return ",".join(fields)


def duplicate_payload(row: Row) -> str:
    """register_code,number,ticket_number,reprint_no,timestamp,operator_code,previous_signature"""
    fields = [
        row["register_code"],
        row["number"],
        row["ticket_number"],
        row["reprint_no"],
        row["timestamp"],
        row["operator_code"],
        row["previous_signature"],
    ]
    return ",".join(str(f) for f in fields)


def _split(text: str | None) -> list[str]:
    return text.split("|") if text else []


# --- how to read each chain back -----------------------------------------------------


class Journal(NamedTuple):
    """One signed journal: its payload recipe and the query giving its rows in chain order.

    Each row of `query` has a `chain` column (the records sharing one chain: a register
    code, or '' for the shop-wide JET), every column the payload needs, and
    `previous_signature` / `signature`. Within a chain, rows come in signing order.
    """

    name: str
    payload: Callable[[Row], str]
    query: str


JOURNALS = (
    Journal(
        "tickets",
        lambda row: ticket_payload(dict(row, lines_sha256=digest(_split(row["lines_text"])),
                                        payments_sha256=digest(_split(row["payments_text"])))),
        """SELECT r.code AS chain, r.code AS register_code, o.code AS operator_code,
                  orr.code AS original_register, ot.number AS original_number,
                  (SELECT group_concat(part, '|') FROM (
                      SELECT l.line_no || ':' || p.sku || ':' || l.quantity || ':' || l.unit_price_cents || ':' ||
                             l.discount_cents || ':' || l.vat_rate_bp || ':' || l.line_total_ttc AS part
                        FROM ticket_lines l JOIN products p ON p.id = l.product_id
                       WHERE l.ticket_id = t.id ORDER BY l.line_no)) AS lines_text,
                  (SELECT group_concat(part, '|') FROM (
                      SELECT y.means || ':' || y.amount_cents AS part FROM payments y
                       WHERE y.ticket_id = t.id ORDER BY y.id)) AS payments_text,
                  t.*
             FROM tickets t JOIN registers r ON r.id = t.register_id
             JOIN operators o ON o.id = t.operator_id
             LEFT JOIN tickets ot ON ot.id = t.original_ticket_id
             LEFT JOIN registers orr ON orr.id = ot.register_id
            ORDER BY r.code, t.number""",
    ),
    Journal(
        "closures",
        closure_payload,
        """SELECT r.code AS chain, r.code AS register_code, c.*
             FROM closures c JOIN registers r ON r.id = c.register_id
            ORDER BY r.code, c.id""",
    ),
    Journal(
        "jet",
        jet_payload,
        """SELECT '' AS chain, r.code AS register_code, o.code AS operator_code, j.*
             FROM jet j
             LEFT JOIN registers r ON r.id = j.register_id
             LEFT JOIN operators o ON o.id = j.operator_id
            ORDER BY j.seq""",
    ),
    Journal(
        "duplicates",
        duplicate_payload,
        """SELECT r.code AS chain, r.code AS register_code, o.code AS operator_code,
                  t.number AS ticket_number, d.*
             FROM duplicates d
             JOIN registers r ON r.id = d.register_id
             JOIN tickets t ON t.id = d.ticket_id
             JOIN operators o ON o.id = d.operator_id
            ORDER BY r.code, d.number""",
    ),
)
