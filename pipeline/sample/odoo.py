"""An Odoo 16/17-shaped point-of-sale database written to a real PostgreSQL, its paid orders hashed as Odoo does.

A representative subset of Odoo's own tables and columns (names and PostgreSQL types as Odoo's ORM creates them:
translatable names in jsonb, Float fields in numeric, Datetime fields in timestamp without time zone, UTC): one
French company and its no-gap certification sequence, two tills (pos_config) of a bakery-café with a session a day
each, products, taxes 5.5 %, 10 % and 20 % ordered by their own sequence, the take-away fiscal position (10 % to
5.5 %), payment methods, orders with their lines, taxes (account_tax_pos_order_line_rel) and payments (change given
back as a negative cash payment), a refund pointing back at the lines it refunds, a cancelled order that is never
hashed, and the daily account_sale_closing rows that l10n_fr_pos_cert's cron writes.

Every paid order gets l10n_fr_secure_sequence_number (one chain per company) and l10n_fr_hash, sealed with the
odoo-pos-sha256 recipe (pipeline/chains/odoo_pos.py, held to Odoo's code by its byte-compatibility test) over the
content the mapping schemas/sources/odoo-pos.json reads back. The same seed gives the same database.
"""

from __future__ import annotations

import json
import random
from datetime import date, datetime, timedelta

from pipeline.chains.odoo_pos import RECIPE
from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.snapshot.postgresql_client import Target, psql, quote_ident
from pipeline.snapshot.postgresql_copies import feed_psql
from pipeline.snapshot.postgresql_copy import line

DEFAULT_START = date(2024, 1, 8)
COMPANY = 1
FRANCE = 75  # res.country's id of France in Odoo's base data
EUR = 125  # res.currency's id of EUR in Odoo's base data
QTY_DIGITS = 3

