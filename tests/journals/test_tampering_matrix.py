"""The tampering matrix: 29 ways to alter a till's records, each named in the four places a finding must reach.

For every kind, on a shop archived once clean: the evening archive (exit 5), `journals export` (exit 5),
export-auditor's report (exit 5, the finding listed) and the package's own verify.py under the system python3
(exit 1) each name the expected check. And no finding on 100 clean seeds.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import need_tool, open_package, run_coffre, verify_py_folder

from pipeline.journals.checks import check_journals
from pipeline.journals.connection import add_functions
from pipeline.journals.mapping import load_mapping, payload_sql
from pipeline.sample import generate
from pipeline.sample.chain import derive_private_key, sign

PASSWORD = "matrice-des-falsifications-2025"
KEY = derive_private_key(7)  # the till key of conftest's sample shop (--seed 7)
OTHER_KEY = derive_private_key(99)
T = "(SELECT t.id FROM tickets t JOIN registers r ON r.id = t.register_id WHERE r.code = '{}' AND t.number = {})"


def resign_tickets(conn, register: str, key=KEY) -> None:
    """Re-signs a register's ticket chain from its first record, as a holder of the till key would after a change."""
    j = load_mapping().journals["tickets"]
    prev = ""
    for (tid,) in conn.execute("SELECT t.id FROM tickets t JOIN registers r ON r.id = t.register_id WHERE r.code = ? "
                               "ORDER BY t.number", (register,)).fetchall():
        conn.execute("UPDATE tickets SET previous_signature = ? WHERE id = ?", (prev, tid))
        (payload,) = conn.execute(f"SELECT {payload_sql(j.payload)} FROM ({j.full_sql}) WHERE source_id = ?",
                                  (tid,)).fetchone()
        prev = sign(key, payload)
        conn.execute("UPDATE tickets SET signature = ? WHERE id = ?", (prev, tid))


def _insert_copy(conn, table: str, row_id: int, **values) -> None:
    """A copy of a row with some columns set to SQL expressions: a record forged from a real one."""
    cols = [r[1] for r in conn.execute(f"PRAGMA table_info({table})") if r[1] != "id"]
    sel = ", ".join(values.get(c, c) for c in cols)
    conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {sel} FROM {table} WHERE id = {row_id}")


def _ticket_id(conn, register: str, number: int) -> int:
    return conn.execute(f"SELECT {T.format(register, number)}").fetchone()[0]


def _reorder(conn) -> None:
    a, b = (_ticket_id(conn, "CAISSE-01", n) for n in (30, 31))
    conn.execute("UPDATE tickets SET number = 100000 WHERE id = ?", (a,))
    conn.execute("UPDATE tickets SET number = 30 WHERE id = ?", (b,))
    conn.execute("UPDATE tickets SET number = 31 WHERE id = ?", (a,))


def _resigned_after_change(conn) -> None:
    conn.execute(f"UPDATE tickets SET ht_2000 = ht_2000 + 500, total_ht = total_ht + 500, total_ttc = total_ttc + 500 "
                 f"WHERE id = {T.format('CAISSE-02', 20)}")
    resign_tickets(conn, "CAISSE-02")


def _resigned_other_key(conn) -> None:
    resign_tickets(conn, "CAISSE-01", OTHER_KEY)


def _tail_deleted(conn) -> None:
    for n in (1, 2, 3):
        tid = conn.execute("SELECT max(t.id) FROM tickets t JOIN registers r ON r.id = t.register_id "
                           "WHERE r.code = 'CAISSE-01'").fetchone()[0]
        for table in ("ticket_lines", "payments", "duplicates"):
            conn.execute(f"DELETE FROM {table} WHERE ticket_id = ?", (tid,))
        conn.execute("DELETE FROM tickets WHERE id = ?", (tid,))


def _line_product(conn) -> None:
    """Another product of the same price and rate: no sum can see it, only the signed digest of the lines."""
    lid, other = conn.execute(
        "SELECT l.id, p2.id FROM ticket_lines l JOIN products p1 ON p1.id = l.product_id JOIN products p2 "
        "ON p2.unit_price_cents = p1.unit_price_cents AND p2.vat_rate_bp = p1.vat_rate_bp AND p2.id <> p1.id "
        "ORDER BY l.id LIMIT 1").fetchone()
    conn.execute("UPDATE ticket_lines SET product_id = ? WHERE id = ?", (other, lid))


