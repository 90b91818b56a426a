"""Runs after a clean one check and compress only the new records, yet every run carries all of them, and any
change to an older record (or to the frames kept from earlier runs) makes the run check everything again."""

from __future__ import annotations

import json
import shutil
import sqlite3
import zoneinfo
from collections import Counter
from pathlib import Path

import pytest

from conftest import run_coffre

from pipeline.journals.mapping import load_mapping
from pipeline.journals.tail import mapping_digest

from test_journals_in_runs import JOURNALS, _ticket, archive_json, open_journals


def sell(db, n: int, seed: int = 7) -> None:
    from pipeline.sample import SaleWriter

    writer = SaleWriter(str(db), seed=seed)
    for _ in range(n):
        writer.commit_ticket()
    writer.conn.close()


def cache_dir(store):
    return store.config.parent / f"{store.config.stem}-state" / f"{store.store_id}.journals"


def same_records_as_a_full_export(store, run_journals, tmp_path) -> None:
    """The run's journals hold exactly the lines `coffre journals export` writes from the live database."""
    full = tmp_path / "full-export"
    res = run_coffre("journals", "export", "--config", store.config, "--out", full)
    assert res.code == 0, res
    for name in JOURNALS:
        for ext in ("csv", "json"):
            got = (run_journals / f"{name}.{ext}").read_text(encoding="utf-8")
            want = (full / f"{name}.{ext}").read_text(encoding="utf-8")
            # A JSON record is followed by a comma unless it is the array's last: which one is, is the order's.
            lines = (lambda text: [l.rstrip(",") for l in text.splitlines()]) if ext == "json" else str.splitlines
            assert Counter(lines(got)) == Counter(lines(want)), f"{name}.{ext}"
            assert got.splitlines()[0] == want.splitlines()[0] and got.endswith(want[-3:]), f"{name}.{ext}"
        assert len(json.loads((run_journals / f"{name}.json").read_text(encoding="utf-8"))) == \
            sqlite3.connect(store.db).execute(f"SELECT count(*) FROM {name}").fetchone()[0]


def test_a_later_run_checks_only_new_records_and_still_carries_them_all(store, tmp_path):
    first, _ = archive_json(store)
    assert first["journals"]["checked"] == "all records"
    sell(store.db, 25)
    second, _ = archive_json(store)
    j = second["journals"]
    assert j["checked"] == "new records only", j
    assert j["checks"]["signatures_verified"] == 25, j["checks"]
    assert j["checks"]["signatures_unchanged_since_last_check"] == first["journals"]["checks"]["signatures_verified"]
    assert second["findings"] == []
    run = store.run_dirs(store.destinations[0])[-1]
    same_records_as_a_full_export(store, open_journals(run, store.identity, tmp_path / "x"), tmp_path)
    # nothing new at all: still every record, nothing verified again
    third, _ = archive_json(store)
    assert third["journals"]["checked"] == "new records only"
    assert third["journals"]["checks"]["signatures_verified"] == 0
    assert third["journals"]["records"] == j["records"]


def test_an_older_record_changed_after_a_clean_run_is_caught_and_named(store, tmp_path):
    archive_json(store)
    sell(store.db, 3)
    archive_json(store)  # a clean incremental run: the next one would start from its checkpoint
    conn = sqlite3.connect(store.db)
    conn.execute("UPDATE tickets SET total_ttc = total_ttc + 1000 WHERE id = ?", (_ticket(conn, "CAISSE-01", 42),))
    conn.commit()
    summary, _ = archive_json(store)
    assert summary["journals"]["checked"] == "all records"
    assert "tickets" in summary["journals"]["all_records_because"]
    texts = [f["text"] for f in summary["findings"]]
    assert any("tickets [register CAISSE-01, number 42]" in t and "signature" in t for t in texts), texts
    # a finding is never taken as a starting point: the next run checks everything again and says it again
    again, _ = archive_json(store)
    assert again["journals"]["checked"] == "all records"
    assert any("number 42" in f["text"] for f in again["findings"])


