"""The sample shop database: deterministic, consistent totals, every signed chain verifies."""

import sqlite3
from contextlib import contextmanager
from datetime import date
from itertools import groupby

import pytest

from pipeline.sample import TABLES, SaleWriter, generate
from pipeline.sample.chain import (
    JOURNALS,
    derive_private_key,
    jet_payload,
    load_public_key,
    public_key_b64,
    sign,
    verify,
    vat_from_ttc,
)

# Crosses a month end and a year end, so monthly and yearly closures are there too.
YEAR_END = dict(days=3, tickets_per_day=150, seed=7, start=date(2024, 12, 30))
AMOUNTS = ("ht_550", "tva_550", "ht_1000", "tva_1000", "ht_2000", "tva_2000", "total_ht", "total_tva", "total_ttc")


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    path = tmp_path_factory.mktemp("shop") / "till.db"
    generate(path, **YEAR_END)
    return path


@contextmanager
def connect(path):
    """A connection that commits and closes, so no -wal file outlives a check."""
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    try:
        yield conn
        conn.commit()
    finally:
        conn.close()


def chain_problems(path):
    """Every record whose signature or link to the previous record does not hold."""
    problems = []
    with connect(path) as conn:
        (key_b64,) = conn.execute("SELECT public_key_b64 FROM till_keys").fetchone()
        public_key = load_public_key(key_b64)
        for journal in JOURNALS:
            rows = conn.execute(journal.query).fetchall()
            assert rows, journal.name
            for chain, records in groupby(rows, key=lambda r: r["chain"]):
                previous = ""
                for row in records:
                    if row["previous_signature"] != previous:
                        problems.append((journal.name, chain, row["id"], "link"))
                    if not verify(public_key, journal.payload(row), row["signature"]):
                        problems.append((journal.name, chain, row["id"], "signature"))
                    previous = row["signature"]
    return problems


def dump(path):
    with connect(path) as conn:
        return list(conn.iterdump())


def test_same_seed_same_rows_other_seed_other_rows(tmp_path):
    args = dict(days=2, tickets_per_day=60)
    generate(tmp_path / "a.db", seed=3, **args)
    generate(tmp_path / "b.db", seed=3, **args)
    generate(tmp_path / "c.db", seed=4, **args)
    assert dump(tmp_path / "a.db") == dump(tmp_path / "b.db")
    assert dump(tmp_path / "a.db") != dump(tmp_path / "c.db")


def test_row_counts_scale_with_days_and_tickets(tmp_path):
    small = generate(tmp_path / "small.db", days=1, tickets_per_day=40)
    big = generate(tmp_path / "big.db", days=4, tickets_per_day=80)
    assert set(small) == set(TABLES)
    assert small["tickets"] == 40 and big["tickets"] == 320
    assert small["closures"] == 2 and big["closures"] == 8  # one daily Z per register per day
    assert big["ticket_lines"] > 4 * small["ticket_lines"]
    assert big["jet"] > small["jet"] and big["duplicates"] > 0
    with connect(tmp_path / "big.db") as conn:
        for table, count in big.items():
            assert conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count


def test_every_chain_verifies_with_the_key_in_the_database(shop):
    assert chain_problems(shop) == []


def test_a_changed_amount_breaks_its_signature(tmp_path):
    path = tmp_path / "till.db"
    generate(path, days=1, tickets_per_day=30)
    with connect(path) as conn:
        conn.execute("UPDATE tickets SET total_ttc = total_ttc + 1 WHERE id = 5")
    assert [p[3] for p in chain_problems(path)] == ["signature"]


def test_the_till_key_is_derived_from_the_seed(shop):
    with connect(shop) as conn:
        key = conn.execute("SELECT * FROM till_keys").fetchone()
    public = derive_private_key(YEAR_END["seed"]).public_key()
    assert (key["algorithm"], key["public_key_b64"]) == ("ed25519", public_key_b64(public))
    assert key["public_key_b64"] != public_key_b64(derive_private_key(YEAR_END["seed"] + 1).public_key())


