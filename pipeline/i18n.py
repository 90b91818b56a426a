"""The language a person reads: French from a French locale, English otherwise, `--lang` to force; gettext catalogues.

Every sentence a person reads goes through `_` (or `ngettext`), with the English text as the message id and named
`{placeholders}` filled by `.format(...)` after translation, so that a translator can move them. The catalogues are
`pipeline/locale/<lang>/LC_MESSAGES/coffre.po`, compiled to `coffre.mo` by `scripts/catalogue` (Babel).
"""

from __future__ import annotations

import gettext
import os
from pathlib import Path

DOMAIN = "coffre"
LOCALE_DIR = Path(__file__).parent / "locale"
LANGUAGES = ("fr", "en")

_translation: gettext.NullTranslations = gettext.NullTranslations()
_language = "en"


def language_from_environment(env=None) -> str:
    """`fr` when the person's locale is French (COFFRE_LANG, else the first of LANGUAGE, LC_ALL, LC_MESSAGES, LANG
    that is set, as gettext reads them), `en` otherwise."""
    env = os.environ if env is None else env
    forced = env.get("COFFRE_LANG", "").strip().lower()
    if forced in LANGUAGES:
        return forced
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(name, "")
        if value:
            first = value.split(":")[0].lower()
            return "fr" if first.startswith("fr") else "en"
    return "en"


def set_language(language: str | None = None) -> str:
    """Chooses the language for this process (None: from the environment); returns it."""
    global _translation, _language
    language = (language or language_from_environment()).lower()
    if language not in LANGUAGES:
        language = "en"
    _language = language
    _translation = translation_for(language)
    _speak_through_click()
    return language


def translation_for(language: str) -> gettext.NullTranslations:
    """The catalogue of one language, whatever this process speaks (documents written in both languages use it)."""
    if language == "en":
        return gettext.NullTranslations()  # the message ids are the English text
    return gettext.translation(DOMAIN, LOCALE_DIR, languages=[language], fallback=True)


def language() -> str:
    return _language


def _(message: str) -> str:
    return _translation.gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return _translation.ngettext(singular, plural, n)


def in_language(language: str, message: str) -> str:
    """`message` in a given language, for a document that carries both (RESTORE.txt, the auditor's package)."""
    return translation_for(language).gettext(message)


def _speak_through_click() -> None:
    # click's own sentences ("Usage:", "Show this message and exit.", "Missing option") call gettext.gettext in each
    # of its modules; those modules' `_` and `ngettext` are pointed at this catalogue, which carries click's ids.
    import importlib

    for name in ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types", "utils",
                 "shell_completion"):
        try:
            module = importlib.import_module(f"click.{name}")
        except ImportError:  # a click without that module has no sentence there to translate
            continue
        if hasattr(module, "_"):
            module._ = _
        if hasattr(module, "ngettext"):
            module.ngettext = ngettext


set_language()
