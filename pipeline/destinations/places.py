"""One folder under several names (a link, a trailing slash, another spelling of its path) is one place: one copy."""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from pipeline.destinations import Destination, open_destination
from pipeline.errors import CoffreError


def one_per_place(specs: Iterable[str]) -> tuple[dict[str, Destination], dict[str, str]]:
    """(the first name of each place -> its destination, in the order given; each other name -> that first name).

    Written to once and checked once: two names of one folder counted as two copies would be a copy that does not
    exist, and two writers racing in one folder."""
    first: dict[str, str] = {}  # normalised spelling -> the name that gave it first
    dests: dict[str, Destination] = {}
    same_as: dict[str, str] = {}
    for spec in specs:
        dest = open_destination(spec)
        where = dest.normalised()
        if where in first:
            same_as[spec] = first[where]
            continue
        first[where] = spec
        dests[spec] = dest
    return dests, same_as


def names_per_place(specs: Iterable[str]) -> dict[str, list[str]]:
    """{the first name of each place: every name of it, in the order given}; a name that is no destination (a
    configuration not yet checked) is a place of its own."""
    places: dict[str, list[str]] = {}
    for spec in specs:
        places.setdefault(normalised(spec) or spec, []).append(spec)
    return {names[0]: names for names in places.values()}


@lru_cache(maxsize=256)
def normalised(spec) -> str | None:
    """A destination's normalised spelling; None for what is not a destination."""
    if not isinstance(spec, str):
        return None
    try:
        return open_destination(spec).normalised()
    except (CoffreError, OSError, ValueError):
        return None
