"""Odoo's and Dolibarr's own chains end to end, as a shop runs them on the real servers: sample-db, init --mapping,
archive with no finding; then each way of touching a sealed record after the till sealed it (a changed quantity, a
deleted order, an edited date, a re-ordered payment list; the blocked log's amounts, its object_data, a deleted row,
an edited date, in V1 and V2 rows) is named by `archive --json` and by the inspector's verify.py, out of the package
opened with the stock 7-Zip and run with the stock python3, by the till's own reference or sequence number."""

from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest

from conftest import need_tool, open_package, run_coffre

pytestmark = pytest.mark.slow

NEEDS_PERSON = 5
PASSWORD = "Contrôle-2025!"
PERIOD = "2025-01-01..2025-01-03"  # sample-db's three days from its default start


def chain_findings(res) -> list[tuple[str, int | None, str | None]]:
    """The source chain's findings of `archive --json`: (check, sequence, reference), in the order said."""
    found = json.loads(res.out)["findings"]
    return [(f["check"], f["record"].get("sequence"), f["record"].get("reference")) for f in found
            if f["journal"] == "source_chain"]


def inspect(config: Path, identity: Path, tmp: Path, env: dict, *verify_args: str) -> list[tuple[int, str]]:
    """The inspector's package for the period, opened with 7z; verify.py run with the stock python3, once per set of
    arguments given as tuples. Returns [(exit code, stdout)]."""
    out = tmp / "controle.zip"
    res = run_coffre("export-auditor", "--config", config, "--identity", identity, "--period", PERIOD, "--out", out,
                     "--password-env", "AUDIT_PW", env={**env, "AUDIT_PW": PASSWORD, "COFFRE_DEBUG": "1"})
    assert res.code in (0, NEEDS_PERSON), res
    root = open_package(out, tmp / "inspector", PASSWORD)
    assert (root / "chains").is_dir()
    python3 = need_tool("python3")
    done = []
    for args in verify_args or ((),):
        checked = subprocess.run([python3, "-I", str(root / "verify.py"), *args], capture_output=True, text=True,
                                 cwd=tmp, timeout=300)
        done.append((checked.returncode, checked.stdout + checked.stderr))
    return done


def said(stdout: str) -> list[str]:
    """verify.py's findings about the till's own chain, one line each."""
    return [line for line in stdout.splitlines() if line.startswith("  - source_chain")]


def _names(lines: list[str], words: list[str], out: str) -> None:
    assert len(lines) == len(words), out
    for line, word in zip(lines, words):
        assert line.startswith("  - source_chain " + word), (line, word)


# --------------------------------------------------------------------------------------------------------------------
# Odoo on PostgreSQL
# --------------------------------------------------------------------------------------------------------------------


class Odoo:
    def __init__(self, server, tmp: Path):
        self.server, self.tmp = server, tmp
        self.env = {"PGPASSFILE": str(server.pgpass(tmp / "pgpass"))}
        self.template = server.new_database()

    def sql(self, database: str, sql: str) -> str:
        return self.server.psql(sql, database).stdout.strip()

    def copy(self) -> str:
        """A fresh database, the sample's copy (PostgreSQL's TEMPLATE: the same rows, byte for byte)."""
        name = f"odoo_{secrets.token_hex(4)}"
        self.server.psql(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}" OWNER coffre')
        return name


@pytest.fixture(scope="module")
def odoo(postgresql_server, tmp_path_factory):
    for name in ("psql", "pg_dump"):
        need_tool(name)
    shop = Odoo(postgresql_server, tmp_path_factory.mktemp("odoo"))
    res = run_coffre("sample-db", "--mapping", "odoo-pos", postgresql_server.uri(shop.template), "--days", "3",
                     "--tickets-per-day", "20", env=shop.env)
    assert res.code == 0, res
    return shop


def _init(uri: str, tmp: Path, other_disk: Path, env: dict, mapping: str, *more) -> tuple[Path, Path]:
    config = tmp / "etc" / "coffre.toml"
    identity = tmp / "keys" / "identity.txt"
    (other_disk / "usb").mkdir(parents=True, exist_ok=True)
    res = run_coffre("init", "--config", config, "--source", uri, "--to", other_disk / "usb", "--i-know",
                     "--identity-out", identity, "--store-id", "caisse", "--mapping", mapping, *more, env=env)
    assert res.code == 0, res
    return config, identity


