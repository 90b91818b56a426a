"""A run that should worry someone (an empty or foreign database, a mapping that no longer fits, rows or tables
gone since the last run) is still written and restorable, but ends with exit 5, and `status` says so."""

from __future__ import annotations

import json
import shutil
import sqlite3

import pytest

from conftest import run_coffre


def coffre(store, command, *args):
    return run_coffre(command, "--config", store.config, *args)


def archive(store):
    res = coffre(store, "archive", "--yes", "--json")
    return res, json.loads(res.out)


def sql(db, *statements):
    conn = sqlite3.connect(db)
    try:
        for s in statements:
            conn.execute(s)
        conn.commit()
    finally:
        conn.close()


def tables(db) -> list[str]:
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
    finally:
        conn.close()


def unused_products(db) -> int:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM products WHERE id NOT IN (SELECT product_id FROM ticket_lines)").fetchone()[0]
    finally:
        conn.close()


def empty_every_table(db):
    sql(db, "PRAGMA foreign_keys=OFF", *(f'DELETE FROM "{t}"' for t in tables(db)))


def foreign_database(db):
    """Another program's database where the till's was (a file swapped, a wrong path after a reinstall)."""
    other = db.with_name("recettes.db")
    sql(other, "CREATE TABLE recipes (id INTEGER PRIMARY KEY, title TEXT, minutes INTEGER)",
        *(f"INSERT INTO recipes (title, minutes) VALUES ('tarte {i}', {10 + i})" for i in range(50)))
    for suffix in ("-wal", "-shm"):
        db.with_name(db.name + suffix).unlink(missing_ok=True)
    shutil.move(other, db)


def mapping_no_longer_fits(db):
    # reference-pos.json reads tickets.total_ttc: a till update that renames it leaves the mapping behind.
    sql(db, "ALTER TABLE tickets RENAME COLUMN total_ttc TO total_ttc_cents")


def unused_products_deleted(db):
    # Products no ticket line refers to: no journal record changes, so no fiscal finding hides the shrinkage.
    assert unused_products(db) > 0
    sql(db, "DELETE FROM products WHERE id NOT IN (SELECT product_id FROM ticket_lines)")


def extra_table_dropped(db):
    sql(db, "DROP TABLE loyalty_cards")


def add_loyalty_table(db):
    """A table of the till's that the journal mapping does not read: dropping it changes no journal."""
    sql(db, "CREATE TABLE loyalty_cards (id INTEGER PRIMARY KEY, holder TEXT)",
        *(f"INSERT INTO loyalty_cards (holder) VALUES ('client {i}')" for i in range(12)))


CASES = {
    # case: (how the database is broken, what the sentence names)
    "every table emptied": (empty_every_table, "holds no data"),
    "a foreign database": (foreign_database, "does not match the journal mapping"),
    "a mapping that no longer fits": (mapping_no_longer_fits, "total_ttc"),
    "rows deleted": (unused_products_deleted, "table products holds"),
    "a table dropped": (extra_table_dropped, "table loyalty_cards has vanished"),
}


def status(store):
    res = coffre(store, "status")
    assert "Traceback" not in res.err, res
    return res


@pytest.mark.parametrize("case", list(CASES))
def test_a_run_that_needs_a_person_is_written_and_says_so(store, sample_db_template, case):
    breaks, named = CASES[case]
    add_loyalty_table(store.db)
    res, first = archive(store)
    assert res.code == 0 and first.get("attention", []) == [], res
    drill = coffre(store, "drill", "--identity", store.identity)
    assert drill.code == 0, drill
    assert status(store).code == 0

    breaks(store.db)
    res, doc = archive(store)
    assert "Traceback" not in res.err, res
    assert res.code == 5 and doc["exit_code"] == 5, res
    assert any(named in s for s in doc["attention"]), (named, doc["attention"])
    said = [line for line in res.err.splitlines() if line.startswith("Needs a person: ")]
    assert any(named in line for line in said) and not any(line.endswith("..") for line in said), res
    # The run is saved all the same: signed on every copy, and it decrypts and checks out.
    assert all(c["ok"] for c in doc["copies"]), doc["copies"]
    for dest in store.destinations:
        assert (dest / store.store_id / doc["run_id"] / "MANIFEST.b3.minisig").is_file()
    deep = coffre(store, "verify", "--run", doc["run_id"], "--deep", "--identity", store.identity)
    assert deep.code == 0, deep
    st = status(store)
    assert st.code == 1 and f"the last run {doc['run_id']} needs a person:" in st.out and named in st.out, st

    # The database is put right: the next run is clean, and status no longer speaks of it.
    shutil.copy(sample_db_template, store.db)
    for suffix in ("-wal", "-shm"):
        store.db.with_name(store.db.name + suffix).unlink(missing_ok=True)
    add_loyalty_table(store.db)
    res, doc = archive(store)
    assert res.code == 0 and doc.get("attention", []) == [], res
    st = status(store)
    assert st.code == 0 and "needs a person" not in st.out, st


def test_a_run_after_sales_were_added_needs_nobody(store):
    from pipeline.sample import SaleWriter

    res, _ = archive(store)
    assert res.code == 0, res
    writer = SaleWriter(store.db, seed=7)
    for _ in range(5):
        writer.commit_ticket()
    writer.conn.close()
    res, doc = archive(store)
    assert res.code == 0 and doc.get("attention", []) == [] and doc["findings"] == [], res
    assert "Needs a person" not in res.err, res
