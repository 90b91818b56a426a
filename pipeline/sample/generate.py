"""Builds the deterministic sample shop database (reference POS schema, signed chains) and keeps it selling."""

from __future__ import annotations

import bisect
import errno
import importlib.resources
import os
import random
import sqlite3
import time
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import NamedTuple
from zoneinfo import ZoneInfo

from pipeline.sample.chain import (
    VAT_RATES_BP,
    closure_payload,
    derive_private_key,
    digest,
    duplicate_payload,
    jet_payload,
    key_id,
    line_part,
    means_text,
    payment_part,
    public_key_b64,
    sign,
    ticket_payload,
    vat_from_ttc,
)

TABLES = (
    "registers",
    "operators",
    "till_keys",
    "products",
    "tickets",
    "ticket_lines",
    "payments",
    "closures",
    "jet",
    "duplicates",
)

DEFAULT_START = date(2025, 1, 1)
OPEN = 9 * 3600  # seconds after midnight UTC; the sample shop lives on UTC so a day never straddles DST
CLOSE = 19 * 3600
NIGHT_START, NIGHT_END = 5 * 60, 115 * 60  # a night till's sales after midnight, in the day they open
SHIFT_CHANGE = 14 * 3600
CASH_FLOAT_CENTS = 15000
COMMIT_EVERY_DAYS = 31
RECENT_SALES_KEPT = 300  # sales a refund may point back to, per register

AMOUNT_COLUMNS = (
    "ht_550", "tva_550", "ht_1000", "tva_1000", "ht_2000", "tva_2000",
    "total_ht", "total_tva", "total_ttc",
)  # fmt: skip
TICKET_COLUMNS = (
    "id", "register_id", "number", "type", "timestamp", "operator_id", "original_ticket_id",
    *AMOUNT_COLUMNS, "previous_signature", "signature",
)  # fmt: skip
LINE_COLUMNS = (
    "id", "ticket_id", "line_no", "product_id", "label", "quantity",
    "unit_price_cents", "discount_cents", "vat_rate_bp", "line_total_ttc",
)  # fmt: skip
PAYMENT_COLUMNS = ("id", "ticket_id", "means", "amount_cents")
CLOSURE_COLUMNS = (
    "id", "register_id", "kind", "number", "period_start", "period_end", "timestamp", "ticket_count",
    *AMOUNT_COLUMNS, "grand_total_perpetual_ht", "grand_total_perpetual_ttc", "payments_by_means",
    "previous_signature", "signature",
)  # fmt: skip
JET_COLUMNS = (
    "id", "seq", "register_id", "code", "label", "detail", "timestamp", "operator_id",
    "previous_signature", "signature",
)  # fmt: skip
DUPLICATE_COLUMNS = (
    "id", "register_id", "number", "ticket_id", "reprint_no", "timestamp", "operator_id",
    "previous_signature", "signature",
)  # fmt: skip

# JET event codes of the sample till (in the spirit of NF525 vendors' tables, not an official list).
JET_SOFTWARE_START = (10, "software start")
JET_LOGIN = (20, "operator login")
JET_ARCHIVE = (30, "data archive")
JET_TRAINING = (40, "training mode ticket")
JET_DRAWER = (50, "drawer opened without sale")
JET_DUPLICATE = (60, "ticket duplicate printed")
JET_CLOSURE = {"daily": (80, "daily closure"), "monthly": (81, "monthly closure"), "yearly": (82, "yearly closure")}
JET_OPENING = (90, "register opening")
JET_CLOSING = (91, "register closing")

# (category, VAT rate, product names, price range in cents VAT included)
CATALOGUE = (
    ("epicerie", 550, ("Pâtes", "Riz", "Farine", "Sucre", "Café moulu", "Thé vert", "Huile d'olive",
                       "Confiture", "Biscuits", "Chocolat noir", "Céréales", "Tomates pelées"), (99, 899)),
    ("boulangerie", 550, ("Baguette", "Pain de campagne", "Croissant", "Pain au chocolat", "Brioche",
                          "Tarte aux pommes"), (95, 1890)),
    ("boissons", 550, ("Eau minérale", "Jus d'orange", "Limonade", "Sirop de menthe", "Lait demi-écrémé"), (65, 450)),
    ("frais", 550, ("Yaourt nature", "Camembert", "Comté", "Beurre doux", "Œufs", "Jambon blanc"), (120, 1290)),
    ("traiteur", 1000, ("Sandwich jambon-beurre", "Salade composée", "Quiche lorraine", "Café à emporter",
                        "Croque-monsieur"), (190, 990)),
    ("cave", 2000, ("Bordeaux rouge", "Côtes du Rhône", "Muscadet", "Champagne brut", "Bière blonde",
                    "Cidre brut"), (290, 3490)),
    ("droguerie", 2000, ("Lessive", "Liquide vaisselle", "Savon de Marseille", "Éponges", "Papier toilette",
                         "Sacs poubelle"), (150, 1290)),
    ("hygiene", 2000, ("Dentifrice", "Shampooing", "Gel douche", "Coton-tiges"), (150, 690)),
)  # fmt: skip
VARIANTS = ("", " bio", " format familial", " premier prix", " 500 g", " x6")
OPERATOR_NAMES = ("Camille Martin", "Lucas Bernard", "Léa Dubois", "Hugo Laurent", "Chloé Moreau", "Nathan Petit")