def _order(odoo: Odoo, database: str, sequence: int) -> tuple[int, str]:
    row = odoo.sql(database, f"SELECT id, pos_reference FROM pos_order WHERE l10n_fr_secure_sequence_number = {sequence}")
    oid, reference = row.split("|")
    return int(oid), reference


def _qty(odoo, db, seq):
    oid, ref = _order(odoo, db, seq)
    odoo.sql(db, f"UPDATE pos_order_line SET qty = qty + 1 WHERE id = (SELECT min(id) FROM pos_order_line "
                 f"WHERE order_id = {oid})")
    return [("source_seal", seq, ref)], [f"[chaîne 1, séquence {seq}, référence {ref}] : son sceau (odoo-pos-sha256) "
                                         "ne correspond pas"]


def _deleted(odoo, db, seq):
    oid, _ref = _order(odoo, db, seq)
    _next_oid, next_ref = _order(odoo, db, seq + 1)
    odoo.sql(db, f"DELETE FROM account_tax_pos_order_line_rel WHERE pos_order_line_id IN (SELECT id FROM "
                 f"pos_order_line WHERE order_id = {oid}); DELETE FROM pos_order_line WHERE order_id = {oid}; "
                 f"DELETE FROM pos_payment WHERE pos_order_id = {oid}; DELETE FROM pos_order WHERE id = {oid}")
    return ([("source_gap", seq, None), ("source_link", seq + 1, next_ref)],
            # The package holds a period: its walk does not hold a record to one outside it, so the gap alone.
            [f"[chaîne 1, séquence {seq}] : numéro(s) de séquence {seq} absent(s) avant {seq + 1}"])


def _date(odoo, db, seq):
    oid, ref = _order(odoo, db, seq)
    odoo.sql(db, f"UPDATE pos_order SET date_order = date_order - interval '3 minutes' WHERE id = {oid}")
    return [("source_seal", seq, ref)], [f"[chaîne 1, séquence {seq}, référence {ref}] : son sceau (odoo-pos-sha256) "
                                         "ne correspond pas"]


def _payments(odoo, db, seq):
    oid, ref = _order(odoo, db, seq)
    # The order's first payment deleted and written again under a new id: the same money, the list reads otherwise.
    odoo.sql(db, f"INSERT INTO pos_payment (id, name, pos_order_id, amount, payment_method_id, payment_date, "
                 f"session_id, company_id, is_change) SELECT (SELECT max(id) + 1 FROM pos_payment), name, pos_order_id, "
                 f"amount, payment_method_id, payment_date, session_id, company_id, is_change FROM pos_payment WHERE "
                 f"id = (SELECT min(id) FROM pos_payment WHERE pos_order_id = {oid}); DELETE FROM pos_payment WHERE "
                 f"id = (SELECT min(id) FROM pos_payment WHERE pos_order_id = {oid})")
    return [("source_seal", seq, ref)], [f"[chaîne 1, séquence {seq}, référence {ref}] : son sceau (odoo-pos-sha256) "
                                         "ne correspond pas"]


ODOO_CASES = {"line-quantity": (_qty, 7), "deleted-order": (_deleted, 23), "date-order": (_date, 41),
              "payment-list": (_payments, None)}


@pytest.mark.parametrize("case", list(ODOO_CASES))
def test_odoo_each_touch_of_a_sealed_order_is_named_by_archive_and_by_verify(odoo, case, tmp_path, other_disk):
    db = odoo.copy()
    config, identity = _init(odoo.server.uri(db), tmp_path, other_disk, odoo.env, "odoo-pos")
    clean = run_coffre("archive", "--config", config, "--json", env=odoo.env)
    assert clean.code == 0, clean
    summary = json.loads(clean.out)
    assert summary["findings"] == [], summary["findings"]
    hashed = int(odoo.sql(db, "SELECT count(*) FROM pos_order WHERE l10n_fr_hash IS NOT NULL"))
    assert summary["journals"]["records"]["source_chain"] == hashed, summary["journals"]

    touch, seq = ODOO_CASES[case]
    if seq is None:  # an order paid in two parts
        seq = int(odoo.sql(db, "SELECT min(o.l10n_fr_secure_sequence_number) FROM pos_order o WHERE (SELECT count(*) "
                               "FROM pos_payment p WHERE p.pos_order_id = o.id) > 1"))
    expected, words = touch(odoo, db, seq)
    res = run_coffre("archive", "--config", config, "--json", env=odoo.env)
    assert res.code == NEEDS_PERSON, res
    assert chain_findings(res) == expected, json.loads(res.out)["findings"]
    assert {f["journal"] for f in json.loads(res.out)["findings"]} == {"source_chain"}

    ((code, out),) = inspect(config, identity, tmp_path, odoo.env)
    assert code == 1, out
    _names(said(out), words, out)


