"""verify.py, the inspector's own checker: standard-library Python only, same verdicts as Coffre's checks.

A real package folder is built from a real sample shop (journals export, recipes.json,
till-keys.json, SHA256SUMS, verify.py), then verify.py runs with the system python3 in
isolated mode (-I: no site-packages, so no `cryptography` to lean on). Its Ed25519 is
checked against `cryptography` and the RFC 8032 test vectors.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from conftest import REPO, run_coffre

from pipeline.auditor.recipes import recipes
from pipeline.journals.mapping import load_mapping

SCRIPT = REPO / "pipeline" / "auditor" / "verify_script.py"
MAPPING = REPO / "schemas" / "sources" / "reference-pos.json"
UNSIGNED = ("SHA256SUMS", "SHA256SUMS.minisig", "SHA256SUMS.sig")
SIGNED = ("tickets", "closures", "jet", "duplicates")
T = "(SELECT t.id FROM tickets t JOIN registers r ON r.id = t.register_id WHERE r.code = '{}' AND t.number = {})"


# --- the script, as a module (for Ed25519 and in-process runs) and as a program -----------


def system_python() -> str:
    for candidate in ("/usr/bin/python3", shutil.which("python3")):
        if candidate and os.path.exists(candidate):
            return candidate
    return sys.executable


def run_verify(root: Path, *args, python: str | None = None, cwd=None) -> subprocess.CompletedProcess:
    argv = [python or system_python(), "-I", str(root / "verify.py"), *map(str, args)]
    return subprocess.run(argv, capture_output=True, text=True, encoding="utf-8", cwd=cwd or root, timeout=120)


# --- building a package ---------------------------------------------------------------------


def write_recipes(root: Path) -> None:
    """recipes.json as export-auditor writes it, from the reference mapping."""
    doc = recipes(load_mapping(str(MAPPING)))
    (root / "recipes.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def till_keys(db: Path) -> dict:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT key_id, public_key_b64 FROM till_keys WHERE algorithm = 'ed25519'").fetchall()
    finally:
        conn.close()
    return {"keys": [{"key_id": k, "algorithm": "ed25519", "public_key_b64": b} for k, b in rows]}


def write_sums(root: Path) -> None:
    lines = []
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name not in UNSIGNED:
            lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p.relative_to(root).as_posix()}\n")
    (root / "SHA256SUMS").write_text("".join(lines), encoding="utf-8")


def build_package(db: Path, export: Path, root: Path, flat: bool = False) -> Path:
    """The auditor package layout: journals/, keys/till-keys.json, recipes.json, verify.py, SHA256SUMS."""
    journals = root if flat else root / "journals"
    journals.mkdir(parents=True)
    for p in export.iterdir():
        shutil.copy(p, journals / p.name)
    write_recipes(root)
    keys = root if flat else root / "keys"
    keys.mkdir(exist_ok=True)
    (keys / "till-keys.json").write_text(json.dumps(till_keys(db), indent=2) + "\n", encoding="utf-8")
    shutil.copy(SCRIPT, root / "verify.py")
    shutil.copy(REPO / "pipeline" / "fiscal_rules.py", root / "fiscal_rules.py")
    write_sums(root)
    return root


def csv_rows(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\r\n")


def edit_row(path: Path, prefix: bytes, fn) -> None:
    """Applies fn to the CSV line starting with prefix (fn returns the new line, or None to delete it)."""
    lines = csv_rows(path)
    hits = [i for i, l in enumerate(lines) if l.startswith(prefix)]
    assert len(hits) == 1, prefix
    new = fn(lines[hits[0]])
    if new is None:
        del lines[hits[0]]
    else:
        lines[hits[0]] = new
    path.write_bytes(b"\r\n".join(lines))


def signed_records(root: Path) -> int:
    return sum(len([l for l in csv_rows(root / "journals" / f"{n}.csv")[1:] if l]) for n in SIGNED)


class Shop:
    def __init__(self, base: Path, db: Path, config: Path, export: Path):
        self.base, self.db, self.config, self.export = base, db, config, export


def _second_device(base: Path) -> Path:
    shm = Path("/dev/shm")
    if shm.is_dir() and os.access(shm, os.W_OK):
        d = shm / f"coffre-verify-{uuid.uuid4().hex[:8]}"
        d.mkdir()
        return d
    d = base / "dest"
    d.mkdir()
    return d


def make_shop(base: Path, db: Path | None = None, seed: int = 11) -> Shop:
    """A sample shop (or a given database) with a Coffre config and a full journals export."""
    base.mkdir(parents=True, exist_ok=True)
    tampered = db is not None
    if db is None:
        db = base / "shop.db"
        res = run_coffre("sample-db", db, "--days", "3", "--tickets-per-day", "80", "--seed", seed)
        assert res.code == 0, res
    dest = _second_device(base)
    (base / "dest-path").write_text(str(dest))
    res = run_coffre("init", "--config", base / "etc" / "c.toml", "--source", f"sqlite:{db}", "--to", dest,
                     "--i-know", "--identity-out", base / "off" / "id.txt")
    assert res.code == 0, res
    res = run_coffre("journals", "export", "--config", base / "etc" / "c.toml", "--out", base / "exp")
    assert res.code == (5 if tampered else 0), res  # a tampered database's findings: exit 5, exported all the same
    return Shop(base, db, base / "etc" / "c.toml", base / "exp")


def drop_shop(shop: Shop) -> None:
    dest = Path((shop.base / "dest-path").read_text())
    if str(dest).startswith("/dev/shm/"):
        shutil.rmtree(dest, ignore_errors=True)


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    s = make_shop(tmp_path_factory.mktemp("verify-shop"))
    yield s
    drop_shop(s)


@pytest.fixture
def package(shop, tmp_path) -> Path:
    return build_package(shop.db, shop.export, tmp_path / "coffre-audit")


# --- Ed25519 ----------------------------------------------------------------------------------

RFC8032 = [
    # (secret key, public key, message, signature): RFC 8032 section 7.1, TEST 1 and TEST 2
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
     "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
     "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
     "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
     "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00"),
]


def raw_public(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@pytest.mark.parametrize("secret, public, message, signature", RFC8032)
def test_rfc8032_vectors_verify(vs, secret, public, message, signature):
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    # the vectors as written here are the RFC's: cryptography derives the same key and signature
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(secret))
    assert raw_public(key) == pub and key.sign(msg) == sig
    assert vs.ed25519_verify(pub, sig, msg)
    assert vs.Ed25519Keys([pub]).verify_many([(msg, sig)]) == [True]
    assert vs.Ed25519Keys([pub], pure=True).verify_many([(msg, sig)]) == [True]
    assert not vs.ed25519_verify(pub, sig, msg + b"\x00")
    bad = bytearray(sig)
    bad[5] ^= 1
    assert not vs.ed25519_verify(pub, bytes(bad), msg)


def test_ed25519_agrees_with_cryptography_on_random_keys_and_tampering(vs):
    rnd = __import__("random").Random(2025)
    for i in range(24):
        key = Ed25519PrivateKey.from_private_bytes(bytes(rnd.getrandbits(8) for _ in range(32)))
        pub = raw_public(key)
        msg = bytes(rnd.getrandbits(8) for _ in range(rnd.choice([0, 1, 31, 64, 200, 1000])))
        sig = key.sign(msg)
        assert vs.ed25519_verify(pub, sig, msg), i
        assert not vs.ed25519_verify(pub, sig, msg + b"x"), i
        if msg:
            changed = bytearray(msg)
            changed[rnd.randrange(len(msg))] ^= 1 << rnd.randrange(8)
            assert not vs.ed25519_verify(pub, sig, bytes(changed)), i
        for pos in (0, 31, 32, 63, rnd.randrange(64)):  # R and S halves
            bad = bytearray(sig)
            bad[pos] ^= 1 << rnd.randrange(8)
            assert not vs.ed25519_verify(pub, bytes(bad), msg), (i, pos)
        other = raw_public(Ed25519PrivateKey.generate())
        assert not vs.ed25519_verify(other, sig, msg), i
    # the batched path with precomputed key tables: many records, one key, a few of them altered
    key = Ed25519PrivateKey.generate()
    pub = raw_public(key)
    items = []
    for i in range(150):
        msg = f"550:{i}:{i * 7},{i * 13},2025-01-01T09:00:{i % 60:02d}Z,CAISSE-01,{i},sale,".encode()
        items.append((msg, key.sign(msg)))
    altered = {3, 64, 65, 149}
    for i in altered:
        items[i] = (items[i][0] + b"1", items[i][1])
    for pure in (True, False):  # the pure Python, and OpenSSL through cryptography when it is there
        keys = vs.Ed25519Keys([raw_public(Ed25519PrivateKey.generate()), pub], pure=pure)
        assert keys.engine == ("Python pur" if pure else "cryptography (OpenSSL)")
        results = keys.verify_many(items)
        assert [i for i, ok in enumerate(results) if not ok] == sorted(altered)


def test_ed25519_rejects_bad_encodings(vs):
    secret, public, message, signature = RFC8032[1]
    pub, msg, sig = bytes.fromhex(public), bytes.fromhex(message), bytes.fromhex(signature)
    s = int.from_bytes(sig[32:], "little")
    non_canonical_s = sig[:32] + (s + vs._L).to_bytes(32, "little")  # same point equation, S >= L: refused
    assert not vs.ed25519_verify(pub, non_canonical_s, msg)
    for pure in (True, False):
        assert vs.Ed25519Keys([pub], pure=pure).verify_many([(msg, non_canonical_s), (msg, sig[:63]), (msg, sig)]) \
            == [False, False, True]
    assert not vs.ed25519_verify(b"\xff" * 32, sig, msg)  # y >= p: not a point
    assert not vs.ed25519_verify(pub[:31], sig, msg)
    assert vs._decode_point(b"\xff" * 32) is None
    assert vs.decode_signature(base64.urlsafe_b64encode(sig).rstrip(b"=").decode()) == sig
    assert vs.decode_signature("abc+def") is None and vs.decode_signature("") is None


def test_sample_positions(vs):
    assert vs.sample_positions(200, 300, "s", False) is None
    assert vs.sample_positions(5000, 300, "s", True) is None
    chosen = vs.sample_positions(1000, 30, "0/tickets/CAISSE-01", False)
    assert len(chosen) == 130 and set(range(50)) <= chosen and set(range(950, 1000)) <= chosen
    assert chosen == vs.sample_positions(1000, 30, "0/tickets/CAISSE-01", False)  # reproducible
    assert chosen != vs.sample_positions(1000, 30, "1/tickets/CAISSE-01", False)
    assert vs.sample_positions(250, 300, "s", False) == set(range(250))


# --- the program on real packages -------------------------------------------------------------


def test_clean_package_holds_with_a_french_summary(package, tmp_path):
    res = run_verify(package, cwd=tmp_path)  # no folder given: the script's own folder
    assert res.returncode == 0, res.stdout + res.stderr
    assert res.stderr == ""
    out = res.stdout
    assert f"Vérification du paquet Coffre : {package}" in out
    n_files = len((package / "SHA256SUMS").read_text().splitlines())
    assert f"1. Empreintes SHA-256 (SHA256SUMS) : {n_files} fichier(s) listé(s), {n_files} conforme(s)." in out
    assert "tout l'historique de la caisse" in out
    n = signed_records(package)
    assert f"Signatures vérifiées : {n} sur {n}" in out
    assert "3. Numérotation (trous et doublons) : tickets (240)" in out
    assert "4. Totaux : 240 ticket(s)" in out
    assert "RÉSULTAT : tout est conforme, aucun constat." in out


def test_all_signatures_verifies_every_record(package):
    res = run_verify(package, "--all-signatures")
    assert res.returncode == 0, res.stdout + res.stderr
    n = signed_records(package)
    assert f"Signatures vérifiées : {n} sur {n}" in res.stdout
    for name in SIGNED:
        count = len([l for l in csv_rows(package / "journals" / f"{name}.csv")[1:] if l])
        assert f"{count} signature(s) vérifiée(s) sur {count}" in res.stdout, name


def test_long_chains_are_sampled(vs, package, monkeypatch):
    # chains here hold 120 tickets; with a threshold of 60 they are sampled: 50 first, 50 last, N others
    monkeypatch.setattr(vs, "FULL_CHAIN_MAX", 60)
    shown = []
    report = vs.verify(str(package), all_signatures=False, sample=7, say=shown.append)
    text = "\n".join(shown)
    assert report.total() == 0, text
    assert "240 enregistrement(s), 2 chaîne(s), 214 signature(s) vérifiée(s) sur 240" in text
    assert "Échantillon" in text and "Sans --sample, tout est vérifié" in text
    shown.clear()
    report = vs.verify(str(package), say=shown.append)  # by default, every signature
    assert report.total() == 0
    assert "240 enregistrement(s), 2 chaîne(s), 240 signature(s) vérifiée(s) sur 240" in "\n".join(shown)


def test_a_changed_amount_is_named_by_register_and_number(package):
    tickets = package / "journals" / "tickets.csv"
    header = csv_rows(tickets)[0].split(b";")
    col = header.index(b"total_ttc_cents")

    def raise_total(line):
        cells = line.split(b";")
        cells[col] = str(int(cells[col]) + 1000).encode()
        return b";".join(cells)

    edit_row(tickets, b'"CAISSE-01";42;', raise_total)
    write_sums(package)  # the sums agree: only the chain can tell
    res = run_verify(package)
    assert res.returncode == 1, res.stdout + res.stderr
    findings = [l for l in res.stdout.splitlines() if l.startswith("  - ")]
    assert any("tickets [caisse CAISSE-01, numéro 42] : signature invalide" in l for l in findings), findings
    assert not any("SHA-256" in l for l in findings), findings
    assert "Traceback" not in res.stderr


def test_a_product_or_means_changed_in_the_csv_breaks_the_signed_digest(package):
    """What no sum can see (a product swapped for another of the same price, cash turned into card) changes the
    digest of the ticket's lines or payments that the till signed."""
    journals = package / "journals"
    header = csv_rows(journals / "ticket_lines.csv")[0].split(b";")
    sku = header.index(b"sku")

    def other_product(line):
        cells = line.split(b";")
        cells[sku] = b'"0000000000000"'
        return b";".join(cells)

    edit_row(journals / "ticket_lines.csv", b'"CAISSE-01";42;1;', other_product)
    pheader = csv_rows(journals / "payments.csv")[0].split(b";")
    means = pheader.index(b"means")
    rows = csv_rows(journals / "payments.csv")
    target = next(r for r in rows[1:] if r.startswith(b'"CAISSE-02";') and b'"cash"' in r)
    number = target.split(b";")[1]

    def to_card(line):
        cells = line.split(b";")
        cells[means] = b'"card"'
        return b";".join(cells)

    edit_row(journals / "payments.csv", target[:target.index(b'"cash"')], to_card)
    write_sums(package)
    res = run_verify(package)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "tickets [caisse CAISSE-01, numéro 42] : l'empreinte signée (lines_sha256)" in res.stdout, res.stdout
    assert (f"tickets [caisse CAISSE-02, numéro {number.decode()}] : l'empreinte signée (payments_sha256)"
            in res.stdout), res.stdout