class Product(NamedTuple):
    id: int
    label: str
    unit_price_cents: int
    vat_rate_bp: int


class Line(NamedTuple):
    product_id: int
    label: str
    quantity: int
    unit_price_cents: int
    discount_cents: int
    vat_rate_bp: int
    line_total_ttc: int

    def negated(self) -> Line:
        return self._replace(
            quantity=-self.quantity, discount_cents=-self.discount_cents, line_total_ttc=-self.line_total_ttc
        )


@dataclass
class Catalogue:
    products: list[Product]
    cum_weights: list[float]  # some products sell far more than others, as in any shop

    def draw(self, rng: random.Random) -> Product:
        return self.products[bisect.bisect(self.cum_weights, rng.random() * self.cum_weights[-1])]


def schema_sql() -> str:
    return importlib.resources.files(__package__).joinpath("schema.sql").read_text(encoding="utf-8")


# --- what one ticket holds -----------------------------------------------------------


def lines_digest(lines: list[Line], skus: dict[int, str]) -> str:
    return digest([line_part(n, skus[l.product_id], l.quantity, l.unit_price_cents, l.discount_cents, l.vat_rate_bp,
                             l.line_total_ttc) for n, l in enumerate(lines, start=1)])


def payments_digest(payments: list[tuple[str, int]]) -> str:
    return digest([payment_part(means, amount) for means, amount in payments])


def ticket_amounts(lines: list[Line]) -> dict[str, int]:
    """Per-rate TTC sums, VAT taken out of each rate's sum (not per line), HT is the rest."""
    ttc = dict.fromkeys(VAT_RATES_BP, 0)
    for line in lines:
        ttc[line.vat_rate_bp] += line.line_total_ttc
    amounts: dict[str, int] = {}
    for rate in VAT_RATES_BP:
        tva = vat_from_ttc(ttc[rate], rate)
        amounts[f"ht_{rate}"] = ttc[rate] - tva
        amounts[f"tva_{rate}"] = tva
    amounts["total_ht"] = sum(amounts[f"ht_{rate}"] for rate in VAT_RATES_BP)
    amounts["total_tva"] = sum(amounts[f"tva_{rate}"] for rate in VAT_RATES_BP)
    amounts["total_ttc"] = sum(ttc.values())
    return amounts


def draw_sale_lines(rng: random.Random, catalogue: Catalogue) -> list[Line]:
    count = rng.choices((1, 2, 3, 4, 5, 6), cum_weights=(30, 55, 73, 85, 94, 100))[0]
    lines = []
    for _ in range(count):
        product = catalogue.draw(rng)
        quantity = 1 if rng.random() < 0.8 else rng.randint(2, 4)
        gross = quantity * product.unit_price_cents
        discount = gross // 10 if rng.random() < 0.05 else 0
        lines.append(
            Line(product.id, product.label, quantity, product.unit_price_cents, discount,
                 product.vat_rate_bp, gross - discount)
        )  # fmt: skip
    return lines


def draw_payments(rng: random.Random, total: int) -> list[tuple[str, int]]:
    u = rng.random()
    if u < 0.55 or total < 2:
        return [("card", total)]
    if u < 0.85:
        return [("cash", total)]
    if u < 0.88:
        return [("cheque", total)]
    if u < 0.94:
        voucher = rng.choice((500, 1000, 2000))
        return [("voucher", total)] if voucher >= total else [("voucher", voucher), ("card", total - voucher)]
    cash = rng.randint(1, total - 1)
    return [("cash", cash), ("card", total - cash)]


def refund_payments(original: list[tuple[str, int]], total: int) -> list[tuple[str, int]]:
    """Money goes back the way it came: to the card if the sale used one, else in cash."""
    means = "card" if any(m == "card" for m, _ in original) else "cash"
    return [(means, total)]


# --- building the database -----------------------------------------------------------


def _empty_period() -> list[int]:
    return [0] * (1 + len(AMOUNT_COLUMNS))


@dataclass
class Sale:
    ticket_id: int
    number: int
    day: date
    lines: list[Line]
    payments: list[tuple[str, int]]


@dataclass
class RegisterState:
    id: int
    code: str
    ticket_number: int = 0
    closure_numbers: dict[str, int] = field(default_factory=lambda: {"daily": 0, "monthly": 0, "yearly": 0})
    duplicate_number: int = 0
    perpetual_ht: int = 0
    perpetual_ttc: int = 0
    recent_sales: list[Sale] = field(default_factory=list)
    # open periods' sums: ticket_count followed by AMOUNT_COLUMNS, for the day, the month, the year
    periods: dict[str, list[int]] = field(
        default_factory=lambda: {kind: _empty_period() for kind in ("daily", "monthly", "yearly")}
    )
    # and their payments per means (a Z says how much came in cash, by card, ...)
    means: dict[str, dict[str, int]] = field(default_factory=lambda: {k: {} for k in ("daily", "monthly", "yearly")})