# Odoo's columns, as its ORM declares them (models.py: Integer int4, Many2one int4, Float numeric when it has
# digits (digits=0 too), Monetary numeric, Char varchar, translatable Char jsonb, Boolean bool, Datetime timestamp).
TABLES = {
    "res_country": [("id", "serial"), ("name", "jsonb"), ("code", "varchar")],
    "res_currency": [("id", "serial"), ("name", "varchar"), ("symbol", "varchar"), ("rounding", "numeric"),
                     ("decimal_places", "int4"), ("active", "bool")],
    "res_partner": [("id", "serial"), ("name", "varchar"), ("company_id", "int4"), ("active", "bool")],
    "ir_sequence": [("id", "serial"), ("name", "varchar"), ("code", "varchar"), ("implementation", "varchar"),
                    ("prefix", "varchar"), ("padding", "int4"), ("number_next", "int4"), ("number_increment", "int4"),
                    ("company_id", "int4"), ("active", "bool")],
    "res_company": [("id", "serial"), ("name", "varchar"), ("partner_id", "int4"), ("currency_id", "int4"),
                    ("country_id", "int4"), ("vat", "varchar"), ("l10n_fr_pos_cert_sequence_id", "int4"),
                    ("l10n_fr_closing_sequence_id", "int4")],
    "res_users": [("id", "serial"), ("login", "varchar"), ("partner_id", "int4"), ("company_id", "int4"),
                  ("active", "bool")],
    "decimal_precision": [("id", "serial"), ("name", "varchar"), ("digits", "int4")],
    "account_journal": [("id", "serial"), ("name", "jsonb"), ("code", "varchar"), ("type", "varchar"),
                        ("company_id", "int4"), ("active", "bool")],
    "account_tax": [("id", "serial"), ("name", "jsonb"), ("type_tax_use", "varchar"), ("amount_type", "varchar"),
                    ("amount", "numeric"), ("price_include", "bool"), ("sequence", "int4"), ("company_id", "int4"),
                    ("active", "bool")],
    "account_fiscal_position": [("id", "serial"), ("name", "jsonb"), ("sequence", "int4"), ("company_id", "int4"),
                                ("active", "bool")],
    "account_fiscal_position_tax": [("id", "serial"), ("position_id", "int4"), ("tax_src_id", "int4"),
                                    ("tax_dest_id", "int4"), ("company_id", "int4")],
    "product_pricelist": [("id", "serial"), ("name", "jsonb"), ("currency_id", "int4"), ("company_id", "int4"),
                          ("active", "bool")],
    "product_template": [("id", "serial"), ("name", "jsonb"), ("list_price", "numeric"), ("to_weight", "bool"),
                         ("available_in_pos", "bool"), ("active", "bool")],
    "product_product": [("id", "serial"), ("product_tmpl_id", "int4"), ("default_code", "varchar"),
                        ("active", "bool")],
    "product_taxes_rel": [("prod_id", "int4"), ("tax_id", "int4")],
    "pos_payment_method": [("id", "serial"), ("name", "jsonb"), ("is_cash_count", "bool"), ("journal_id", "int4"),
                           ("company_id", "int4"), ("active", "bool")],
    "pos_config": [("id", "serial"), ("name", "varchar"), ("company_id", "int4"), ("journal_id", "int4"),
                   ("pricelist_id", "int4"), ("active", "bool")],
    "pos_session": [("id", "serial"), ("name", "varchar"), ("config_id", "int4"), ("user_id", "int4"),
                    ("company_id", "int4"), ("start_at", "timestamp"), ("stop_at", "timestamp"), ("state", "varchar"),
                    ("sequence_number", "int4"), ("login_number", "int4")],
    "pos_order": [("id", "serial"), ("name", "varchar"), ("date_order", "timestamp"), ("user_id", "int4"),
                  ("company_id", "int4"), ("pricelist_id", "int4"), ("partner_id", "int4"),
                  ("sequence_number", "int4"), ("session_id", "int4"), ("config_id", "int4"), ("state", "varchar"),
                  ("pos_reference", "varchar"), ("sale_journal", "int4"), ("fiscal_position_id", "int4"),
                  ("amount_tax", "numeric"), ("amount_total", "numeric"), ("amount_paid", "numeric"),
                  ("amount_return", "numeric"), ("currency_id", "int4"), ("l10n_fr_hash", "varchar"),
                  ("l10n_fr_secure_sequence_number", "int4"), ("create_date", "timestamp")],
    "pos_order_line": [("id", "serial"), ("name", "varchar"), ("notice", "varchar"), ("product_id", "int4"),
                       ("price_unit", "numeric"), ("qty", "numeric"), ("price_subtotal", "numeric"),
                       ("price_subtotal_incl", "numeric"), ("discount", "numeric"), ("order_id", "int4"),
                       ("full_product_name", "varchar"), ("company_id", "int4"), ("refunded_orderline_id", "int4")],
    "account_tax_pos_order_line_rel": [("pos_order_line_id", "int4"), ("account_tax_id", "int4")],
    "pos_payment": [("id", "serial"), ("name", "varchar"), ("pos_order_id", "int4"), ("amount", "numeric"),
                    ("payment_method_id", "int4"), ("payment_date", "timestamp"), ("session_id", "int4"),
                    ("company_id", "int4"), ("is_change", "bool")],
    "account_sale_closing": [("id", "serial"), ("name", "varchar"), ("company_id", "int4"),
                             ("date_closing_stop", "timestamp"), ("date_closing_start", "timestamp"),
                             ("frequency", "varchar"), ("total_interval", "numeric"), ("cumulative_total", "numeric"),
                             ("sequence_number", "int4"), ("last_order_id", "int4"), ("last_order_hash", "varchar"),
                             ("currency_id", "int4"), ("create_date", "timestamp")],
}
# Many2many tables have a composite primary key (models.py Many2many.update_db).
KEYS = {"product_taxes_rel": ("prod_id", "tax_id"), "account_tax_pos_order_line_rel": ("pos_order_line_id", "account_tax_id")}

