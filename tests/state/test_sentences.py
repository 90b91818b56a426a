"""The record keeps its sentences in English whatever language the evening's run spoke; status shows them in the
reader's language (pipeline/state/sentences.py)."""


import pytest

from pipeline import i18n
from pipeline.state import sentences

@pytest.fixture
def french(monkeypatch):
    """This process speaking French, from the compiled catalogue."""
    fr = i18n.translation_for("fr")
    assert fr.gettext("held") != "held", "the French catalogue is not compiled (scripts/catalogue)"
    monkeypatch.setattr(i18n, "_translation", fr)
    monkeypatch.setattr(i18n, "_language", "fr")
    sentences._patterns.cache_clear()
    yield
    sentences._patterns.cache_clear()


def test_a_sentence_said_in_french_is_stored_in_english_and_shown_in_french_again(french):
    said = i18n._("the copy {copy} carries the same medium id as {others}: one medium reached two ways, or an id "
                  "file copied from one medium to another").format(copy="/media/usb", others="/mnt/backup")
    assert said.startswith("la copie /media/usb porte le même identifiant")
    stored = sentences.english(said)
    assert stored == ("the copy /media/usb carries the same medium id as /mnt/backup: one medium reached two ways, "
                      "or an id file copied from one medium to another")
    assert sentences.shown(stored) == said


def test_a_failed_copy_reason_keeps_its_destination_and_its_nested_sentence(french):
    why = i18n._("{name} read back differs from what was written (the medium is failing)").format(name="facts.age")
    reason = i18n._("{destination}: {reason}").format(destination="/media/usb", reason=why)
    assert reason == "/media/usb : facts.age relu diffère de ce qui a été écrit (le support est défaillant)"
    assert sentences.english(reason) == \
        "/media/usb: facts.age read back differs from what was written (the medium is failing)"


def test_a_sentence_no_message_makes_is_kept_as_it_is(french):
    assert sentences.english("table ventes a disparu") == "table ventes a disparu"
    assert sentences.shown("a sentence of an older version") == "a sentence of an older version"


def test_in_english_nothing_is_converted():
    assert i18n.language() == "en"
    text = "the copy /a carries the same medium id as /b: one medium reached two ways, or an id file copied from " \
           "one medium to another"
    assert sentences.english(text) == text and sentences.shown(text) == text