def test_a_changed_byte_names_the_file(package):
    target = package / "journals" / "LISEZMOI.txt"
    data = bytearray(target.read_bytes())
    data[100] ^= 0x01
    target.write_bytes(bytes(data))
    res = run_verify(package)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "journals/LISEZMOI.txt : empreinte SHA-256 différente de celle de SHA256SUMS" in res.stdout


def test_a_deleted_ticket_row_leaves_a_named_gap(package):
    edit_row(package / "journals" / "tickets.csv", b'"CAISSE-02";57;', lambda line: None)
    write_sums(package)
    res = run_verify(package)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "tickets [caisse CAISSE-02, numéro 57] : numéro 57 manquant entre 56 et 58." in res.stdout
    assert "tickets [caisse CAISSE-02, numéro 58] : previous_signature n'est pas la signature" in res.stdout
    assert "closures [caisse CAISSE-02, type daily, numéro " in res.stdout  # its day no longer adds up


def test_journals_at_the_package_root(shop, tmp_path):
    root = build_package(shop.db, shop.export, tmp_path / "flat", flat=True)
    res = run_verify(root)
    assert res.returncode == 0, res.stdout + res.stderr


def test_a_period_package_does_not_flag_its_first_links(shop, tmp_path):
    res = run_coffre("journals", "export", "--config", shop.config, "--out", tmp_path / "exp",
                     "--period", "2025-01-02..2025-01-03")
    assert res.code == 0, res
    root = build_package(shop.db, tmp_path / "exp", tmp_path / "pkg")
    res = run_verify(root)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "Période : du 2025-01-02 au 2025-01-03" in res.stdout
    # but a hole inside the period still shows
    edit_row(root / "journals" / "jet.csv", csv_rows(root / "journals" / "jet.csv")[5].split(b";")[0] + b";",
             lambda line: None)
    write_sums(root)
    res = run_verify(root)
    assert res.returncode == 1 and "jet [séquence " in res.stdout and "manquant" in res.stdout, res.stdout


