"""Checks restored data against the facts recorded at archive time: plain hash, row counts, and (on demand)
SQLite's own integrity check."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from pipeline.i18n import _, ngettext

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
    counts = facts["snapshot"].get("row_counts", {})
    if not isinstance(counts, dict) or not all(v is None or (isinstance(v, int) and not isinstance(v, bool))
                                               for v in counts.values()):
        raise ValueError(_("facts.json has malformed row counts"))
    return facts


INTEGRITY = ("none", "quick", "full")


def check_snapshot(path: Path, snap_facts: dict, integrity: str = "none") -> list[str]:
    """Opens a restored SQLite snapshot read-only; returns the sentences of what does not match.

    Always: it opens and every table holds the row count recorded at archive time. `integrity`: "quick" runs
    PRAGMA quick_check, "full" PRAGMA integrity_check (seconds per 100 MB). Callers compare the plain BLAKE3
    first: on bytes equal to the archived snapshot, SQLite can only say again what it said at archive time
    (facts' quick_check), so restore and deep verify leave it to the drill.
    """
    if integrity not in INTEGRITY:
        raise ValueError(f"integrity must be one of {INTEGRITY}")
    problems = []
    try:
        conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as err:
        return [_("the restored database does not open ({reason})").format(reason=err)]
    try:
        if integrity != "none":
            pragma = "integrity_check" if integrity == "full" else "quick_check"
            result = [r[0] for r in conn.execute(f"PRAGMA {pragma}")]
            if result != ["ok"]:
                problems.append(_("the restored database fails PRAGMA {pragma}: {said}").format(
                    pragma=pragma, said="; ".join(result[:3])))
        expected = snap_facts.get("row_counts") or {}
        for table, count in sorted(expected.items()):
            if count is None:
                continue
            try:
                got = conn.execute(f'SELECT count(*) FROM "{table.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
            except sqlite3.Error:
                problems.append(_("table {table} recorded at archive time is missing from the restored database").format(
                    table=table))
                continue
            if got != count:
                problems.append(ngettext("table {table} has {got} rows, {count} was recorded at archive time",
                                         "table {table} has {got} rows, {count} were recorded at archive time",
                                         count).format(table=table, got=got, count=count))
    except sqlite3.DatabaseError as err:
        problems.append(_("the restored database cannot be read ({reason})").format(reason=err))
    finally:
        conn.close()
    return problems


SQLITE_MAGIC = b"SQLite format 3\x00"


class HeaderProbe:
    """A writer that keeps the first 100 bytes of a stream (an SQLite database's header) and drops the rest."""

    def __init__(self):
        self.data = b""

    def write(self, data) -> int:
        if len(self.data) < 100:
            self.data += bytes(data[:100 - len(self.data)])
        return len(data)


def check_snapshot_stream(header: bytes, size: int | None, snap_facts: dict) -> list[str]:
    """What a streamed (not written) snapshot can be held to besides its BLAKE3: an SQLite header whose page size
    and page count agree with its size and with the facts recorded at archive time."""
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return [_("decrypts to something that is not an SQLite database")]
    problems = []
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    # The in-header page count is valid only when the change counter equals the version-valid-for number.
    page_count = int.from_bytes(header[28:32], "big") if header[24:28] == header[92:96] else None
    if snap_facts.get("page_size") not in (None, page_size):
        problems.append(_("has pages of {size} bytes, {recorded} were recorded at archive time").format(
            size=page_size, recorded=snap_facts["page_size"]))
    if page_count is not None:
        if size is not None and size != page_size * page_count:
            problems.append(_("decompresses to {size} bytes, its header says {pages} pages of {page_size}").format(
                size=size, pages=page_count, page_size=page_size))
        if snap_facts.get("page_count") not in (None, page_count):
            problems.append(_("has {pages} pages, {recorded} were recorded at archive time").format(
                pages=page_count, recorded=snap_facts["page_count"]))
    if snap_facts.get("plain_size") not in (None, size):
        problems.append(_("decompresses to {size} bytes, {recorded} were recorded at archive time").format(
            size=size, recorded=snap_facts["plain_size"]))
    return problems


def damaged_at_archive_time(snap_facts: dict) -> str | None:
    """The sentence to show when SQLite found the source damaged at archive time (the copy is faithful to it)."""
    qc = snap_facts.get("quick_check")
    if qc in (None, "ok"):
        return None
    said = "; ".join(str(x) for x in qc[:3]) if isinstance(qc, list) else str(qc)
    return _("the database was already damaged when it was archived (SQLite's quick_check said: {said})").format(
        said=said[:300])


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