# kind -> (tampering, the (journal, check) every place must name)
MATRIX: dict[str, tuple] = {
    "ticket amount changed": (f"UPDATE tickets SET total_ttc = total_ttc + 100 WHERE id = {T.format('CAISSE-01', 42)}",
                              ("tickets", "signature")),
    "ticket total HT changed (unsigned)": (
        f"UPDATE tickets SET total_ht = total_ht - 100 WHERE id = {T.format('CAISSE-01', 43)}", ("tickets", "breakdown")),
    "ticket rate amount changed": (f"UPDATE tickets SET ht_550 = ht_550 + 7 WHERE id = {T.format('CAISSE-02', 11)}",
                                   ("tickets", "signature")),
    "ticket time changed": (f"UPDATE tickets SET timestamp = replace(timestamp, 'T1', 'T0') "
                            f"WHERE id = {T.format('CAISSE-02', 12)}", ("tickets", "signature")),
    "ticket deleted": (f"DELETE FROM tickets WHERE id = {T.format('CAISSE-02', 57)}", ("tickets", "numbering_gap")),
    "ticket inserted": (lambda c: _insert_copy(c, "tickets", _ticket_id(c, "CAISSE-01", 50),
                                               number="(SELECT max(number) + 1 FROM tickets WHERE register_id = 1)"),
                        ("tickets", "chain_link")),
    "tickets reordered": (_reorder, ("tickets", "chain_link")),
    "chain re-signed after a change": (_resigned_after_change, ("closures", "closure_total")),
    "chain re-signed with another key": (_resigned_other_key, ("tickets", "signature")),
    "tail deleted": (_tail_deleted, ("closures", "closure_total")),
    "line quantity changed": ("UPDATE ticket_lines SET quantity = quantity + 1 WHERE id = 25",
                              ("ticket_lines", "line_arithmetic")),
    "line product swapped": (_line_product, ("tickets", "signature")),
    "line deleted": ("DELETE FROM ticket_lines WHERE id = 31", ("tickets", "ticket_lines")),
    "line inserted": (lambda c: _insert_copy(c, "ticket_lines", 40, line_no="99"), ("tickets", "ticket_lines")),
    "payment means changed": ("UPDATE payments SET means = CASE means WHEN 'cash' THEN 'card' ELSE 'cash' END "
                              "WHERE id = 17", ("tickets", "signature")),
    "payment amount changed": ("UPDATE payments SET amount_cents = amount_cents - 50 WHERE id = 18",
                               ("tickets", "payments")),
    "payment deleted": ("DELETE FROM payments WHERE id = 19", ("tickets", "payments")),
    "operator changed": (f"UPDATE tickets SET operator_id = operator_id % 6 + 1 WHERE id = {T.format('CAISSE-01', 60)}",
                         ("tickets", "signature")),
    "refund link changed": ("UPDATE tickets SET original_ticket_id = (SELECT min(id) FROM tickets WHERE type = 'sale' "
                            "AND id <> tickets.original_ticket_id) WHERE id = (SELECT min(id) FROM tickets "
                            "WHERE type = 'refund')", ("tickets", "signature")),
    "JET event deleted": ("DELETE FROM jet WHERE seq = 20", ("jet", "numbering_gap")),
    "JET event changed": ("UPDATE jet SET label = 'rien' WHERE seq = 21", ("jet", "signature")),
    "JET closure event removed and renumbered": (
        "DELETE FROM jet WHERE id = (SELECT min(id) FROM jet WHERE code = 80)", ("closures", "jet_missing")),
    "closure total changed": ("UPDATE closures SET total_ttc = total_ttc + 1 WHERE id = 1", ("closures", "signature")),
    "closure deleted": ("DELETE FROM closures WHERE id = 3", ("closures", "chain_link")),
    "duplicate deleted": ("DELETE FROM duplicates WHERE id = (SELECT min(id) FROM duplicates)", ("jet", "jet_orphan")),
    # A blob where a till writes text (the checks stopped on it): read as the text it spells, as the export writes it.
    "signature replaced by a blob": (f"UPDATE tickets SET signature = X'01022a' WHERE id = {T.format('CAISSE-01', 44)}",
                                     ("tickets", "signature")),
    # Bytes that are not UTF-8 in a text (a bit flipped on the till's disk) stopped the export and the checks: read
    # with \xHH in their place, by Coffre and by the inspector's verify.py alike, their records do not verify.
    "a ticket time that is not UTF-8": (f"UPDATE tickets SET timestamp = CAST(timestamp || X'ff' AS TEXT) "
                                        f"WHERE id = {T.format('CAISSE-02', 14)}", ("tickets", "signature")),
    "a product code that is not UTF-8": ("UPDATE products SET sku = CAST(X'33ff37' AS TEXT) WHERE id = "
                                         "(SELECT product_id FROM ticket_lines WHERE id = 26)", ("tickets", "signature")),
    "a JET label that is not UTF-8": ("UPDATE jet SET label = CAST(label || X'c3' AS TEXT) WHERE seq = 22",
                                      ("jet", "signature")),
}
assert len(MATRIX) == 29


