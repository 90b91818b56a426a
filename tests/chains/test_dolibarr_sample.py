"""The Dolibarr-shaped sample on a real MariaDB, read back the way an archive reads it (mariadb-dump into the SQLite
mirror, the dolibarr-pos mapping's SQL over it): every llx_blockedlog signature is the recipe's seal, V1 and V2 in one
chain; the canonical journals come out whole; the sample is the same from the same seed and refuses a database that
already holds its tables."""

from __future__ import annotations

import json
import shutil
import sqlite3
import threading
from datetime import date
from pathlib import Path

import pytest

from pipeline.chains import recipe
from pipeline.chains.walk import walk
from pipeline.errors import UsageError
from pipeline.journals.connection import open_snapshot
from pipeline.journals.mapping import journal_schema
from pipeline.sample import dolibarr
from pipeline.snapshot import open_source

REPO = Path(__file__).resolve().parents[2]
MAPPING = json.loads((REPO / "schemas" / "sources" / "dolibarr-pos.json").read_text("utf-8"))
SECRET = b"BLOCKEDLOGHMACsampleKeyForTheTests0123456789"
# Four days across the autumn change of time (27 October 2024): two V1 days in Paris time (summer, then winter),
# two V2 days in UTC.
ARGS = dict(days=4, invoices_per_day=6, seed=17, start=date(2024, 10, 26))


def _mirror(spec: str, scratch: Path) -> Path:
    """The snapshot as the archive takes it: the dump read to its end, the mirror filled beside it."""
    scratch.mkdir(exist_ok=True)
    snap = open_source(spec).take(scratch, wanted=lambda conn: set(dolibarr.TABLES))
    got = {}
    side = threading.Thread(target=lambda: got.setdefault("mirror", snap.journals_db()))
    side.start()
    try:
        with snap.stream() as f:
            while f.read(1 << 16):
                pass
        snap.finish()
        side.join()
        kept = scratch.parent / "mirror.sqlite"
        shutil.copyfile(got["mirror"], kept)  # the snapshot removes its scratch files when closed
    finally:
        snap.close()
    return kept


@pytest.fixture(scope="module")
def loaded(mariadb_server, tmp_path_factory):
    folder = tmp_path_factory.mktemp("dolibarr")
    database = mariadb_server.new_database()
    spec = mariadb_server.url(database, mariadb_server.option_file(folder / "coffre.cnf"))
    counts = dolibarr.load_sample(spec, secret=SECRET, **ARGS)
    conn = open_snapshot(_mirror(spec, folder / "scratch"))
    yield mariadb_server, database, spec, counts, conn
    conn.close()


def _journal(conn: sqlite3.Connection, name: str) -> list[dict]:
    cur = conn.execute(MAPPING["journals"][name]["sql"])
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, row)) for row in cur]


def _chain(conn) -> list[dict]:
    rows = _journal(conn, "source_chain")
    for row in rows:
        row["content"] = json.loads(row["content"])
    return rows


def test_every_signature_is_the_recipes_seal_across_v1_and_v2(loaded):
    _server, _db, _spec, counts, conn = loaded
    rows = _chain(conn)
    assert len(rows) == counts["llx_blockedlog"]
    formats = [r["recipe"] for r in rows]
    assert formats[0] == "dolibarr-blockedlog-v1" and formats[-1] == "dolibarr-blockedlog-v2"
    assert formats == sorted(formats), "an upgraded instance: V1 rows, then V2 rows"
    assert {r["event"] for r in rows} >= {"MODULE_SET", "BILL_VALIDATE", "PAYMENT_CUSTOMER_CREATE",
                                          "CASHCONTROL_VALIDATE", "CASHCONTROL_CLOSE"}
    previous = ""
    for row in rows:  # each one by hand: the stored signature is the seal of the one before and its content
        assert recipe(row["recipe"]).seal(previous, row, SECRET) == row["hash"], row["source_id"]
        previous = row["hash"]
    assert list(walk(rows, lambda r: recipe(r["recipe"]), "order", secret=SECRET)) == []


def test_without_the_secret_the_v2_rows_are_told_and_v1_still_checked(loaded):
    conn = loaded[4]
    rows = _chain(conn)
    problems = list(walk(rows, lambda r: recipe(r["recipe"]), "order", secret=None))
    v2 = sum(r["recipe"] == "dolibarr-blockedlog-v2" for r in rows)
    assert [(p.kind, p.count) for p in problems] == [("secret", v2)]


