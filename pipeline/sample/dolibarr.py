"""A Dolibarr-shaped sample shop on a real MariaDB: TakePOS sales, payments, cash desk closings and the unalterable
log (llx_blockedlog) sealed as Dolibarr seals it, V1 rows and then, with the instance's secret, V2 rows.

Dolibarr's real table and column names and types (htdocs/install/mysql/tables/llx_*.sql, the llx_ prefix, a
representative subset of columns). Deterministic from the seed: the same arguments write the same rows.

How the rows are sealed is BlockedLog::create() (htdocs/blockedlog/class/blockedlog.class.php): the key is built from
the values in memory (dol_now() as an int, (float) amounts), the signature is sha256 (V1, Dolibarr 18 to 22) or
HMAC-SHA256 with the clear BLOCKEDLOG_HMAC_KEY (V2, Dolibarr 23) of the previous signature of the entity followed by
the key, the first one linked to BLOCKEDLOG_ENTITY_FINGERPRINT (llx_const). Dates go to the table through
$db->idate(): V1 in the PHP server's zone (here Europe/Paris, the zone Coffre's journals use by default), V2 in UTC.
The key is built here from those in-memory values, not by the recipe: the sample test then proves the recipe
(which reads the stored rows back, as checkSignature() does) finds every seal.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from datetime import date, datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

from pipeline.chains import php
from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.snapshot.mariadb_client import parse, quote_name, quote_text
from pipeline.snapshot.mariadb_sample import BATCH_BYTES, SAMPLE_RIGHTS, feed_client

ZONE = ZoneInfo("Europe/Paris")  # the PHP server's date.timezone: 'tzserver' dates are written in it
ENTITY = 1
V1_VERSION, V2_VERSION = "21.0.4", "23.0.0"
TERMINALS = ("1", "2")
COMPANY = {"name": "Fromagerie du Marché", "address": "12 rue des Halles / Bât. A", "zip": "69001", "town": "Lyon",
           "country_code": "FR", "idprof1": "123456789", "idprof2": "12345678900012", "tva_assuj": 1,
           "tva_intra": "FR12123456789", "capital": "10000"}
CUSTOMER = {"name": "Client comptoir", "country_code": "FR", "idprof1": "", "idprof2": "", "tva_intra": "",
            "tva_assuj": 1, "code_client": "CU2401-00001"}
USERS = ((1, "admin", "Martin", "Hélène"), (2, "caisse2", "Lefèvre", "Jean-Noël"))
# (rowid, ref, label, TTC price, VAT rate, weighed): a weighed product sells by the kilo (qty 0.35 and so on).
PRODUCTS = ((1, "COMTE-18", "Comté 18 mois (kg)", "27.90", "5.5", True), (2, "PAIN-EPI", "Pain d'épices 1/2", "6.40", "5.5", False),
            (3, "CAFE", "Café \"serré\"", "2.35", "10", False), (4, "VIN-RGE", "Côtes-du-Rhône 75cl", "11.90", "20", False),
            (5, "PLAT-JOUR", "Plat du jour", "14.50", "10", False), (6, "TARTE", "Tarte aux myrtilles", "4.20", "5.5", False))
# llx_c_paiement as Dolibarr installs it (id, code, label); TakePOS's default buttons: cash, card, cheque.
PAYMENT_MODES = ((4, "LIQ", "Espèces"), (6, "CB", "Carte bancaire"), (7, "CHQ", "Chèque"))

TABLES = {
    "llx_const": """(
  rowid integer AUTO_INCREMENT PRIMARY KEY, name varchar(180) NOT NULL, entity integer DEFAULT 1 NOT NULL,
  value text NOT NULL, type varchar(64) DEFAULT 'string', visible tinyint DEFAULT 1 NOT NULL, note text,
  tms timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, UNIQUE KEY uk_const (name, entity))""",
    "llx_user": """(
  rowid integer AUTO_INCREMENT PRIMARY KEY, entity integer DEFAULT 1 NOT NULL, login varchar(50) NOT NULL,
  lastname varchar(50), firstname varchar(50), datec datetime, statut tinyint DEFAULT 1)""",
    "llx_product": """(
  rowid integer AUTO_INCREMENT PRIMARY KEY, ref varchar(128) NOT NULL, entity integer DEFAULT 1 NOT NULL,
  label varchar(255) NOT NULL, price double(24,8) DEFAULT 0, price_ttc double(24,8) DEFAULT 0,
  price_base_type varchar(3) DEFAULT 'HT', tva_tx double(7,4), fk_product_type integer DEFAULT 0,
  tosell tinyint DEFAULT 1)""",
    "llx_c_paiement": """(
  id integer AUTO_INCREMENT PRIMARY KEY, entity integer DEFAULT 1 NOT NULL, code varchar(6) NOT NULL,
  libelle varchar(128), type smallint, active tinyint DEFAULT 1 NOT NULL, position integer DEFAULT 0)""",
    "llx_facture": """(
  rowid integer AUTO_INCREMENT PRIMARY KEY, ref varchar(30) NOT NULL, entity integer DEFAULT 1 NOT NULL,
  ref_client varchar(255), type smallint DEFAULT 0 NOT NULL, fk_soc integer NOT NULL, datec datetime, datef date,
  date_valid datetime, tms timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, paye smallint DEFAULT 0 NOT NULL,
  total_tva double(24,8) DEFAULT 0, localtax1 double(24,8) DEFAULT 0, localtax2 double(24,8) DEFAULT 0,
  revenuestamp double(24,8) DEFAULT 0, total_ht double(24,8) DEFAULT 0, total_ttc double(24,8) DEFAULT 0,
  fk_statut smallint DEFAULT 0 NOT NULL, fk_user_author integer, fk_user_valid integer,
  fk_facture_source integer, fk_mode_reglement integer, module_source varchar(32), pos_source varchar(32),
  pos_print_counter integer DEFAULT 0, multicurrency_code varchar(3), UNIQUE KEY uk_facture_ref (ref, entity))""",
    "llx_facturedet": """(
  rowid integer AUTO_INCREMENT PRIMARY KEY, fk_facture integer NOT NULL, fk_parent_line integer,
  fk_product integer NULL, label varchar(255) DEFAULT NULL, description text, vat_src_code varchar(10) DEFAULT '',
  tva_tx double(7,4), localtax1_tx double(7,4) DEFAULT 0, localtax2_tx double(7,4) DEFAULT 0, qty real,
  remise_percent real DEFAULT 0, subprice double(24,8), total_ht double(24,8), total_tva double(24,8),
  total_localtax1 double(24,8) DEFAULT 0, total_localtax2 double(24,8) DEFAULT 0, total_ttc double(24,8),
  product_type integer DEFAULT 0, info_bits integer DEFAULT 0, special_code integer DEFAULT 0, rang integer DEFAULT 0,
  multicurrency_code varchar(3))""",
    "llx_paiement": """(
  rowid integer AUTO_INCREMENT PRIMARY KEY, ref varchar(30) NOT NULL, entity integer DEFAULT 1 NOT NULL,
  datec datetime, tms timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, datep datetime,
  amount double(24,8) DEFAULT 0, multicurrency_amount double(24,8) DEFAULT 0, fk_paiement integer NOT NULL,
  num_paiement varchar(50), note text, fk_bank integer DEFAULT 0 NOT NULL, fk_user_creat integer,
  fk_user_modif integer, statut smallint DEFAULT 0 NOT NULL, pos_change double(24,8) DEFAULT 0)""",
    "llx_paiement_facture": """(
  rowid integer AUTO_INCREMENT PRIMARY KEY, fk_paiement integer, fk_facture integer, amount double(24,8) DEFAULT 0,
  multicurrency_code varchar(3), multicurrency_tx double(24,8) DEFAULT 1, multicurrency_amount double(24,8) DEFAULT 0,
  UNIQUE KEY uk_paiement_facture (fk_paiement, fk_facture))""",
    "llx_pos_cash_fence": """(
  rowid integer AUTO_INCREMENT PRIMARY KEY, entity integer DEFAULT 1 NOT NULL, ref varchar(64), label varchar(255),
  opening double(24,8) DEFAULT 0, cash double(24,8) DEFAULT 0, card double(24,8) DEFAULT 0,
  cheque double(24,8) DEFAULT 0, status integer, date_creation datetime NOT NULL, date_valid datetime,
  day_close integer, month_close integer, year_close integer, posmodule varchar(30), posnumber varchar(30),
  fk_user_creat integer, fk_user_valid integer, tms timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  import_key varchar(14))""",
    "llx_blockedlog": """(
  rowid integer AUTO_INCREMENT PRIMARY KEY, entity integer DEFAULT 1 NOT NULL, date_creation datetime,
  action varchar(50), module_source varchar(32) DEFAULT '', pos_source varchar(32) DEFAULT '',
  amounts_taxexcl double(24,8) DEFAULT NULL, amounts double(24,8) NOT NULL, ref_object varchar(255),
  date_object datetime, user_fullname varchar(255), object_data mediumtext, linktoref text, linktype varchar(16),
  type_code varchar(16), signature varchar(100) NOT NULL, element varchar(50), fk_user integer, fk_object integer,
  object_version varchar(32) DEFAULT '', object_format varchar(16) DEFAULT 'V1', certified integer,
  note varchar(255), tms timestamp DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP, debuginfo mediumtext,
  KEY idx_entity_action (entity, action))""",
}

CENT = Decimal("0.01")


def _money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)  # price2num(..., 'MT'): PHP round(), half away from zero


def _server_time(ts: int) -> str:
    """$db->idate($ts) with 'tzserver': the PHP server's local time."""
    return datetime.fromtimestamp(ts, ZONE).strftime("%Y-%m-%d %H:%M:%S")