def test_bad_input_is_one_sentence_never_a_traceback(package):
    tickets = package / "journals" / "tickets.csv"
    lines = csv_rows(tickets)
    lines[0] = lines[0].replace(b"total_ttc_cents", b"total_cents")
    lines[3] = lines[3] + b";1"  # a row with one field too many
    tickets.write_bytes(b"\r\n".join(lines))
    (package / "journals" / "payments.csv").unlink()
    write_sums(package)
    (package / "journals" / "extra.txt").write_text("ajouté\n")
    with open(package / "SHA256SUMS", "a") as f:
        f.write("0" * 64 + "  ../../etc/passwd\n" + "1" * 64 + "  /etc/hostname\nnot a sums line\n")
    res = run_verify(package)
    assert res.returncode == 1, res.stdout + res.stderr
    assert "Traceback" not in res.stdout + res.stderr and res.stderr == ""
    out = res.stdout
    assert "journals/tickets.csv : en-tête inattendu, champ(s) absent(s) : total_ttc_cents." in out
    assert "journals/payments.csv : absent du paquet : ce journal ne peut pas être contrôlé." in out
    assert "journals/extra.txt : présent dans le paquet mais absent de SHA256SUMS" in out
    assert "chemin refusé (absolu ou avec « .. ») : ../../etc/passwd" in out
    assert "chemin refusé (absolu ou avec « .. ») : /etc/hostname" in out
    assert "illisible (attendu : empreinte, deux espaces, chemin)" in out
    assert "journals/tickets.csv, ligne 4 : 33 champ(s) au lieu de 32." in out