# Taxes: (id, name, rate %, sequence). Their ids and sequences do not sort alike: .sorted() follows the sequence.
TAXES = [(1, "TVA 20%", 20.0, 12), (2, "TVA 10%", 10.0, 5), (3, "TVA 5,5%", 5.5, 1)]
TAKE_AWAY = 1  # the fiscal position "À emporter": 10 % -> 5.5 %
# Products: (id, code, name, price TTC, tax id, weighed)
PRODUCTS = [
    (1, "BAG", "Baguette tradition", 1.1, 3, False),
    (2, "CRS", "Croissant", 1.25, 3, False),
    (3, "BNB", "Bonbon", 0.57, 1, False),
    (4, "POM", "Pommes (kg)", 2.49, 3, True),
    (5, "CAF", "Café", 1.8, 2, False),
    (6, "SAN", "Sandwich jambon-beurre", 4.9, 2, False),
    (7, "CID", "Cidre brut 75 cl", 6.9, 1, False),
]
WEIGHTS = (0.345, 0.5, 1.215, 0.82, 0.275)
# Payment methods: (id, name, cash?)
METHODS = [(1, "Cash", True), (2, "Card", False), (3, "Cheque", False)]
USERS = [(2, "marie"), (6, "paul")]
ASSOCIATION, ASSOCIATION_PRICELIST = 14, 2  # its pricelist's 10 % off is computed in floats: 4.9 * 0.9 = 4.410000000000001
CONFIGS = [(1, "Boulangerie"), (2, "Terrasse")]
OPEN_SECONDS, CLOSE_SECONDS = 7 * 3600, 18 * 3600  # UTC


def money(value: float) -> str:
    """A Monetary column as Odoo writes it: float_repr at the currency's 2 decimal places."""
    return "%.2f" % value


def quantity(value: float) -> str:
    """qty as Odoo writes it (Float.convert_to_column: float_repr(float_round(qty, 3), 3))."""
    return "%.*f" % (QTY_DIGITS, value)


def stamp(moment: datetime) -> str:
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text + (".%06d" % moment.microsecond if moment.microsecond else "")