def _utc_time(ts: int) -> str:
    """$db->idate($ts, 'gmt')."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%d %H:%M:%S")


def _ts(day: date, hour: int, minute: int, second: int = 0) -> int:
    return int(datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=ZONE).timestamp())


class _Shop:
    """The rows of every table, in insertion order, and the unalterable log sealed as they are written."""

    def __init__(self, rng: random.Random, secret: bytes | None):
        self.rng, self.secret = rng, secret
        self.rows: dict[str, list[list]] = {table: [] for table in TABLES}
        self.fingerprint = hashlib.sha256(rng.getrandbits(256).to_bytes(32, "big")).hexdigest()
        self.previous = self.fingerprint  # getPreviousHash() of an empty log: getOrInitFirstSignature()
        self.counters: dict[str, int] = {}

    def add(self, table: str, row: list) -> int:
        self.rows[table].append(row)
        return len(self.rows[table])

    def next_ref(self, prefix: str, ts: int) -> str:
        """Dolibarr's default numbering (mod_facture_terre, mod_payment_cicada): PREFIXyymm-nnnn per month."""
        yymm = datetime.fromtimestamp(ts, ZONE).strftime("%y%m")
        key = prefix + yymm
        self.counters[key] = self.counters.get(key, 0) + 1
        return f"{prefix}{yymm}-{self.counters[key]:04d}"

    def log(self, fmt: str, created: int, action: str, element: str, fk_object: int, ref: str, dated: int | None,
            amounts: float, user: tuple, data: dict, module_source: str = "", pos_source: str = "",
            amounts_taxexcl: float | None = None, type_code: str = "", linktoref: str = "", linktype: str = "") -> None:
        """BlockedLog::create(): the key from the values in memory, the seal, the row as the INSERT writes it."""
        fullname = f"{user[3]} {user[2]}" if user else "(Anonymous)"
        object_json = php.json_encode(data, force_object=True)
        date_object = "" if dated is None else dated
        if fmt == "V1":
            key = "|".join([str(created), action, php.string(float(amounts)), ref, php.string(date_object), fullname,
                            object_json])
            signature = hashlib.sha256((self.previous + key).encode("utf-8")).hexdigest()
            stored_created = _server_time(created)
            stored_object = None if dated is None else _server_time(dated)
            # Rows of Dolibarr < 23 have no value in the columns the 23 migration added.
            module_source = pos_source = ""
            amounts_taxexcl, type_code, linktoref, linktype = None, "", "", ""
            version = V1_VERSION
        else:
            parts = [str(ENTITY), str(created), action, module_source, pos_source,
                     "" if amounts_taxexcl is None else php.string(float(amounts_taxexcl)), php.string(float(amounts)),
                     ref, php.string(date_object), fullname]
            if type_code:
                parts.append(type_code)
            parts += [linktoref, linktype, object_json]
            key = "|".join(parts)
            signature = hmac.new(self.secret, (self.previous + key).encode("utf-8"), hashlib.sha256).hexdigest()
            stored_created = _utc_time(created)
            stored_object = None if dated is None else _utc_time(dated)
            version = V2_VERSION
        self.previous = signature
        self.add("llx_blockedlog", [
            len(self.rows["llx_blockedlog"]) + 1, ENTITY, stored_created, action, module_source, pos_source,
            amounts_taxexcl, float(amounts), ref, stored_object, fullname, php.json_encode(data), linktoref or None,
            linktype or None, type_code, signature, element, user[0] if user else 0, fk_object, version, fmt, 0,
            None, _utc_time(created), None])