def test_an_unsigned_field_changed_in_place_is_exported_as_it_now_is(store, tmp_path):
    """A line's label is not signed: no finding, but the kept frames must not be reused for it."""
    archive_json(store)
    conn = sqlite3.connect(store.db)
    label = conn.execute("SELECT label FROM ticket_lines WHERE id = 7").fetchone()[0]
    changed = ("Z" if label[0] != "Z" else "Y") + label[1:]  # same length: the row stays where it is
    conn.execute("UPDATE ticket_lines SET label = ? WHERE id = 7", (changed,))
    conn.commit()
    summary, _ = archive_json(store)
    assert summary["journals"]["checked"] == "all records"
    run = store.run_dirs(store.destinations[0])[-1]
    folder = open_journals(run, store.identity, tmp_path / "x")
    assert changed in (folder / "ticket_lines.csv").read_text(encoding="utf-8")
    same_records_as_a_full_export(store, folder, tmp_path)


def test_a_new_sale_back_dated_into_a_closed_day_is_named(store):
    archive_json(store)
    conn = sqlite3.connect(store.db)
    reg, last_number, last_sig = conn.execute(
        "SELECT register_id, number, signature FROM tickets WHERE register_id = 1 ORDER BY number DESC LIMIT 1").fetchone()
    day = conn.execute("SELECT period_start FROM closures WHERE kind = 'daily' AND register_id = 1 "
                       "ORDER BY number LIMIT 1").fetchone()[0]
    cols = [r[1] for r in conn.execute("PRAGMA table_info(tickets)") if r[1] != "id"]
    values = dict(zip(cols, conn.execute(f"SELECT {', '.join(cols)} FROM tickets WHERE register_id = 1 "
                                         "ORDER BY number DESC LIMIT 1").fetchone()))
    values.update(number=last_number + 1, timestamp=f"{day}T12:00:00Z", previous_signature=last_sig)
    conn.execute(f"INSERT INTO tickets ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", list(values.values()))
    conn.commit()
    summary, _ = archive_json(store)
    assert summary["journals"]["checked"] == "new records only"
    checks = {(f["journal"], f["check"]) for f in summary["findings"]}
    assert ("tickets", "signature") in checks  # copied from another ticket: its signature is not its own
    assert any(f["check"] == "closure_total" and f["record"].get("period_start") == day for f in summary["findings"]), \
        summary["findings"]


