"""Dolibarr's unalterable log (module blockedlog, table llx_blockedlog): the V1 and V2 seals, redone byte for byte.

What Dolibarr itself re-checks, BlockedLog::checkSignature() in htdocs/blockedlog/class/blockedlog.class.php
(Dolibarr 18 to 22 for V1, 23 for V2; object_format column added by install/mysql/migration/22.0.0-23.0.0.sql,
"DEFAULT 'V1'", rows of Dolibarr < 18 set to '' = the older print_r format, not redone here):

    previous hash . buildKeyForSignature()   hashed as
        V1: dol_hash(..., '5')                        sha256 hex, prefixed by MAIN_SECURITY_SALT when that is set
        V2: hash_hmac('sha256', ..., $hmac_key)      the clear BLOCKEDLOG_HMAC_KEY ('BLOCKEDLOGHMAC...')

    buildKeyForSignature(), `|`-joined, from the row as BlockedLog::fetch() reads it back:
        V1: date_creation|action|amounts|ref_object|date_object|user_fullname|json
        V2: entity|date_creation|action|module_source|pos_source|amounts_taxexcl|amounts|ref_object|date_object|
            user_fullname[|type_code when not empty]|linktoref|linktype[|note when not empty]|json
    where json = json_encode(json_decode(object_data), JSON_FORCE_OBJECT), dates are Unix timestamps from
    $db->jdate(column, V1 ? 'tzserver' : 'gmt') (V1 rows hold the PHP server's local time, V2 rows UTC; NULL
    gives ''), amounts are `(float) $obj->amounts` printed as PHP prints a float (precision 14), a NULL
    amounts_taxexcl is ''.

The previous hash is the signature of the record before it in the same entity (getPreviousHash(): "WHERE entity
= ... AND rowid < ... ORDER BY rowid DESC LIMIT 1"), or, for the first record or after a record whose signature is
empty, the entity's BLOCKEDLOG_ENTITY_FINGERPRINT (getOrInitFirstSignature(), a constant in llx_const).

Content of a record (the mapping's json_object, raw values of llx_blockedlog):
    entity, date_creation, action, module_source, pos_source, amounts, amounts_taxexcl, ref_object, date_object,
    user_fullname, type_code, linktoref, linktype, note, object_data (the stored JSON text),
    fingerprint (llx_const BLOCKEDLOG_ENTITY_FINGERPRINT of the entity, needed on the chain's first record),
    salt (llx_const MAIN_SECURITY_SALT, V1 only, null when not set).
Amounts may be numbers or the double's exact text (the mapping writes printf('%!.17g'): SQLite's JSON would keep only
15 digits of a REAL). Dates of V1 rows carry the PHP server's offset ('2024-01-15T10:30:00+01:00', the mapping applies the shop's zone
with coffre_local_time); V2 dates may be given as stored (UTC).
"""

import hashlib
import hmac

from . import php
from .content import ContentError, need


def _date(content, key, gmt, shift=0):
    try:
        stamp = php.timestamp(need(content, key), gmt)
    except ValueError:
        raise ContentError(key)
    return php.string(stamp + shift if isinstance(stamp, int) else stamp)


def _amount(content, key):
    value = need(content, key)
    try:
        return php.float_string(value)
    except (TypeError, ValueError):
        raise ContentError(key)


def _object_json(content):
    # BlockedLog::fetch(): object_data = (object) jsonOrUnserialize($obj->object_data, ...), then
    # buildKeyForSignature(): json_encode($this->object_data, JSON_FORCE_OBJECT).
    text = need(content, "object_data")
    if text is None:
        return php.json_encode({}, force_object=True)  # (object) null is an empty stdClass
    try:
        return php.json_reencode(text, force_object=True)
    except (TypeError, ValueError):
        raise ContentError("object_data")