# --------------------------------------------------------------------------------------------------------------------
# Dolibarr on MariaDB
# --------------------------------------------------------------------------------------------------------------------


class Dolibarr:
    def __init__(self, server, tmp: Path, secret: Path | None = None):
        self.server, self.tmp = server, tmp
        self.database = server.new_database()
        self.uri = server.url(self.database, option_file=server.option_file(tmp / "coffre-mariadb.cnf"))
        more = ("--chain-secret-file", secret) if secret else ()
        res = run_coffre("sample-db", "--mapping", "dolibarr-pos", self.uri, "--days", "3", "--tickets-per-day", "20",
                         *more)
        assert res.code == 0, res

    def rows(self, where: str) -> list[tuple[int, str, str]]:
        """(rowid, ref_object, object_format) of the blocked log's rows that match, in the chain's order."""
        return [(int(r[0]), r[1], r[2]) for r in self.server.admin(
            f"SELECT rowid, ref_object, object_format FROM llx_blockedlog WHERE {where} ORDER BY rowid", self.database)]

    def sql(self, sql: str) -> None:
        self.server.admin(sql, self.database)

    def touch(self, fmt: str) -> tuple[list, list]:
        """Four rows of format `fmt` touched after Dolibarr sealed them: a bill's amounts, a bill's object_data (its
        first line's qty in the JSON), a deleted payment row, a closing's date_creation. Returns the archive's findings
        they give, (check, sequence, reference) in chain order, and verify.py's words for them."""
        bills = self.rows(f"action = 'BILL_VALIDATE' AND object_format = '{fmt}'")
        payments = self.rows(f"action = 'PAYMENT_CUSTOMER_CREATE' AND object_format = '{fmt}'")
        closings = self.rows(f"action LIKE 'CASHCONTROL%' AND object_format = '{fmt}'")
        amounts, data, gone, dated = bills[1], bills[6], payments[12], closings[0]
        self.sql(f"UPDATE llx_blockedlog SET amounts = amounts + 1 WHERE rowid = {amounts[0]}")
        # The first '"qty":' of the JSON, its first character changed: the same text but for one line's quantity.
        self.sql("UPDATE llx_blockedlog SET object_data = INSERT(object_data, LOCATE('\"qty\":', object_data) + 6, 1, "
                 "IF(SUBSTRING(object_data, LOCATE('\"qty\":', object_data) + 6, 1) = '9', '8', '9')) "
                 f"WHERE rowid = {data[0]}")
        self.sql(f"DELETE FROM llx_blockedlog WHERE rowid = {gone[0]}")
        self.sql(f"UPDATE llx_blockedlog SET date_creation = date_creation + INTERVAL 1 MINUTE WHERE rowid = {dated[0]}")
        after_gone = self.rows(f"rowid > {gone[0]}")[0]  # the deleted row's successor is named
        named = sorted([amounts, data, after_gone, dated])
        assert len({r[0] for r in named}) == 4, named
        recipe = "dolibarr-blockedlog-" + fmt.lower()
        # The bill whose sealed copy now says another quantity no longer matches its invoice's line in the tables
        # either: said after the chain's seals, as the log and the tables disagree.
        return ([("source_seal", rowid, ref) for rowid, ref, _f in named] + [("source_sealed", data[0], data[1])],
                [f"[chaîne 1, séquence {rowid}, référence {ref}] : son sceau ({recipe}) ne correspond pas"
                 for rowid, ref, _f in named] + [f"[chaîne 1, séquence {data[0]}, référence {data[1]}] : il scelle "
                                                 "quantity"])


def _archive(config: Path, env: dict | None = None):
    return run_coffre("archive", "--config", config, "--json", env=env)


class Store:
    """One Dolibarr database and the stores a shop set up on it, with what their archives said."""