def _tamper(db: Path, how) -> None:
    conn = add_functions(sqlite3.connect(db))
    if callable(how):
        how(conn)
    else:
        assert conn.execute(how).rowcount >= 1, how
    conn.commit()
    conn.close()


def _keys(findings) -> set[tuple[str, str]]:
    return {(f["journal"], f["check"]) for f in findings}


@pytest.fixture(scope="module")
def clean_store(tmp_path_factory, sample_db_template):
    """The conftest sample shop, its store initialised and archived once clean: the template each kind copies."""
    base = tmp_path_factory.mktemp("matrix-base")
    shutil.copytree(sample_db_template.parent, base / "shop")
    usb = Path("/dev/shm") / f"coffre-matrix-{uuid.uuid4().hex[:12]}"  # another device than the till's disk
    usb.mkdir()
    (usb / "usb").mkdir()  # init refuses a destination folder that does not exist
    res = run_coffre("init", "--config", base / "etc" / "coffre.toml", "--source", f"sqlite:{base / 'shop' / 'caisse.db'}",
                     "--to", usb / "usb", "--i-know", "--identity-out", base / "off" / "id.txt", "--store-id", "matrice")
    assert res.code == 0, res
    res = run_coffre("archive", "--config", base / "etc" / "coffre.toml", "--yes", "--json")
    assert res.code == 0 and json.loads(res.out)["findings"] == [], res
    yield base, usb
    shutil.rmtree(usb, ignore_errors=True)


def _copy_store(clean_store, tmp_path: Path) -> tuple[Path, Path]:
    """A private copy of the archived store (config, record, copy, database), its paths rewritten."""
    base, usb = clean_store
    here = tmp_path / "store"
    shutil.copytree(base, here, symlinks=True)
    dest = Path("/dev/shm") / f"coffre-matrix-{uuid.uuid4().hex[:12]}"
    shutil.copytree(usb, dest, symlinks=True)
    config = here / "etc" / "coffre.toml"
    config.write_text(config.read_text().replace(str(base), str(here)).replace(str(usb), str(dest)))
    for p in (here / "etc" / "state").rglob("*.json"):
        p.write_text(p.read_text().replace(str(base), str(here)).replace(str(usb), str(dest)))
    return here, dest


