"""A French till's business day is its local date: a sale at 00:30 on 1 January in Paris (23:30 UTC on 31 December)
belongs to the new year's Z, everywhere Coffre and the inspector's verify.py look at it."""

from __future__ import annotations

import csv
import json
import sqlite3
import subprocess

import pytest

from conftest import need_tool, open_package, run_coffre

PASSWORD = "nuit-de-la-saint-sylvestre-2025"


@pytest.fixture
def night_store(tmp_path, other_disk):
    """A two-register till on Paris time with three sales a night after midnight, over New Year."""
    db = tmp_path / "shop" / "bar.db"
    db.parent.mkdir()
    res = run_coffre("sample-db", db, "--days", "4", "--start", "2024-12-30", "--timezone", "Europe/Paris",
                     "--night-sales", "3", "--tickets-per-day", "40", "--seed", "5")
    assert res.code == 0, res
    (other_disk / "usb").mkdir()
    config = tmp_path / "etc" / "coffre.toml"
    res = run_coffre("init", "--config", config, "--source", f"sqlite:{db}", "--to", other_disk / "usb",
                     "--i-know", "--identity-out", tmp_path / "off" / "id.txt", "--store-id", "bar")
    assert res.code == 0, res
    return db, config, tmp_path / "off" / "id.txt"


def _new_year_night_sale(db) -> tuple[str, int, str]:
    row = sqlite3.connect(db).execute(
        "SELECT r.code, t.number, t.timestamp FROM tickets t JOIN registers r ON r.id = t.register_id "
        "WHERE t.timestamp BETWEEN '2024-12-31T23:00:00Z' AND '2024-12-31T23:59:59Z' ORDER BY t.timestamp").fetchone()
    assert row, "the sample has a sale between midnight and 1 a.m. Paris time on 1 January"
    return row


def test_a_sale_after_midnight_on_new_years_eve_is_in_the_new_years_z(night_store, tmp_path):
    db, config, identity = night_store
    register, number, stamp = _new_year_night_sale(db)

    archived = run_coffre("archive", "--config", config, "--yes", "--json")
    assert archived.code == 0, archived
    assert json.loads(archived.out)["findings"] == []

    out = tmp_path / "jan1"
    res = run_coffre("journals", "export", "--config", config, "--out", out, "--period", "2025-01-01..2025-01-01")
    assert res.code == 0, res
    with open(out / "tickets.csv", encoding="utf-8-sig", newline="") as f:
        tickets = {(r["register"], int(r["number"])): r for r in csv.DictReader(f, delimiter=";")}
    sale = tickets[(register, number)]
    assert sale["timestamp"] == stamp and sale["business_day"] == "2025-01-01"
    assert sale["local_time"].startswith("2025-01-01T00:") and sale["local_time"].endswith("+01:00")
    with open(out / "closures.csv", encoding="utf-8-sig", newline="") as f:
        z = [r for r in csv.DictReader(f, delimiter=";") if r["register"] == register and r["kind"] == "daily"]
    assert [r["period_start"] for r in z] == ["2025-01-01"]
    counted = sum(1 for (reg, _), t in tickets.items() if reg == register and t["type"] != "training")
    assert int(z[0]["ticket_count"]) == counted  # the night sale is one of them

    # The package of 1 January, re-checked by the inspector's bare python3: the same day rule, no finding.
    package = tmp_path / "audit.zip"
    res = run_coffre("export-auditor", "--config", config, "--identity", identity, "--period", "2025-01-01..2025-01-01",
                     "--out", package, "--password-env", "AUDIT_PW", env={"AUDIT_PW": PASSWORD})
    assert res.code == 0, res
    root = open_package(package, tmp_path / "x", PASSWORD)
    check = subprocess.run([need_tool("python3"), "-I", "verify.py"], cwd=root, capture_output=True, text=True)
    assert check.returncode == 0 and "aucun constat" in check.stdout, check.stdout + check.stderr


def test_the_utc_day_rule_would_accuse_this_till(night_store, tmp_path):
    """The same till read on UTC days: its night sales land on the eve, and the Z of both days stop adding up.
    This is what every French till got before the time zone: false findings (and the wrong fiscal year)."""
    db, config, _ = night_store
    text = config.read_text().replace('timezone = "Europe/Paris"', 'timezone = "UTC"')
    assert text != config.read_text()
    config.write_text(text)
    res = run_coffre("journals", "export", "--config", config, "--out", tmp_path / "utc")
    assert res.code == 5, res
    found = json.loads((tmp_path / "utc" / "findings.json").read_text(encoding="utf-8"))["findings"]
    assert {(f["journal"], f["check"]) for f in found} >= {("closures", "closure_total")}
    assert any(f["record"].get("period_start") == "2025-01-01" for f in found), found


def test_an_unknown_time_zone_is_one_sentence(night_store):
    _, config, _ = night_store
    config.write_text(config.read_text().replace('timezone = "Europe/Paris"', 'timezone = "Europe/Lutece"'))
    res = run_coffre("status", "--config", config)
    assert res.code == 2 and "is not a time zone" in res.err and "Traceback" not in res.err, res