@pytest.fixture(scope="module")
def dolibarr_v1(mariadb_server, tmp_path_factory):
    for name in ("mariadb", "mariadb-dump"):
        need_tool(name)
    tmp = tmp_path_factory.mktemp("dolibarr-v1")
    st = Store()
    st.tmp, st.shop = tmp, Dolibarr(mariadb_server, tmp)
    # A server's source has no disk of its own on this machine: the destination may be any folder.
    st.config, st.identity = _init(st.shop.uri, tmp, tmp / "shelf", {}, "dolibarr-pos")
    st.clean = _archive(st.config)
    st.v1, st.logged = len(st.shop.rows("object_format = 'V1'")), len(st.shop.rows("1"))
    st.expected, st.words = st.shop.touch("V1")
    st.touched = _archive(st.config)
    return st


def test_dolibarr_v1_archive_names_each_touched_row_of_the_blocked_log(dolibarr_v1):
    st = dolibarr_v1
    assert st.clean.code == 0, st.clean
    summary = json.loads(st.clean.out)
    assert summary["findings"] == [], summary["findings"]
    assert summary["journals"]["records"]["source_chain"] == st.v1 == st.logged, summary["journals"]
    assert st.touched.code == NEEDS_PERSON, st.touched
    assert chain_findings(st.touched) == st.expected, json.loads(st.touched.out)["findings"]
    # The blocked log is the only thing touched: the canonical journals (tickets, closures...) hold.
    assert {f["journal"] for f in json.loads(st.touched.out)["findings"]} == {"source_chain"}


def test_dolibarr_v1_verify_names_each_touched_row_of_the_blocked_log(dolibarr_v1):
    st = dolibarr_v1
    ((code, out),) = inspect(st.config, st.identity, st.tmp, {})
    assert code == 1, out
    _names(said(out), st.words, out)


@pytest.fixture(scope="module")
def dolibarr_v2(mariadb_server, tmp_path_factory):
    for name in ("mariadb", "mariadb-dump"):
        need_tool(name)
    tmp = tmp_path_factory.mktemp("dolibarr-v2")
    st = Store()
    st.tmp = tmp
    st.secret = tmp / "blockedlog-hmac.key"  # Dolibarr 23's BLOCKEDLOG_HMAC_KEY, as the shop keeps it apart
    st.secret.write_text("BLOCKEDLOG_HMAC-e2e-" + "k3y" * 12 + "\n")
    st.shop = Dolibarr(mariadb_server, tmp, st.secret)
    st.v1, st.v2 = len(st.shop.rows("object_format = 'V1'")), len(st.shop.rows("object_format = 'V2'"))
    # A store set up without the secret, then one with it (init --chain-secret-file), on the same database.
    blind, _ = _init(st.shop.uri, tmp / "blind", tmp / "blind-shelf", {}, "dolibarr-pos")
    st.blind = _archive(blind)
    st.blind_env = _archive(blind, {"COFFRE_CHAIN_SECRET": st.secret.read_text().rstrip("\n")})
    st.wrong_env = _archive(blind, {"COFFRE_CHAIN_SECRET": "BLOCKEDLOGHMAC-not-the-tills"})
    lost = tmp / "lost-secret"
    lost.write_text("x")
    lost_config, _ = _init(st.shop.uri, tmp / "lost", tmp / "lost-shelf", {}, "dolibarr-pos", "--chain-secret-file",
                           lost)
    lost.unlink()  # the shop's secret file gone (a disk replaced, a path mistyped in the config)
    st.lost = _archive(lost_config)
    st.config, st.identity = _init(st.shop.uri, tmp, tmp / "shelf", {}, "dolibarr-pos", "--chain-secret-file",
                                   st.secret)
    st.clean = _archive(st.config)
    # V2 rows touched as the V1 test touches V1 rows, and one V1 bill's amount besides.
    st.expected, st.words = st.shop.touch("V2")
    bill = st.shop.rows("action = 'BILL_VALIDATE' AND object_format = 'V1'")[3]
    st.shop.sql(f"UPDATE llx_blockedlog SET amounts = amounts - 0.01 WHERE rowid = {bill[0]}")
    st.expected.insert(0, ("source_seal", bill[0], bill[1]))
    st.v1_words = f"[chaîne 1, séquence {bill[0]}, référence {bill[1]}] : son sceau (dolibarr-blockedlog-v1) ne"
    st.words.insert(0, st.v1_words)
    st.touched = _archive(st.config)
    return st