@pytest.mark.slow
@pytest.mark.parametrize("kind", list(MATRIX))
def test_each_tampering_is_named_by_archive_export_report_and_verify_py(clean_store, tmp_path, kind):
    how, (journal, check) = MATRIX[kind]
    here, dest = _copy_store(clean_store, tmp_path)
    config = here / "etc" / "coffre.toml"
    try:
        _tamper(here / "shop" / "caisse.db", how)

        archived = run_coffre("archive", "--config", config, "--yes", "--json")
        assert archived.code == 5, archived
        assert (journal, check) in _keys(json.loads(archived.out)["findings"]), archived.out

        res = run_coffre("journals", "export", "--config", config, "--out", tmp_path / "export")
        assert res.code == 5, res
        found = json.loads((tmp_path / "export" / "findings.json").read_text(encoding="utf-8"))["findings"]
        assert (journal, check) in _keys(found), found

        package = tmp_path / "audit.zip"
        res = run_coffre("export-auditor", "--config", config, "--identity", here / "off" / "id.txt",
                         "--period", "2025-01-01..2025-01-03", "--out", package, "--password-env", "AUDIT_PW",
                         env={"AUDIT_PW": PASSWORD})
        assert res.code == 5, res
        root = open_package(package, tmp_path / "x", PASSWORD)
        report = (root / "rapport.html").read_text(encoding="utf-8")
        assert "Tous les contrôles sont satisfaits" not in report
        in_package = json.loads((root / "journals" / "findings.json").read_text(encoding="utf-8"))["findings"]
        runs = json.loads((root / "run" / "runs.json").read_text(encoding="utf-8"))["runs"]
        named_then = any(f"{journal}/{check}" in r["by_check"] for r in runs)
        assert (journal, check) in _keys(in_package) or named_then, (in_package, runs)
        assert f"{journal}/{check}" in report or any(f["journal"] == journal for f in in_package), report[-3000:]

        checked = subprocess.run([need_tool("python3"), "-I", "verify.py"], cwd=root, capture_output=True, text=True)
        assert checked.returncode == 1, checked.stdout + checked.stderr
        assert "RÉSULTAT : tout est conforme" not in checked.stdout
        assert f"{journal} [" in checked.stdout or f"journals/{journal}.csv" in checked.stdout, checked.stdout
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@pytest.mark.slow
def test_no_false_finding_on_100_clean_seeds(tmp_path, vs):
    """100 clean shops (half of them Paris-time tills selling after midnight): no finding from Coffre's checks of the
    journals, nor from the inspector's verify.py on the journals Coffre exports (every signature, every rule)."""
    mapping = load_mapping()
    for seed in range(1, 101):
        db = tmp_path / f"s{seed}.db"
        zone, night = ("Europe/Paris", seed % 4) if seed % 2 else (None, 0)
        generate(db, days=2 + seed % 3, tickets_per_day=15 + seed % 20, seed=seed, zone=zone, night_sales=night)
        conn = add_functions(sqlite3.connect(db))
        try:
            result = check_journals(conn, mapping)
        finally:
            conn.close()
        assert result.findings == [], (seed, [f.sentence() for f in result.findings[:5]])
        assert result.signatures_verified > 0
        root = tmp_path / f"p{seed}"
        outcome = verify_py_folder(db, root, vs, context={"seed": seed})
        assert outcome.checks.findings == []
        report = vs.verify(str(root), say=lambda *a: None)
        assert report.total() == 0, (seed, [vs.Report.sentence(f) for f in report.findings[:5]])
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(root)


def _archive(config) -> dict:
    res = run_coffre("archive", "--config", config, "--yes", "--json")
    assert res.code in (0, 5), res
    return dict(json.loads(res.out), exit_code=res.code)


def _package_verdict(config: Path, here: Path, tmp_path: Path) -> tuple[int, subprocess.CompletedProcess]:
    package = tmp_path / "audit.zip"
    res = run_coffre("export-auditor", "--config", config, "--identity", here / "off" / "id.txt",
                     "--period", "2025-01-01..2025-01-03", "--out", package, "--password-env", "AUDIT_PW",
                     env={"AUDIT_PW": PASSWORD})
    root = open_package(package, tmp_path / "x", PASSWORD)
    return res.code, subprocess.run([need_tool("python3"), "-I", "verify.py"], cwd=root, capture_output=True, text=True)


