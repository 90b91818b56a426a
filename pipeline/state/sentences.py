"""Sentences kept in this machine's record (a run's `attention`, a failed copy's reason, a prune's problem): stored in
English whatever language the command spoke, shown later in the language of the person who reads them.

The record is read by code and by any reader, in any language: what it holds must not depend on the LANG of the
evening's run. A sentence is made with `_()` like any other (the person reads it at once in their language);
`english()` gives the English to store, `shown()` the stored English in the reader's language. Both find the
catalogue message the sentence was made from (its placeholders matched back from the text) and fill the other
language's text with the same values; a sentence that no message makes is kept as it is.
"""

from __future__ import annotations

import re
import string
from functools import lru_cache

from pipeline import i18n

_MIN_WORDS = 8  # characters of fixed text a message needs to be recognised (a lone "{why}" matches anything)


def english(sentence: str) -> str:
    """The English of a sentence made in this process's language (for the record)."""
    if i18n.language() == "en" or not sentence:
        return sentence
    return _convert(sentence, from_english=False)


def shown(stored: str) -> str:
    """A sentence the record holds in English, in this process's language."""
    if i18n.language() == "en" or not stored:
        return stored
    return _convert(stored, from_english=True)


def _convert(text: str, from_english: bool, depth: int = 0) -> str:
    exact, patterns = _patterns(i18n.language(), from_english)
    if text in exact:
        return exact[text]
    if depth > 3:
        return text
    for regex, target in patterns:
        m = regex.fullmatch(text)
        if m:
            # A value may itself be a sentence made from a message ("Warning: {problem}.").
            values = {k: _convert(v, from_english, depth + 1) for k, v in m.groupdict().items()}
            try:
                return target.format(**values)
            except (KeyError, IndexError, ValueError):
                continue
    where, sep, rest = text.partition(": ")
    if sep and rest:  # "<destination>: <why>", as a failed copy's reason is said
        colon = " : " if from_english and i18n.language() == "fr" else ": "
        return f"{where.rstrip()}{colon}{_convert(rest, from_english, depth + 1)}"
    return text


@lru_cache(maxsize=4)
def _patterns(language: str, from_english: bool):
    """({fixed text: its other language}, [(regex of a message with placeholders, the other language's text)]),
    the messages with the most fixed text first."""
    catalog = getattr(i18n.translation_for(language), "_catalog", {}) or {}
    exact, patterns = {}, []
    for msgid, msgstr in catalog.items():
        if not isinstance(msgid, str) or not msgid or not msgstr:
            continue  # the header, plural forms
        source, target = (msgid, msgstr) if from_english else (msgstr, msgid)
        if "{" not in source:
            exact.setdefault(source, target)
            continue
        compiled = _regex(source)
        if compiled is not None:
            regex, fixed = compiled
            if fixed >= _MIN_WORDS:
                patterns.append((fixed, regex, _plain_fields(target)))
    patterns.sort(key=lambda p: -p[0])
    return exact, [(regex, target) for _, regex, target in patterns]


def _regex(template: str):
    """The regex that a message's text matches once filled, and how much fixed text it has; None if not a template."""
    parts, seen, fixed = [], set(), 0
    try:
        for literal, name, _spec, _conv in string.Formatter().parse(template):
            parts.append(re.escape(literal))
            fixed += len(literal)
            if name is None:
                continue
            if not name.isidentifier():
                return None
            parts.append(f"(?P={name})" if name in seen else f"(?P<{name}>.+?)")
            seen.add(name)
    except ValueError:
        return None
    return re.compile("".join(parts), re.DOTALL), fixed


def _plain_fields(template: str) -> str:
    """The template with its format specs dropped: the values matched back are already text ("{n:.0f}" -> "{n}")."""
    out = []
    try:
        for literal, name, _spec, _conv in string.Formatter().parse(template):
            out.append(literal.replace("{", "{{").replace("}", "}}"))
            if name is not None:
                out.append("{" + name + "}")
    except ValueError:
        return template.replace("{", "{{").replace("}", "}}")
    return "".join(out)
