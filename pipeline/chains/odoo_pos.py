"""Odoo's point-of-sale chain (addon l10n_fr_pos_cert, Odoo 16.0 and 17.0): each paid order's string and seal, redone.

What Odoo does (addons/l10n_fr_pos_cert/models/pos.py, 16.0 and 17.0 alike):
- when an order of a French company is written with state 'paid', 'done' or 'invoiced' and has no number yet,
  it takes `l10n_fr_secure_sequence_number` from the company's no-gap sequence, and
  `l10n_fr_hash = sha256((previous_hash + l10n_fr_string_to_hash).encode('utf-8')).hexdigest()`, the previous
  hash being that of the company's paid/done/invoiced order numbered one less, '' when there is none;
- `l10n_fr_string_to_hash` is `json.dumps(values, sort_keys=True, ensure_ascii=True, indent=None,
  separators=(',', ':'))` where each value is `str()` of a field read through the ORM ("_getattrstring"):
  a many2one gives its id (False when empty), a one2many/many2many the ids of `.sorted()` (the model's `_order`),
  a Char its text (False when empty), a Float a Python float, a Datetime a naive UTC `datetime`;
- `values` holds the order's ORDER_FIELDS (date_order, user_id, lines, payment_ids, pricelist_id, partner_id,
  session_id, pos_reference, sale_journal, fiscal_position_id) and, for each line, `line_<id>_<field>` for the
  LINE_FIELDS (notice, product_id, qty, price_unit, discount, tax_ids, tax_ids_after_fiscal_position).
From saas-17.4 on (18.0), an order that has `pos_version` hashes that field instead of partner_id: when the
content's order holds a non-empty "pos_version", that list is used (16.0 and 17.0 have no such column).

The content (the source chain journal's `content`, built by the mapping's SQL from the tables as they are):
    {"order": {"date_order": "2024-01-15 10:30:00", "user_id": 2, "pricelist_id": 1, "partner_id": null,
               "session_id": 3, "pos_reference": "Order 00003-001-0001", "sale_journal": 5,
               "fiscal_position_id": null},
     "lines": [{"id": 11, "notice": null, "product_id": 4, "qty": 0.345, "price_unit": 0.57, "discount": 0,
                "tax_ids": [[10, 1], [20, 2]]}],
     "payment_ids": [21, 22],
     "fiscal_position_taxes": [[1, 3, 10], [2, null, null]],
     "digits": {"qty": 3}}
- "order": the pos_order columns as stored (ids as integers, null for an empty many2one or Char, the
  timestamp as PostgreSQL writes it, with or without fractions of a second);
- "lines": the order's pos_order_line rows, in any order; qty, price_unit and discount as numbers or as text
  (the mapping writes them with printf('%!.17g'): a JSON number from SQLite has 15 digits only, and a price a
  pricelist computed, 4.410000000000001, must come back whole); "tax_ids": its taxes
  (account_tax_pos_order_line_rel) as [account_tax.sequence, account_tax.id];
- "payment_ids": the ids of the order's pos_payment rows, in any order;
- "fiscal_position_taxes": the rows of the order's fiscal position (account_fiscal_position_tax) as
  [tax_src_id, tax_dest_id, the destination tax's sequence], empty without a fiscal position;
- "digits": the decimal precision "Product Unit of Measure" (decimal_precision.digits, 3 by default), optional.

Float fields. Reading an order back (Odoo's own integrity check, a later request), the ORM puts the column's
value in its cache as the database gave it: PostgreSQL numeric text made a float (odoo/sql_db.py's typecaster),
no rounding (odoo/models.py _read, 16.0: `self.env.cache.insert_missing(fetched, field, values)`). When the order
is posted, in the transaction that created its lines, the cache holds instead what `create` put there,
Float.convert_to_cache: `float_round(value, precision_digits=digits[1])` for a field with digits (odoo/fields.py,
16.0 and 17.0). price_unit and discount are declared `digits=0` (pos_order.py), falsy, so never rounded; qty has
digits 'Product Unit of Measure', and float_round(0.345, 3) is 0.34500000000000003 (odoo/tools/float_utils.py:
`rounded_value * rounding_factor`, unchanged until saas-17.4). So the same stored order has two strings Odoo may
have sealed; `seal` gives the one read back, or the posting one when that is the one stored.

Taxes: `.sorted()` orders account.tax by its `_order`, 'sequence,id' (PostgreSQL puts a NULL sequence last).
The taxes after the fiscal position are `fiscal_position.map_tax(tax_ids)` (account_fiscal_position.py): each
tax with mapping rows becomes their destination taxes (none when a row has no destination), any other stays
itself; without a fiscal position they are tax_ids. Payments: pos.payment's `_order` is 'id desc'. Lines:
pos.order.line has no `_order`, so 'id'.
"""