class Shop:
    """The rows, table by table, built in memory in the order Odoo would have written them."""

    def __init__(self, seed: int):
        self.rng = random.Random(seed)
        self.rows: dict[str, list[list]] = {name: [] for name in TABLES}
        self.ids: dict[str, int] = {}
        self.sequence = 0  # l10n_fr_secure_sequence_number of the company
        self.last_hash = ""
        self.sold_lines: list[tuple] = []  # (line id, order id, product, qty, price) a refund may point back to
        self.closing_from = None
        self.cumulative = 0.0
        self.closings = 0
        self.since_closing: list[tuple[int, float, int]] = []  # (order id, total, secure number)

    def next_id(self, table: str) -> int:
        self.ids[table] = self.ids.get(table, 0) + 1
        return self.ids[table]

    def add(self, table: str, *values) -> None:
        assert len(values) == len(TABLES[table]), table
        self.rows[table].append(list(values))

    def reference_data(self, first_day: date) -> None:
        t0 = datetime.combine(first_day, datetime.min.time())
        self.add("res_country", FRANCE, json.dumps({"en_US": "France"}), "FR")
        self.add("res_currency", EUR, "EUR", "€", "0.01", 2, True)
        self.add("res_partner", 1, "Boulangerie du Marché", None, True)
        self.add("res_partner", 3, "Marie Dupont", COMPANY, True)
        self.add("res_partner", 7, "Paul Martin", COMPANY, True)
        self.add("res_partner", 14, "Association des Amis du Marché", COMPANY, True)
        self.add("res_partner", 15, "Mme Leroy", COMPANY, True)
        # account's res.company _create_secure_sequence: a no-gap sequence per company and field
        for ident, field in ((31, "l10n_fr_pos_cert_sequence_id"), (32, "l10n_fr_closing_sequence_id")):
            self.add("ir_sequence", ident, "Securisation of %s - Boulangerie du Marché" % field,
                     "FRSECURE%s-%s" % (COMPANY, field), "no_gap", "", 0, 1, 1, COMPANY, True)
        self.add("res_company", COMPANY, "Boulangerie du Marché", 1, EUR, FRANCE, "FR40123456824", 31, 32)
        for (uid, login), partner in zip(USERS, (3, 7)):
            self.add("res_users", uid, login, partner, COMPANY, True)
        self.add("decimal_precision", 1, "Product Price", 2)
        self.add("decimal_precision", 2, "Discount", 2)
        self.add("decimal_precision", 3, "Product Unit of Measure", QTY_DIGITS)
        self.add("account_journal", 1, json.dumps({"en_US": "Point of Sale"}), "POSS", "sale", COMPANY, True)
        self.add("account_journal", 2, json.dumps({"en_US": "Cash"}), "CSH1", "cash", COMPANY, True)
        self.add("account_journal", 3, json.dumps({"en_US": "Bank"}), "BNK1", "bank", COMPANY, True)
        for tid, name, rate, seq in TAXES:
            self.add("account_tax", tid, json.dumps({"en_US": name}), "sale", "percent", repr(rate), True, seq,
                     COMPANY, True)
        self.add("account_fiscal_position", TAKE_AWAY, json.dumps({"en_US": "À emporter"}), 1, COMPANY, True)
        self.add("account_fiscal_position_tax", 1, TAKE_AWAY, 2, 3, COMPANY)
        self.add("product_pricelist", 1, json.dumps({"en_US": "Default EUR pricelist"}), EUR, COMPANY, True)
        self.add("product_pricelist", ASSOCIATION_PRICELIST, json.dumps({"en_US": "Associations -10%"}), EUR, COMPANY,
                 True)
        for pid, code, name, price, tax, weighed in PRODUCTS:
            self.add("product_template", pid, json.dumps({"en_US": name, "fr_FR": name}), repr(price), weighed, True,
                     True)
            self.add("product_product", pid, pid, code, True)
            self.add("product_taxes_rel", pid, tax)
        for mid, name, cash in METHODS:
            self.add("pos_payment_method", mid, json.dumps({"en_US": name}), cash, 2 if cash else 3, COMPANY, True)
        for cid, name in CONFIGS:
            self.add("pos_config", cid, name, COMPANY, 1, 1, True)
        self.closing_from = t0

    def day(self, day: date, orders_per_day: int) -> None:
        rng = self.rng
        midnight = datetime.combine(day, datetime.min.time())
        sessions = {}
        for cid, name in CONFIGS:
            sid = self.next_id("pos_session")
            user = USERS[(sid + cid) % len(USERS)][0]
            sessions[cid] = [sid, user, 0]
            self.add("pos_session", sid, "POS/%05d" % sid, cid, user, COMPANY, stamp(midnight + timedelta(
                seconds=OPEN_SECONDS - 600)), stamp(midnight + timedelta(seconds=CLOSE_SECONDS + 600)), "closed", 1,
                1)
        moments = sorted(rng.randrange(OPEN_SECONDS, CLOSE_SECONDS) for _ in range(orders_per_day))
        for i, second in enumerate(moments):
            cid = CONFIGS[rng.randrange(len(CONFIGS))][0]
            moment = midnight + timedelta(seconds=second)
            if i == 1 and day.day % 3 == 0:
                moment = moment.replace(microsecond=250000)  # an order written by a back-office import, to the µs
            self.order(sessions[cid], cid, moment, cancelled=(i == 2 and day.day % 4 == 0))
        self.closing(midnight + timedelta(days=1, minutes=30))

    def order(self, session: list, cid: int, moment: datetime, cancelled: bool) -> None:
        rng = self.rng
        sid, user, _count = session
        session[2] += 1
        oid = self.next_id("pos_order")
        refund = bool(not cancelled and self.sold_lines and rng.random() < 0.06)
        position = TAKE_AWAY if not refund and rng.random() < 0.2 else None
        partner = rng.choice((14, 15)) if rng.random() < 0.15 else None
        lines = []  # (line id, product, qty, price, discount, notice, refunded line, taxes)
        if refund:
            lid0, _order0, product, qty, price = self.sold_lines.pop(rng.randrange(len(self.sold_lines)))
            lines.append((self.next_id("pos_order_line"), product, -qty, price, 0.0, None, lid0))
        else:
            for _n in range(1 + min(rng.randrange(5), rng.randrange(5))):
                product = PRODUCTS[rng.randrange(len(PRODUCTS))]
                qty = rng.choice(WEIGHTS) if product[5] else float(1 + min(rng.randrange(3), rng.randrange(3)))
                discount, notice = (10.0, "Remise fidélité") if rng.random() < 0.05 else (0.0, None)
                price = product[3] * 0.9 if partner == ASSOCIATION else product[3]
                lines.append((self.next_id("pos_order_line"), product, qty, price, discount, notice, None))
        total = tax = 0.0
        contents = []
        for lid, product, qty, price, discount, notice, refunded in lines:
            tax_id = product[4]
            applied = 3 if position == TAKE_AWAY and tax_id == 2 else tax_id
            rate = next(t[2] for t in TAXES if t[0] == applied)
            incl = round(qty * price * (1 - discount / 100.0) + 1e-9 * (1 if qty >= 0 else -1), 2)
            excl = round(incl / (1 + rate / 100.0), 2)
            total += incl
            tax += incl - excl
            name = "%s/%04d" % (CONFIGS[cid - 1][1], lid)
            self.add("pos_order_line", lid, name, notice, product[0], repr(price), quantity(qty), repr(excl),
                     repr(incl), repr(discount), oid, product[2], COMPANY, refunded)
            self.add("account_tax_pos_order_line_rel", lid, tax_id)
            contents.append({"id": lid, "notice": notice, "product_id": product[0], "qty": float(quantity(qty)),
                             "price_unit": price, "discount": discount,
                             "tax_ids": [[next(t[3] for t in TAXES if t[0] == tax_id), tax_id]]})
            if not refund and not cancelled:
                self.sold_lines.append((lid, oid, product, qty, price))
        total, tax = round(total, 2), round(tax, 2)
        payments = [] if cancelled else self.payments(total)
        payment_ids = []
        for method, amount, change in payments:
            pid = self.next_id("pos_payment")
            payment_ids.append(pid)
            self.add("pos_payment", pid, None, oid, money(amount), method, stamp(moment), sid, COMPANY, change)
        paid = round(sum(a for _m, a, c in payments if not c), 2)
        given_back = round(-sum(a for _m, a, c in payments if c), 2)
        reference = "Order %05d-%03d-%04d" % (sid, 1, session[2])
        number = hashed = None
        if not cancelled:
            self.sequence += 1
            number = self.sequence
            content = {"order": {"date_order": stamp(moment), "user_id": user,
                                 "pricelist_id": ASSOCIATION_PRICELIST if partner == ASSOCIATION else 1,
                                 "partner_id": partner, "session_id": sid, "pos_reference": reference,
                                 "sale_journal": 1, "fiscal_position_id": position},
                       "lines": contents, "payment_ids": payment_ids,
                       "fiscal_position_taxes": [[2, 3, 1]] if position else [], "digits": {"qty": QTY_DIGITS}}
            hashed = RECIPE.seal(self.last_hash, {"content": content, "hash": None}, None)
            self.last_hash = hashed
            self.since_closing.append((oid, total, number))
        pricelist = ASSOCIATION_PRICELIST if partner == ASSOCIATION else 1
        self.add("pos_order", oid, "%s/%04d" % (CONFIGS[cid - 1][1], session[2]), stamp(moment), user, COMPANY,
                 pricelist, partner, session[2], sid, cid, "cancel" if cancelled else "done", reference, 1, position,
                 money(tax), money(total), money(paid - given_back if not cancelled else 0.0), money(given_back),
                 EUR, hashed, number, stamp(moment.replace(microsecond=0)))

    def payments(self, total: float) -> list[tuple[int, float, bool]]:
        rng = self.rng
        if total < 0:
            return [(1, total, False)]  # a refund is given back in cash
        pick = rng.random()
        if pick < 0.1 and total > 5:
            part = round(total / 2, 2)
            return [(3, part, False), (2, round(total - part, 2), False)]  # a cheque and a card
        if pick < 0.5:
            return [(2, total, False)]
        given = float(next(n for n in (5, 10, 20, 50, 100, 1000) if n >= total))
        if given == total:
            return [(1, total, False)]
        return [(1, given, False), (1, round(total - given, 2), True)]  # cash, and the change given back

    def closing(self, moment: datetime) -> None:
        if not self.since_closing:
            return
        self.closings += 1
        interval = round(sum(t for _o, t, _n in self.since_closing), 2)
        self.cumulative = round(self.cumulative + interval, 2)
        last_order, _total, last_number = max(self.since_closing, key=lambda x: x[2])
        # account_closing.py _compute_amounts: 'last_order_hash': last_order.l10n_fr_secure_sequence_number
        self.add("account_sale_closing", self.closings, "Daily Closing - " + moment.strftime("%Y-%m-%d"), COMPANY,
                 stamp(moment), stamp(self.closing_from), "daily", money(interval), money(self.cumulative),
                 self.closings, last_order, str(last_number), EUR, stamp(moment))
        self.closing_from = moment
        self.since_closing = []


