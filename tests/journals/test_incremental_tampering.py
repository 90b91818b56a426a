"""An incremental journals run set against a full check of the same database, after each way we found to tamper.

Every scenario starts from a clean archive run, changes the till's database (or what Coffre kept
beside its config), runs `coffre archive` again and then `coffre journals export` (which checks
everything). The run must report what the full check reports, and its journals (opened with age,
zstd and tar) must hold the very rows the export writes. The scenarios marked xfail are real gaps
of the incremental run, kept here so that they document themselves until they are fixed.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import struct
import tomllib
from collections import Counter

import pytest

from conftest import run_coffre
from test_incremental import cache_dir, sell
from test_journals_in_runs import JOURNALS, open_journals

from pipeline.sample.chain import (closure_payload, derive_private_key, duplicate_payload, jet_payload, key_id,
                                   means_text, public_key_b64, sign, ticket_payload)
from pipeline.archive import journals_state_key
from pipeline.journals.cache import state_seal
from pipeline.journals.connection import add_functions, open_snapshot
from pipeline.keys import signing
from pipeline.sample.generate import AMOUNT_COLUMNS, Line, lines_digest, payments_digest, ticket_amounts

KEY = derive_private_key(7)  # the sample shop of conftest.py is built with --seed 7
REWRITTEN = {"tail_deleted", "chain_changed"}  # said only by a run that holds a checkpoint, never by an export
KEYS_SINCE = {"till_key_added", "till_key_removed"}  # said by a run against the last run's keys, never by an export


def require(ok: bool, what) -> None:
    """A scenario's own setting up: a RuntimeError, so that an xfail (raises=AssertionError) never hides it."""
    if not ok:
        raise RuntimeError(what)


# --- running coffre -------------------------------------------------------------------------------------


class Shop:
    """A store (conftest.py) and the commands of these tests. Each test's coffre gets a temp folder of its
    own: an archive clears every scratch folder of its store id in the temp folder, and other sessions on
    this machine run stores named `boutique` too."""

    def __init__(self, store, tmp_path):
        self.store, self.tmp = store, tmp_path
        self.env = {"TMPDIR": str(tmp_path / "coffre-tmp")}
        (tmp_path / "coffre-tmp").mkdir()
        self.n = 0

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(self.store.db, isolation_level=None)

    def change(self, fn) -> None:
        conn = self.db()
        try:
            conn.execute("BEGIN")
            fn(conn, self)
            conn.execute("COMMIT")
        finally:
            conn.close()

    def archive(self) -> dict:
        res = run_coffre("archive", "--config", self.store.config, "--yes", "--json", env=self.env)
        out = json.loads(res.out) if res.code in (0, 5) else {}
        # Every copy saved: exit 0, or 5 when the run needs a person (which a finding always does).
        require(res.code in (0, 5) and res.code == (5 if out["attention"] else 0) and (res.code == 5 or not out["findings"]), res)
        return out

    def full_check(self):
        self.n += 1
        out = self.tmp / f"full-{self.n}"
        res = run_coffre("journals", "export", "--config", self.store.config, "--out", out, env=self.env)
        found = keys(json.loads((out / "findings.json").read_text(encoding="utf-8"))["findings"])
        require(res.code == (5 if found else 0), res)
        return out, found

    def run_journals(self, summary: dict):
        self.n += 1
        run = self.store.destinations[0] / self.store.store_id / summary["run_id"]
        return open_journals(run, self.store.identity, self.tmp / f"run-{self.n}")

    def state(self) -> dict:
        return json.loads((cache_dir(self.store) / "state.json").read_text(encoding="utf-8"))

    def save_state(self, state: dict, reseal: bool = True) -> None:
        """`reseal`: sealed again with the store's key, as Coffre seals it, so that what the run does with the edited
        values is what is tested (a bug of Coffre's own); else as an edit without the key leaves it."""
        if reseal:
            state = dict(state, seal=state_seal(self.state_key(), state))
        (cache_dir(self.store) / "state.json").write_text(json.dumps(state), encoding="utf-8")

    def state_key(self) -> bytes:
        cfg = tomllib.loads(self.store.config.read_text())
        return journals_state_key(signing.load_secret(self.store.config.parent / cfg["signing"]["secret_key_file"]))


def keys(findings: list[dict]) -> set[tuple]:
    return {(f["journal"], f["check"], json.dumps(f["record"], sort_keys=True)) for f in findings}


def kinds(found: set[tuple]) -> set[tuple]:
    return {(j, c) for j, c, _ in found}


def same_records(run_folder, full_folder) -> None:
    """Row for row (as multisets: a run appends its new rows after the kept ones) what the export wrote."""
    for name in JOURNALS:
        got = (run_folder / f"{name}.csv").read_text(encoding="utf-8").splitlines()
        want = (full_folder / f"{name}.csv").read_text(encoding="utf-8").splitlines()
        assert got[0] == want[0], f"{name}.csv header"
        assert Counter(got) == Counter(want), f"{name}.csv: only in the run {sorted((Counter(got) - Counter(want)))[:2]}, " \
                                              f"only in the export {sorted((Counter(want) - Counter(got)))[:2]}"
        got_j = json.loads((run_folder / f"{name}.json").read_text(encoding="utf-8"))
        want_j = json.loads((full_folder / f"{name}.json").read_text(encoding="utf-8"))
        assert Counter(json.dumps(r, sort_keys=True) for r in got_j) == \
            Counter(json.dumps(r, sort_keys=True) for r in want_j), f"{name}.json"


def as_full_check(shop: Shop, summary: dict, incremental: bool) -> set[tuple]:
    """The run's findings and journals against a full check of the same database; returns its findings."""
    j = summary["journals"]
    assert j is not None, summary.get("warnings")
    assert j["checked"] == ("new records only" if incremental else "all records"), j
    full, want = shop.full_check()
    got = keys(summary["findings"])
    got = {f for f in got if f[1] not in KEYS_SINCE}
    if incremental:
        assert got == want, f"only in the run: {sorted(got - want)}; only in the full check: {sorted(want - got)}"
    else:  # a run that checks everything may also say what its checkpoint saw deleted
        assert want <= got and {c for _, c, _ in got - want} <= REWRITTEN, (sorted(got - want), sorted(want - got))
    same_records(shop.run_journals(summary), full)
    return want


