"""The journals guide speaks the language it is asked for, from the catalogue, whatever the process speaks: French
for LISEZMOI.txt (the text of the published schemas, word for word), English for the auditor package's README.txt."""

from __future__ import annotations

import re
from pathlib import Path

from babel.messages.extract import extract_from_file

from pipeline import i18n
from pipeline.i18n import translation_for
from pipeline.journals import lisezmoi
from pipeline.journals.findings import CheckResult, Finding
from pipeline.journals.mapping import journal_schema, load_mapping

SOURCE = Path(lisezmoi.__file__)
KEYWORDS = {"_": None, "ngettext": (1, 2), "in_language": (2,)}
PLACEHOLDER = re.compile(r"\{\{?[A-Za-z_][A-Za-z0-9_!]*\}?\}")


def messages() -> list[str]:
    """The guide's messages (the first form of a plural)."""
    found = [m for _, m, _, _ in extract_from_file("python", str(SOURCE), keywords=KEYWORDS)]
    return [m if isinstance(m, str) else m[0] for m in found]


def fragments(text: str) -> list[str]:
    """The pieces of a message between its placeholders that say something (two words or more)."""
    return [f.strip() for f in PLACEHOLDER.split(text) if len(f.strip().split()) >= 2]


REPO = Path(__file__).resolve().parents[2]
# The reference till, the tills with their own chains, and a vendor's: between them, every part of the guide.
MAPPINGS = ["reference-pos", *sorted(p.stem for p in (REPO / "schemas" / "sources").glob("*.json")
                                     if p.stem != "reference-pos"),
            str(REPO / "fixtures" / "vendor-till" / "caisse-libre.json")]


def _guides(language_of_process: str) -> tuple[str, str]:
    fr, en = zip(*(_guide(language_of_process, m) for m in MAPPINGS))
    return "\n".join(fr), "\n".join(en)


def _guide(language_of_process: str, name: str) -> tuple[str, str]:
    mapping = load_mapping(name)
    meta = {"records": {name: 1000 + i for i, name in enumerate(mapping.journals)}}
    checks = CheckResult()
    for number in range(42, 42 + 51):  # one more than the guide lists
        checks.add(Finding("tickets", "numbering_gap", {"register": "CAISSE-01", "number": number}, "gap"))
    before = i18n.language()
    i18n.set_language(language_of_process)
    try:
        return (lisezmoi.render(mapping, meta, checks, "fr"), lisezmoi.render(mapping, meta, checks, "en"))
    finally:
        i18n.set_language(before)


def test_every_message_of_the_guide_is_french_in_lisezmoi_and_english_in_readme():
    french = translation_for("fr")
    fr, en = _guides("en")
    ids = messages()
    translated = [(m, french.gettext(m)) for m in ids if french.gettext(m) != m]
    assert len(translated) == len(ids), "the French catalogue is not compiled (scripts/catalogue)"
    for english, fr_text in translated:
        for piece in fragments(fr_text):
            if english not in ("{first} and {second}", "file order"):  # the reference mapping needs neither
                assert piece in fr, piece  # the guide's French, word for word
            if piece not in english:
                assert piece not in en, piece  # no French sentence in the English guide
        for piece in fragments(english):
            if piece not in fr_text:
                assert piece not in fr, piece  # no English sentence in the French guide
    assert "README - Fiscal journals of the till, exported by Coffre" in en
    assert "Chaining and signatures: how to recompute everything" in en
    assert "  jet: a single chain for the whole shop, in the order of \"seq\"; signed string:" in en
    assert "tickets.csv / tickets.json  (1000 records)" in en
    assert "Result of the checks of this export: 51 findings." in en
    assert "  … and 1 more, all in findings.json." in en
    assert "  - tickets [register CAISSE-01, number 42]: gap" in en


def test_the_french_guide_keeps_its_text():
    fr, _ = _guide("en", "reference-pos")
    assert fr.startswith("LISEZMOI - Journaux fiscaux de la caisse, exportés par Coffre\n" + "=" * 62 + "\n\n"
                         "Ce dossier contient les journaux de la caisse enregistreuse, tels que la caisse les a\n")
    assert "tickets.csv / tickets.json  (1000 enregistrements)\n--------------------------\n" in fr
    assert ("Recette : chaque {champ} est remplacé par la valeur du champ du même nom dans le CSV\n"
            "(nombre en décimal, valeur absente = vide) ; {champ!e} de même, mais « \\ » y est écrit\n"
            "« \\\\ » et « , » y est écrit « \\, ».\n") in fr
    assert "  tickets : une chaîne par register, dans l'ordre de « number » ; chaîne signée :\n" in fr
    assert "  jet : une seule chaîne pour tout le magasin, dans l'ordre de « seq » ; chaîne signée :\n" in fr
    assert "550:{ht_550_cents}:{tva_550_cents}" in fr  # the exact chain recipe
    assert "Résultat des contrôles de cet export : 51 constats.\n  - tickets [register CAISSE-01, number 42] : gap" in fr
    assert fr.endswith("Une ligne supprimée ou réécrite rompt la chaîne.\n\n")
    # Every field reads as its published schema says, in French.
    for name in load_mapping().journals:
        schema = journal_schema(name)
        assert f"\n{schema['description']}\n" in fr
        for field, prop in schema["items"]["properties"].items():
            assert f"\n  {field:34} {prop['description']}\n" in fr, (name, field)


def test_every_field_has_its_english_description():
    english = lisezmoi._schema_texts("en")
    for name in load_mapping().journals:
        assert (name, "") in english
        for field in journal_schema(name)["items"]["properties"]:
            assert (name, field) in english or ("", field) in english, (name, field)


def test_the_guide_does_not_depend_on_the_language_of_the_process():
    assert _guides("fr") == _guides("en")
