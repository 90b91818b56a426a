"""An evening checks only the new records when the rows checked before are proved unchanged; but an older record's
exported text also reads other tables, and on a server's mirror nothing declares how. A row added to such a table
(an Odoo fiscal position's tax mapping written in the back office), or a line added to an older order, makes the
evening check and export everything: its journals are then always those a full export gives, on a real PostgreSQL."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from conftest import need_tool, run_coffre

from test_journals_in_runs import open_journals

pytestmark = pytest.mark.slow

JOURNALS = ("tickets", "ticket_lines", "payments", "closures", "source_chain")


class Till:
    """An Odoo sample with no cancelled order: a till whose evenings can follow the last run. Its mapping is the
    shipped one with an installer's word that a record reads only its own rows ("row_local"), which is not so: the
    checks that hold a vouched mapping to its word where Coffre can see must still catch what it reads besides."""

    def __init__(self, server, tmp: Path, other_disk: Path):
        for name in ("psql", "pg_dump"):
            need_tool(name)
        self.server, self.db, self.tmp = server, server.new_database(), tmp
        self.env = {"PGPASSFILE": str(server.pgpass(tmp / "pgpass"))}
        uri = server.uri(self.db)
        res = run_coffre("sample-db", "--mapping", "odoo-pos", uri, "--days", "6", "--tickets-per-day", "15",
                         "--start", "2025-01-06", env=self.env)
        assert res.code == 0, res
        unsealed = "SELECT id FROM pos_order WHERE l10n_fr_secure_sequence_number IS NULL"
        self.sql(f"DELETE FROM account_tax_pos_order_line_rel WHERE pos_order_line_id IN (SELECT id FROM "
                 f"pos_order_line WHERE order_id IN ({unsealed})); DELETE FROM pos_order_line WHERE order_id IN "
                 f"({unsealed}); DELETE FROM pos_payment WHERE pos_order_id IN ({unsealed}); DELETE FROM pos_order "
                 f"WHERE l10n_fr_secure_sequence_number IS NULL")
        self.config, self.identity = tmp / "etc" / "coffre.toml", tmp / "keys" / "identity.txt"
        self.usb = other_disk / "usb"
        self.usb.mkdir(parents=True, exist_ok=True)
        from importlib import resources

        from pipeline.journals.mapping import ROW_LOCAL, row_local_digest

        doc = json.loads(resources.files("pipeline.schemas").joinpath("sources", "odoo-pos.json").read_text("utf-8"))
        doc[ROW_LOCAL] = row_local_digest(doc)
        mapping = tmp / "odoo-vouched.json"
        mapping.write_text(json.dumps(doc), encoding="utf-8")
        res = run_coffre("init", "--config", self.config, "--source", uri, "--to", self.usb, "--i-know",
                         "--identity-out", self.identity, "--store-id", "caisse", "--mapping", mapping, env=self.env)
        assert res.code == 0, res

    def sql(self, sql: str) -> str:
        return self.server.psql(sql, self.db).stdout.strip()

    def archive(self) -> dict:
        res = run_coffre("archive", "--config", self.config, "--json", env=self.env)
        assert res.code in (0, 5), res
        return json.loads(res.out)

    def followed(self) -> dict:
        """Two runs: the second follows the first (nothing changed between them)."""
        first = self.archive()
        assert first["journals"]["checked"] == "all records" and first["findings"] == [], first["journals"]
        again = self.archive()
        assert again["journals"]["checked"] == "new records only", again["journals"]
        return again

    def evening_checks_everything(self, because: str, name: str) -> None:
        j = self.archive()["journals"]
        assert j["checked"] == "all records" and because in j["all_records_because"], j
        self.same_as_a_full_export(name)

    def same_as_a_full_export(self, name: str) -> None:
        run = sorted(p for p in (self.usb / "caisse").iterdir() if p.name[:1].isdigit())[-1]
        got = open_journals(run, self.identity, self.tmp / f"run-{name}")
        full = self.tmp / f"full-{name}"
        res = run_coffre("journals", "export", "--config", self.config, "--out", full, env=self.env)
        assert res.code in (0, 5), res
        for journal in JOURNALS:
            for ext in ("csv", "json"):
                mine = (got / f"{journal}.{ext}").read_text(encoding="utf-8").splitlines()
                theirs = (full / f"{journal}.{ext}").read_text(encoding="utf-8").splitlines()
                assert Counter(mine) == Counter(theirs), f"{journal}.{ext}"


@pytest.fixture
def till(postgresql_server, tmp_path, other_disk):
    return Till(postgresql_server, tmp_path, other_disk)


def test_a_tax_mapping_added_in_the_back_office_makes_the_evening_check_everything(till):
    till.followed()
    # Take-away: 10 % becomes 5.5 % too. The older take-away orders' lines read it: their VAT columns change.
    till.sql("INSERT INTO account_fiscal_position_tax (id, position_id, tax_src_id, tax_dest_id, company_id) "
             "VALUES (2, 1, 2, 3, 1)")
    till.evening_checks_everything("account_fiscal_position_tax", "tax")


def test_a_line_added_to_an_older_order_makes_the_evening_check_everything(till):
    till.followed()
    till.sql("INSERT INTO pos_order_line (id, name, product_id, price_unit, qty, price_subtotal, price_subtotal_incl, "
             "discount, order_id, full_product_name, company_id) SELECT (SELECT max(id) + 1 FROM pos_order_line), 'L', "
             "product_id, 2.5, 1, 2.37, 2.5, 0, order_id, 'Baguette', company_id FROM pos_order_line ORDER BY id LIMIT 1")
    # The order's own chain hashes its lines: lines are a ticket's own only in the tickets' journal.
    till.evening_checks_everything("table pos_order_line, which journal source_chain reads", "line")
