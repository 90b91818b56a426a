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


def short_size(n: int) -> str:
    """A size with as few figures as tell it (24 GB, 7.6 MB), never rounded to nothing: a small key's 120 kB is not
    "0 MB"."""
    for unit, scale in ((_("{size} GB"), 1e9), (_("{size} MB"), 1e6), (_("{size} kB"), 1e3)):
        if n >= scale:
            return unit.format(size=number(n / scale, 0 if n >= 10 * scale else 1))
    return _("{size} B").format(size=number(n))