def _clock(day_prefix: str, seconds: int, zone: ZoneInfo | None = None) -> str:
    """The UTC stamp of `seconds` after the start of the day; with a zone, the day is the shop's local day there."""
    if zone is None:
        return f"{day_prefix}{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}Z"
    local = datetime.fromisoformat(day_prefix[:10]).replace(tzinfo=zone) + timedelta(seconds=seconds)
    return local.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _insert(table: str, columns: tuple[str, ...]) -> str:
    return f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


class ShopBuilder:
    """Draws and signs one business day after another into an open connection."""

    def __init__(self, conn: sqlite3.Connection, seed: int, start: date, registers: int, tickets_per_day: int,
                 zone: str | None = None, night_sales: int = 0, pool=None, workers: int = 0):
        self.conn = conn
        self.seed = seed
        # With a process pool, a day's signatures are made in the pool while the next day is drawn (see _seal).
        self.pool, self.workers = pool, workers
        self.chain_ends: dict[tuple, str] = {}  # (table, register id or None) -> its last signature
        self.unsigned: dict[tuple, list[tuple[str, int, str]]] = {}  # chain -> [(table, row index, payload)]
        self.in_flight = None  # with a pool: (tag, rows, chains, futures) of the day being signed
        # A till that lives on the shop's local time (zone) and sells after midnight (night_sales a day, between
        # 00:05 and 01:55 local, in that day's Z): what a bar or New Year's Eve does to a UTC business day.
        self.zone = ZoneInfo(zone) if zone else None
        self.night_sales = night_sales
        self.rng = random.Random(seed)
        self.key = derive_private_key(seed)
        self.start = start
        self.tickets_per_day = tickets_per_day
        self.registers = [RegisterState(i, f"CAISSE-{i:02d}") for i in range(1, registers + 1)]
        self.operator_codes = {i: f"OP{i:02d}" for i in range(1, len(OPERATOR_NAMES) + 1)}
        self.products_rows = self._draw_products()
        self.skus = {row[0]: row[1] for row in self.products_rows}
        self.catalogue = self._catalogue(self.products_rows)
        self.ids = dict.fromkeys(("tickets", "ticket_lines", "payments", "closures", "jet", "duplicates"), 0)
        self.jet_seq = 0
        self.rows: dict[str, list[tuple]] = {table: [] for table in self.ids}
        self.reprints: dict[int, int] = {}  # ticket id -> times printed again

    def _next_id(self, table: str) -> int:
        self.ids[table] += 1
        return self.ids[table]

    # reference data

    def _draw_products(self) -> list[tuple]:
        """Rows of the products table: (id, sku, label, unit_price_cents, vat_rate_bp, category)."""
        rows = []
        for category, rate, names, (low, high) in CATALOGUE:
            for name in names:
                for variant in self.rng.sample(VARIANTS, self.rng.randint(1, 3)):
                    price = self.rng.randint(low, high) // 5 * 5 or 5
                    rows.append((len(rows) + 1, self._ean13(), name + variant, price, rate, category))
        return rows

    def _catalogue(self, rows: list[tuple]) -> Catalogue:
        # Zipf-like popularity over a shuffled order: a few best sellers, a long tail.
        order = list(range(len(rows)))
        self.rng.shuffle(order)
        weights = [0.0] * len(rows)
        for rank, index in enumerate(order):
            weights[index] = 1 / (rank + 1) ** 0.8
        cum, total = [], 0.0
        for weight in weights:
            total += weight
            cum.append(total)
        return Catalogue([Product(r[0], r[2], r[3], r[4]) for r in rows], cum)

    def _ean13(self) -> str:
        digits = [3, 7, 0] + [self.rng.randrange(10) for _ in range(9)]  # 370: French GS1 prefix
        check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
        return "".join(map(str, digits)) + str(check)

    def write_reference_data(self) -> None:
        public = self.key.public_key()
        self.conn.executemany(
            "INSERT INTO registers (id, code, label, opened_on) VALUES (?, ?, ?, ?)",
            [(r.id, r.code, f"Caisse {r.id}", self.start.isoformat()) for r in self.registers],
        )
        self.conn.executemany(
            "INSERT INTO operators (id, code, name) VALUES (?, ?, ?)",
            [(i, code, OPERATOR_NAMES[i - 1]) for i, code in self.operator_codes.items()],
        )
        self.conn.execute(
            "INSERT INTO till_keys (id, key_id, algorithm, public_key_b64, valid_from) VALUES (1, ?, 'ed25519', ?, ?)",
            (key_id(public), public_key_b64(public), f"{self.start.isoformat()}T00:00:00Z"),
        )
        self.conn.executemany(
            "INSERT INTO products (id, sku, label, unit_price_cents, vat_rate_bp, category) VALUES (?, ?, ?, ?, ?, ?)",
            self.products_rows,
        )

    # one business day

    def day(self, day: date) -> None:
        rng = self.rng
        prefix = day.isoformat() + "T"
        jet: list[tuple] = []  # (seconds, register or None, (code, label), detail, operator)
        # (morning, afternoon) operator per register; nobody works two registers at once while staff lasts
        staff = rng.sample(sorted(self.operator_codes), len(self.operator_codes))
        shifts = {
            reg.id: (staff[2 * n % len(staff)], staff[(2 * n + 1) % len(staff)])
            for n, reg in enumerate(self.registers)
        }

        def operator(reg: RegisterState, seconds: int) -> int:
            return shifts[reg.id][0 if seconds < SHIFT_CHANGE else 1]

        for n, reg in enumerate(self.registers):
            morning, afternoon = shifts[reg.id]
            jet.append((OPEN - 900 + 30 * n, reg, JET_SOFTWARE_START, "Coffre sample till 1.0", None))
            jet.append((OPEN - 600 + 30 * n, reg, JET_LOGIN, self.operator_codes[morning], morning))
            jet.append((OPEN - 300 + 30 * n, reg, JET_OPENING, f"cash float {CASH_FLOAT_CENTS} cents", morning))
            jet.append((SHIFT_CHANGE, reg, JET_LOGIN, self.operator_codes[afternoon], afternoon))
            for _ in range(rng.randint(0, 2)):
                seconds = rng.randrange(OPEN, CLOSE)
                jet.append((seconds, reg, JET_DRAWER, "no sale", operator(reg, seconds)))

        issued: list[tuple[int, RegisterState, int, int]] = []  # (ticket id, register, seconds, number)
        times = sorted(rng.randrange(OPEN, CLOSE) for _ in range(self.tickets_per_day))
        if self.night_sales:
            times = sorted(rng.randrange(NIGHT_START, NIGHT_END) for _ in range(self.night_sales)) + times
        for seconds in times:
            reg = self.registers[rng.randrange(len(self.registers))]
            kind, ticket_id = self._ticket(reg, day, _clock(prefix, seconds, self.zone), operator(reg, seconds))
            if kind == "training":
                jet.append((seconds, reg, JET_TRAINING, f"ticket {reg.code}/{reg.ticket_number}", operator(reg, seconds)))
            else:
                issued.append((ticket_id, reg, seconds, reg.ticket_number))

        self._duplicates(day, prefix, issued, jet, operator)
        for n, reg in enumerate(self.registers):
            for kind, seconds in self._close_periods(reg, day, prefix, CLOSE + 300 + 120 * n):
                detail = f"Z {kind} {reg.closure_numbers[kind]}"
                jet.append((seconds, reg, JET_CLOSURE[kind], detail, shifts[reg.id][1]))
            jet.append((CLOSE + 1200 + 30 * n, reg, JET_CLOSING, "end of day", shifts[reg.id][1]))
        jet.append((CLOSE + 2700, None, JET_ARCHIVE, "daily data archive", None))
        self._jet(prefix, jet)

    def _ticket(self, reg: RegisterState, day: date, timestamp: str, operator_id: int) -> tuple[str, int]:
        """Draws, signs and queues one ticket with its lines and payments; returns (type, id)."""
        kind, original, lines, payments = self._draw_ticket(reg, day)
        amounts = ticket_amounts(lines)
        ticket_id = self._next_id("tickets")
        reg.ticket_number += 1
        record = {
            **amounts,
            "timestamp": timestamp,
            "register_code": reg.code,
            "number": reg.ticket_number,
            "type": kind,
            "operator_code": self.operator_codes[operator_id],
            "original_register": reg.code if original else None,  # a refund undoes a sale of its own register
            "original_number": original.number if original else None,
            "lines_sha256": lines_digest(lines, self.skus),
            "payments_sha256": payments_digest(payments),
            "previous_signature": "",
        }
        self._seal("tickets", reg.id, ticket_payload(record),
                   (ticket_id, reg.id, reg.ticket_number, kind, timestamp, operator_id,
                    original.ticket_id if original else None, *(amounts[c] for c in AMOUNT_COLUMNS)))
        for line_no, line in enumerate(lines, start=1):
            self.rows["ticket_lines"].append((self._next_id("ticket_lines"), ticket_id, line_no, *line))
        for means, amount in payments:
            self.rows["payments"].append((self._next_id("payments"), ticket_id, means, amount))

        if kind != "training":  # training tickets are numbered and signed but count in no closure
            period = reg.periods["daily"]
            period[0] += 1
            for i, column in enumerate(AMOUNT_COLUMNS, start=1):
                period[i] += amounts[column]
            for means, amount in payments:
                reg.means["daily"][means] = reg.means["daily"].get(means, 0) + amount
        if kind == "sale":
            reg.recent_sales.append(Sale(ticket_id, reg.ticket_number, day, lines, payments))
            if len(reg.recent_sales) > RECENT_SALES_KEPT:
                del reg.recent_sales[0]
        return kind, ticket_id

    def _draw_ticket(self, reg: RegisterState, day: date):
        """(type, original sale or None, lines, payments): ~2 % refunds, ~1 % cancellations, ~0.5 % training."""
        rng = self.rng
        u = rng.random()
        kind = "refund" if u < 0.02 else "cancellation" if u < 0.03 else "training" if u < 0.035 else "sale"
        original = self._original_for(reg, day, kind)
        if original is None and kind in ("refund", "cancellation"):
            kind = "sale"  # nothing sold yet that it could undo
        if kind == "refund":
            picked = sorted(rng.sample(range(len(original.lines)), rng.randint(1, len(original.lines))))
            lines = [original.lines[i].negated() for i in picked]
        elif kind == "cancellation":
            lines = [line.negated() for line in original.lines]
        else:
            lines = draw_sale_lines(rng, self.catalogue)
        total = sum(line.line_total_ttc for line in lines)
        if kind == "refund":
            payments = refund_payments(original.payments, total)
        elif kind == "cancellation":
            payments = [(means, -amount) for means, amount in original.payments]
        else:
            payments = draw_payments(rng, total)
        return kind, original, lines, payments

    def _original_for(self, reg: RegisterState, day: date, kind: str) -> Sale | None:
        """A refund takes back a recent sale; a cancellation voids one of today's. Each sale once."""
        sales = reg.recent_sales
        if kind == "refund":
            candidates = len(sales)
        elif kind == "cancellation":
            candidates = 0
            while candidates < len(sales) and sales[-1 - candidates].day == day:
                candidates += 1
        else:
            return None
        if candidates == 0:
            return None
        return sales.pop(len(sales) - 1 - self.rng.randrange(candidates))

    def _duplicates(self, day, prefix, issued, jet, operator) -> None:
        if not issued:
            return
        reprints = []
        for _ in range(self.rng.randint(1, 4)):
            ticket_id, reg, seconds, number = issued[self.rng.randrange(len(issued))]
            later = min(seconds + self.rng.randint(30, 900), CLOSE - 1)
            reprints.append((later, reg.id, ticket_id, reg, number))
        for seconds, _, ticket_id, reg, number in sorted(reprints, key=lambda r: r[:3]):
            self.reprints[ticket_id] = self.reprints.get(ticket_id, 0) + 1
            reg.duplicate_number += 1
            operator_id = operator(reg, seconds)
            record = {
                "register_code": reg.code,
                "number": reg.duplicate_number,
                "ticket_number": number,
                "reprint_no": self.reprints[ticket_id],
                "timestamp": _clock(prefix, seconds, self.zone),
                "operator_code": self.operator_codes[operator_id],
                "previous_signature": "",
            }
            self._seal("duplicates", reg.id, duplicate_payload(record),
                       (self._next_id("duplicates"), reg.id, reg.duplicate_number, ticket_id, record["reprint_no"],
                        record["timestamp"], operator_id))
            detail = f"ticket {reg.code}/{number}, reprint {record['reprint_no']}"
            jet.append((seconds, reg, JET_DUPLICATE, detail, operator_id))

    def _close_periods(self, reg: RegisterState, day: date, prefix: str, seconds: int) -> list[tuple[str, int]]:
        """Daily Z every day; monthly on the month's last day; yearly on 31 December. Returns (kind, seconds)."""
        month_end = (day + timedelta(days=1)).month != day.month
        year_end = month_end and day.month == 12
        daily = reg.periods["daily"]
        reg.perpetual_ht += daily[AMOUNT_COLUMNS.index("total_ht") + 1]
        reg.perpetual_ttc += daily[AMOUNT_COLUMNS.index("total_ttc") + 1]
        _add_into(reg.periods["monthly"], daily)
        _add_means(reg.means["monthly"], reg.means["daily"])
        periods = [("daily", day, day)]
        if month_end:
            _add_into(reg.periods["yearly"], reg.periods["monthly"])
            _add_means(reg.means["yearly"], reg.means["monthly"])
            periods.append(("monthly", day.replace(day=1), day))
        if year_end:
            periods.append(("yearly", day.replace(month=1, day=1), day))
        closed = []
        for offset, (kind, first, last) in enumerate(periods):
            at = seconds + 20 * offset
            self._closure(reg, kind, first, last, _clock(prefix, at, self.zone))
            reg.periods[kind] = _empty_period()
            reg.means[kind] = {}
            closed.append((kind, at))
        return closed

    def _closure(self, reg: RegisterState, kind: str, first: date, last: date, timestamp: str) -> None:
        sums = reg.periods[kind]
        reg.closure_numbers[kind] += 1
        record = {
            **dict(zip(AMOUNT_COLUMNS, sums[1:])),
            "ticket_count": sums[0],
            "grand_total_perpetual_ht": reg.perpetual_ht,
            "grand_total_perpetual_ttc": reg.perpetual_ttc,
            "period_start": first.isoformat(),
            "period_end": last.isoformat(),
            "timestamp": timestamp,
            "register_code": reg.code,
            "kind": kind,
            "number": reg.closure_numbers[kind],
            "payments_by_means": means_text(reg.means[kind]),
            "previous_signature": "",
        }
        self._seal("closures", reg.id, closure_payload(record),
                   (self._next_id("closures"), reg.id, kind, record["number"], record["period_start"],
                    record["period_end"], timestamp, sums[0], *sums[1:], reg.perpetual_ht, reg.perpetual_ttc,
                    record["payments_by_means"]))

    def _jet(self, prefix: str, events: list[tuple]) -> None:
        # Python's sort is stable: events at the same second keep the order they were drawn in.
        for seconds, reg, (code, label), detail, operator_id in sorted(events, key=lambda e: e[0]):
            self.jet_seq += 1
            record = {
                "seq": self.jet_seq,
                "code": code,
                "register_code": reg.code if reg else None,
                "operator_code": self.operator_codes[operator_id] if operator_id is not None else None,
                "timestamp": _clock(prefix, seconds, self.zone),
                "label": label,
                "detail": detail,
                "previous_signature": "",
            }
            self._seal("jet", None, jet_payload(record),
                       (self._next_id("jet"), self.jet_seq, reg.id if reg else None, code, label, detail,
                        record["timestamp"], operator_id))

    # signatures: each record's payload ends with its previous_signature, so a record's payload made with
    # previous_signature '' plus the signature of the one before it in its chain is what is signed. A chain
    # (one table of one register, or the JET) depends only on itself, so chains can be signed apart.

    def _seal(self, table: str, register_id: int | None, payload: str, head: tuple) -> None:
        """Queues the row `head` + (previous_signature, signature) into `table`: signed now without a pool; with
        one, left for flush() to complete once the pool has signed the day's chains."""
        chain = (table, register_id)
        rows = self.rows[table]
        if self.pool is None:
            previous = self.chain_ends.get(chain, "")
            signature = sign(self.key, payload + previous)
            self.chain_ends[chain] = signature
            rows.append((*head, previous, signature))
        else:
            self.unsigned.setdefault(chain, []).append((table, len(rows), payload))
            rows.append(head)

    def flush(self, tag=None) -> list:
        """Writes the rows of the days whose signatures are made; returns their tags. Without a pool, that is the
        day just drawn. With one, this day's chains go to the pool and the day before is written meanwhile: the
        rows reach the database in the same order, in the same statements, so the file has the same bytes."""
        if self.pool is None:
            self._insert(self.rows)
            return [tag]
        written = []
        if self.in_flight is not None:
            written = [self._complete()]
        chains = list(self.unsigned.items())
        self.unsigned = {}
        # Balance the chains over the workers, longest first (the JET is one chain, a register's tickets another).
        groups: list[list] = [[] for _ in range(max(1, self.workers))]
        loads = [0] * len(groups)
        for chain, items in sorted(chains, key=lambda c: -len(c[1])):
            g = loads.index(min(loads))
            groups[g].append((chain, items))
            loads[g] += len(items)
        groups = [g for g in groups if g]
        futures = [self.pool.submit(_sign_chains, self.seed,
                                    [(self.chain_ends.get(chain, ""), [p for _, _, p in items]) for chain, items in g])
                   for g in groups]
        self.in_flight = (tag, self.rows, groups, futures)
        self.rows = {table: [] for table in self.ids}
        if written:
            self._insert(self._written_rows)
        return written

    def finish(self) -> list:
        """With a pool: waits for the last day's signatures and writes it. Returns the tags written."""
        if self.in_flight is None:
            return []
        tag = self._complete()
        self._insert(self._written_rows)
        return [tag]

    def _complete(self):
        tag, rows, groups, futures = self.in_flight
        self.in_flight = None
        for group, future in zip(groups, futures):
            for (chain, items), signatures in zip(group, future.result()):
                previous = self.chain_ends.get(chain, "")
                for (table, index, _), signature in zip(items, signatures):
                    rows[table][index] = (*rows[table][index], previous, signature)
                    previous = signature
                self.chain_ends[chain] = previous
        self._written_rows = rows
        return tag

    def _insert(self, rows: dict[str, list[tuple]]) -> None:
        for table, columns in (
            ("tickets", TICKET_COLUMNS),
            ("ticket_lines", LINE_COLUMNS),
            ("payments", PAYMENT_COLUMNS),
            ("closures", CLOSURE_COLUMNS),
            ("jet", JET_COLUMNS),
            ("duplicates", DUPLICATE_COLUMNS),
        ):
            self.conn.executemany(_insert(table, columns), rows[table])
            rows[table].clear()


