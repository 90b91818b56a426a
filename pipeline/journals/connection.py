"""Opens a snapshot read-only for the journals stage, with the SQL functions a mapping may call.

coffre_digest(order, text) is an aggregate: the SHA-256 (hex) of the texts sorted by `order` and joined by '|',
so that a mapping can rebuild the digest of a ticket's lines or payments that a till signs (SQLite's group_concat
promises no order). Over no row SQL makes any aggregate NULL: coffre_digest_of_nothing() is the digest of the empty
string, which a ticket without lines or payments signs.

coffre_local_time(ts) and coffre_day(ts) give a till's time stamp as the shop's local time with its UTC offset, and
its business day, in the configured time zone (Europe/Paris by default): a sale at 00:30 on 1 January in Paris is
in the new year's Z, though it is still 31 December in UTC. A stamp with an offset or a Z is an instant; one without
is already the shop's local time.

coffre_exact_sum(x) is sum() without its stop at 64 bits (journals/exact_sums.py).

coffre_text_number(bytes) is the number a text holds, as fiscal_rules.text_number (and verify.py) reads it.

A text whose bytes are not UTF-8 (a bit flipped on the till's disk, an edit) is read with \\xHH for each byte that is
not part of a character, in the rows (open_snapshot) and in the functions' arguments (function_args.py), rather
than stop the statement that meets it.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import zoneinfo
from datetime import datetime, timedelta, timezone
from importlib import resources
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import blake3

from pipeline.fiscal_rules import digest, text_number
from pipeline.interrupt import Interruptible
from pipeline.journals.exact_sums import ExactSum

DEFAULT_TIMEZONE = "Europe/Paris"

# How a text given as bytes (function_args.py) is read: in the database's own encoding, each byte that is not part
# of a valid character written \xHH, so that two texts that differ only there stay apart (U+FFFD would merge them).
UNREADABLE = "backslashreplace"
_CODECS = {"UTF-8": "utf-8", "UTF-16le": "utf-16-le", "UTF-16be": "utf-16-be"}


def database_encoding(conn: sqlite3.Connection) -> str:
    """The encoding of the texts' bytes in this database, as SQLite names it (a Windows till's file may be UTF-16)."""
    encoding = conn.execute("PRAGMA encoding").fetchone()[0]
    return encoding if encoding in _CODECS else "UTF-8"


class _Digest:
    codec = "utf-8"  # set per connection by add_functions

    def __init__(self):
        self.parts: list[tuple] = []

    def step(self, order, text) -> None:
        if isinstance(text, bytes):
            text = text.decode(self.codec, UNREADABLE)
        self.parts.append((order, "" if text is None else str(text)))

    def finalize(self) -> str:
        # Orders of one kind sort as they are; mixed kinds (a corrupt row) still sort, by type name first.
        self.parts.sort(key=lambda p: (type(p[0]).__name__, p[0]) if p[0] is not None else ("", 0))
        return digest([t for _, t in self.parts])


def zone_rules(zone: str) -> str:
    """The BLAKE3 of the rules ZoneInfo reads for `zone` (its TZif file, from the system's zoneinfo folders or else the
    tzdata package, in ZoneInfo's own order), or "" when it finds none: new rules (a country changing its clocks, an
    update of the system's tzdata) change local times already written."""
    for base in zoneinfo.TZPATH:
        path = os.path.join(base, zone)
        if os.path.isfile(path):  # as ZoneInfo looks: a folder it may not search is passed over, never an error
            try:
                with open(path, "rb") as f:
                    return blake3.blake3(f.read()).hexdigest()
            except OSError:
                return ""  # ZoneInfo cannot read it either: the clock already said so, or will
    package, _dot, name = f"tzdata.zoneinfo.{zone.replace('/', '.')}".rpartition(".")
    try:
        return blake3.blake3(resources.files(package).joinpath(name).read_bytes()).hexdigest()
    except (ImportError, OSError, ValueError):
        return ""


class LocalClock:
    """UTC stamps to local time in one zone. A till writes hundreds of thousands of stamps and SQLite calls this once
    per row: the local hour and offset are looked up once per UTC hour (zones change offset on the hour or half
    hour), and the rest is string slicing."""

    def __init__(self, zone: str, codec: str = "utf-8"):
        self.codec = codec  # of a stamp given as bytes (function_args.py): the database's encoding
        try:
            self.zone = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(f"unknown time zone {zone!r}") from err
        self.hours: dict[str, tuple[str, str] | None] = {}
        self.minutes: dict[str, tuple[str, str] | None] = {}
        # The last stamp and its local time: a row asks for its local time and then its day, and a ticket's lines
        # come one after another with the ticket's stamp.
        self.seen: str | bytes | None = None
        self.said: str | None = None

    def local(self, ts) -> str | None:
        """'YYYY-MM-DDTHH:MM:SS+HH:MM' in the zone, or the stamp as it is when it is not one. A stamp given as bytes
        (function_args.py) is read in the database's encoding, as the digests' texts are."""
        kind = type(ts)
        if (kind is bytes or kind is str) and ts == self.seen:
            return self.said
        said = self._local(ts.decode(self.codec, UNREADABLE) if kind is bytes else ts)
        if kind is bytes or kind is str:
            self.seen, self.said = ts, said
        return said

    def _local(self, ts) -> str | None:
        if not isinstance(ts, str) or len(ts) < 19 or ts[10] not in "T ":
            return None if ts is None else str(ts)
        rest = ts[19:].lstrip(".0123456789") if ts[19:20] == "." else ts[19:]  # fractions of a second dropped
        if rest in ("Z", "+00:00"):
            hour = self.hours.get(ts[:13], False)
            if hour is False:
                hour = self.hours[ts[:13]] = self._hour(ts)
            if hour is not None:
                return hour[0] + ts[13:19] + hour[1]
        elif rest == "" and ts[16:17] == ":":
            # A local stamp's offset depends on its minute only (a server that writes local time: Dolibarr's):
            # looked up once a minute, in a table emptied now and then so that memory stays flat.
            minute = self.minutes.get(ts[:16])
            if minute is None:
                if len(self.minutes) > 100_000:
                    self.minutes.clear()
                whole = self._slow(ts[:16] + ":00", "")
                minute = self.minutes[ts[:16]] = (whole[:16], whole[19:]) if len(whole) > 19 else None
            if minute is not None and ts[17:19].isdigit():
                return minute[0] + ts[16:19] + minute[1]
        return self._slow(ts, rest)

    def _hour(self, ts: str) -> tuple[str, str] | None:
        """(local 'YYYY-MM-DDTHH', offset text) for a UTC hour whose offset is whole hours, else None."""
        try:
            utc = datetime.fromisoformat(ts[:13] + ":00:00").replace(tzinfo=timezone.utc)
        except ValueError:
            return None
        off = utc.astimezone(self.zone).utcoffset() or timedelta(0)
        if off.total_seconds() % 3600:
            return None
        return (utc + off).strftime("%Y-%m-%dT%H"), _offset_text(off)

    def _slow(self, ts: str, rest: str) -> str:
        try:
            if rest == "":  # no offset: already the shop's local time
                naive = datetime.fromisoformat(ts[:10] + "T" + ts[11:19])
                return naive.strftime("%Y-%m-%dT%H:%M:%S") + _offset_text(
                    naive.replace(tzinfo=self.zone).utcoffset() or timedelta(0))
            if rest != "Z" and not (len(rest) == 6 and rest[0] in "+-"):
                return ts
            instant = datetime.fromisoformat(ts[:19] + ("+00:00" if rest == "Z" else rest))
        except ValueError:
            return ts
        local = instant.astimezone(self.zone)
        return local.strftime("%Y-%m-%dT%H:%M:%S") + _offset_text(local.utcoffset() or timedelta(0))

    def day(self, ts) -> str | None:
        local = self.local(ts)
        return local[:10] if local else local


def _offset_text(off: timedelta) -> str:
    minutes = int(off.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def add_functions(conn: sqlite3.Connection, zone: str = DEFAULT_TIMEZONE) -> sqlite3.Connection:
    encoding = database_encoding(conn)
    codec = _CODECS[encoding]
    clock = LocalClock(zone, codec)
    conn.create_aggregate("coffre_digest", 2, type("_Digest", (_Digest,), {"codec": codec}))
    conn.create_window_function("coffre_exact_sum", 1, type("ExactSum", (ExactSum,), {"encoding": encoding}))
    # An aggregate over no row is NULL in SQL; a ticket without lines or payments signs the digest of nothing.
    conn.create_function("coffre_digest_of_nothing", 0, lambda: digest([]), deterministic=True)
    conn.create_function("coffre_local_time", 1, clock.local, deterministic=True)
    conn.create_function("coffre_day", 1, clock.day, deterministic=True)
    # A text the till holds where a decimal field is, read as verify.py reads its CSV cell (journals/decimals.py).
    conn.create_function("coffre_text_number", 1, lambda raw: text_number(None if raw is None else bytes(raw).decode(
        codec, UNREADABLE)), deterministic=True)
    return conn


def open_snapshot(path: Path, zone: str = DEFAULT_TIMEZONE) -> sqlite3.Connection:
    conn = add_functions(sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True,
                                         factory=Interruptible), zone)
    # A text that is not UTF-8 (a bit flipped on the till's disk, an edit) is read with \xHH for each byte that is
    # not, rather than stop the statement that meets it: its record's signature no longer matches, and is said.
    # (SQLite gives a UTF-16 file's texts as UTF-8 here.)
    conn.text_factory = _READ_TEXT
    return conn


_READ_TEXT = functools.partial(str, encoding="utf-8", errors=UNREADABLE)
