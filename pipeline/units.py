"""Numbers and sizes as the reader writes them: 12 345 and 12,3 Mo in French, 12,345 and 12.3 MB in English."""

from __future__ import annotations

from pipeline import i18n
from pipeline.i18n import _, ngettext


def number(n: float, decimals: int = 0) -> str:
    """12 345 / 12,3 in French, 12,345 / 12.3 in English."""
    text = f"{n:,.{decimals}f}"
    if i18n.language() == "fr":
        text = text.replace(",", "\u202f").replace(".", ",")
    return text


def size(n: float) -> str:
    """A size in the reader's units: 12.3 MB, or 12,3 Mo in French."""
    for limit, unit in ((1e12, _("{size} TB")), (1e9, _("{size} GB")), (1e6, _("{size} MB")), (1e3, _("{size} kB"))):
        if n >= limit:
            return unit.format(size=number(n / limit, 1))
    return ngettext("{size} byte", "{size} bytes", int(n)).format(size=number(n))