_WORKER_KEYS: dict = {}


def _sign_chains(seed: int, jobs: list[tuple[str, list[str]]]) -> list[list[str]]:
    """In a worker process: [(previous signature, payloads without it)] -> each chain's signatures, in order."""
    key = _WORKER_KEYS.get(seed)
    if key is None:
        key = _WORKER_KEYS[seed] = derive_private_key(seed)
    out = []
    for previous, payloads in jobs:
        signatures = []
        for payload in payloads:
            previous = sign(key, payload + previous)
            signatures.append(previous)
        out.append(signatures)
    return out


def _add_means(target: dict[str, int], source: dict[str, int]) -> None:
    for means, amount in source.items():
        target[means] = target.get(means, 0) + amount


def _add_into(target: list[int], source: list[int]) -> None:
    for i, value in enumerate(source):
        target[i] += value


def generate(
    path: str | os.PathLike,
    days: int = 30,
    tickets_per_day: int = 400,
    seed: int = 1,
    start: date = DEFAULT_START,
    registers: int = 2,
    zone: str | None = None,
    night_sales: int = 0,
    task=None,
    workers: int = 0,
) -> dict[str, int]:
    """Writes a new sample shop database at `path`; returns the row count of every table. `task(n)` (a progress
    task, pipeline/progress.py) is told of each day's tickets. `workers` > 0 signs in that many processes while
    the next day is drawn (Ed25519 signing is half the time of a build): the same bytes, faster on 2 cores or more.

    Same arguments, same rows: nothing here reads the clock. The file is built under
    `path + '.tmp'` and renamed at the end, so a half-built database never has the final name.
    """
    path = Path(path)
    if days < 1 or tickets_per_day < 0 or not 1 <= registers <= 20:
        raise ValueError("days must be at least 1, tickets_per_day at least 0, registers between 1 and 20")
    if path.exists():
        raise FileExistsError(errno.EEXIST, "refusing to overwrite an existing file", str(path))
    tmp = Path(f"{path}.tmp")
    _remove_database(tmp)  # leftovers of an interrupted build are ours to discard
    try:
        conn = sqlite3.connect(tmp, isolation_level=None)
        pool = None
        if workers > 0:
            import concurrent.futures
            import multiprocessing
            # fork where there is one: a spawned worker would import the caller's main script again. The workers
            # use nothing of this process but _sign_chains (not its open database) and end with os._exit.
            method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
            pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context(method))
        try:
            summary = _build(conn, days, tickets_per_day, seed, start, registers, zone, night_sales, task,
                             pool, workers)
        finally:
            conn.close()
            if pool is not None:
                pool.shutdown(cancel_futures=True)
        _fsync(tmp)
        _publish(tmp, path)
        _fsync(path.parent)
    except BaseException:
        _remove_database(tmp)
        raise
    return summary