def test_dolibarr_v2_without_the_secret_the_v2_rows_are_said_not_checked(dolibarr_v2):
    st = dolibarr_v2
    assert st.v1 and st.v2, (st.v1, st.v2)
    found = json.loads(st.blind.out)["findings"]
    assert st.blind.code == NEEDS_PERSON, st.blind
    assert [(f["journal"], f["check"], f["record"]) for f in found] == [
        ("source_chain", "source_secret", {"chain": "1"})], found
    assert found[0]["message"].startswith(f"{st.v2} records are sealed with the till's secret"), found
    assert "COFFRE_CHAIN_SECRET" in found[0]["message"]
    # The same store given the secret through the environment: every seal holds.
    assert st.blind_env.code == 0, st.blind_env
    assert json.loads(st.blind_env.out)["findings"] == []


def test_dolibarr_v2_the_not_checked_finding_names_the_secret_recipe(dolibarr_v2):
    st = dolibarr_v2
    (found,) = json.loads(st.blind.out)["findings"]
    assert f"{st.v2} records are sealed with the till's secret (dolibarr-blockedlog-v2)" in found["message"], found


def test_dolibarr_v2_with_the_secret_archive_names_each_touched_row(dolibarr_v2):
    st = dolibarr_v2
    text = st.config.read_text()
    # The file's place is kept, never the secret (whose part alone could be in a key's random text).
    assert "chain_secret_file" in text and st.secret.read_text().strip() not in text
    assert st.clean.code == 0, st.clean
    summary = json.loads(st.clean.out)
    assert summary["findings"] == [], summary["findings"]
    assert summary["journals"]["records"]["source_chain"] == st.v1 + st.v2
    assert st.touched.code == NEEDS_PERSON, st.touched
    assert chain_findings(st.touched) == st.expected, json.loads(st.touched.out)["findings"]
    assert {f["journal"] for f in json.loads(st.touched.out)["findings"]} == {"source_chain"}


def test_dolibarr_v2_verify_names_them_with_the_secret_file_and_says_them_unchecked_without(dolibarr_v2):
    st = dolibarr_v2
    with_secret, without = inspect(st.config, st.identity, st.tmp, {}, ("--secret-file", str(st.secret)), ())
    assert with_secret[0] == 1, with_secret[1]
    _names(said(with_secret[1]), st.words, with_secret[1])
    assert without[0] == 1, without[1]
    lines = said(without[1])
    assert len(lines) == 3, without[1]
    assert lines[0].startswith("  - source_chain " + st.v1_words), without[1]
    assert lines[1].startswith("  - source_chain [chaîne 1] : "), without[1]
    assert "enregistrement(s) scellé(s) avec le secret de la caisse (dolibarr-blockedlog-v2)" in lines[1], without[1]
    assert "qui n'a pas été donné : non vérifié(s)" in lines[1], without[1]
    # What the log says of an invoice and what the tables hold still disagree, whether or not its seal is proven.
    assert lines[2].startswith("  - source_chain " + st.words[-1]), without[1]


def test_dolibarr_v2_a_wrong_secret_is_one_finding_and_a_lost_secret_file_keeps_the_journals(dolibarr_v2):
    st = dolibarr_v2
    found = json.loads(st.wrong_env.out)["findings"]
    assert st.wrong_env.code == NEEDS_PERSON, st.wrong_env
    assert [(f["check"], f["record"]["chain"]) for f in found] == [("source_unmatched", "1")], found
    assert found[0]["message"].startswith(f"none of its {st.v2} records sealed by dolibarr-blockedlog-v2 matches its "
                                          "seal: the till's secret"), found
    # The secret file gone: the V1 records and every journal are still checked, the V2 records said unchecked.
    summary = json.loads(st.lost.out)
    assert st.lost.code == NEEDS_PERSON, st.lost
    assert [f["check"] for f in summary["findings"]] == ["source_secret"], summary["findings"]
    assert summary["journals"]["records"]["source_chain"] == st.v1 + st.v2, summary["journals"]
    assert "cannot be read" in st.lost.err and "are not checked" in st.lost.err, st.lost.err