# --- writing to the till's database as a till (or a tamperer) would -------------------------------------


def register_id(conn, code: str) -> int:
    return conn.execute("SELECT id FROM registers WHERE code = ?", (code,)).fetchone()[0]


def last_ts(conn) -> str:
    return conn.execute("SELECT max(timestamp) FROM tickets").fetchone()[0]


def next_day(conn) -> str:
    """The day after the last closed one: a sale there goes into no closure yet."""
    from datetime import date, timedelta
    closed = conn.execute("SELECT max(period_end) FROM closures WHERE kind = 'daily'").fetchone()[0]
    return (date.fromisoformat(closed) + timedelta(days=1)).isoformat()


def lines_of(conn, products) -> list[Line]:
    out = []
    for pid, qty in products:
        label, price, rate = conn.execute("SELECT label, unit_price_cents, vat_rate_bp FROM products WHERE id = ?",
                                          (pid,)).fetchone()
        out.append(Line(pid, label, qty, price, 0, rate, qty * price))
    return out


def add_line(conn, ticket_id: int, line_no: int, product_id: int = 2, qty: int = 1) -> None:
    conn.execute("INSERT INTO ticket_lines (ticket_id, line_no, product_id, label, quantity, unit_price_cents, "
                 "discount_cents, vat_rate_bp, line_total_ttc) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (ticket_id, line_no, *lines_of(conn, [(product_id, qty)])[0]))


def ticket(conn, code="CAISSE-01", *, number=None, prev=None, ts=None, kind="sale", products=((1, 1),), tid=None,
           rid=None, original=None, key=KEY, with_lines=True, paid=True) -> int:
    """A signed ticket with its lines and payment, by default the next one of its register's chain."""
    rid = rid or register_id(conn, code)
    last = conn.execute("SELECT number, signature FROM tickets WHERE register_id = ? ORDER BY number DESC LIMIT 1",
                        (rid,)).fetchone() or (0, "")
    number = last[0] + 1 if number is None else number
    prev = last[1] if prev is None else prev
    ts = ts or f"{next_day(conn)}T10:00:00Z"
    lines = lines_of(conn, products)
    amounts = ticket_amounts(lines)
    skus = dict(conn.execute("SELECT id, sku FROM products").fetchall())
    signed_lines = lines_digest(lines if with_lines else [], skus)
    signed_payments = payments_digest([("card", amounts["total_ttc"])] if paid else [])
    orig = conn.execute("SELECT r.code, t.number FROM tickets t JOIN registers r ON r.id = t.register_id "
                        "WHERE t.id = ?", (original,)).fetchone() if original else None
    signature = sign(key, ticket_payload(dict(amounts, timestamp=ts, register_code=code, number=number, type=kind,
                                              operator_code="OP01", original_register=orig and orig[0],
                                              original_number=orig and orig[1], lines_sha256=signed_lines,
                                              payments_sha256=signed_payments, previous_signature=prev)))
    cols = ["id", "register_id", "number", "type", "timestamp", "operator_id", "original_ticket_id", *AMOUNT_COLUMNS,
            "previous_signature", "signature"]
    vals = [tid, rid, number, kind, ts, 1, original, *(amounts[c] for c in AMOUNT_COLUMNS), prev, signature]
    tid = conn.execute(f"INSERT INTO tickets ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", vals).lastrowid
    for n, (pid, qty) in enumerate(products if with_lines else (), start=1):
        add_line(conn, tid, n, pid, qty)
    if paid:
        conn.execute("INSERT INTO payments (ticket_id, means, amount_cents) VALUES (?, 'card', ?)",
                     (tid, amounts["total_ttc"]))
    return tid


def closure(conn, code: str, day: str, *, off_by: int = 0, number=None) -> None:
    """A signed daily Z of `day` holding its tickets' sums (total_ttc off by `off_by`)."""
    rid = register_id(conn, code)
    sums = conn.execute("SELECT count(*), " + ", ".join(f"COALESCE(sum({c}), 0)" for c in AMOUNT_COLUMNS) +
                        " FROM tickets WHERE register_id = ? AND substr(timestamp, 1, 10) = ? AND type <> 'training'",
                        (rid, day)).fetchone()
    amounts = dict(zip(AMOUNT_COLUMNS, sums[1:]))
    amounts["total_ttc"] += off_by
    prev = conn.execute("SELECT signature FROM closures WHERE register_id = ? ORDER BY id DESC LIMIT 1", (rid,)).fetchone()[0]
    if number is None:
        number = conn.execute("SELECT max(number) + 1 FROM closures WHERE register_id = ? AND kind = 'daily'",
                              (rid,)).fetchone()[0]
    ght, gttc = conn.execute("SELECT grand_total_perpetual_ht, grand_total_perpetual_ttc FROM closures WHERE register_id = ? "
                             "AND kind = 'daily' ORDER BY number DESC LIMIT 1", (rid,)).fetchone()
    ght, gttc = ght + amounts["total_ht"], gttc + amounts["total_ttc"]
    ts = f"{day}T19:30:00Z"
    means = means_text(dict(conn.execute(
        "SELECT p.means, sum(p.amount_cents) FROM payments p JOIN tickets t ON t.id = p.ticket_id WHERE t.register_id = ? "
        "AND substr(t.timestamp, 1, 10) = ? AND t.type <> 'training' GROUP BY 1", (rid, day)).fetchall()))
    rec = dict(amounts, ticket_count=sums[0], grand_total_perpetual_ht=ght, grand_total_perpetual_ttc=gttc,
               period_start=day, period_end=day, timestamp=ts, register_code=code, kind="daily", number=number,
               payments_by_means=means, previous_signature=prev)
    cols = ["register_id", "kind", "number", "period_start", "period_end", "timestamp", "ticket_count", *AMOUNT_COLUMNS,
            "grand_total_perpetual_ht", "grand_total_perpetual_ttc", "payments_by_means", "previous_signature",
            "signature"]
    vals = [rid, "daily", number, day, day, ts, sums[0], *(amounts[c] for c in AMOUNT_COLUMNS), ght, gttc, means, prev,
            sign(KEY, closure_payload(rec))]
    conn.execute(f"INSERT INTO closures ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", vals)
    # As the till does: every Z leaves its event in the JET.
    jet(conn, register=rid, signed_register=code, code=80, label="daily closure", detail=f"Z daily {number}")


def jet(conn, *, register=None, operator=None, signed_register=None, signed_operator=None, detail="no sale",
        code=50, label="drawer opened without sale") -> None:
    """A signed JET event; the signature covers `signed_register`/`signed_operator` (codes), the row holds the ids."""
    seq, prev = conn.execute("SELECT seq, signature FROM jet ORDER BY seq DESC LIMIT 1").fetchone()
    ts = f"{next_day(conn)}T08:00:00Z"
    rec = dict(seq=seq + 1, code=code, register_code=signed_register, operator_code=signed_operator, timestamp=ts,
               label=label, detail=detail, previous_signature=prev)
    conn.execute("INSERT INTO jet (seq, register_id, code, label, detail, timestamp, operator_id, previous_signature, "
                 "signature) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                 (seq + 1, register, code, label, detail, ts, operator, prev, sign(KEY, jet_payload(rec))))


def duplicate(conn, code: str, ticket_id: int, ticket_number: int, ts=None) -> None:
    rid = register_id(conn, code)
    number, prev = conn.execute("SELECT number, signature FROM duplicates WHERE register_id = ? ORDER BY number DESC "
                                "LIMIT 1", (rid,)).fetchone()
    ts = ts or f"{next_day(conn)}T11:00:00Z"
    rec = dict(register_code=code, number=number + 1, ticket_number=ticket_number, reprint_no=1, timestamp=ts,
               operator_code="OP01", previous_signature=prev)
    conn.execute("INSERT INTO duplicates (register_id, number, ticket_id, reprint_no, timestamp, operator_id, "
                 "previous_signature, signature) VALUES (?, ?, ?, 1, ?, 1, ?, ?)",
                 (rid, number + 1, ticket_id, ts, prev, sign(KEY, duplicate_payload(rec))))
    jet(conn, register=rid, signed_register=code, code=60, label="ticket duplicate printed",
        detail=f"ticket {code}/{ticket_number}, reprint 1")


def next_id(conn, table: str) -> int:
    return conn.execute(f"SELECT max(id) + 1 FROM {table}").fetchone()[0]


# --- rows added after a clean run: checked alone, the same findings as a full check -----------------------


def _sales_refund_and_training(conn, shop):
    for code in ("CAISSE-02", "CAISSE-01", "CAISSE-02"):
        ticket(conn, code)
    ticket(conn, "CAISSE-01", kind="refund", original=40, products=((1, -1),))
    ticket(conn, "CAISSE-02", kind="training")


def _second_key_new_register_and_product(conn, shop):
    k2 = derive_private_key(99)
    pub = k2.public_key()
    conn.execute("INSERT INTO till_keys (key_id, algorithm, public_key_b64, valid_from) VALUES (?, 'ed25519', ?, ?)",
                 (key_id(pub), public_key_b64(pub), f"{next_day(conn)}T00:00:00Z"))
    ticket(conn, "CAISSE-01", key=k2)
    ticket(conn, "CAISSE-01")
    conn.execute("INSERT INTO registers (code, label, opened_on) VALUES ('CAISSE-03', 'Caisse 3', ?)", (next_day(conn),))
    pid = conn.execute("INSERT INTO products (sku, label, unit_price_cents, vat_rate_bp, category) "
                       "VALUES ('3700000000001', 'Nouveauté', 250, 1000, 'frais')").lastrowid
    ticket(conn, "CAISSE-03", products=((pid, 2),))
    ticket(conn, "CAISSE-03")


def _duplicate_jet_and_huge_rowid(conn, shop):
    duplicate(conn, "CAISSE-02", 40, conn.execute("SELECT number FROM tickets WHERE id = 40").fetchone()[0])
    jet(conn, register=1, operator=2, signed_register="CAISSE-01", signed_operator="OP02")
    ticket(conn, "CAISSE-01", tid=2 ** 62)
    ticket(conn, "CAISSE-02")


def _line_on_old_ticket(conn, shop):
    add_line(conn, 40, 99)


def _payment_on_old_ticket_line_on_old_training_ticket(conn, shop):
    conn.execute("INSERT INTO payments (ticket_id, means, amount_cents) VALUES (40, 'cash', 100)")
    add_line(conn, conn.execute("SELECT min(id) FROM tickets WHERE type = 'training'").fetchone()[0], 99)


def _closures_that_add_up(conn, shop):
    ticket(conn, "CAISSE-01")
    ticket(conn, "CAISSE-02", products=((3, 2), (50, 1)))
    day = next_day(conn)
    closure(conn, "CAISSE-01", day)
    closure(conn, "CAISSE-02", day)


def _closures_off_and_skipped(conn, shop):
    ticket(conn, "CAISSE-01")
    ticket(conn, "CAISSE-02")
    day = next_day(conn)
    closure(conn, "CAISSE-01", day, off_by=5)
    closure(conn, "CAISSE-02", day, number=5)  # 3 is the last one


def _unlinked_and_altered_tickets(conn, shop):
    ticket(conn, "CAISSE-01", prev="not the signature of the ticket before")
    tid = ticket(conn, "CAISSE-02")
    conn.execute("UPDATE tickets SET total_ttc = total_ttc + 1 WHERE id = ?", (tid,))
    conn.execute("UPDATE payments SET amount_cents = amount_cents + 1 WHERE ticket_id = ?", (tid,))


def _new_register_not_from_one(conn, shop):
    conn.execute("INSERT INTO registers (code, label, opened_on) VALUES ('CAISSE-00', 'Caisse 0', ?)", (next_day(conn),))
    ticket(conn, "CAISSE-00", number=3, prev="a ticket that is not there")


def _amounts_past_64_bits(conn, shop):
    """Two new tickets of one day whose totals and payments (2**62 each, twice) add up past a 64-bit integer, where
    SQLite's sum() stops: their day's Z and each ticket's payments are still held to them."""
    tids = [ticket(conn, "CAISSE-01"), ticket(conn, "CAISSE-01")]
    closure(conn, "CAISSE-01", next_day(conn))
    for tid in tids:
        conn.execute("UPDATE tickets SET total_ttc = ? WHERE id = ?", (2 ** 62, tid))
        conn.execute("UPDATE payments SET amount_cents = ? WHERE ticket_id = ?", (2 ** 62, tid))
        conn.execute("INSERT INTO payments (ticket_id, means, amount_cents) VALUES (?, 'cash', ?)", (tid, 2 ** 62))


def _new_ticket_signed_by_a_blob(conn, shop):
    tid = ticket(conn, "CAISSE-01")
    ticket(conn, "CAISSE-01")
    conn.execute("UPDATE tickets SET signature = X'01022a' WHERE id = ?", (tid,))


def _new_texts_not_utf8(conn, shop):
    """A bit flipped on the till's disk in a new ticket's time, and in a new JET event's label."""
    tid = ticket(conn, "CAISSE-02")
    ticket(conn, "CAISSE-02")
    conn.execute("UPDATE tickets SET timestamp = CAST(timestamp || X'ff' AS TEXT) WHERE id = ?", (tid,))
    jet(conn, register=1, signed_register="CAISSE-01")
    conn.execute("UPDATE jet SET label = CAST(X'80' || label AS TEXT) WHERE seq = (SELECT max(seq) FROM jet)")


def _new_ticket_on_a_closed_day(conn, shop):
    """Found by review: an older Z whose day gets a new ticket was summed again for its totals, not for its means."""
    day = conn.execute("SELECT period_start FROM closures c JOIN registers r ON r.id = c.register_id WHERE "
                       "r.code = 'CAISSE-02' AND c.kind = 'daily' ORDER BY c.number LIMIT 1").fetchone()[0]
    ticket(conn, "CAISSE-02", ts=f"{day}T12:00:00Z")


APPENDS = {
    "sales on both registers, a refund, a training ticket": (_sales_refund_and_training, set()),
    "a second till key, a new register and product": (_second_key_new_register_and_product, set()),
    "a duplicate, a JET event, a ticket at rowid 2**62": (_duplicate_jet_and_huge_rowid, set()),
    # An older ticket's signature covers the digests of its lines and payments: one that gets a new line or payment
    # no longer verifies, and its exported row changes, so the run checks everything (TOUCH_OLD).
    "a line added to an old ticket": (_line_on_old_ticket, {("tickets", "ticket_lines"), ("closures", "closure_lines"),
                                                            ("tickets", "signature")}),
    "a payment added to an old ticket, a line to an old training ticket": (
        _payment_on_old_ticket_line_on_old_training_ticket, {("tickets", "payments"), ("tickets", "ticket_lines"),
                                                              ("tickets", "signature"), ("closures", "closure_means")}),
    "closures that add up": (_closures_that_add_up, set()),
    "a closure that does not add up, a closure number skipped": (
        _closures_off_and_skipped, {("closures", "closure_total"), ("closures", "breakdown"), ("closures", "numbering_gap")}),
    "a new ticket not linked to the last one, another altered after signing": (
        _unlinked_and_altered_tickets, {("tickets", "chain_link"), ("tickets", "signature"), ("tickets", "breakdown")}),
    "a new register whose chain starts at 3": (_new_register_not_from_one,
                                               {("tickets", "chain_link"), ("tickets", "numbering_gap")}),
    "a new ticket whose signature is a blob": (_new_ticket_signed_by_a_blob,
                                               {("tickets", "signature"), ("tickets", "chain_link")}),
    "texts that are not UTF-8 in new records": (_new_texts_not_utf8, {("tickets", "signature"), ("jet", "signature")}),
    "a new ticket on a day a Z already closed": (_new_ticket_on_a_closed_day, {
        ("closures", "closure_total"), ("closures", "closure_lines"), ("closures", "closure_means")}),
    "amounts that add up past 64 bits": (_amounts_past_64_bits, {
        ("tickets", "signature"), ("tickets", "breakdown"), ("tickets", "payments"), ("closures", "closure_total"),
        ("closures", "closure_means")}),
}


@pytest.mark.parametrize("name", list(APPENDS))
def test_appended_rows_are_checked_alone_and_found_as_a_full_check_finds_them(store, tmp_path, name):
    mutate, expected = APPENDS[name]
    shop = Shop(store, tmp_path)
    assert shop.archive()["findings"] == []
    shop.change(mutate)
    found = as_full_check(shop, shop.archive(), incremental=name not in TOUCH_OLD)
    assert kinds(found) == expected, sorted(found)


TOUCH_OLD = {"a line added to an old ticket", "a payment added to an old ticket, a line to an old training ticket"}


def test_day_sums_carried_over_runs_hold_a_later_closure(store, tmp_path):
    """Sales over two incremental runs, their day's Z in a third: the closure is held to the day sums kept."""
    shop = Shop(store, tmp_path)
    shop.archive()
    sell(store.db, 6)
    assert shop.archive()["journals"]["checked"] == "new records only"
    sell(store.db, 3)
    assert shop.archive()["findings"] == []

    def closures(conn, shop):
        day = conn.execute("SELECT substr(max(timestamp), 1, 10) FROM tickets").fetchone()[0]
        closure(conn, "CAISSE-01", day, off_by=7)
        closure(conn, "CAISSE-02", day)
    shop.change(closures)
    found = as_full_check(shop, shop.archive(), incremental=True)
    assert sorted((j, c, json.loads(r)["register"]) for j, c, r in found) == [("closures", "breakdown", "CAISSE-01"),
                                                                           ("closures", "closure_total", "CAISSE-01")]


# --- any change to rows already checked: the run checks everything again --------------------------------


def _drop_ticket_number_index(conn, shop):
    conn.execute("DROP INDEX tickets_register_number")


def _operator_code_changed(conn, shop):
    conn.execute("UPDATE operators SET code = 'OP09' WHERE code = 'OP02'")  # same length: the row stays in place


def _newest_ticket_deleted(conn, shop):
    conn.execute("DELETE FROM tickets WHERE id = (SELECT max(id) FROM tickets)")


def _newest_ticket_replaced_at_its_rowid(conn, shop):
    tid, number, prev, code = conn.execute(
        "SELECT t.id, t.number, t.previous_signature, r.code FROM tickets t JOIN registers r ON r.id = t.register_id "
        "ORDER BY t.id DESC LIMIT 1").fetchone()
    ts = last_ts(conn)
    for table in ("ticket_lines", "payments"):
        conn.execute(f"DELETE FROM {table} WHERE ticket_id = ?", (tid,))
    conn.execute("DELETE FROM tickets WHERE id = ?", (tid,))
    assert ticket(conn, code, number=number, prev=prev, ts=ts, products=((5, 1),)) == tid  # SQLite reuses the rowid


def _pre_last_rowid(conn, shop):
    ticket(conn, "CAISSE-02", kind="training", tid=2 ** 63 - 1, ts=last_ts(conn))


def _sales_after_last_rowid(conn, shop):
    ticket(conn, "CAISSE-01")  # SQLite can only pick a free rowid below the largest now
    ticket(conn, "CAISSE-02")


def _vacuum(conn, shop):
    conn.execute("COMMIT")
    conn.execute("VACUUM")
    conn.execute("BEGIN")


def _new_column(conn, shop):
    conn.execute("ALTER TABLE tickets ADD COLUMN note TEXT DEFAULT 'x'")


def _overflowing_row(conn, shop):
    jet(conn, detail="x" * 20000)


def _number_used_again(conn, shop):
    number, sig = conn.execute("SELECT number, signature FROM tickets WHERE register_id = 1 ORDER BY number DESC").fetchone()
    ticket(conn, "CAISSE-01", number=number, prev=sig)


def _number_below_the_last(conn, shop):
    number, sig = conn.execute("SELECT number, signature FROM tickets WHERE register_id = 1 ORDER BY number DESC").fetchone()
    ticket(conn, "CAISSE-01", number=number - 3, prev=sig)


CHANGES = {
    "an operator's code rewritten in place": (None, _operator_code_changed, "operators"),
    "the newest checked ticket deleted": (None, _newest_ticket_deleted, "tickets"),
    "the newest checked ticket replaced at its rowid": (None, _newest_ticket_replaced_at_its_rowid, "have changed"),
    "sales after a row at the largest rowid": (_pre_last_rowid, _sales_after_last_rowid, "tickets"),
    "VACUUM": (None, _vacuum, ""),
    "a new column": (None, _new_column, "schema"),
    "a row that overflows its page": (None, _overflowing_row, "overflow"),
    "a ticket number used again": (_drop_ticket_number_index, _number_used_again, "added before"),
    "a ticket number below the chain's last": (_drop_ticket_number_index, _number_below_the_last, "added before"),
}


@pytest.mark.parametrize("name", list(CHANGES))
def test_a_change_to_checked_rows_makes_the_run_check_everything(store, tmp_path, name):
    before, mutate, because = CHANGES[name]
    shop = Shop(store, tmp_path)
    if before:
        shop.change(before)
    assert shop.archive()["findings"] == []
    shop.change(mutate)
    summary = shop.archive()
    as_full_check(shop, summary, incremental=False)
    assert because in summary["journals"]["all_records_because"], summary["journals"]


def _evening_tickets_replaced(conn, shop):
    """The tickets the evening checked go, and as many others, signed by the till's key, take their numbers."""
    rid = register_id(conn, "CAISSE-01")
    for (tid,) in conn.execute("SELECT id FROM tickets WHERE register_id = ? ORDER BY number DESC LIMIT 3",
                               (rid,)).fetchall():
        for table in ("ticket_lines", "payments"):
            conn.execute(f"DELETE FROM {table} WHERE ticket_id = ?", (tid,))
        conn.execute("DELETE FROM tickets WHERE id = ?", (tid,))
    for _ in range(3):
        ticket(conn, "CAISSE-01", products=((2, 3),))


def _evening_tickets_deleted(conn, shop):
    rid = register_id(conn, "CAISSE-01")
    conn.execute("DELETE FROM tickets WHERE id IN (SELECT id FROM tickets WHERE register_id = ? ORDER BY number DESC "
                 "LIMIT 2)", (rid,))


EVENING_CHECKED = {"replaced": (_evening_tickets_replaced, "chain_changed"),
                   "deleted": (_evening_tickets_deleted, "tail_deleted")}


@pytest.mark.parametrize("name", list(EVENING_CHECKED))
def test_records_an_evening_checked_are_held_to_it_when_a_later_run_checks_everything(store, tmp_path, name):
    """Found by review: the chains' checkpoint moved on at full checks only. Records an evening verified, deleted or
    replaced since by others signed with the till's key, then passed a full check as never seen (exit 0)."""
    change, said = EVENING_CHECKED[name]
    shop = Shop(store, tmp_path)
    assert shop.archive()["findings"] == []
    shop.change(lambda conn, shop: [ticket(conn, "CAISSE-01") for _ in range(4)])
    evening = shop.archive()
    assert evening["journals"]["checked"] == "new records only" and evening["findings"] == [], evening
    shop.change(change)
    summary = shop.archive()
    assert summary["journals"]["checked"] == "all records", summary["journals"]
    found = [f for f in summary["findings"] if f["journal"] == "tickets" and f["check"] == said]
    assert found and all(f["record"].get("register") == "CAISSE-01" for f in found), summary["findings"]
    as_full_check(shop, summary, incremental=False)


def _new_ticket_altered(conn, shop):
    ticket(conn, "CAISSE-02")
    tid = ticket(conn, "CAISSE-02")
    ticket(conn, "CAISSE-02")
    conn.execute("UPDATE tickets SET operator_id = 2 WHERE id = ?", (tid,))  # after signing: its signature fails


def _new_ticket_unlinked(conn, shop):
    ticket(conn, "CAISSE-02")
    ticket(conn, "CAISSE-02", prev="not the last signature")
    ticket(conn, "CAISSE-02")


@pytest.mark.parametrize("change, said", [(_new_ticket_altered, "signature"), (_new_ticket_unlinked, "chain_link")],
                         ids=["altered", "unlinked"])
def test_a_record_an_evening_found_bad_is_said_again_by_every_run_after(store, tmp_path, change, said):
    """Found by review of the running digests: an evening moved its chain's checkpoint past a record whose signature
    failed, and the full check after it trusted that record: said once, never again."""
    shop = Shop(store, tmp_path)
    assert shop.archive()["findings"] == []
    shop.change(change)
    for n in range(3):
        summary = shop.archive()
        got = [f for f in summary["findings"] if f["journal"] == "tickets" and f["check"] == said]
        assert got and got[0]["record"]["register"] == "CAISSE-02", (n, summary["journals"], summary["findings"])


def test_a_checkpoint_an_older_coffre_wrote_is_still_held_to_its_whole_digest(store, tmp_path):
    """History written before the running digests: its chains' `digest` (a BLAKE3 of their records) still holds the
    records it covers; untouched, nothing is said."""
    shop = Shop(store, tmp_path)
    assert shop.archive()["findings"] == []
    history = store.config.parent / f"{store.config.stem}-state" / f"{store.store_id}.history.json"
    doc = json.loads(history.read_text(encoding="utf-8"))
    chains = doc["journal_checkpoint"]["chains"]
    assert all("digest" in cp and "chained" in cp for c in chains.values() for cp in c.values()), chains
    for c in chains.values():
        for cp in c.values():
            cp.pop("chained")
    history.write_text(json.dumps(doc), encoding="utf-8")
    (cache_dir(store) / "state.json").unlink()  # the next run checks everything, against that checkpoint
    assert shop.archive()["findings"] == []
    history.write_text(json.dumps(doc), encoding="utf-8")
    (cache_dir(store) / "state.json").unlink()
    shop.change(lambda conn, shop: conn.execute("UPDATE operators SET code = 'OP09' WHERE code = 'OP01'"))
    summary = shop.archive()
    assert ("tickets", "chain_changed") in kinds(keys(summary["findings"])), summary["findings"]


# --- what Coffre keeps beside its config: damaged, or a run killed half way -----------------------------


def _truncate_kept_frames(shop):
    kept = cache_dir(shop.store) / "jet.json.zst"
    kept.write_bytes(kept.read_bytes()[:-10])


def _delete_kept_frames(shop):
    (cache_dir(shop.store) / "payments.csv.zst").unlink()


def _swap_kept_frames(shop):
    a, b = cache_dir(shop.store) / "tickets.csv.zst", cache_dir(shop.store) / "payments.csv.zst"
    data = a.read_bytes()
    a.write_bytes(b.read_bytes())
    b.write_bytes(data)


def _state_not_json(shop):
    (cache_dir(shop.store) / "state.json").write_text("{not json", encoding="utf-8")


def _state_digest_changed(shop):
    state = shop.state()
    state["tables"]["operators"]["digest"] = "0" * 64
    shop.save_state(state)


def _history_save_lost(shop):
    """Killed after the kept frames and state.json were saved, before the history was."""
    history = shop.store.config.parent / f"{shop.store.config.stem}-state" / f"{shop.store.store_id}.history.json"
    before = history.read_bytes()
    sell(shop.store.db, 4)
    assert shop.archive()["journals"]["checked"] == "new records only"
    history.write_bytes(before)


def _commit_cut_short(shop):
    """Killed while appending the new frames: some kept files got theirs, state.json is still the last run's."""
    kept = {p.name: p.read_bytes() for p in cache_dir(shop.store).iterdir() if p.is_file()}
    sell(shop.store.db, 4)
    shop.archive()
    for i, (name, data) in enumerate(sorted(kept.items())):
        if name == "state.json" or i % 2:
            (cache_dir(shop.store) / name).write_bytes(data)


def _edited_state(change):
    def damage(shop):
        state = shop.state()
        change(state)
        shop.save_state(state)
    return damage


def _unsealed(change):
    def damage(shop):
        state = shop.state()
        change(state)
        shop.save_state(state, reseal=False)
    return damage


def _records_of_an_earlier_evening(shop):
    """Found by review: an older record put back beside the boundaries and counts of a later run (the kept files only
    grow, so it still matches them) dropped the sales in between."""
    earlier = shop.state()
    sell(shop.store.db, 4)
    assert shop.archive()["journals"]["checked"] == "new records only"
    state = shop.state()
    state["cache"] = earlier["cache"]
    shop.save_state(state, reseal=False)


def _pieces_garbage(state):
    for n, rec in enumerate(state["cache"].values()):
        rec["pieces"] = [[1, n % 2]] * rec["length"] if n % 2 else "zzz"


def _a_record_naming_a_path(state):
    state["cache"]["../../outside"] = next(iter(state["cache"].values()))


KEPT = {
    "kept frames cut short": (_truncate_kept_frames, False, "kept"),
    "the kept files' records not a mapping": (_edited_state(lambda s: s.update(cache="zzz")), False, "kept"),
    "the kept files' records gone": (_edited_state(lambda s: s.pop("cache")), False, "kept"),
    "a kept file's record not a mapping": (_edited_state(lambda s: s["cache"].update({"tickets.csv": 3})), False,
                                           "kept"),
    "a kept file's record naming a path": (_edited_state(_a_record_naming_a_path), False, "kept"),
    "a kept file's length negative": (_edited_state(lambda s: s["cache"]["jet.csv"].update(length=-5)), False,
                                      "kept"),
    # The cut is not followed, the files are: the run stays incremental, cut as the oldest runs cut.
    "the kept files' cuts edited": (_edited_state(_pieces_garbage), True, None),
    "a kept file's plain size gone": (_edited_state(lambda s: s["cache"]["tickets.json"].pop("plain")), False, "kept"),
    # A plain size or cut is taken on trust (a wrong size is a tar stock tools cannot read), and a record holds only
    # beside the boundaries written with it: the state is sealed with a key from the signing key, and a state edited
    # without that key is not followed.
    "a kept file's plain size edited": (_unsealed(lambda s: s["cache"]["tickets.csv"].update(plain=1000)), False,
                                        "not sealed"),
    "the kept files' records of an earlier evening": (_records_of_an_earlier_evening, False, "not sealed"),
    "the state's seal gone": (_unsealed(lambda s: s.pop("seal")), False, "not sealed"),
    "a day's sums edited": (_unsealed(lambda s: s["days"]["tickets"][0].__setitem__(-1, 1)), False, "not sealed"),
    "a kept frames file gone": (_delete_kept_frames, False, "kept"),
    "two kept frames files swapped": (_swap_kept_frames, False, "kept"),
    "state.json unreadable": (_state_not_json, False, "no checkpoint"),
    # A state an older Coffre wrote holds no running digest of its chains: the evening could not extend them.
    "the chains' running digests gone": (_edited_state(lambda s: [a.pop("chained") for c in s["chains"].values()
                                                                  for a in c.values()]), False, "running digest"),
    "a digest in state.json changed": (_state_digest_changed, False, "operators"),
    "the history save lost": (_history_save_lost, True, None),
    "the frames' commit cut short": (_commit_cut_short, True, None),
}


@pytest.mark.parametrize("name", list(KEPT))
def test_damaged_or_half_saved_state_never_makes_the_run_miss_anything(store, tmp_path, name):
    damage, incremental, because = KEPT[name]
    shop = Shop(store, tmp_path)
    shop.archive()
    damage(shop)
    sell(store.db, 3)
    summary = shop.archive()
    assert as_full_check(shop, summary, incremental=incremental) == set()
    if because:
        assert because in summary["journals"]["all_records_because"], summary["journals"]
    if incremental:  # and the run after starts from what that one left
        sell(store.db, 2)
        as_full_check(shop, shop.archive(), incremental=True)


# --- the page proof itself, table by table --------------------------------------------------------------

TABLES = {  # a column to rewrite in place (same length), and what makes copy n of row 1 unique
    "registers": ("label", {"code": "'CAISSE-9{n}'"}),
    "operators": ("name", {"code": "'OP9{n}'"}),
    "till_keys": ("valid_from", {"key_id": "'fffffffffffffff{n}'"}),
    "products": ("label", {"sku": "'370000000000{n}'"}),
    "tickets": ("timestamp", {"number": "9999{n}"}),
    "ticket_lines": ("label", {"line_no": "99{n}"}),
    "payments": ("amount_cents", {}),
    "closures": ("timestamp", {"number": "99{n}"}),
    "jet": ("label", {"seq": "9999{n}"}),
    "duplicates": ("timestamp", {"number": "99{n}"}),
}
OPS = ("rewrite the first row", "rewrite the newest row", "delete the newest row", "insert at rowid -1",
       "insert into a rowid gap", "append")


def _rewrite(conn, table: str, col: str, which: str) -> None:
    value = conn.execute(f"SELECT {col} FROM {table} WHERE id = {which}").fetchone()[0]
    new = value + 1 if isinstance(value, int) else ("3" if value[0] == "2" else "Z" if value[0] != "Z" else "Y") + value[1:]
    assert len(str(new)) == len(str(value))
    conn.execute(f"UPDATE {table} SET {col} = ? WHERE id = {which}", (new,))


def _copy_of_first_row(conn, table: str, n: int, rowid) -> None:
    unique = TABLES[table][1]
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
    conn.execute(f"INSERT INTO {table} (id, {', '.join(cols)}) SELECT {rowid}, "
                 f"{', '.join(unique[c].format(n=n) if c in unique else c for c in cols)} FROM {table} WHERE id = 1")


def _evidence(db, scratch, tables, recorded):
    from pipeline.journals.tail import page_evidence
    from pipeline.snapshot import open_source

    scratch.mkdir()
    snap = open_source(f"sqlite:{db}").take(scratch)
    ro = open_snapshot(snap.path)
    try:
        return page_evidence(snap.path, ro, tables, recorded)
    finally:
        ro.close()


@pytest.fixture(scope="module")
def page_base(tmp_path_factory, sample_db_template):
    """The sample shop with a gap in every table's rowids (a row at max + 2), and its page evidence."""
    from pipeline.journals.incremental import _tables_read
    from pipeline.journals.mapping import load_mapping

    folder = tmp_path_factory.mktemp("pages")
    base = folder / "caisse.db"
    shutil.copy(sample_db_template, base)
    conn = add_functions(sqlite3.connect(base))
    for table in TABLES:
        _copy_of_first_row(conn, table, 0, f"(SELECT max(id) + 2 FROM {table})")
    conn.commit()
    tables = _tables_read(conn, load_mapping())
    conn.close()
    return base, tables, _evidence(base, folder / "scratch", tables, None)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("table", list(TABLES))
def test_the_page_proof_sees_every_change_to_a_checked_row(page_base, tmp_path, table, op):
    """On the archive's own snapshot (SQLite backup API), with tail.page_evidence: any change to a row up to the
    rowid recorded is refused; a row appended after it is not."""
    from pipeline.journals.tail import NotTail

    base, tables, recorded = page_base
    db = tmp_path / "caisse.db"
    shutil.copy(base, db)
    col = TABLES[table][0]
    conn = sqlite3.connect(db)
    {"rewrite the first row": lambda: _rewrite(conn, table, col, f"(SELECT min(id) FROM {table})"),
     "rewrite the newest row": lambda: _rewrite(conn, table, col, f"(SELECT max(id) FROM {table})"),
     "delete the newest row": lambda: conn.execute(f"DELETE FROM {table} WHERE id = (SELECT max(id) FROM {table})"),
     "insert at rowid -1": lambda: _copy_of_first_row(conn, table, 1, -1),
     "insert into a rowid gap": lambda: _copy_of_first_row(conn, table, 2, f"(SELECT max(id) - 1 FROM {table})"),
     "append": lambda: _copy_of_first_row(conn, table, 3, f"(SELECT max(id) + 1 FROM {table})"),
     }[op]()
    conn.commit()
    conn.close()
    if op == "append":
        assert _evidence(db, tmp_path / "scratch", tables, recorded)[table]["upto"] == recorded[table]["upto"] + 1
    else:
        with pytest.raises(NotTail, match=f"rows of table {table} checked at the last run have changed"):
            _evidence(db, tmp_path / "scratch", tables, recorded)


# --- known gaps: the incremental run misses what the full check reports ----------------------------------


def _pre_rowid_column(conn, shop):
    conn.execute("ALTER TABLE operators ADD COLUMN rowid INTEGER")  # before the first run: that one checks all


def _rewrite_operator(conn, shop):
    conn.execute("UPDATE operators SET code = 'OP09' WHERE code = 'OP01'")


def _pre_ticket_of_unknown_register(conn, shop):
    # No line nor payment: those of a ticket not (yet) in the tickets journal are orphans, said at once.
    ticket(conn, "CAISSE-03", rid=3, number=1, prev="", ts=last_ts(conn), products=(), paid=False)


def _register_created(conn, shop):
    conn.execute("INSERT INTO registers (code, label, opened_on) VALUES ('CAISSE-03', 'Caisse 3', '2025-01-03')")


def _pre_jet_of_unknown_operator(conn, shop):
    jet(conn, operator=next_id(conn, "operators"), signed_operator=None)


def _operator_created(conn, shop):
    conn.execute("INSERT INTO operators (code, name) VALUES ('OP77', 'Nouvelle')")


def _index_entry_rewritten(conn, shop):
    """Ticket CAISSE-01/42 renumbered 99 in the index tickets_register_number only (raw bytes): its table row,
    which the page proof covers, is unchanged, but the journals' SQL reads `number` from that index."""
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'tickets_register_number'").fetchone()[0]
    conn.execute("BEGIN")
    path = shop.store.db
    data = bytearray(path.read_bytes())
    page_size = struct.unpack_from(">H", data, 16)[0]
    hits, pages = 0, [root]
    while pages:
        base = (pages.pop() - 1) * page_size
        interior = data[base] == 0x02
        ncells = struct.unpack_from(">H", data, base + 3)[0]
        if interior:
            pages.append(struct.unpack_from(">I", data, base + 8)[0])
        for i in range(ncells):
            at = base + struct.unpack_from(">H", data, base + (12 if interior else 8) + 2 * i)[0]
            if interior:
                pages.append(struct.unpack_from(">I", data, at)[0])
                at += 4
            at += 1  # payload size (one byte: small records)
            header, types = data[at], list(data[at + 1:at + 4])  # (register_id, number, rowid), all small ints
            # register_id 1 is serial type 9 (the constant 1, no bytes), number 42 one byte (serial type 1)
            if types[:2] == [9, 1] and data[at + header] == 42:
                data[at + header] = 99
                hits += 1
    require(hits == 1, f"{hits} index entries for CAISSE-01/42")
    path.write_bytes(bytes(data))


def _pre_nothing(conn, shop):
    pass


# Cases an incremental run used to miss (found by this file): each must now end in a run that either
# checks everything or matches the full check. The last one is still a gap, kept as a strict xfail.
GAPS = {
    "a `rowid` column hides changes to a table's rows": (
        _pre_rowid_column, _rewrite_operator, None, None),
    "a new register brings in an older ticket": (
        _pre_ticket_of_unknown_register, _register_created, None, None),
    "a new operator changes an older JET record": (
        _pre_jet_of_unknown_operator, _operator_created, None, None),
    "state.json's boundary raised": (
        _pre_nothing, None, "boundaries", None),
    "an index entry rewritten": (
        _pre_nothing, _index_entry_rewritten, None,
        "the page proof covers table b-trees only; the journals' SQL also reads values from index b-trees"),
}


@pytest.mark.parametrize("name", [
    pytest.param(n, marks=[pytest.mark.xfail(strict=True, raises=AssertionError, reason=GAPS[n][3])] if GAPS[n][3] else [])
    for n in GAPS])
def test_cases_an_incremental_run_once_missed(store, tmp_path, name):
    before, mutate, state_key, _ = GAPS[name]
    shop = Shop(store, tmp_path)
    shop.change(before)
    first = shop.archive()
    require(first["journals"]["checked"] == "all records" and first["findings"] == [], first["journals"])
    if mutate:
        shop.change(mutate)
    if state_key:
        state = shop.state()
        state[state_key]["payments"] += 3
        shop.save_state(state)
        sell(store.db, 5)
    summary = shop.archive()
    as_full_check(shop, summary, incremental=summary["journals"]["checked"] == "new records only")


def test_a_new_ticket_with_a_text_number_still_leaves_journals_in_the_run(store, tmp_path):
    shop = Shop(store, tmp_path)
    require(shop.archive()["findings"] == [], "a clean first run")
    shop.change(lambda conn, _: ticket(conn, "CAISSE-01", number="187a"))
    summary = shop.archive()
    assert summary["journals"] is not None, summary["warnings"]
    assert ("tickets", "numbering_not_integer") in kinds(keys(summary["findings"]))


def test_a_register_code_stored_as_a_blob_is_read_as_its_text_run_after_run(store, tmp_path):
    """SQLite keeps any type in any column: a blob of the code's own bytes is the code, as the export writes it. The
    day sums a run keeps for the next would hold it as bytes: the next run checks everything instead (it stopped on
    writing them, every evening)."""
    shop = Shop(store, tmp_path)
    assert shop.archive()["findings"] == []
    shop.change(lambda conn, shop: conn.execute("UPDATE registers SET code = CAST(code AS BLOB) WHERE code = 'CAISSE-01'"))
    assert as_full_check(shop, shop.archive(), incremental=False) == set()


    def sales(conn, shop):
        rid = conn.execute("SELECT id FROM registers WHERE CAST(code AS TEXT) = 'CAISSE-01'").fetchone()[0]
        for _ in range(3):
            ticket(conn, "CAISSE-01", rid=rid)
    shop.change(sales)
    assert as_full_check(shop, shop.archive(), incremental=False) == set()