def test_missing_recipes_or_keys_fail_plainly(package):
    (package / "keys" / "till-keys.json").unlink()
    (package / "recipes.json").write_text("{ pas du JSON")
    write_sums(package)
    res = run_verify(package)
    assert res.returncode == 1 and "Traceback" not in res.stderr, res.stdout + res.stderr
    assert "recipes.json : illisible (JSON invalide)." in res.stdout


def test_usage_errors_exit_2(package, tmp_path):
    for args in (["--bogus"], [tmp_path / "nowhere"], ["--sample", "abc"], [package, package], [tmp_path]):
        res = run_verify(package, *args)
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert "Usage : python3 verify.py" in res.stderr and "Traceback" not in res.stderr, args


def _old_pythons() -> list[str]:
    found = []
    for name in ("python3.6", "python3.7", "python3.8", "python3.9"):
        found += [p for p in [shutil.which(name)] if p]
    found += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.[6-9]*/bin/python3")))
    ok = []
    for p in found:
        try:
            if subprocess.run([p, "-c", "import sys"], capture_output=True, timeout=20).returncode == 0:
                ok.append(p)
        except (OSError, subprocess.TimeoutExpired):
            continue
    return ok[:1]


def test_runs_on_an_old_python_too(package):
    olds = _old_pythons()
    if not olds:
        pytest.skip("no Python 3.6-3.9 on this machine")
    res = run_verify(package, python=olds[0])
    assert res.returncode == 0, res.stdout + res.stderr