import json
import math
import re
from hashlib import sha256

from .content import ContentError, need

ORDER_FIELDS = ("date_order", "user_id", "lines", "payment_ids", "pricelist_id", "partner_id", "session_id",
                "pos_reference", "sale_journal", "fiscal_position_id")
ORDER_FIELDS_FROM_17_4 = ("date_order", "user_id", "lines", "payment_ids", "pricelist_id", "session_id",
                          "pos_reference", "sale_journal", "fiscal_position_id", "pos_version")
LINE_FIELDS = ("notice", "product_id", "qty", "price_unit", "discount", "tax_ids", "tax_ids_after_fiscal_position")
MANY2ONE = ("user_id", "pricelist_id", "partner_id", "session_id", "sale_journal", "fiscal_position_id")
CHARS = ("pos_reference", "pos_version")
QTY_DIGITS = 3  # decimal.precision 'Product Unit of Measure' as the product module creates it

_STAMP = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[ T](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,6}))?$")


def _many2one(value, field):
    # `field_value.id` of the record, False for none; str() of an int or of False.
    if value is None or value is False:
        return "False"
    try:
        return str(int(value))
    except (TypeError, ValueError):
        raise ContentError(field)


def _char(value, field):
    # A Char read back is its text, or False when NULL (Field.convert_to_record).
    if value is None or value is False:
        return "False"
    if not isinstance(value, str):
        raise ContentError(field)
    return value


def _float(value, field):
    # Float.convert_to_record gives `value or 0.0`; str() of a Python float is its shortest repr.
    if value is None or value is False:
        return 0.0
    if isinstance(value, bool):
        raise ContentError(field)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ContentError(field)


def _stamp(value, field):
    # A Datetime is a naive UTC datetime: str() gives 'YYYY-MM-DD HH:MM:SS', and '.ffffff' (6 digits) only when
    # it has microseconds; PostgreSQL writes the fraction without its trailing zeros ('10:30:00.5').
    if value is None or value is False:
        return "False"
    m = _STAMP.match(str(value).strip())
    if not m:
        raise ContentError(field)
    text = "%s-%s-%s %s:%s:%s" % m.groups()[:6]
    fraction = m.group(7)
    if fraction and int(fraction):
        text += "." + fraction.ljust(6, "0")
    return text


def _ids(values, field):
    if not isinstance(values, list):
        raise ContentError(field)
    try:
        return [int(v) for v in values]
    except (TypeError, ValueError):
        raise ContentError(field)


def _tax_key(sequence, tax_id):
    # ORDER BY sequence, id: PostgreSQL sorts a NULL last in ascending order.
    return (sequence is None, sequence if sequence is not None else 0, tax_id)


def _taxes(values, field):
    """[[sequence, id], ...] as {id: sequence}."""
    if not isinstance(values, list):
        raise ContentError(field)
    taxes = {}
    for item in values:
        if not isinstance(item, list) or len(item) != 2:
            raise ContentError(field)
        try:
            taxes[int(item[1])] = None if item[0] is None else int(item[0])
        except (TypeError, ValueError):
            raise ContentError(field)
    return taxes


def _sorted_taxes(taxes):
    return str([tax_id for tax_id in sorted(taxes, key=lambda t: _tax_key(taxes[t], t))])


def _mapped(taxes, rows):
    """map_tax: each tax with rows for it becomes their destinations, the others stay (a union: no tax twice)."""
    if not rows:
        return dict(taxes)
    result = {}
    for tax_id, sequence in taxes.items():
        matching = [r for r in rows if r[0] == tax_id]
        if not matching:
            result[tax_id] = sequence
        for _src, dest, dest_sequence in matching:
            if dest is not None:
                result[dest] = dest_sequence
    return result