def test_ticket_totals_equal_lines_and_payments(shop):
    with connect(shop) as conn:
        tickets = conn.execute("SELECT * FROM tickets").fetchall()
        all_lines = conn.execute("SELECT * FROM ticket_lines ORDER BY ticket_id, line_no").fetchall()
        lines = {k: list(v) for k, v in groupby(all_lines, key=lambda r: r["ticket_id"])}
        paid = dict(conn.execute("SELECT ticket_id, sum(amount_cents) FROM payments GROUP BY ticket_id").fetchall())
    for t in tickets:
        mine = lines[t["id"]]
        assert [line["line_no"] for line in mine] == list(range(1, len(mine) + 1))
        for line in mine:
            assert line["line_total_ttc"] == line["quantity"] * line["unit_price_cents"] - line["discount_cents"]
        for rate in (550, 1000, 2000):
            ttc = sum(line["line_total_ttc"] for line in mine if line["vat_rate_bp"] == rate)
            assert t[f"tva_{rate}"] == vat_from_ttc(ttc, rate)
            assert t[f"ht_{rate}"] + t[f"tva_{rate}"] == ttc
        assert t["total_ttc"] == sum(line["line_total_ttc"] for line in mine)
        assert t["total_ht"] + t["total_tva"] == t["total_ttc"]
        assert paid[t["id"]] == t["total_ttc"]
        if t["type"] in ("refund", "cancellation"):
            assert t["total_ttc"] < 0 and t["original_ticket_id"] is not None
        else:
            assert t["total_ttc"] > 0 and t["original_ticket_id"] is None


def test_cancellations_mirror_their_sale(shop):
    with connect(shop) as conn:
        pairs = conn.execute(
            """SELECT c.total_ttc AS cancelled, s.total_ttc AS sold, s.type AS original_type,
                      substr(c.timestamp, 1, 10) = substr(s.timestamp, 1, 10) AS same_day,
                      c.register_id = s.register_id AS same_register
                 FROM tickets c JOIN tickets s ON s.id = c.original_ticket_id
                WHERE c.type = 'cancellation'"""
        ).fetchall()
    assert pairs
    for p in pairs:
        assert p["cancelled"] == -p["sold"] and p["original_type"] == "sale" and p["same_day"] and p["same_register"]


def test_mix_of_ticket_types(tmp_path):
    path = tmp_path / "till.db"
    generate(path, days=4, tickets_per_day=400)
    with connect(path) as conn:
        types = dict(conn.execute("SELECT type, count(*) FROM tickets GROUP BY type").fetchall())
        hours = conn.execute("SELECT min(substr(timestamp, 12)), max(substr(timestamp, 12)) FROM tickets").fetchone()
    assert types["sale"] > 0.9 * 1600
    assert 10 <= types["refund"] <= 60 and 5 <= types["cancellation"] <= 35 and 1 <= types["training"] <= 20
    assert hours[0] >= "09:00:00Z" and hours[1] < "19:00:00Z"


def test_numbering_has_no_gaps(shop):
    with connect(shop) as conn:
        sequences = {
            "tickets": "SELECT register_id, number FROM tickets ORDER BY register_id, id",
            "duplicates": "SELECT register_id, number FROM duplicates ORDER BY register_id, id",
            "closures": "SELECT register_id || kind, number FROM closures ORDER BY register_id, kind, id",
            "jet": "SELECT 0, seq FROM jet ORDER BY id",
        }
        for name, query in sequences.items():
            for group, rows in groupby(conn.execute(query).fetchall(), key=lambda r: r[0]):
                numbers = [r[1] for r in rows]
                assert numbers == list(range(1, len(numbers) + 1)), (name, group)
        times = [r[0] for r in conn.execute("SELECT timestamp FROM tickets ORDER BY register_id, number")]
        kinds = conn.execute("SELECT kind, count(*) FROM closures GROUP BY kind").fetchall()
    assert dict(kinds) == {"daily": 6, "monthly": 2, "yearly": 2}
    assert all(t.endswith("Z") and len(t) == 20 for t in times)


def test_closures_add_up(shop):
    assert_closures_add_up(shop)


def assert_closures_add_up(path):
    """Daily Z = that day's tickets but training; monthly = its dailies; yearly = its monthlies."""
    sums = ", ".join(f"sum({c}) AS {c}" for c in AMOUNTS)
    with connect(path) as conn:
        closures = conn.execute("SELECT * FROM closures ORDER BY register_id, id").fetchall()
        for z in closures:
            if z["kind"] == "daily":
                expected = conn.execute(
                    f"""SELECT count(*) AS ticket_count, {sums} FROM tickets
                         WHERE register_id = ? AND type != 'training' AND substr(timestamp, 1, 10) = ?""",
                    (z["register_id"], z["period_start"]),
                ).fetchone()
            else:
                part = "daily" if z["kind"] == "monthly" else "monthly"
                expected = conn.execute(
                    f"""SELECT sum(ticket_count) AS ticket_count, {sums} FROM closures
                         WHERE register_id = ? AND kind = ? AND period_start >= ? AND period_end <= ?""",
                    (z["register_id"], part, z["period_start"], z["period_end"]),
                ).fetchone()
            for column in ("ticket_count", *AMOUNTS):
                assert z[column] == expected[column], (z["kind"], z["number"], column)
    for register_id, rows in groupby(closures, key=lambda r: r["register_id"]):
        perpetual_ht = perpetual_ttc = 0
        for z in rows:
            if z["kind"] == "daily":
                perpetual_ht += z["total_ht"]
                perpetual_ttc += z["total_ttc"]
            assert (z["grand_total_perpetual_ht"], z["grand_total_perpetual_ttc"]) == (perpetual_ht, perpetual_ttc)


