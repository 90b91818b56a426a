"""Checks restored data against the facts recorded at archive time: the facts themselves, the journals' stream;
the database is held to them by its source kind (snapshot/)."""

from __future__ import annotations

import json

from pipeline.i18n import _
from pipeline.snapshot import KINDS

# facts.json is a few kilobytes (row counts, journal counts, check summaries): a larger one is not ours, and each
# copy read at once may hold one in memory.
FACTS_LIMIT = 1 << 20


def parse_facts(data: bytes) -> dict:
    try:
        facts = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise ValueError(_("facts.json is not valid JSON"))
    if not isinstance(facts, dict) or not isinstance(facts.get("snapshot"), dict):
        raise ValueError(_("facts.json has no snapshot section"))
    if facts["snapshot"].get("source_kind") not in (None, *KINDS):
        raise ValueError(_("facts.json names a kind of database this Coffre does not know"))
    counts = facts["snapshot"].get("row_counts", {})
    if not isinstance(counts, dict) or not all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                                               for v in counts.values()):
        raise ValueError(_("facts.json has malformed row counts"))
    return facts


class HeaderProbe:
    """A writer that keeps the first 100 bytes of a stream (an SQLite database's header) and drops the rest."""

    def __init__(self):
        self.data = b""

    def write(self, data) -> int:
        if len(self.data) < 100:
            self.data += bytes(data[:100 - len(self.data)])
        return len(data)


def journals_mismatch(journal_facts: dict | None, got) -> str | None:
    """Compares an unpacked journals stream with what the archive recorded; None when it matches.

    New runs record `zst_blake3`, the BLAKE3 of the zstd stream (the age plaintext); older ones `plain_blake3`,
    the BLAKE3 of the plain tar. `plain_size` is checked whenever the stream was decompressed.
    """
    if not journal_facts:
        return None
    zst = journal_facts.get("zst_blake3")
    if zst is not None:
        if zst != got.zst_blake3:
            return _("decrypts to journals whose BLAKE3 differs from the one recorded at archive time")
    elif journal_facts.get("plain_blake3") is not None:
        if got.plain_blake3 is None:
            raise ValueError(_("this run records the plain journals' hash: the stream must be decompressed"))
        if journal_facts["plain_blake3"] != got.plain_blake3:
            return _("decrypts to journals whose BLAKE3 differs from the one recorded at archive time")
    size = journal_facts.get("plain_size")
    if got.plain_size is not None and size is not None and size != got.plain_size:
        return _("decompresses to {size} bytes of journals, {recorded} were recorded at archive time").format(
            size=got.plain_size, recorded=size)
    return None


def journals_need_decompressing(journal_facts: dict | None) -> bool:
    """Whether checking the journals against the facts needs the plain tar (runs without zst_blake3)."""
    return (bool(journal_facts) and journal_facts.get("zst_blake3") is None
            and journal_facts.get("plain_blake3") is not None)


class BoundedBuffer:
    """Collects a small plain file in memory, refusing to grow past `limit` (memory stays flat)."""

    def __init__(self, limit: int = FACTS_LIMIT):
        self.parts: list[bytes] = []
        self.size = 0
        self.limit = limit

    def write(self, data) -> int:
        self.size += len(data)
        if self.size > self.limit:
            raise ValueError(_("larger than any file of this kind Coffre writes"))
        self.parts.append(bytes(data))
        return len(data)

    def getvalue(self) -> bytes:
        return b"".join(self.parts)
