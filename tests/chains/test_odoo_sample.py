"""The Odoo-shaped sample on a real PostgreSQL: its tables read back through Coffre's own snapshot mirror and the
odoo-pos mapping's SQL, every hashed order's stored l10n_fr_hash is the recipe's seal, the same seed writes the same
database, and a database that already has an Odoo point of sale is refused."""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import pytest

from conftest import need_tool
from pipeline.chains import recipe
from pipeline.chains.walk import walk
from pipeline.errors import CannotRun, UsageError
from pipeline.journals.connection import add_functions
from pipeline.sample.odoo import load_sample
from pipeline.snapshot.postgresql import PostgresqlSource

MAPPING = json.loads((Path(__file__).resolve().parents[2] / "schemas" / "sources" / "odoo-pos.json").read_text("utf-8"))
START = date(2024, 1, 8)


@pytest.fixture
def odoo(postgresql_server, tmp_path, monkeypatch):
    for name in ("psql", "pg_dump"):
        need_tool(name)
    monkeypatch.setenv("PGPASSFILE", str(postgresql_server.pgpass(tmp_path / "pgpass")))

    def new(days=5, orders_per_day=14, seed=17):
        database = postgresql_server.new_database()
        uri = postgresql_server.uri(database)
        return database, uri, load_sample(uri, days, orders_per_day, seed, START)
    return new