def test_database_is_in_wal_mode_and_no_temporary_file_is_left(shop):
    assert sorted(p.name for p in shop.parent.iterdir()) == ["till.db"]
    with connect(shop) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_refuses_an_existing_path(tmp_path):
    path = tmp_path / "till.db"
    path.write_bytes(b"the owner's data")
    with pytest.raises(FileExistsError):
        generate(path, days=1, tickets_per_day=5)
    assert path.read_bytes() == b"the owner's data"
    assert not (tmp_path / "till.db.tmp").exists()


def test_sale_writer_continues_numbering_and_chain(tmp_path):
    path = tmp_path / "till.db"
    generate(path, days=1, tickets_per_day=30, seed=5)
    with connect(path) as conn:
        before = dict(conn.execute("SELECT register_id, max(number) FROM tickets GROUP BY register_id").fetchall())
        (latest,) = conn.execute("SELECT max(timestamp) FROM tickets").fetchone()
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM tickets").fetchone()  # a snapshot reading while the till sells
    with SaleWriter(path, seed=5) as till:
        took = [till.commit_ticket() for _ in range(20)]
    assert reader.execute("SELECT count(*) FROM tickets").fetchone()[0] == 30
    reader.close()
    assert all(0 < t < 1 for t in took)
    with connect(path) as conn:
        new = conn.execute("SELECT * FROM tickets WHERE id > 30 ORDER BY id").fetchall()
        after = dict(conn.execute("SELECT register_id, max(number) FROM tickets GROUP BY register_id").fetchall())
        unbalanced = conn.execute(
            """SELECT t.id FROM tickets t
                WHERE t.total_ttc != (SELECT sum(line_total_ttc) FROM ticket_lines WHERE ticket_id = t.id)
                   OR t.total_ttc != (SELECT sum(amount_cents) FROM payments WHERE ticket_id = t.id)"""
        ).fetchall()
    assert len(new) == 20 and all(t["type"] == "sale" for t in new)
    assert sum(after.values()) - sum(before.values()) == 20
    stamps = [latest] + [t["timestamp"] for t in new]
    assert all(a < b for a, b in zip(stamps, stamps[1:]))
    assert unbalanced == []
    assert chain_problems(path) == []
    assert new[0]["timestamp"] >= "2025-01-02T09:00:00Z"  # not on a day whose Z is made
    assert_closures_add_up(path)


def test_sale_writer_refuses_a_seed_whose_key_is_not_the_tills(tmp_path):
    path = tmp_path / "till.db"
    generate(path, days=1, tickets_per_day=5, seed=5)
    with pytest.raises(ValueError):
        SaleWriter(path, seed=6)


def test_vat_rounds_half_away_from_zero_and_is_symmetric():
    assert vat_from_ttc(1055, 550) == 55
    assert vat_from_ttc(120, 2000) == 20
    assert vat_from_ttc(11, 1000) == 1  # 1.0
    assert vat_from_ttc(3, 2000) == 1  # 0.5 rounds up
    for ttc in range(-3000, 3000, 7):
        for rate in (550, 1000, 2000):
            assert vat_from_ttc(-ttc, rate) == -vat_from_ttc(ttc, rate)
            assert abs(vat_from_ttc(ttc, rate) - ttc * rate / (10000 + rate)) <= 0.5


def test_jet_payload_keeps_commas_in_free_text_apart():
    row = dict(seq=1, code=60, register_code="CAISSE-01", operator_code=None, timestamp="2025-01-01T10:00:00Z",
               label="ticket duplicate printed", detail="ticket CAISSE-01/4, reprint 1", previous_signature="")
    moved = dict(row, label="ticket duplicate printed,ticket CAISSE-01/4", detail=" reprint 1")
    assert jet_payload(row) != jet_payload(moved)
    assert jet_payload(row) == (
        "1,60,CAISSE-01,,2025-01-01T10:00:00Z,ticket duplicate printed,ticket CAISSE-01/4\\, reprint 1,"
    )
    key = derive_private_key(1)
    assert verify(key.public_key(), jet_payload(row), sign(key, jet_payload(row)))
    assert not verify(key.public_key(), jet_payload(moved), sign(key, jet_payload(row)))
