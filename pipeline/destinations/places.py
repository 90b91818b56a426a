"""One folder under several names (a link, a trailing slash, another spelling of its path) is one place: one copy."""

from __future__ import annotations

from collections.abc import Iterable

from pipeline.destinations import Destination, open_destination


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
