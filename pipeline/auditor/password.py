"""The package password: given through an environment variable, or generated to be read aloud once."""

from __future__ import annotations

import os
import secrets

# No 0/o, 1/l/i: a password read aloud over the phone or copied from a screen must survive it.
ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def generate(groups: int = 6, size: int = 4) -> str:
    """6 groups of 4 from 31 symbols: about 119 bits, e.g. 'k7mq-x2vd-…'."""
    return "-".join("".join(secrets.choice(ALPHABET) for _ in range(size)) for _ in range(groups))


def from_env(var: str) -> str | None:
    value = os.environ.get(var)
    return value if value else None