# --- same verdicts as Coffre's own checks (findings.json of the export) -------------------------


def _key(journal, check, record) -> tuple:
    rec = dict(record)
    return journal, check, rec.get("register"), str(rec.get("number", rec.get("seq")))


@pytest.mark.parametrize("name, sql", [
    ("ticket_total", f"UPDATE tickets SET total_ttc = total_ttc + 1000 WHERE id = {T.format('CAISSE-01', 42)}"),
    ("ticket_deleted", f"DELETE FROM tickets WHERE id = {T.format('CAISSE-02', 57)}"),
    ("line_amount", f"UPDATE ticket_lines SET line_total_ttc = line_total_ttc + 5 WHERE ticket_id = {T.format('CAISSE-01', 10)} "
                    "AND line_no = 1"),
    ("jet_deleted", "DELETE FROM jet WHERE seq = 20"),
    # cash turned into card: every total holds; the ticket's signed digest and the Z's payments per means do not
    ("means", "UPDATE payments SET means = CASE means WHEN 'cash' THEN 'card' ELSE 'cash' END WHERE id = 17"),
    ("perpetual", "UPDATE closures SET grand_total_perpetual_ttc = grand_total_perpetual_ttc + 1 "
                  "WHERE id = (SELECT min(id) FROM closures WHERE kind = 'daily')"),
])
def test_same_verdicts_as_coffre_checks(vs, shop, tmp_path, name, sql):
    db = tmp_path / "shop.db"
    shutil.copy(shop.db, db)
    conn = sqlite3.connect(db)
    conn.execute(sql)
    conn.commit()
    conn.close()
    changed = make_shop(tmp_path / "s", db=db)
    try:
        root = build_package(db, changed.export, tmp_path / "pkg")
        coffre = json.loads((changed.export / "findings.json").read_text(encoding="utf-8"))["findings"]
        theirs = {_key(f["journal"], f["check"], f["record"].items()) for f in coffre}
        report = vs.verify(str(root), all_signatures=True, say=lambda *a: None)
        ours = {_key(where, check, record or []) for where, check, record, _, _, _ in report.findings}
        assert theirs and ours == theirs
    finally:
        drop_shop(changed)