class BlockedLogRecipe:
    previous = "order"
    # Dolibarr links the first record (and any record after an empty signature) to the entity's fingerprint:
    # seal() takes an empty link to mean that, and reads the fingerprint from the record's content.
    first_previous = ""

    def __init__(self, name, version):
        self.name, self.version = name, version
        self.secret = version == "V2"
        self.generation = int(version[1:])  # Dolibarr 23 writes V2 only: a V1 record after a V2 one is no upgrade

    def text(self, record, shift=(0, 0)):
        """buildKeyForSignature() of the record, as checkSignature() rebuilds it from the stored row (its two times
        `shift` seconds off, to tell a wrong time zone from an altered record)."""
        content = record.get("content")
        if not isinstance(content, dict):
            raise ContentError("content")
        gmt = self.version == "V2"
        created = _date(content, "date_creation", gmt, shift[0])
        action = php.string(need(content, "action"))
        amounts = _amount(content, "amounts")
        ref = php.string(need(content, "ref_object"))
        dated = _date(content, "date_object", gmt, shift[1])
        user = php.string(need(content, "user_fullname"))
        if self.version == "V1":
            parts = [created, action, amounts, ref, dated, user]
        else:
            taxexcl = need(content, "amounts_taxexcl")
            parts = [php.string(need(content, "entity")), created, action, php.string(need(content, "module_source")),
                     php.string(need(content, "pos_source")),
                     "" if taxexcl is None else _amount(content, "amounts_taxexcl"), amounts, ref, dated, user]
            type_code = need(content, "type_code")
            if php.truthy(type_code):  # "if ($this->type_code) { $s .= '|'.(string) $this->type_code; }"
                parts.append(php.string(type_code))
            parts += [php.string(need(content, "linktoref")), php.string(need(content, "linktype"))]
            note = need(content, "note")
            if php.truthy(note):  # "if ($this->note) { $s .= '|'.(string) $this->note; }"
                parts.append(php.string(note))
        parts.append(_object_json(content))
        return "|".join(parts)

    def seal(self, previous, record, secret, shift=(0, 0)):
        content = record.get("content")
        if not isinstance(content, dict):
            raise ContentError("content")
        if not previous:
            previous = need(content, "fingerprint")
            if not previous:
                raise ContentError("fingerprint")
        message = (php.string(previous) + self.text(record, shift)).encode("utf-8")
        if self.version == "V1":
            salt = content.get("salt")  # dol_hash(): "$chain = getDolGlobalString('MAIN_SECURITY_SALT').$chain"
            return hashlib.sha256(php.string(salt).encode("utf-8") + message).hexdigest()
        if secret is None:
            raise ContentError("secret")
        key = secret if isinstance(secret, bytes) else str(secret).encode("utf-8")
        return hmac.new(key, message, hashlib.sha256).hexdigest()


    def near_miss(self, previous, record, secret):
        """Whether the seal holds with the record's times (either or both) an hour off: V1 times are the PHP server's local time,
        read in the shop's configured zone; a server on another zone (or on one that changes its clock on other
        dates) shifts them by an hour, and every such seal would otherwise look altered."""
        if self.version != "V1":
            return False  # V2 times are UTC
        # Each time on its own: an invoice's date is its day's midnight, which may fall before a clock change that
        # its validation, that afternoon, comes after.
        shifts = [(a, b) for a in (0, 3600, -3600) for b in (0, 3600, -3600) if (a, b) != (0, 0)]
        try:
            return any(self.seal(previous, record, secret, shift) == record.get("hash") for shift in shifts)
        except ContentError:
            return False

    def claims(self, record):
        """What a sealed invoice validation says of the invoice as the till's tables must still hold it: its total
        and its lines (count, quantities, totals), from the object_data Dolibarr sealed (setObjectData(): the
        invoice's total_ttc and its lines as invoiceline{1..n}, in the order fetch_lines() reads them, rang then
        rowid). The tables can be edited without touching the log: only this comparison sees it."""
        content = record.get("content")
        invoice = record.get("object_id")
        if not isinstance(content, dict) or content.get("action") != "BILL_VALIDATE" or not isinstance(invoice, int):
            return []
        try:
            data = php.json_decode(content.get("object_data") or "{}")
        except (TypeError, ValueError):
            return []
        if not isinstance(data, dict):
            return []
        out = []
        if _number(data.get("total_ttc")) is not None:
            out.append(("tickets", (("source_id", invoice),), "total_ttc_cents", _cents(data["total_ttc"])))
        lines = data.get("invoiceline")
        if isinstance(lines, list):  # json_decode of an array indexed 0..n-1
            lines = dict((str(i), line) for i, line in enumerate(lines))
        if isinstance(lines, dict):
            out.append(("ticket_lines", (("ticket_source_id", invoice),), "#rows", len(lines)))
            for n, (_key, line) in enumerate(sorted(lines.items(), key=lambda kv: _rank(kv[0])), 1):
                if not isinstance(line, dict):
                    continue
                key = (("ticket_source_id", invoice), ("line_no", n))
                if _number(line.get("qty")) is not None:
                    out.append(("ticket_lines", key, "quantity", float(line["qty"])))
                if _number(line.get("total_ttc")) is not None:
                    out.append(("ticket_lines", key, "line_total_ttc_cents", _cents(line["total_ttc"])))
        return out


def _number(value):
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _rank(key):
    return (0, int(key)) if str(key).isdigit() else (1, str(key))


def _cents(amount):
    """Euros to cents as the mapping's SQL does it (SQLite's ROUND(x * 100): half away from zero on the double)."""
    v = float(amount) * 100
    return int(v + 0.5) if v >= 0 else -int(-v + 0.5)


RECIPE_V1 = BlockedLogRecipe("dolibarr-blockedlog-v1", "V1")
RECIPE_V2 = BlockedLogRecipe("dolibarr-blockedlog-v2", "V2")