def test_a_changed_amount_or_a_deleted_row_breaks_the_chain_where_it_happened(loaded):
    conn = loaded[4]
    rows = _chain(conn)
    changed = [dict(r, content=dict(r["content"])) for r in rows]
    bill = next(i for i, r in enumerate(changed) if r["event"] == "BILL_VALIDATE" and r["recipe"].endswith("v1"))
    changed[bill]["content"]["amounts"] = str(float(changed[bill]["content"]["amounts"]) + 1)
    found = list(walk(changed, lambda r: recipe(r["recipe"]), "order", secret=SECRET))
    assert [(p.kind, p.record["reference"]) for p in found] == [("altered", rows[bill]["reference"])]
    gone = rows[:bill] + rows[bill + 1:]
    found = list(walk(gone, lambda r: recipe(r["recipe"]), "order", secret=SECRET))
    assert [(p.kind, p.record["sequence"]) for p in found] == [("altered", rows[bill + 1]["sequence"])]


def test_the_mapping_yields_every_canonical_field_and_payments_match_tickets(loaded):
    conn = loaded[4]
    journals = {name: _journal(conn, name) for name in ("tickets", "ticket_lines", "payments", "closures")}
    for name, rows in journals.items():
        fields = list(journal_schema(name)["items"]["properties"])
        derived = set(MAPPING["journals"][name].get("derived", {}))
        assert rows, name
        assert [f for f in fields if f not in derived] == [f for f in rows[0] if f in fields], name
    tickets = journals["tickets"]
    assert {t["type"] for t in tickets} == {"sale", "refund"}
    assert all(t["original_number"] for t in tickets if t["type"] == "refund")
    paid: dict = {}
    for p in journals["payments"]:
        key = (p["register"], p["ticket_number"])
        paid[key] = paid.get(key, 0) + p["amount_cents"]
    assert all(paid[(t["register"], t["number"])] == t["total_ttc_cents"] for t in tickets)
    for t in tickets:
        assert sum(t[f"ht_{r}_cents"] + t[f"tva_{r}_cents"] for r in (550, 1000, 2000)) == t["total_ttc_cents"]
    # Closures: each terminal each day, its tickets counted, means summed, on the day it was made.
    closures = journals["closures"]
    assert len(closures) == ARGS["days"] * len(dolibarr.TERMINALS)
    assert sum(c["ticket_count"] for c in closures) == len(tickets)
    assert all(c["business_day"] == c["period_start"] for c in closures)
    assert sum(c["total_ttc_cents"] for c in closures) == sum(t["total_ttc_cents"] for t in tickets)
    # What each closing declared per means (llx_pos_cash_fence) is what that terminal's payments of the day add up to.
    day_of = {(t["register"], t["number"]): t["business_day"] for t in tickets}
    means: dict = {}
    for p in journals["payments"]:
        key = (p["register"], day_of[(p["register"], p["ticket_number"])])
        means.setdefault(key, {})[p["means"]] = means.get(key, {}).get(p["means"], 0) + p["amount_cents"]
    for c in closures:
        declared = dict((m, int(a)) for m, a in (part.split(":") for part in c["payments_by_means"].split("|")))
        assert declared == {m: a for m, a in means[(c["register"], c["period_start"])].items() if a}, c
    # The chain's own times: V1 rows stored in Paris time, V2 rows in UTC, the same local time either way.
    chain = _chain(conn)
    assert all(r["local_time"][-6:] in ("+01:00", "+02:00") for r in chain)
    assert {r["business_day"] for r in chain} == {"2024-10-26", "2024-10-27", "2024-10-28", "2024-10-29"}


def test_the_sample_is_the_same_from_the_same_seed(loaded):
    server, database, _spec, counts, _conn = loaded
    again = server.new_database()
    spec = server.url(again, server.option_file(Path(server.folder) / "again.cnf"))
    assert dolibarr.load_sample(spec, secret=SECRET, **ARGS) == counts
    for table in ("llx_blockedlog", "llx_facture", "llx_facturedet", "llx_paiement", "llx_pos_cash_fence"):
        a = server.admin(f"CHECKSUM TABLE `{database}`.`{table}`")[0][1]
        b = server.admin(f"CHECKSUM TABLE `{again}`.`{table}`")[0][1]
        assert a == b, table
    other = dolibarr._generate(seed=18, secret=SECRET, **{k: v for k, v in ARGS.items() if k != "seed"})
    assert other.rows["llx_blockedlog"] != dolibarr._generate(secret=SECRET, **ARGS).rows["llx_blockedlog"]


def test_a_database_with_the_log_already_is_refused(loaded):
    _server, _database, spec, _counts, _conn = loaded
    with pytest.raises(UsageError, match="llx_blockedlog"):
        dolibarr.load_sample(spec, secret=None, **ARGS)