def build(days: int, orders_per_day: int, seed: int, start: date) -> Shop:
    shop = Shop(seed)
    shop.reference_data(start)
    for n in range(days):
        shop.day(start + timedelta(days=n), orders_per_day)
    for name, ident in (("ir_sequence", 31), ("ir_sequence", 32)):
        row = next(r for r in shop.rows[name] if r[0] == ident)
        row[6] = (shop.sequence if ident == 31 else shop.closings) + 1
    return shop


def _create_sql(table: str) -> str:
    cols = TABLES[table]
    defs = [f"{quote_ident(c)} {'int4 NOT NULL' if t == 'serial' else t}" for c, t in cols]
    key = KEYS.get(table, ("id",))
    defs.append("PRIMARY KEY (" + ", ".join(quote_ident(k) for k in key) + ")")
    sql = f"CREATE TABLE {quote_ident(table)} ({', '.join(defs)});\n"
    if cols[0][1] == "serial":  # Odoo's ids come from the table's own sequence, set past the rows written here
        seq = quote_ident(f"{table}_id_seq")
        sql += (f"CREATE SEQUENCE {seq} OWNED BY {quote_ident(table)}.id;\n"
                f"ALTER TABLE {quote_ident(table)} ALTER COLUMN id SET DEFAULT nextval('{table}_id_seq');\n")
    return sql