def journals(uri: str, scratch: Path) -> dict[str, list[dict]]:
    """Every journal of the mapping, as the journals stage reads it: Coffre's snapshot mirror, then the SQL."""
    import sqlite3

    snap = PostgresqlSource(uri).take(scratch, wanted=lambda conn: {
        r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")})
    try:
        conn = add_functions(sqlite3.connect(snap.journals_db()))
        conn.row_factory = sqlite3.Row
        out = {name: [dict(r) for r in conn.execute(spec["sql"])] for name, spec in MAPPING["journals"].items()}
        conn.close()
        return out
    finally:
        snap.close()


def problems(chain_rows):
    records = []
    for row in chain_rows:
        rec = dict(row)
        rec["content"] = json.loads(rec["content"])
        records.append(rec)
    found = []
    for key in sorted({r["chain"] for r in records}):
        found += list(walk([r for r in records if r["chain"] == key], lambda r: recipe(r["recipe"]), "sequence"))
    return found


def test_every_hashed_order_of_the_sample_is_sealed_as_odoo_seals_it(odoo, postgresql_server, tmp_path):
    database, uri, counts = odoo()
    assert counts["pos_order"] == 5 * 14 and counts["account_sale_closing"] == 5
    j = journals(uri, tmp_path)
    chain = j["source_chain"]
    cancelled = int(postgresql_server.psql("SELECT count(*) FROM pos_order WHERE state = 'cancel'", database).stdout)
    assert cancelled >= 1 and len(chain) == counts["pos_order"] - cancelled
    assert [r["sequence"] for r in chain] == list(range(1, len(chain) + 1))
    assert problems(chain) == []
    # The seal of each order, linked to the one numbered before it, is the hash Odoo stores.
    rule = recipe("odoo-pos-sha256")
    previous = ""
    for row in chain:
        rec = dict(row, content=json.loads(row["content"]))
        assert rule.seal(previous, rec, None) == row["hash"]
        assert hashlib.sha256((previous + rule.text(rec)).encode("utf-8")).hexdigest() == row["hash"]  # read back
        previous = row["hash"]
    # What the sample holds, as a shop would: weighed goods, 0.57, a refund, several payments, a fiscal position,
    # a date to the microsecond, a price a pricelist computed in floats (4.410000000000001), and the tickets the
    # other journals make of it.
    values = postgresql_server.psql(
        "SELECT (SELECT count(*) FROM pos_order_line WHERE qty = 0.345), (SELECT count(*) FROM pos_order_line WHERE "
        "price_unit = 0.57), (SELECT count(*) FROM pos_order_line WHERE qty < 0 AND refunded_orderline_id IS NOT "
        "NULL), (SELECT count(*) FROM (SELECT pos_order_id FROM pos_payment GROUP BY 1 HAVING count(*) > 1) x), "
        "(SELECT count(*) FROM pos_order WHERE fiscal_position_id IS NOT NULL AND l10n_fr_hash IS NOT NULL), "
        "(SELECT count(*) FROM pos_order WHERE date_part('microseconds', date_order)::int % 1000000 <> 0), "
        "(SELECT count(*) FROM pos_order_line WHERE length(price_unit::text) > 12)",
        database).stdout.strip().split("|")
    assert all(int(v) >= 1 for v in values), values
    assert any(".25" in json.loads(r["content"])["order"]["date_order"] for r in chain)
    tickets = {(t["register"], t["number"]): t for t in j["tickets"]}
    assert len(tickets) == len(chain) and {t["type"] for t in tickets.values()} == {"sale", "refund"}
    refund = next(t for t in tickets.values() if t["type"] == "refund")
    assert refund["original_register"] and refund["original_number"] < refund["number"]


def test_the_samples_journals_hold_the_checks_the_mapping_declares(odoo, tmp_path):
    _database, uri, _counts = odoo(days=3, orders_per_day=12, seed=3)
    j = journals(uri, tmp_path)
    tickets = {(t["register"], t["number"]): t for t in j["tickets"]}
    paid, by_rate = {}, {}
    for p in j["payments"]:
        key = (p["register"], p["ticket_number"])
        paid[key] = paid.get(key, 0) + p["amount_cents"]
    for line in j["ticket_lines"]:
        key = (line["register"], line["ticket_number"], line["vat_rate_bp"])
        by_rate[key] = by_rate.get(key, 0) + line["line_total_ttc_cents"]
    for key, t in tickets.items():
        assert paid.get(key, 0) == t["total_ttc_cents"], key  # payment_checks
        for rate in ("550", "1000", "2000"):  # line_checks
            assert t[f"ht_{rate}_cents"] + t[f"tva_{rate}_cents"] == by_rate.get(key + (int(rate),), 0), (key, rate)
        assert t["total_ht_cents"] == sum(t[f"ht_{r}_cents"] for r in ("550", "1000", "2000"))  # record_checks
        assert t["total_tva_cents"] == sum(t[f"tva_{r}_cents"] for r in ("550", "1000", "2000"))
        assert t["total_ttc_cents"] == t["total_ht_cents"] + t["total_tva_cents"]
        assert t["signature"] and len(t["previous_signature"]) in (0, 64)
    schema_root = Path(__file__).resolve().parents[2] / "schemas" / "journals"
    for name in ("tickets", "ticket_lines", "payments", "closures"):
        fields = json.loads((schema_root / f"{name}.schema.json").read_text("utf-8"))["items"]["properties"]
        for row in j[name]:
            assert list(row) == list(fields), name
    closings = j["closures"]
    assert [c["number"] for c in closings] == [1, 2, 3] and sum(c["ticket_count"] for c in closings) == len(tickets)
    assert closings[-1]["grand_total_perpetual_ttc_cents"] == sum(t["total_ttc_cents"] for t in tickets.values())


def test_a_changed_quantity_or_a_deleted_order_is_found_by_the_chain(odoo, postgresql_server, tmp_path):
    database, uri, _counts = odoo(days=2, orders_per_day=10, seed=5)
    postgresql_server.psql("UPDATE pos_order_line SET qty = qty + 1 WHERE id = (SELECT min(l.id) FROM pos_order_line l "
                           "JOIN pos_order o ON o.id = l.order_id WHERE o.l10n_fr_secure_sequence_number = 4)", database)
    postgresql_server.psql("DELETE FROM pos_order WHERE l10n_fr_secure_sequence_number = 9", database)
    found = [(p.kind, p.record["sequence"], p.first, p.last) for p in problems(journals(uri, tmp_path)
                                                                               ["source_chain"])]
    assert found == [("altered", 4, None, None), ("missing", 10, 9, 9), ("unlinked", 10, None, None)]


def test_the_same_seed_writes_the_same_database_and_another_seed_another(odoo, postgresql_server):
    dumps = []
    for seed in (11, 11, 12):
        database, _uri, counts = odoo(days=2, orders_per_day=8, seed=seed)
        dumps.append((counts, postgresql_server.psql(
            "SELECT string_agg(concat_ws(',', id, date_order, amount_total, l10n_fr_secure_sequence_number, "
            "l10n_fr_hash), ';' ORDER BY id) FROM pos_order", database).stdout))
    assert dumps[0] == dumps[1] and dumps[0][1] != dumps[2][1]


def test_a_database_with_an_odoo_point_of_sale_is_refused_and_a_server_error_is_one_sentence(odoo, postgresql_server):
    database, uri, _counts = odoo(days=1, orders_per_day=3)
    before = postgresql_server.psql("SELECT count(*) FROM pos_order", database).stdout
    with pytest.raises(UsageError) as err:
        load_sample(uri, 1, 3, 1, START)
    assert "pos_order" in str(err.value) and database in str(err.value)
    assert postgresql_server.psql("SELECT count(*) FROM pos_order", database).stdout == before
    with pytest.raises(CannotRun) as err:
        load_sample(postgresql_server.uri("no_such_shop"), 1, 3, 1, START)
    assert "no database no_such_shop" in str(err.value)
