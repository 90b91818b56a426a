"""Who, what and how for the inspector: the shop's identity in the report (or "non renseigné"), the Z list, VAT per
rate, payment means, the JET's codes, rendered by a real headless Chromium; and the cover letter whose key fingerprint
and package SHA-256 the stock tools confirm, so that no key found inside the package has to be trusted."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

import pytest

from conftest import need_tool, open_package, run_coffre

from pipeline.keys.signing import fingerprint

PASSWORD = "lettre-et-rapport-2025"
SHOP = ["--shop-name", "Épicerie Martin SARL", "--siret", "73282932000074", "--address", "12 rue des Lilas, 75011 Paris",
        "--vat-number", "FR44732829320", "--naf", "47.11B", "--till-software", "Caisse Exemple", "--till-version", "4.2"]


def _store(tmp_path: Path, other_disk: Path, sample_db: Path, *identity: str) -> Path:
    (other_disk / "usb").mkdir()
    config = tmp_path / "etc" / "coffre.toml"
    res = run_coffre("init", "--config", config, "--source", f"sqlite:{sample_db}", "--to", other_disk / "usb",
                     "--i-know", "--identity-out", tmp_path / "off" / "id.txt", "--store-id", "martin", *identity)
    assert res.code == 0, res
    assert run_coffre("archive", "--config", config, "--yes").code == 0
    return config


def _export(config: Path, tmp_path: Path) -> Path:
    out = tmp_path / "controle.zip"
    res = run_coffre("export-auditor", "--config", config, "--identity", tmp_path / "off" / "id.txt",
                     "--period", "2025-01-01..2025-01-03", "--out", out, "--password-env", "AUDIT_PW",
                     env={"AUDIT_PW": PASSWORD})
    assert res.code == 0, res
    assert "lettre de transmission" in res.err
    return out


def _extract(package: Path, into: Path) -> Path:
    return open_package(package, into, PASSWORD)


def _chromium(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    browser = need_tool("chromium")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    return subprocess.run([browser, *flags, *args, page.as_uri()], capture_output=True, text=True, timeout=120)


def test_the_report_says_who_and_what_in_a_real_browser(tmp_path, other_disk, sample_db):
    config = _store(tmp_path, other_disk, sample_db, *SHOP)
    root = _extract(_export(config, tmp_path), tmp_path / "x")
    report = root / "rapport.html"

    dom = _chromium(report, tmp_path, "--dump-dom")
    assert dom.returncode == 0, dom.stderr[-2000:]
    text = dom.stdout
    for expected in ("Épicerie Martin SARL", "73282932000074", "732829320", "FR44732829320", "47.11B",
                     "12 rue des Lilas, 75011 Paris", "Caisse Exemple", "4.2",
                     "Clôtures (Z) : montants par taux de TVA et grands totaux", "Z jour n° 1",
                     "Grand total perpétuel TTC", "HT 5,5", "TVA 20",
                     "Moyens de paiement par journée", "card", "cash",
                     "remboursements", "duplicata imprimés",
                     "clôture journalière (Z)", "démarrage du logiciel",
                     "Tous les contrôles sont satisfaits"):
        assert expected in text, expected
    # the certificate was not given: said so, not left blank
    assert "Certificat (NF525 ou attestation)" in text and "non renseigné" in text

    shot = tmp_path / "rapport.png"
    res = _chromium(report, tmp_path, f"--screenshot={shot}", "--window-size=1280,2400", "--hide-scrollbars")
    assert res.returncode == 0 and shot.is_file() and shot.stat().st_size > 20_000, res.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_letter_holds_what_stock_tools_confirm(tmp_path, other_disk, sample_db):
    config = _store(tmp_path, other_disk, sample_db, *SHOP)
    package = _export(config, tmp_path)
    text = (tmp_path / "controle-lettre-de-transmission.txt").read_text(encoding="utf-8")
    html = (tmp_path / "controle-lettre-de-transmission.html").read_text(encoding="utf-8")
    assert PASSWORD not in text + html  # the password is given apart, never written down by Coffre

    # The package's SHA-256, as sha256sum computes it, is in the letter.
    got = subprocess.run([need_tool("sha256sum"), str(package)], capture_output=True, text=True).stdout.split()[0]
    assert got in text and got in html

    # The key in the letter is the store's pinned key; its fingerprint is the SHA-256 of the raw key that OpenSSL
    # reads from the package's PEM file.
    public = next(line.split("=", 1)[1].strip().strip('"') for line in config.read_text().splitlines()
                  if line.startswith("public_key ="))
    assert public in text and fingerprint(public) in text
    root = _extract(package, tmp_path / "x")
    der = subprocess.run([need_tool("openssl"), "pkey", "-pubin", "-in", str(root / "keys" / "coffre-signing.pem"),
                          "-outform", "DER"], capture_output=True).stdout
    raw_fp = hashlib.sha256(der[-32:]).hexdigest()
    assert fingerprint(public).replace(" ", "") == raw_fp

    # minisign with the key typed from the letter (-P), not the one inside the package.
    check = subprocess.run([need_tool("minisign"), "-V", "-P", public, "-m", "SHA256SUMS"], cwd=root,
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    # A package whose key was swapped for a forger's passes with the key inside, not with the letter's.
    assert "Empreinte de cette clé (SHA-256)" in text and "Signature du commerçant" in text


def test_without_identity_the_report_says_non_renseigne(tmp_path, other_disk, sample_db):
    config = _store(tmp_path, other_disk, sample_db)
    root = _extract(_export(config, tmp_path), tmp_path / "x")
    report = (root / "rapport.html").read_text(encoding="utf-8")
    assert report.count("non renseigné") >= 9


@pytest.mark.parametrize("args, said", [
    (["--siret", "73282932000075"], "is not a valid SIRET"),
    (["--siren", "732829321"], "is not a valid SIREN"),
    (["--siret", "73282932000074", "--vat-number", "FR45732829320"], "its key is not that of the SIREN"),
    (["--siret", "73282932000074", "--vat-number", "FR83404833048"], "does not match the SIREN"),
    (["--naf", "quarante-sept"], "is not a NAF code"),
    (["--vat-number", "FR99732829320"], "its key is not that of the SIREN"),
    (["--vat-number", "DE123456789"], "is not a French VAT number"),
])
def test_a_mistyped_number_is_refused_at_init_and_nothing_is_written(tmp_path, other_disk, sample_db, args, said):
    config = tmp_path / "etc" / "coffre.toml"
    res = run_coffre("init", "--config", config, "--source", f"sqlite:{sample_db}", "--to", other_disk,
                     "--i-know", "--identity-out", tmp_path / "off" / "id.txt", *args)
    assert res.code == 2 and said in res.err and "Traceback" not in res.err, res
    assert not config.exists() and not (tmp_path / "off" / "id.txt").exists()