def _build(conn: sqlite3.Connection, days: int, tickets_per_day: int, seed: int, start: date, registers: int,
           zone: str | None = None, night_sales: int = 0, task=None, pool=None, workers: int = 0):
    # No journal and no fsync while building: the .tmp file is thrown away if anything fails.
    conn.execute("PRAGMA journal_mode=OFF")
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages stay in memory between batches
    conn.executescript(schema_sql())
    builder = ShopBuilder(conn, seed, start, registers, tickets_per_day, zone, night_sales, pool, workers)
    conn.execute("BEGIN")
    builder.write_reference_data()

    def written(offset: int) -> None:  # a day's rows are in: commit every COMMIT_EVERY_DAYS days written
        if task is not None:
            task(tickets_per_day + night_sales)
        if offset % COMMIT_EVERY_DAYS == COMMIT_EVERY_DAYS - 1:
            conn.execute("COMMIT")
            conn.execute("BEGIN")

    for offset in range(days):
        builder.day(start + timedelta(days=offset))
        for done in builder.flush(offset):
            written(done)
    for done in builder.finish():
        written(done)
    conn.execute("COMMIT")
    summary = {table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] for table in TABLES}
    # A live till runs in WAL mode; the setting is stored in the file and stays after close.
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    return summary


def _publish(tmp: Path, path: Path) -> None:
    """Gives the finished file its name, never over a file that appeared meanwhile."""
    try:
        os.link(tmp, path)  # fails atomically if `path` exists, unlike a rename
    except FileExistsError:
        raise FileExistsError(errno.EEXIST, "refusing to overwrite an existing file", str(path)) from None
    except OSError:  # a file system without hard links: check, then rename
        if path.exists():
            raise FileExistsError(errno.EEXIST, "refusing to overwrite an existing file", str(path)) from None
        os.replace(tmp, path)
        return
    tmp.unlink()


