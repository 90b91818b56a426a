"""An evening on a till whose tables hold rows its journals leave out (Odoo's cancelled orders, never sealed) checks
only the new records, on a real PostgreSQL: the rows left out are named in the kept state and held out at the next
run, and one that comes back into a journal without any older row changing (a line whose order is added later)
makes the run check everything again, never a record left unchecked."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import need_tool, run_coffre

from test_journals_in_runs import open_journals

pytestmark = pytest.mark.slow

# Eight days from a Sunday: the sample cancels an order on days 8 and 12 of the month (never sealed, so left out of
# the journals); the last day is held back, then sold as the evening's new orders.
START, DAYS, LAST_DAY = "2025-01-05", 8, "2025-01-12"
ASIDE = {  # table: the rows of the last day, by what they hang on
    "pos_order": "date_order >= '{day}'",
    "pos_order_line": "order_id IN (SELECT id FROM pos_order WHERE date_order >= '{day}')",
    "account_tax_pos_order_line_rel": "pos_order_line_id IN (SELECT id FROM pos_order_line WHERE order_id IN "
                                      "(SELECT id FROM pos_order WHERE date_order >= '{day}'))",
    "pos_payment": "pos_order_id IN (SELECT id FROM pos_order WHERE date_order >= '{day}')",
    "account_sale_closing": "date_closing_stop > '{day}'",
    "pos_session": "start_at >= '{day}'",
}
PUT_BACK = ["pos_session", "pos_order", "pos_order_line", "account_tax_pos_order_line_rel", "pos_payment",
            "account_sale_closing"]


class Till:
    def __init__(self, server, tmp: Path, other_disk: Path):
        for name in ("psql", "pg_dump"):
            need_tool(name)
        self.server, self.db = server, server.new_database()
        self.env = {"PGPASSFILE": str(server.pgpass(tmp / "pgpass"))}
        uri = server.uri(self.db)
        res = run_coffre("sample-db", "--mapping", "odoo-pos", uri, "--days", str(DAYS), "--tickets-per-day", "20",
                         "--start", START, env=self.env)
        assert res.code == 0, res
        # The last day set aside in tables of its own (which no journal reads), deleted children first.
        for table in ASIDE:
            self.sql(f"CREATE TABLE aside_{table} AS SELECT * FROM {table} WHERE {ASIDE[table].format(day=LAST_DAY)}")
        for table in reversed(PUT_BACK):
            self.sql(f"DELETE FROM {table} WHERE {ASIDE[table].format(day=LAST_DAY)}")
        self.config, self.identity = tmp / "etc" / "coffre.toml", tmp / "keys" / "identity.txt"
        (other_disk / "usb").mkdir(parents=True, exist_ok=True)
        res = run_coffre("init", "--config", self.config, "--source", uri, "--to", other_disk / "usb", "--i-know",
                         "--identity-out", self.identity, "--store-id", "caisse", "--mapping", "odoo-pos", env=self.env)
        assert res.code == 0, res
        self.usb, self.tmp = other_disk / "usb", tmp

    def sql(self, sql: str) -> str:
        return self.server.psql(sql, self.db).stdout.strip()

    def archive(self) -> dict:
        res = run_coffre("archive", "--config", self.config, "--json", env=self.env)
        assert res.code in (0, 5), res
        return json.loads(res.out)

    def sell_the_last_day(self) -> None:
        for table in PUT_BACK:
            self.sql(f"INSERT INTO {table} SELECT * FROM aside_{table}")

    def same_as_a_full_export(self, name: str) -> None:
        """The last run's journals hold exactly the lines `coffre journals export` writes from the live database."""
        run = sorted(p for p in (self.usb / "caisse").iterdir() if p.name[:1].isdigit())[-1]
        got = open_journals(run, self.identity, self.tmp / f"run-{name}")
        full = self.tmp / f"full-{name}"
        res = run_coffre("journals", "export", "--config", self.config, "--out", full, env=self.env)
        assert res.code in (0, 5), res
        for journal in ("tickets", "ticket_lines", "payments", "closures", "source_chain"):
            for ext in ("csv", "json"):
                mine = (got / f"{journal}.{ext}").read_text(encoding="utf-8").splitlines()
                theirs = (full / f"{journal}.{ext}").read_text(encoding="utf-8").splitlines()
                assert Counter(mine) == Counter(theirs), f"{journal}.{ext}"


@pytest.fixture
def till(postgresql_server, tmp_path, other_disk):
    return Till(postgresql_server, tmp_path, other_disk)


def test_an_odoo_evening_checks_only_the_new_orders_with_the_cancelled_ones_held_out(till):
    cancelled = int(till.sql("SELECT count(*) FROM pos_order WHERE l10n_fr_secure_sequence_number IS NULL"))
    assert cancelled >= 1  # day 8's, left out of the journals
    first = till.archive()
    assert first["journals"]["checked"] == "all records" and first["findings"] == []
    again = till.archive()
    assert again["journals"]["checked"] == "new records only", again["journals"]
    assert again["journals"]["records"] == first["journals"]["records"]
    till.sell_the_last_day()
    assert int(till.sql("SELECT count(*) FROM pos_order WHERE l10n_fr_secure_sequence_number IS NULL")) > cancelled
    evening = till.archive()
    j = evening["journals"]
    assert j["checked"] == "new records only", j
    assert evening["findings"] == []
    new_orders = int(till.sql("SELECT count(*) FROM aside_pos_order WHERE l10n_fr_secure_sequence_number IS NOT NULL"))
    assert j["records"]["tickets"] == first["journals"]["records"]["tickets"] + new_orders
    till.same_as_a_full_export("evening")


def test_a_left_out_line_whose_order_comes_later_makes_the_run_check_everything(till):
    # A line of an order that is not there yet: left out of the lines' journal, its row never changes again.
    orphan = int(till.sql("SELECT max(id) FROM pos_order") or 0) + 500
    till.sql(f"INSERT INTO pos_order_line (id, name, product_id, price_unit, qty, price_subtotal, price_subtotal_incl, "
             f"discount, order_id, full_product_name, company_id) SELECT (SELECT max(id) + 1 FROM pos_order_line), 'L', "
             f"product_id, 2.5, 1, 2.37, 2.5, 0, {orphan}, 'Baguette', company_id FROM pos_order_line ORDER BY id LIMIT 1")
    till.archive()
    kept = till.archive()
    assert kept["journals"]["checked"] == "new records only", kept["journals"]
    # Its order now written (a copy of the last one, further on in the chain): the old line joins the journal.
    till.sql(f"CREATE TEMP TABLE o AS SELECT * FROM pos_order ORDER BY id DESC LIMIT 1; UPDATE o SET id = {orphan}, "
             f"l10n_fr_secure_sequence_number = (SELECT max(l10n_fr_secure_sequence_number) + 1 FROM pos_order); "
             f"INSERT INTO pos_order SELECT * FROM o")
    evening = till.archive()
    j = evening["journals"]
    assert j["checked"] == "all records", j
    assert "left out of journal ticket_lines at the last run is in it now" in j["all_records_because"], j
    till.same_as_a_full_export("orphan")