def load_sample(spec: str, days: int, orders_per_day: int, seed: int, start: date = DEFAULT_START) -> dict[str, int]:
    """The Odoo-shaped sample written to the PostgreSQL database of `spec`, in one transaction through one psql;
    refuses a database that already has a pos_order table. Rows written per table."""
    target = Target(spec)
    present = psql(target, "-c", "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = current_schema() AND c.relname = 'pos_order'").strip()
    if present != "0":
        raise UsageError(_("The database {database} already holds an Odoo point of sale (table pos_order): the "
                           "Odoo sample is only loaded into a database without it.").format(database=target.database))
    shop = build(days, orders_per_day, seed, start)
    counts: dict[str, int] = {}

    def send(out) -> None:
        out.write(b"BEGIN;\n")
        for table, cols in TABLES.items():
            out.write(_create_sql(table).encode("utf-8"))
            listed = ", ".join(quote_ident(c) for c, _t in cols)
            out.write(f"COPY {quote_ident(table)} ({listed}) FROM STDIN;\n".encode("utf-8"))
            for row in shop.rows[table]:
                out.write(line(row))
            out.write(b"\\.\n")
            if cols[0][1] == "serial":
                out.write(f"SELECT setval('{table}_id_seq', (SELECT coalesce(max(id), 0) + 1 FROM "
                          f"{quote_ident(table)}), false);\n".encode("utf-8"))
            counts[table] = len(shop.rows[table])
        out.write(b"COMMIT;\n")

    feed_psql(target, send)
    return counts