def _remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# --- keeping the shop selling --------------------------------------------------------


class SaleComposer:
    """Draws and signs one sale after a register's chain end: the rows a till inserts, whatever database it runs on.

    `state` is read from the database: registers [(id, code)], operator codes {id: code}, products
    [(id, label, unit_price_cents, vat_rate_bp)] and skus {id: sku}."""

    def __init__(self, seed: int, registers: list, operator_codes: dict, products: list, skus: dict,
                 public_keys: set[str], where: str):
        self.key = derive_private_key(seed)
        if public_key_b64(self.key.public_key()) not in public_keys:
            raise ValueError(f"seed {seed} does not give the till key stored in {where}; its chains would not verify")
        self.rng = random.Random(f"coffre-sale-writer:{seed}")
        products = [Product(*row) for row in products]
        self.catalogue = Catalogue(products, [float(i) for i in range(1, len(products) + 1)])
        self.registers = list(registers)
        self.operator_codes = dict(operator_codes)
        self.operators = list(self.operator_codes)
        self.skus = dict(skus)

    def draw(self) -> tuple:
        """(register_id, register_code, operator_id, lines, amounts, payments, step), drawn before the transaction."""
        rng = self.rng
        register_id, register_code = rng.choice(self.registers)
        operator_id = rng.choice(self.operators)
        lines = draw_sale_lines(rng, self.catalogue)
        amounts = ticket_amounts(lines)
        payments = draw_payments(rng, amounts["total_ttc"])
        return register_id, register_code, operator_id, lines, amounts, payments, rng.randint(1, 30)

    def sign(self, drawn: tuple, last: tuple | None, latest: str | None, closed: str | None) -> dict:
        """The rows of the sale after `last` = (number, signature) of its register (None: its first): {"ticket":
        values of TICKET_COLUMNS[1:], "lines": [values of LINE_COLUMNS[2:]], "payments": [(means, amount)]}."""
        register_id, register_code, operator_id, lines, amounts, payments, step = drawn
        number, previous = (last[0] + 1, last[1]) if last else (1, "")
        timestamp = _next_sale_time(latest, closed, step)
        record = {
            **amounts,
            "timestamp": timestamp,
            "register_code": register_code,
            "number": number,
            "type": "sale",
            "operator_code": self.operator_codes[operator_id],
            "lines_sha256": lines_digest(lines, self.skus),
            "payments_sha256": payments_digest(payments),
            "previous_signature": previous,
        }
        signature = sign(self.key, ticket_payload(record))
        return {
            "ticket": (register_id, number, "sale", timestamp, operator_id, None,
                       *(amounts[c] for c in AMOUNT_COLUMNS), previous, signature),
            "lines": [(line_no, *line) for line_no, line in enumerate(lines, start=1)],
            "payments": list(payments),
        }