@pytest.mark.slow
def test_a_chain_re_signed_with_the_till_key_is_named_even_beside_a_decoy(clean_store, tmp_path):
    """A forger holding the till key re-signs a register's chain after a change, and breaks one signature on the
    other register as a decoy: the re-signed chain is named all the same, and stays in the package once the decoy
    is undone and the forged chain has become the next runs' reference."""
    here, dest = _copy_store(clean_store, tmp_path)
    config = here / "etc" / "coffre.toml"
    db = here / "shop" / "caisse.db"
    try:
        def forge(conn):
            conn.execute(f"UPDATE tickets SET operator_id = operator_id % 6 + 1 WHERE id = {T.format('CAISSE-01', 60)}")
            resign_tickets(conn, "CAISSE-01")
            conn.execute(f"UPDATE tickets SET total_ttc = total_ttc + 1 WHERE id = {T.format('CAISSE-02', 5)}")
        _tamper(db, forge)
        run = _archive(config)
        assert run["exit_code"] == 5
        named = {(f["check"], f["record"].get("register")) for f in run["findings"]}
        assert ("chain_changed", "CAISSE-01") in named, run["findings"]
        _tamper(db, f"UPDATE tickets SET total_ttc = total_ttc - 1 WHERE id = {T.format('CAISSE-02', 5)}")
        assert _archive(config)["exit_code"] == 0  # the forged chain verifies: only the runs' record remembers
        code, checked = _package_verdict(config, here, tmp_path)
        assert code == 5
        assert checked.returncode == 1 and "chain_changed" in checked.stdout, checked.stdout
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@pytest.mark.slow
def test_a_deletion_in_the_middle_is_named_where_it_is_not_as_a_tail_deletion(clean_store, tmp_path):
    here, dest = _copy_store(clean_store, tmp_path)
    try:
        def delete_middle(conn):
            tid = _ticket_id(conn, "CAISSE-01", 100)
            for table in ("ticket_lines", "payments", "duplicates"):
                conn.execute(f"DELETE FROM {table} WHERE ticket_id = ?", (tid,))
            conn.execute("DELETE FROM tickets WHERE id = ?", (tid,))
        _tamper(here / "shop" / "caisse.db", delete_middle)
        run = _archive(here / "etc" / "coffre.toml")
        checks = {(f["journal"], f["check"]) for f in run["findings"]}
        assert {("tickets", "chain_link"), ("tickets", "numbering_gap")} <= checks, run["findings"]
        assert ("tickets", "tail_deleted") not in checks, run["findings"]
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@pytest.mark.slow
def test_a_ticket_without_lines_or_payments_is_no_finding_anywhere(clean_store, tmp_path):
    """A 0 EUR training ticket, validly signed, with no line and no payment: its digests are those of nothing."""
    here, dest = _copy_store(clean_store, tmp_path)
    config = here / "etc" / "coffre.toml"
    try:
        def empty_ticket(conn):
            j = load_mapping().journals["tickets"]
            rid, number, prev, ts = conn.execute(
                "SELECT t.register_id, t.number, t.signature, t.timestamp FROM tickets t JOIN registers r "
                "ON r.id = t.register_id WHERE r.code = 'CAISSE-01' ORDER BY t.number DESC LIMIT 1").fetchone()
            cols = ("register_id, number, type, timestamp, operator_id, ht_550, tva_550, ht_1000, tva_1000, ht_2000, "
                    "tva_2000, total_ht, total_tva, total_ttc, previous_signature, signature")
            tid = conn.execute(f"INSERT INTO tickets ({cols}) VALUES (?, ?, 'training', ?, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, "
                               f"?, '')", (rid, number + 1, ts, prev)).lastrowid
            (payload,) = conn.execute(f"SELECT {payload_sql(j.payload)} FROM ({j.full_sql}) WHERE source_id = ?",
                                      (tid,)).fetchone()
            conn.execute("UPDATE tickets SET signature = ? WHERE id = ?", (sign(KEY, payload), tid))
        _tamper(here / "shop" / "caisse.db", empty_ticket)
        run = _archive(config)
        assert run["exit_code"] == 0 and run["findings"] == [], run["findings"]
        code, checked = _package_verdict(config, here, tmp_path)
        assert code == 0 and checked.returncode == 0, checked.stdout
    finally:
        shutil.rmtree(dest, ignore_errors=True)


@pytest.mark.slow
def test_a_till_key_added_after_the_first_run_is_named(clean_store, tmp_path):
    """A forger adds a key of their own, backdated, and re-signs a chain with it: the new key is named, and the
    re-signed chain too."""
    from pipeline.sample.chain import key_id, public_key_b64

    here, dest = _copy_store(clean_store, tmp_path)
    try:
        def new_key(conn):
            pub = OTHER_KEY.public_key()
            conn.execute("INSERT INTO till_keys (key_id, algorithm, public_key_b64, valid_from) "
                         "VALUES (?, 'ed25519', ?, '2024-01-01T00:00:00Z')", (key_id(pub), public_key_b64(pub)))
            resign_tickets(conn, "CAISSE-01", OTHER_KEY)
        _tamper(here / "shop" / "caisse.db", new_key)
        run = _archive(here / "etc" / "coffre.toml")
        assert run["exit_code"] == 5
        named = {(f["journal"], f["check"]) for f in run["findings"]}
        assert {("till_keys", "till_key_added"), ("tickets", "chain_changed")} <= named, run["findings"]
        added = [f for f in run["findings"] if f["check"] == "till_key_added"]
        assert added[0]["record"]["public_key"] == public_key_b64(OTHER_KEY.public_key())
        assert _archive(here / "etc" / "coffre.toml")["exit_code"] == 0  # said once; the runs' record keeps it
    finally:
        shutil.rmtree(dest, ignore_errors=True)
