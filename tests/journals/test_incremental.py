"""Runs after a clean one check and compress only the new records, yet every run carries all of them, and any
change to an older record (or to the frames kept from earlier runs) makes the run check everything again."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter

from conftest import run_coffre

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
            assert Counter(got.splitlines()) == Counter(want.splitlines()), f"{name}.{ext}"
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