class SaleWriter:
    """Appends signed sale tickets to an existing sample database, one short transaction each, like the till."""

    def __init__(self, path: str | os.PathLike, seed: int = 1):
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(errno.ENOENT, "no sample database here", str(path))
        self.conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        try:
            self.composer = SaleComposer(
                seed, self.conn.execute("SELECT id, code FROM registers ORDER BY id").fetchall(),
                dict(self.conn.execute("SELECT id, code FROM operators ORDER BY id").fetchall()),
                self.conn.execute("SELECT id, label, unit_price_cents, vat_rate_bp FROM products ORDER BY id").fetchall(),
                dict(self.conn.execute("SELECT id, sku FROM products").fetchall()),
                {row[0] for row in self.conn.execute("SELECT public_key_b64 FROM till_keys")}, str(path))
        except ValueError:
            self.conn.close()
            raise
        self.last_ticket_id: int | None = None

    def commit_ticket(self) -> float:
        """Appends one sale to a register's chain; returns how long the transaction took, in seconds."""
        drawn = self.composer.draw()
        register_id = drawn[0]
        began = time.perf_counter()
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")  # take the write lock before reading the chain's end
        try:
            last = conn.execute(
                "SELECT number, signature FROM tickets WHERE register_id = ? ORDER BY number DESC LIMIT 1",
                (register_id,),
            ).fetchone()
            latest = conn.execute("SELECT max(timestamp) FROM tickets").fetchone()[0]
            closed = conn.execute("SELECT max(period_end) FROM closures WHERE kind = 'daily'").fetchone()[0]
            rows = self.composer.sign(drawn, last, latest, closed)
            cursor = conn.execute(_insert("tickets", TICKET_COLUMNS[1:]), rows["ticket"])
            ticket_id = cursor.lastrowid
            conn.executemany(_insert("ticket_lines", LINE_COLUMNS[1:]), [(ticket_id, *line) for line in rows["lines"]])
            conn.executemany(_insert("payments", PAYMENT_COLUMNS[1:]),
                             [(ticket_id, means, amount) for means, amount in rows["payments"]])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        self.last_ticket_id = ticket_id
        return time.perf_counter() - began

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> SaleWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _next_sale_time(latest: str | None, closed_through: str | None, step: int) -> str:
    """`step` seconds after the latest ticket, but never on a day whose Z is already made:
    a sale there would make that day's closure stop adding up."""
    fmt = "%Y-%m-%dT%H:%M:%SZ"
    candidates = [datetime.combine(DEFAULT_START, datetime.min.time()) + timedelta(seconds=OPEN)]
    if latest is not None:
        candidates.append(datetime.strptime(latest, fmt))
    if closed_through is not None:
        next_day = date.fromisoformat(closed_through) + timedelta(days=1)
        candidates.append(datetime.combine(next_day, datetime.min.time()) + timedelta(seconds=OPEN))
    return (max(candidates) + timedelta(seconds=step)).strftime(fmt)
