"""The auditor's package carries the journals guide twice: LISEZMOI.txt in French, as the run's export writes it, and
README.txt in English for a reader from elsewhere — even when the shop's computer speaks French."""

from __future__ import annotations

import re
from babel.messages.extract import extract_from_file

from conftest import open_package, run_coffre

from pipeline.i18n import translation_for
from pipeline.journals import lisezmoi
from pipeline.journals.findings import CheckResult
from pipeline.journals.mapping import load_mapping

PASSWORD = "le-guide-en-anglais"
KEYWORDS = {"_": None, "ngettext": (1, 2), "in_language": (2,)}
PLACEHOLDER = re.compile(r"\{\{?[A-Za-z_][A-Za-z0-9_!]*\}?\}")
# What the reference mapping and a package without findings do not need
NOT_IN_THE_REFERENCE_GUIDE = ("{first} and {second}", "file order", "{journal} [{record}]: {message}",
                              "  … and {count} more, all in findings.json.")


def _fragments(text: str) -> list[str]:
    return [f.strip() for f in PLACEHOLDER.split(text) if len(f.strip().split()) >= 2]


def test_readme_is_the_journals_guide_in_english_and_lisezmoi_stays_french(store, tmp_path):
    assert run_coffre("archive", "--config", store.config, "--yes").code == 0
    out = tmp_path / "paquet.zip"
    res = run_coffre("export-auditor", "--config", store.config, "--identity", store.identity,
                     "--period", "2025-01-01..2025-01-03", "--out", out, "--password-env", "AUDIT_PW",
                     env={"AUDIT_PW": PASSWORD, "LANG": "fr_FR.UTF-8"})
    assert res.code == 0, res
    root = open_package(out, tmp_path / "paquet", PASSWORD)
    readme = (root / "README.txt").read_text(encoding="utf-8")
    guide = (root / "LISEZMOI.txt").read_text(encoding="utf-8")

    assert readme.startswith("README - Fiscal journals of the till, exported by Coffre\n")
    assert "Chaining and signatures: how to recompute everything" in readme
    assert "Code of the till (e.g. CAISSE-01)." in readme and "This package (handed over for inspection)" in readme
    assert guide.startswith("LISEZMOI - Journaux fiscaux de la caisse, exportés par Coffre\n")
    assert "Ce dossier contient les journaux" in guide and "Code de la caisse (ex. CAISSE-01)." in guide
    assert "Ce paquet (remis au contrôle)" in guide

    french = translation_for("fr")
    found = [m for _, m, _, _ in extract_from_file("python", lisezmoi.__file__, keywords=KEYWORDS)]
    ids = [m if isinstance(m, str) else m[0] for m in found]
    assert all(french.gettext(m) != m for m in ids), "the French catalogue is not compiled (scripts/catalogue)"
    # The guide's parts for a till that seals its own chain (tests/journals/test_lisezmoi_languages.py renders them)
    # are not in this package of the reference till: what its English guide, rendered here, does not hold.
    mapping = load_mapping("reference-pos")
    reference = lisezmoi.render(mapping, {"records": dict.fromkeys(mapping.journals, 1)}, CheckResult(), "en")
    own_chain_only = {m for m in ids if not all(p in reference for p in _fragments(m))
                      and m not in NOT_IN_THE_REFERENCE_GUIDE}
    own_chains = "".join(lisezmoi.render(load_mapping(m), {"records": {}}, CheckResult(), "en")
                         for m in ("odoo-pos", "dolibarr-pos"))
    assert own_chain_only and all(p in own_chains for m in own_chain_only for p in _fragments(m)), own_chain_only
    for english in ids:
        if english in own_chain_only:
            continue
        fr_text = french.gettext(english)
        for piece in _fragments(fr_text):
            if piece not in english:
                assert piece not in readme, piece  # no French sentence of the guide in README.txt
            if english not in NOT_IN_THE_REFERENCE_GUIDE:
                assert piece in guide, piece  # LISEZMOI.txt: the French guide, word for word
        for piece in _fragments(english):
            if english not in NOT_IN_THE_REFERENCE_GUIDE:
                assert piece in readme, piece
            if piece not in fr_text:
                assert piece not in guide, piece