def _position_rows(content, has_position):
    rows = content.get("fiscal_position_taxes") or []
    if not isinstance(rows, list):
        raise ContentError("fiscal_position_taxes")
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != 3:
            raise ContentError("fiscal_position_taxes")
        try:
            out.append((int(row[0]), None if row[1] is None else int(row[1]), None if row[2] is None else int(row[2])))
        except (TypeError, ValueError):
            raise ContentError("fiscal_position_taxes")
    return out if has_position else []


def float_round(value, digits):
    """odoo/tools/float_utils.py float_round, 16.0 and 17.0, HALF-UP: normalise by 10**-digits, nudge by an epsilon
    of 2**(log2(|normalised|) - 52), round half away from zero, multiply back (which is what leaves
    0.34500000000000003 for 0.345 at 3 digits)."""
    factor = 10 ** -digits
    if factor == 0 or value == 0:
        return 0.0
    normalized = value / factor
    epsilon = 2 ** (math.log(abs(normalized), 2) - 52)
    normalized += math.copysign(epsilon, normalized)
    return _round_half_away(normalized) * factor


def _round_half_away(f):
    """Odoo's `round` shim (float_utils.py): Python 3's round, except where that rounds a tie to even (seen when
    rounding f and f + 1 do not differ by one), where it goes half a unit away from zero; the sign is kept."""
    nearest = round(f)
    if round(f + 1) - nearest != 1:
        return f + math.copysign(0.5, f)
    return math.copysign(nearest, f)


def _values(content, posting):
    order = need(content, "order")
    if not isinstance(order, dict):
        raise ContentError("order")
    lines = need(content, "lines")
    if not isinstance(lines, list):
        raise ContentError("lines")
    payments = _ids(need(content, "payment_ids"), "payment_ids")
    digits = (content.get("digits") or {}).get("qty", QTY_DIGITS) if isinstance(content.get("digits"), dict) \
        else QTY_DIGITS
    fields = ORDER_FIELDS_FROM_17_4 if order.get("pos_version") else ORDER_FIELDS
    line_ids = []
    values = {}
    for field in fields:
        if field == "lines":
            continue  # below, from the lines themselves
        if field == "payment_ids":
            values[field] = str(sorted(payments, reverse=True))
        elif field == "date_order":
            values[field] = _stamp(need(order, field), field)
        elif field in CHARS:
            values[field] = _char(need(order, field), field)
        else:
            values[field] = _many2one(need(order, field), field)
    rows = _position_rows(content, values["fiscal_position_id"] != "False")
    for line in lines:
        if not isinstance(line, dict):
            raise ContentError("lines")
        line_id = _many2one(need(line, "id"), "id")
        if line_id == "False":
            raise ContentError("id")
        line_ids.append(int(line_id))
        key = "line_%s_" % line_id
        qty = _float(need(line, "qty"), "qty")
        if posting:
            qty = float_round(qty, int(digits))
        taxes = _taxes(need(line, "tax_ids"), "tax_ids")
        values[key + "notice"] = _char(need(line, "notice"), "notice")
        values[key + "product_id"] = _many2one(need(line, "product_id"), "product_id")
        values[key + "qty"] = str(qty)
        values[key + "price_unit"] = str(_float(need(line, "price_unit"), "price_unit"))
        values[key + "discount"] = str(_float(need(line, "discount"), "discount"))
        values[key + "tax_ids"] = _sorted_taxes(taxes)
        values[key + "tax_ids_after_fiscal_position"] = _sorted_taxes(_mapped(taxes, rows))
    values["lines"] = str(sorted(line_ids))
    return json.dumps(values, sort_keys=True, ensure_ascii=True, indent=None, separators=(",", ":"))


def _sha(previous, text):
    return sha256((previous + text).encode("utf-8")).hexdigest()


class OdooPos:
    name = "odoo-pos-sha256"
    secret = False
    previous = "sequence"
    first_previous = ""

    def text(self, record):
        """The string Odoo hashes for the order as read back from its tables (Odoo's own integrity check)."""
        return _values(need(record, "content"), posting=False)

    def posting_text(self, record):
        """The string as hashed when the order was posted, its quantities still rounded in the ORM's cache."""
        return _values(need(record, "content"), posting=True)

    def seal(self, previous, record, secret=None):
        read_back = _sha(previous or "", self.text(record))
        if read_back == record.get("hash"):
            return read_back
        posting = _sha(previous or "", self.posting_text(record))
        return posting if posting == record.get("hash") else read_back


RECIPE = OdooPos()