def _invoice_data(ref: str, kind: int, day_ts: int, totals: tuple, terminal: str, lines: list, link: str | None) -> dict:
    """setObjectData() for a customer invoice (Facture): company, customer, the qualified fields, the lines."""
    data: dict = {}
    if link:
        data["link"] = link
    data["thirdparty"] = dict(CUSTOMER)
    data["mycompany"] = dict(COMPANY)
    ht, tva, ttc = totals
    data.update({"ref": ref, "type": kind, "date": day_ts, "total_ht": ht, "total_tva": tva, "total_ttc": ttc,
                 "localtax1": 0, "localtax2": 0, "revenuestamp": 0, "module_source": "takepos",
                 "pos_source": terminal, "pos_print_counter": 1})
    data["invoiceline"] = {str(i + 1): line for i, line in enumerate(lines)}
    return data


def _generate(days: int, invoices_per_day: int, seed: int, start: date, secret: bytes | None) -> _Shop:
    rng = random.Random(seed)
    shop = _Shop(rng, secret)
    installed = _utc_time(_ts(start, 8, 0))
    shop.add("llx_const", [1, "MAIN_INFO_SOCIETE_NOM", ENTITY, COMPANY["name"], "chaine", 0, None, installed])
    shop.add("llx_const", [2, "BLOCKEDLOG_ENTITY_FINGERPRINT", ENTITY, shop.fingerprint, "chaine", 0,
                           "Numeric Unique Fingerprint", installed])
    for uid, login, last, first in USERS:
        shop.add("llx_user", [uid, ENTITY, login, last, first, f"{start:%Y-%m-%d} 08:00:00", 1])
    for pid, ref, label, ttc, rate, _weighed in PRODUCTS:
        ht = (Decimal(ttc) / (1 + Decimal(rate) / 100)).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)
        shop.add("llx_product", [pid, ref, ENTITY, label, float(ht), float(Decimal(ttc)), "TTC", float(rate), 0, 1])
    for mid, code, label in PAYMENT_MODES:
        shop.add("llx_c_paiement", [mid, ENTITY, code, label, 2, 1, 0])

    switch = days // 2 if secret is not None else days  # an upgraded instance: V1 days, then V2 days
    opened = _ts(start, 8, 0)
    shop.log("V1", opened, "MODULE_SET", "module", 1, "systemevent", opened, 0.0, USERS[0],
             {"id": 1, "ref": "systemevent", "entity": ENTITY, "date": opened})
    earlier: list[tuple] = []  # (invoice rowid, ref, terminal, lines) the refunds may take back
    for n in range(days):
        day = start + timedelta(days=n)
        fmt = "V1" if n < switch else "V2"
        midnight = _ts(day, 0, 0)
        by_terminal: dict[str, dict[str, Decimal]] = {t: {"LIQ": Decimal(0), "CB": Decimal(0), "CHQ": Decimal(0)}
                                                      for t in TERMINALS}
        moment = _ts(day, 9, 0)
        # The day's sales fit between 09:00 and 19:50, before the closings at 20:00, however many there are: each
        # sale and its payments take at most `budget` seconds (a quarter of an hour apart on a quiet day).
        budget = (19 * 3600 + 50 * 60 - 9 * 3600) // (invoices_per_day + 1)
        step = (min(60, budget // 3), min(900, 2 * budget // 3))
        pay_step = (min(5, budget // 6), min(40, budget // 6))
        sales = [(False, None)] * invoices_per_day
        if earlier and rng.random() < 0.5:
            sales.insert(rng.randrange(len(sales) + 1), (True, rng.choice(earlier)))
        for refund, original in sales:
            moment += rng.randint(*step)
            terminal = original[2] if refund else rng.choice(TERMINALS)
            user = USERS[TERMINALS.index(terminal) % len(USERS)]
            if refund:
                picked = [(pid, -qty) for pid, qty in original[3][:1]]
            else:
                picked = []
                for pid in rng.sample(range(1, len(PRODUCTS) + 1), rng.randint(1, 4)):
                    weighed = PRODUCTS[pid - 1][5]
                    picked.append((pid, Decimal(rng.randint(150, 900)) / 1000 if weighed else Decimal(rng.randint(1, 3))))
            lines, rows, total = [], [], [Decimal(0)] * 3
            for rang, (pid, qty) in enumerate(picked, 1):
                _pid, pref, label, ttc, rate, _w = PRODUCTS[pid - 1]
                rate_d = Decimal(rate)
                line_ttc = _money(Decimal(ttc) * qty)
                line_ht = _money(line_ttc / (1 + rate_d / 100))
                line_tva = line_ttc - line_ht
                subprice = (Decimal(ttc) / (1 + rate_d / 100)).quantize(Decimal("0.00000001"), rounding=ROUND_HALF_UP)
                total = [total[0] + line_ht, total[1] + line_tva, total[2] + line_ttc]
                rows.append((pid, label, float(rate_d), float(qty), float(subprice), float(line_ht), float(line_tva),
                             float(line_ttc), rang))
                lines.append({"ref": pref, "product_type": 0, "product_label": label, "qty": float(qty),
                              "subprice": float(subprice), "vat_src_code": "", "tva_tx": float(rate_d),
                              "localtax1_tx": 0, "localtax2_tx": 0, "total_ht": float(line_ht),
                              "total_tva": float(line_tva), "total_ttc": float(line_ttc), "total_localtax1": 0,
                              "total_localtax2": 0, "multicurrency_code": "EUR", "info_bits": 0, "special_code": 0,
                              "remise_percent": 0})
            ht, tva, ttc = (float(x) for x in total)
            kind = 2 if refund else 0
            ref = shop.next_ref("AV" if refund else "FA", moment)
            fid = len(shop.rows["llx_facture"]) + 1
            shop.add("llx_facture", [
                fid, ref, ENTITY, None, kind, 1, _server_time(moment - 30), f"{day:%Y-%m-%d}", _server_time(moment),
                _utc_time(moment), 1, tva, 0, 0, 0, ht, ttc, 2, user[0], user[0], original[0] if refund else None, 4, "takepos",
                terminal, 1, "EUR"])
            for pid, label, rate_f, qty_f, sub, lht, ltva, lttc, rang in rows:
                shop.add("llx_facturedet", [len(shop.rows["llx_facturedet"]) + 1, fid, None, pid, label, label, "",
                                            rate_f, 0, 0, qty_f, 0, sub, lht, ltva, 0, 0, lttc, 0, 0, 0, rang, "EUR"])
            link = f"credit_note_of {original[1]}" if refund else None
            shop.log(fmt, moment, "BILL_VALIDATE", "facture", fid, ref, midnight, ttc, user,
                     _invoice_data(ref, kind, midnight, (ht, tva, ttc), terminal, lines, link),
                     module_source="takepos", pos_source=terminal, amounts_taxexcl=ht,
                     linktoref=original[1] if refund else "", linktype="credit_note_of" if refund else "")
            if not refund:
                earlier.append((fid, ref, terminal, picked))
            # The customer pays: one means, or cash and card (TakePOS's split), a refund given back in cash.
            if refund:
                parts = [("LIQ", total[2])]
            elif rng.random() < 0.2 and total[2] > 5:
                cash = _money(total[2] * Decimal("0.4"))
                parts = [("LIQ", cash), ("CB", total[2] - cash)]
            else:
                parts = [(rng.choice(("LIQ", "CB", "CB", "CHQ")), total[2])]
            for code, amount in parts:
                moment += rng.randint(*pay_step)
                mode = next(m for m in PAYMENT_MODES if m[1] == code)
                pref = shop.next_ref("PAY", moment)
                pay_id = len(shop.rows["llx_paiement"]) + 1
                shop.add("llx_paiement", [pay_id, pref, ENTITY, _server_time(moment), _utc_time(moment), _server_time(moment),
                                          float(amount), float(amount), mode[0], "", "", 0, user[0], None, 0, 0])
                shop.add("llx_paiement_facture", [len(shop.rows["llx_paiement_facture"]) + 1, pay_id, fid,
                                                  float(amount), "EUR", 1, float(amount)])
                by_terminal[terminal][code] += amount
                part = {"amount": float(amount), "invoice": {"ref": ref, "type": kind, "total_ht": ht, "total_tva": tva,
                                                             "total_ttc": ttc, "localtax1": 0, "localtax2": 0,
                                                             "pos_source": terminal, "module_source": "takepos",
                                                             "pos_print_counter": 1}}
                shop.log(fmt, moment, "PAYMENT_CUSTOMER_CREATE", "payment", pay_id, pref, moment, float(amount), user,
                         {"ref": pref, "date": moment, "type_code": code, "payment_part": {"1": part},
                          "amount": float(amount)},
                         module_source="takepos", pos_source=terminal, type_code=code, linktoref=ref,
                         linktype="payment")
        # Each terminal's cash desk closing (CashControl::valid(): CASHCONTROL_VALIDATE before Dolibarr 23,
        # CASHCONTROL_CLOSE after), the day's takings per means as counted.
        for k, terminal in enumerate(TERMINALS):
            closed = _ts(day, 20, 0) + 60 * k
            sums = by_terminal[terminal]
            fence = len(shop.rows["llx_pos_cash_fence"]) + 1
            shop.add("llx_pos_cash_fence", [fence, ENTITY, str(fence), "", 0.0, float(sums["LIQ"]), float(sums["CB"]),
                                            float(sums["CHQ"]), 1, _server_time(closed - 120), _server_time(closed),
                                            day.day, day.month, day.year, "takepos", terminal, USERS[0][0],
                                            USERS[0][0], _utc_time(closed), None])
            takings = float(sums["LIQ"] + sums["CB"] + sums["CHQ"])
            shop.log(fmt, closed, "CASHCONTROL_VALIDATE" if fmt == "V1" else "CASHCONTROL_CLOSE", "cashcontrol", fence,
                     str(fence), closed - 120, takings, USERS[0],
                     {"id": fence, "entity": ENTITY, "ref": str(fence), "opening": 0, "cash": float(sums["LIQ"]),
                      "card": float(sums["CB"]), "cheque": float(sums["CHQ"]), "day_close": day.day,
                      "month_close": day.month, "year_close": day.year, "posmodule": "takepos", "posnumber": terminal,
                      "date_creation": closed - 120, "period": f"{day:%Y-%m-%d}"},
                     module_source="takepos", pos_source=terminal)
    return shop


def _literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int):
        return str(value)
    return quote_text(str(value))


def load_sample(spec: str, days: int, invoices_per_day: int, seed: int, start: date,
                secret: bytes | None) -> dict[str, int]:
    """Writes the Dolibarr sample into the spec's database (its tables created, every row in one transaction);
    returns {table: rows}. Refuses (UsageError) a database that already holds one of its tables."""
    server = parse(spec)
    there = {r[0] for r in server.query("SELECT TABLE_NAME FROM information_schema.TABLES "
                                        "WHERE TABLE_SCHEMA = DATABASE()", rights=SAMPLE_RIGHTS)}
    clash = sorted(set(TABLES) & there, key=lambda t: (t != "llx_blockedlog", t))
    if clash:
        raise UsageError(_("The MariaDB database {database} on {server} already holds a table {table}: the "
                           "sample is only written into a database without its tables.").format(
            database=server.database, server=server.server(), table=clash[0]))
    shop = _generate(days, invoices_per_day, seed, start, secret)
    feed_client(server, lambda out: _send(out, shop))
    return {table: len(rows) for table, rows in shop.rows.items()}


def _send(out, shop: _Shop) -> None:
    out.write(b"SET NAMES utf8mb4;\nSET time_zone = '+00:00';\n")
    for table, body in TABLES.items():
        # DDL commits by itself: the tables first, then the rows in one transaction
        out.write(f"CREATE TABLE {quote_name(table)} {body} ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;\n".encode())
    out.write(b"SET autocommit=0;\nSTART TRANSACTION;\n")
    for table, rows in shop.rows.items():
        head = f"INSERT INTO {quote_name(table)} VALUES ".encode()
        batch: list[bytes] = []
        size = 0
        for row in rows:
            values = ("(" + ",".join(map(_literal, row)) + ")").encode()
            batch.append(values)
            size += len(values) + 1
            if size >= BATCH_BYTES:
                out.write(head + b",".join(batch) + b";\n")
                batch, size = [], 0
        if batch:
            out.write(head + b",".join(batch) + b";\n")
    out.write(b"COMMIT;\n")