def test_torn_or_damaged_kept_frames_never_reach_a_run(store, tmp_path):
    archive_json(store)
    kept = cache_dir(store) / "tickets.csv.zst"
    assert kept.stat().st_size > 0
    with open(kept, "ab") as f:  # a run killed after it appended, before the history recorded it
        f.write(b"\x28\xb5\x2f\xfd torn frame")
    sell(store.db, 4)
    summary, _ = archive_json(store)
    assert summary["journals"]["checked"] == "new records only"
    run = store.run_dirs(store.destinations[0])[-1]
    same_records_as_a_full_export(store, open_journals(run, store.identity, tmp_path / "a"), tmp_path / "one")
    data = bytearray(kept.read_bytes())
    data[len(data) // 2] ^= 0x01
    kept.write_bytes(bytes(data))
    sell(store.db, 2)
    summary, _ = archive_json(store)
    assert summary["journals"]["checked"] == "all records"
    assert "kept" in summary["journals"]["all_records_because"]
    run = store.run_dirs(store.destinations[0])[-1]
    same_records_as_a_full_export(store, open_journals(run, store.identity, tmp_path / "b"), tmp_path / "two")


def with_sql(store, journal: str, *replaced: tuple[str, str], vouched: bool = True, unsigned: bool = False,
             day: str | None = None) -> None:
    """The till's own mapping: the reference one, a journal's statement changed as `replaced` says (its chain left
    out when `unsigned`, its business day's expression `day` when given), and, when `vouched`, its installer's word
    that a record still reads only its own rows ("row_local")."""
    from importlib import resources

    from pipeline.journals.mapping import ROW_LOCAL, row_local_digest

    doc = json.loads(resources.files("pipeline.schemas").joinpath("sources", "reference-pos.json").read_text("utf-8"))
    spec = doc["journals"][journal]
    for old, new in replaced:
        assert old in spec["sql"]
        spec["sql"] = spec["sql"].replace(old, new)
    if unsigned:
        del spec["chain"]
    if day:
        spec["day"] = day
    if vouched:
        doc[ROW_LOCAL] = row_local_digest(doc)
    (store.config.parent / "my-pos.json").write_text(json.dumps(doc), encoding="utf-8")
    text = store.config.read_text(encoding="utf-8")
    assert 'mapping = "reference-pos"' in text
    store.config.write_text(text.replace('mapping = "reference-pos"', 'mapping = "my-pos.json"', 1), encoding="utf-8")


def with_line_notes(store, table_sql: str) -> None:
    """The till's mapping reads, besides the reference tables, a table of its own that no foreign key names: each
    line's label from line_notes when a note is there."""
    with_sql(store, "ticket_lines", ("l.label AS label", "COALESCE(n.text, l.label) AS label"),
             (" LEFT JOIN products p", " LEFT JOIN line_notes n ON n.id = l.id LEFT JOIN products p"))
    with sqlite3.connect(store.db) as conn:
        conn.execute(table_sql)


def test_a_table_read_besides_the_journals_own_that_grew_makes_the_evening_check_everything(store, tmp_path):
    with_line_notes(store, "CREATE TABLE line_notes (id INTEGER PRIMARY KEY, text TEXT)")
    archive_json(store)
    quiet, _ = archive_json(store)
    assert quiet["journals"]["checked"] == "new records only", quiet["journals"]  # empty, and still empty
    sell(store.db, 2)
    still, _ = archive_json(store)
    assert still["journals"]["checked"] == "new records only", still["journals"]
    # A note on an older line, which no older row records: its label in the journals changes.
    with sqlite3.connect(store.db) as conn:
        conn.execute("INSERT INTO line_notes VALUES (1, 'Baguette (note)')")
    got = everything_is_checked(store, tmp_path, "table line_notes, which journal ticket_lines reads")
    assert "Baguette (note)" in (got / "ticket_lines.csv").read_text(encoding="utf-8")


def test_a_table_read_besides_the_journals_own_made_without_rowid_is_checked_whole_not_refused(store):
    with_line_notes(store, "CREATE TABLE line_notes (id INTEGER PRIMARY KEY, text TEXT)")
    archive_json(store)
    with sqlite3.connect(store.db) as conn:
        conn.execute("DROP TABLE line_notes")
        conn.execute("CREATE TABLE line_notes (id INTEGER PRIMARY KEY, text TEXT) WITHOUT ROWID")
    evening, _ = archive_json(store)
    assert evening["journals"] is not None and evening["journals"]["checked"] == "all records", evening


def test_a_table_a_foreign_key_names_but_joined_another_way_makes_the_evening_check_everything(store, tmp_path):
    # products is named by ticket_lines.product_id, but this mapping finds each line's sku by its label: a product
    # added under an older line's label changes that line's text, though no older row changed.
    with_sql(store, "ticket_lines", ("p.sku AS sku", "(SELECT p2.sku FROM products p2 WHERE p2.label = l.label "
                                                     "ORDER BY p2.id DESC LIMIT 1) AS sku"))
    archive_json(store)
    sell(store.db, 2)
    sales, _ = archive_json(store)
    assert sales["journals"]["checked"] == "new records only", sales["journals"]  # products did not grow
    with sqlite3.connect(store.db) as conn:
        conn.execute("INSERT INTO products (sku, label, unit_price_cents, vat_rate_bp, category) "
                     "SELECT '9999999999999', label, unit_price_cents, vat_rate_bp, category FROM products "
                     "WHERE id = (SELECT product_id FROM ticket_lines ORDER BY id LIMIT 1)")
    got = everything_is_checked(store, tmp_path, "table products, which journal ticket_lines reads")
    assert "9999999999999" in (got / "ticket_lines.csv").read_text(encoding="utf-8")
    same_records_as_a_full_export(store, got, tmp_path)


def test_a_product_added_to_the_reference_mapping_keeps_the_evening_on_new_records(store, tmp_path):
    archive_json(store)
    with sqlite3.connect(store.db) as conn:
        conn.execute("INSERT INTO products (sku, label, unit_price_cents, vat_rate_bp, category) "
                     "SELECT '9999999999999', label, unit_price_cents, vat_rate_bp, category FROM products "
                     "WHERE id = (SELECT product_id FROM ticket_lines ORDER BY id LIMIT 1)")
    sell(store.db, 3)
    evening, _ = archive_json(store)
    assert evening["journals"]["checked"] == "new records only", evening["journals"]
    run = store.run_dirs(store.destinations[0])[-1]
    same_records_as_a_full_export(store, open_journals(run, store.identity, tmp_path / "x"), tmp_path)


def test_a_mapping_that_does_not_vouch_for_its_reads_checks_everything_once_a_table_it_reads_grew(store, tmp_path):
    # These tickets say which ticket came next on their register: tonight's first sale changes the text of the last
    # one archived, though no older row changed. Edited, the mapping no longer carries the reference one's word.
    with_sql(store, "tickets", ("coffre_local_time(t.timestamp) AS local_time",
                                "coffre_local_time(t.timestamp) || COALESCE(' (suivant : ' || nx.number || ')', '') "
                                "AS local_time"),
             (" LEFT JOIN tickets ot", " LEFT JOIN tickets nx ON nx.register_id = t.register_id "
                                       "AND nx.number = t.number + 1 LEFT JOIN tickets ot"), vouched=False)
    archive_json(store)
    quiet, _ = archive_json(store)
    assert quiet["journals"]["checked"] == "new records only", quiet["journals"]  # nothing grew: nothing to read
    sell(store.db, 2)
    evening, _ = archive_json(store)
    assert evening["journals"]["checked"] == "all records", evening["journals"]
    because = evening["journals"]["all_records_because"]
    assert ", which journal tickets reads, has rows that were not there" in because, because
    assert "does not vouch that a record reads only its own rows" in because, because
    # The value an installer who has made sure of it would add, for this mapping as it is, and only for it.
    from pipeline.journals.mapping import load_mapping, row_local_digest

    mine = load_mapping(str(store.config.parent / "my-pos.json"))
    assert f'"row_local": "{row_local_digest(mine.doc)}"' in because
    assert row_local_digest(mine.doc) != load_mapping("reference-pos").doc["row_local"]
    res = run_coffre("journals", "export", "--config", store.config, "--out", tmp_path / "vendor", "--json")
    assert res.code == 0 and json.loads(res.out)["row_local_digest"] == row_local_digest(mine.doc), res
    run = store.run_dirs(store.destinations[0])[-1]
    same_records_as_a_full_export(store, open_journals(run, store.identity, tmp_path / "x"), tmp_path)


def test_only_the_mapping_vouched_for_carries_the_word():
    from importlib import resources

    from pipeline.journals.mapping import ROW_LOCAL, load_mapping

    assert load_mapping("reference-pos").row_local
    assert not load_mapping("odoo-pos").row_local and not load_mapping("dolibarr-pos").row_local
    doc = json.loads(resources.files("pipeline.schemas").joinpath("sources", "reference-pos.json").read_text("utf-8"))
    assert ROW_LOCAL in doc


def test_a_change_of_the_shops_time_zone_writes_every_record_again(store, tmp_path):
    archive_json(store)
    text = store.config.read_text(encoding="utf-8")
    assert 'timezone = "Europe/Paris"' in text
    store.config.write_text(text.replace('timezone = "Europe/Paris"', 'timezone = "America/New_York"'), "utf-8")
    sell(store.db, 2)
    evening, _ = archive_json(store)
    assert evening["journals"]["checked"] == "all records", evening["journals"]
    run = store.run_dirs(store.destinations[0])[-1]
    got = open_journals(run, store.identity, tmp_path / "x")
    assert "+01:00" not in (got / "tickets.csv").read_text(encoding="utf-8")  # New York's offsets only, in January
    same_records_as_a_full_export(store, got, tmp_path)


def test_new_rules_for_the_shops_time_zone_write_every_record_again(store, tmp_path):
    # The system's tzdata updated, as when a country changes its clocks: Paris made to keep New York's time here.
    zones = tmp_path / "zoneinfo"
    (zones / "Europe").mkdir(parents=True)
    system = Path(zoneinfo.TZPATH[0])
    shutil.copyfile(system / "Europe" / "Paris", zones / "Europe" / "Paris")
    env = {"PYTHONTZPATH": str(zones)}
    first, _ = archive_json(store, env=env)
    shutil.copyfile(system / "America" / "New_York", zones / "Europe" / "Paris")
    sell(store.db, 2)
    evening, _ = archive_json(store, env=env)
    assert evening["journals"]["checked"] == "all records", evening["journals"]
    assert "its rules" in evening["journals"]["all_records_because"]
    got = open_journals(store.run_dirs(store.destinations[0])[-1], store.identity, tmp_path / "x")
    assert "+01:00" not in (got / "tickets.csv").read_text(encoding="utf-8")  # New York's offsets only, in January


def test_sqlites_version_is_part_of_what_the_kept_text_was_made_with(monkeypatch):
    mapping = load_mapping("reference-pos", "Europe/Paris")
    before = mapping_digest(mapping, 1)
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.51.0")  # a newer one writes an infinite REAL 9.0e+999
    assert mapping_digest(mapping, 1) != before


@pytest.mark.parametrize("expression", ["datetime(t.timestamp, 'local' || 'time')", "datetime()", "unixepoch()",
                                        "strftime('%s')", "date('n' || 'ow')", "CURRENT_TIMESTAMP", "random()",
                                        "hex(fts3_tokenizer('simple'))", "sqlite_compileoption_get(0)",
                                        "(SELECT count(*) FROM sqlite_temp_master)"])
def test_a_mapping_that_reads_the_clock_or_the_computers_zone_checks_everything_at_every_run(store, tmp_path,
                                                                                         expression):
    # SQLite's date and time functions read the clock ('now', their default) and the computer's zone ('localtime':
    # TZ, not the shop's), both possibly built as the statement runs; random() reads chance. Text made of them is
    # not the database's: no run can keep it from an earlier one.
    with_sql(store, "tickets", ("coffre_local_time(t.timestamp) AS local_time",
                                f"coffre_local_time(t.timestamp) || ' ' || ({expression}) AS local_time"))

    def archive(zone):
        res = run_coffre("archive", "--config", store.config, "--yes", "--json", env={"TZ": zone})
        assert res.code == 0, res
        return json.loads(res.out)["journals"]

    archive("Europe/Paris")
    again = archive("UTC")
    assert again["checked"] == "all records", again
    assert "the mapping's SQL reads" in again["all_records_because"], again


@pytest.mark.parametrize("expression", ["(SELECT count(*) FROM json_each('[1, 2]'))",
                                        "(SELECT count(*) FROM pragma_table_info('tickets'))"])
def test_a_mapping_reading_a_table_valued_function_checks_everything_and_says_why(store, expression):
    with_sql(store, "tickets", ("coffre_local_time(t.timestamp) AS local_time",
                                f"coffre_local_time(t.timestamp) || ' ' || ({expression}) AS local_time"))
    archive_json(store)
    again, _ = archive_json(store)
    assert again["journals"]["checked"] == "all records", again["journals"]
    because = again["journals"]["all_records_because"]
    assert "has no rows of its own in the database's file" in because and "is gone" not in because, because


_LOCAL_TIME = "coffre_local_time(t.timestamp) AS local_time"


@pytest.mark.parametrize("view, replaced", [
    # its columns read: each ticket's count of every ticket
    ("CREATE VIEW v_tickets AS SELECT t.*, (SELECT count(*) FROM tickets) AS n FROM tickets t",
     [("FROM tickets t JOIN", "FROM v_tickets t JOIN"),
      (_LOCAL_TIME, "coffre_local_time(t.timestamp) || ' n=' || t.n AS local_time")]),
    # only counted: SQLite asks for none of its columns, only for the tables inside it, for the view
    ("CREATE VIEW v_sales AS SELECT * FROM tickets WHERE type = 'sale'",
     [(_LOCAL_TIME, "coffre_local_time(t.timestamp) || ' n=' || (SELECT count(*) FROM v_sales) AS local_time")]),
], ids=["columns read", "only counted"])
def test_a_mapping_reading_through_a_view_is_followed_and_its_word_does_not_cover_the_view(store, tmp_path, view,
                                                                                           replaced):
    # SQLite names the tables a view reads: those are proved, the view itself holds no rows. Its SQL (here reading
    # every ticket) is the database's, not the mapping's: the installer's word cannot vouch for it.
    with sqlite3.connect(store.db) as conn:
        conn.execute(view)
    with_sql(store, "tickets", *replaced)
    archive_json(store)
    quiet, _ = archive_json(store)  # nothing sold: nothing a record reads has changed
    assert quiet["journals"]["checked"] == "new records only", quiet["journals"]
    sell(store.db, 5)
    evening, _ = archive_json(store)
    assert evening["journals"]["checked"] == "all records", evening["journals"]
    name = view.split()[2]
    assert f"reads the view {name}" in evening["journals"]["all_records_because"], evening["journals"]
    got = open_journals(store.run_dirs(store.destinations[0])[-1], store.identity, tmp_path / "x")
    same_records_as_a_full_export(store, got, tmp_path)


def test_lines_read_by_another_journal_than_the_tickets_one_are_not_a_tickets_own(store, tmp_path):
    # The closures say how many items were sold in their period, from the lines of the tickets of those days: a sale
    # back-dated into a closed day would change an older closure. Lines are a ticket's own, not a closure's, even
    # in a mapping that vouches for its reads (wrongly, here).
    with_sql(store, "closures", ("coffre_local_time(c.timestamp) AS local_time",
                                 "coffre_local_time(c.timestamp) || ' articles : ' || (SELECT sum(l.quantity) FROM "
                                 "ticket_lines l JOIN tickets x ON x.id = l.ticket_id WHERE coffre_day(x.timestamp) "
                                 "BETWEEN c.period_start AND c.period_end) AS local_time"))
    after_sales_everything_is_checked(store, "table ticket_lines, which journal closures reads")


def test_a_line_added_to_an_older_ticket_that_signs_nothing_makes_the_evening_check_everything(store, tmp_path):
    # A till whose tickets carry no signature over their lines (Odoo's sums come from its lines): nothing but the
    # line itself says that an older ticket changed.
    with_sql(store, "tickets", unsigned=True)
    archive_json(store)
    with sqlite3.connect(store.db) as conn:
        conn.execute("INSERT INTO ticket_lines (ticket_id, line_no, product_id, label, quantity, unit_price_cents, "
                     "discount_cents, vat_rate_bp, line_total_ttc) SELECT ticket_id, 99, product_id, label, quantity, "
                     "unit_price_cents, discount_cents, vat_rate_bp, line_total_ttc FROM ticket_lines ORDER BY id "
                     "LIMIT 1")
    sell(store.db, 2)
    evening, _ = archive_json(store)
    assert evening["journals"]["checked"] == "all records", evening["journals"]
    assert "lines or payments were added to tickets checked at an earlier run" in \
        evening["journals"]["all_records_because"]
    # Checked again, the older ticket no longer adds up to its lines, nor its day to its closure: said.
    assert {"ticket_lines", "closure_lines"} <= {f["check"] for f in evening["findings"]}, evening["findings"]
    run = store.run_dirs(store.destinations[0])[-1]
    lines = json.loads((open_journals(run, store.identity, tmp_path / "x") / "ticket_lines.json").read_text("utf-8"))
    assert [line["line_no"] for line in lines].count(99) == 1


def test_a_business_day_read_from_the_computers_zone_checks_everything_at_every_run(store):
    with_sql(store, "tickets", day="date(timestamp, 'localtime')")
    for zone in ("UTC", "Pacific/Kiritimati"):
        res = run_coffre("archive", "--config", store.config, "--yes", "--json", env={"TZ": zone})
        assert res.code in (0, 5), res
    journals = json.loads(res.out)["journals"]
    assert journals["checked"] == "all records" and "date" in journals["all_records_because"], journals


def test_a_window_function_voids_the_word_of_a_mapping_that_vouches(store, tmp_path):
    # Each ticket names the next one of its register: a window over the tickets, which tonight's sales extend.
    with_sql(store, "tickets", ("coffre_local_time(t.timestamp) AS local_time",
                                "coffre_local_time(t.timestamp) || COALESCE(' > ' || lead(t.number) OVER "
                                "(PARTITION BY t.register_id ORDER BY t.number), '') AS local_time"))
    after_sales_everything_is_checked(store, "computes a window function")
    run = store.run_dirs(store.destinations[0])[-1]
    same_records_as_a_full_export(store, open_journals(run, store.identity, tmp_path / "x"), tmp_path)


def after_sales_everything_is_checked(store, because: str) -> None:
    """A first run, two sales, and an evening that checks all records, saying `because`."""
    archive_json(store)
    sell(store.db, 2)
    evening, _ = archive_json(store)
    assert evening["journals"]["checked"] == "all records", evening["journals"]
    assert because in evening["journals"]["all_records_because"], evening["journals"]


def everything_is_checked(store, tmp_path, because: str):
    """An archive that checks all records, saying `because`: the folder of its journals, opened."""
    evening, _ = archive_json(store)
    assert evening["journals"]["checked"] == "all records", evening["journals"]
    assert because in evening["journals"]["all_records_because"], evening["journals"]
    return open_journals(store.run_dirs(store.destinations[0])[-1], store.identity, tmp_path / "x")


def test_new_planner_statistics_write_every_record_again(store):
    # ANALYZE (or a till's PRAGMA optimize) can change the plan, and with it the order of what a mapping aggregates
    # without saying one.
    archive_json(store)
    with sqlite3.connect(store.db) as conn:
        conn.execute("ANALYZE")
    evening, _ = archive_json(store)
    assert evening["journals"]["checked"] == "all records", evening["journals"]
    assert "planner statistics" in evening["journals"]["all_records_because"]
    again, _ = archive_json(store)
    assert again["journals"]["checked"] == "new records only", again["journals"]


def test_an_evening_that_checks_everything_says_why_in_the_persons_language(store):
    """Found by review: only --json said why an evening checked every record (and took a first run's time)."""
    said = "Every record was checked, not only the new ones"
    first = run_coffre("archive", "--config", store.config, "--yes")
    assert first.code == 0 and said not in first.err, first  # a first run checks everything: nothing to explain
    sell(store.db, 2)
    evening = run_coffre("archive", "--config", store.config, "--yes")
    assert evening.code == 0 and said not in evening.err, evening
    kept = cache_dir(store) / "tickets.csv.zst"
    data = bytearray(kept.read_bytes())
    data[len(data) // 2] ^= 0x01
    kept.write_bytes(bytes(data))
    sell(store.db, 2)
    res = run_coffre("archive", "--config", store.config, "--yes", env={"COFFRE_LANG": "fr"})
    assert res.code == 0, res
    assert ("Tous les enregistrements ont été vérifiés, pas seulement les nouveaux : les journaux conservés de la "
            "dernière sauvegarde ne correspondent pas à leur relevé.") in res.err, res.err
