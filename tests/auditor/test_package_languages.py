"""The auditor's package speaks French to the inspector whatever the shop's computer speaks, with an English twin of
the report and of the guide for a reader from elsewhere; every sentence of its documents comes from the catalogue."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

from babel.messages.extract import extract_from_file

from conftest import open_package, run_coffre

from pipeline.i18n import translation_for

PASSWORD = "deux-langues-un-paquet"
ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "pipeline" / "auditor").glob("*.py")) + [ROOT / "pipeline" / "cli" / "export_auditor.py"]
KEYWORDS = {"_": None, "ngettext": (1, 2), "in_language": (2,)}
PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
CREATED = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")


def _messages(paths) -> list:
    return [m for p in paths for _, m, _, _ in extract_from_file("python", str(p), keywords=KEYWORDS)]


def _fragments(text: str) -> list[str]:
    """The pieces of a message between its placeholders that say something (two words or more)."""
    return [f.strip() for f in PLACEHOLDER.split(text) if len(f.strip().split()) >= 2]


def test_every_translated_call_of_the_package_reaches_the_catalogue():
    # A call the extraction cannot see (inside an f-string's braces, with a variable) is never translated.
    for path in SOURCES:
        calls = 0
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
                calls += name in KEYWORDS
        assert calls == len(_messages([path])), path


def _export(store, tmp_path: Path, name: str, lang: str):
    out = tmp_path / f"{name}.zip"
    res = run_coffre("export-auditor", "--config", store.config, "--identity", store.identity,
                     "--period", "2025-01-01..2025-01-03", "--out", out, "--password-env", "AUDIT_PW",
                     env={"AUDIT_PW": PASSWORD, "LANG": lang})
    assert res.code == 0, res
    return res, open_package(out, tmp_path / name, PASSWORD)


def test_french_documents_with_english_twins_whatever_the_locale(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    said_fr, fr = _export(store, tmp_path, "fr", "fr_FR.UTF-8")
    said_c, c = _export(store, tmp_path, "c", "C.UTF-8")

    # The person is spoken to in their language.
    assert "Lettre de transmission" in said_fr.err and "Cover letter" not in said_fr.err
    assert "Cover letter" in said_c.err

    # The twins: French under the existing names, English beside them.
    report_fr = (fr / "rapport.html").read_text(encoding="utf-8")
    report_en = (fr / "report.en.html").read_text(encoding="utf-8")
    assert '<html lang="fr">' in report_fr and '<html lang="en">' in report_en
    assert "Tous les contrôles sont satisfaits" in report_fr
    assert "Every check holds, today as at each run of the period." in report_en
    guide_fr = (fr / "LISEZMOI.txt").read_text(encoding="utf-8")
    guide_en = (fr / "README.txt").read_text(encoding="utf-8")
    assert "Ce paquet (remis au contrôle)" in guide_fr and "This package (handed over for inspection)" in guide_en
    assert not (fr / "journals" / "LISEZMOI.txt").exists()  # the export's guide became the package's

    # No English sentence of the catalogue in the French documents, no French one in the English report.
    french = translation_for("fr")
    messages = [m if isinstance(m, str) else m[0] for m in _messages(SOURCES)]
    translated = [(m, french.gettext(m)) for m in messages if french.gettext(m) != m]
    assert len(translated) > len(messages) // 2, "the French catalogue is not compiled (scripts/catalogue)"
    letter_fr = (tmp_path / "fr-lettre-de-transmission.txt").read_text(encoding="utf-8")
    for english, fr_text in translated:
        for piece in _fragments(english):
            if piece not in fr_text:
                for name, text in (("rapport.html", report_fr), ("LISEZMOI.txt", guide_fr), ("lettre", letter_fr)):
                    assert piece not in html.unescape(text) and piece not in text, (name, piece)
        for piece in _fragments(fr_text):
            if piece not in english:
                assert piece not in report_en, piece

    # The same package under either locale, but for the minute it was made (and so its sums and signatures).
    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    got_fr, got_c = files(fr), files(c)
    assert got_fr.keys() == got_c.keys()
    dated = {"rapport.html", "report.en.html"}
    signed = {"SHA256SUMS", "SHA256SUMS.minisig", "SHA256SUMS.sig"}
    for name in got_fr.keys() - signed:
        a, b = got_fr[name].decode("utf-8", "replace"), got_c[name].decode("utf-8", "replace")
        if name in dated:
            a, b = CREATED.sub("…", a), CREATED.sub("…", b)
        assert a == b, name
    sums = [{line for line in got[name].decode().splitlines() if not line.endswith(tuple(dated))}
            for got, name in ((got_fr, "SHA256SUMS"), (got_c, "SHA256SUMS"))]
    assert sums[0] == sums[1]
    # The letters, but for the ZIP's own size and SHA-256 (its encryption is salted afresh).
    for ext in ("txt", "html"):
        a = (tmp_path / f"fr-lettre-de-transmission.{ext}").read_text(encoding="utf-8")
        b = (tmp_path / f"c-lettre-de-transmission.{ext}").read_text(encoding="utf-8")
        a = re.sub(r"[0-9a-f]{64}|\d+ octets", "…", a.replace("fr.zip", "X.zip"))
        b = re.sub(r"[0-9a-f]{64}|\d+ octets", "…", b.replace("c.zip", "X.zip"))
        assert a == b, ext
    assert "LETTRE DE TRANSMISSION" in letter_fr and "Signature du commerçant" in letter_fr
