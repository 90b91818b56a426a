"""Sources: take a consistent copy of the till's database while it keeps selling, one plug-in per kind.

A source kind is one module of this package (sqlite.py, postgresql.py, mariadb.py) and nothing outside
the package knows which kind a shop has. Each module offers the same names:

- a class built by `open_source(spec)`, with `kind`, `describe()` (for messages), `device()` (the
  same-disk rule; None for a server), `warnings()` (what a person should know before the snapshot) and
  `take(scratch, progress, wanted)`, which returns a Snapshot; `wanted(conn)` names, on an SQLite
  connection holding the source's tables (empty), those the journals will read (None: no journals);
- for the copies, with no access to the live source: `PLAIN_NAME`, `CLIENT_PACKAGE` (the Debian package
  of the stock client RESTORE.txt names), `check_stream(head, size, facts)`
  (the first bytes of a decrypted snapshot held to the facts), `check_restored(path, facts, integrity)`
  (a restored file held to the facts without any server), `restore_lines(language)` (step 3 of
  RESTORE.txt) and `drill(path, facts, spec, scratch)` (the restored file loaded into a scratch target of
  its own kind, its rows counted: {table: rows}); a server kind also has `scratch_database(path, facts,
  spec)`, a context that loads a restored dump into a scratch database of the source's server and yields
  its address (dropped after): `journals_of_copy` takes a copy's journals from it as a run takes them.

A Snapshot is read once: `stream()` gives the dump from its first byte to its last (the pack reads it),
`journals_db()` an SQLite file holding, as they were at the same instant as the dump, the tables that
`wanted` named (the journals stage reads it; for a server, a mirror of those tables only; it may wait
until the stream was read),
`inspect()` the facts a restore must find again (row counts), `finish()` after the stream's last byte
(CannotRun when the dump failed), and `close()` always, which ends the session and frees the scratch.
"""

from __future__ import annotations

import importlib
import re
import sqlite3
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Callable, Iterator, Protocol

from pipeline.errors import UsageError
from pipeline.i18n import _

CONNINFO = re.compile(r"(?i)(^|\s)(host|hostaddr|dbname|user|password|port|service)\s*=")

Wanted = Callable[[sqlite3.Connection], set[str]]

KINDS = ("sqlite", "postgresql", "mariadb")
# What a source may be written as, before the colon: a URL scheme or Coffre's own sqlite: prefix.
SCHEMES = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql", "mariadb": "mariadb",
           "mysql": "mariadb"}


class Snapshot:
    """One consistent instant of a source. The defaults are those of a plain file in the scratch folder."""

    name: str = "snapshot"  # the data file's name in a run, before .zst.age
    facts: dict
    size: int | None = None  # the plain size when known before reading (a progress bar's total)

    def stream(self) -> BinaryIO:
        raise NotImplementedError

    def journals_db(self) -> Path:
        raise NotImplementedError

    def inspect(self) -> dict:
        return {}

    def finish(self) -> None:
        """Called once the stream was read to its end: raises CannotRun if the dump did not complete."""

    def close(self) -> None:
        """Always called, last: ends the session with the source, removes what the snapshot left in scratch."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Source(Protocol):
    kind: str

    def describe(self) -> str: ...

    def device(self) -> int | None: ...

    def warnings(self) -> list[str]: ...

    def take(self, scratch: Path, progress=None, wanted: Wanted | None = None) -> Snapshot: ...


def kind_of_spec(spec: str) -> str | None:
    scheme = spec.partition(":")[0].lower()
    return SCHEMES.get(scheme)


def refuse_connection_string(spec: str) -> None:
    """A libpq "host=… dbname=… password=…" string is not a path: refused before it names a file, never echoed."""
    if kind_of_spec(spec) is None and CONNINFO.search(spec):
        raise UsageError(_("This source looks like a connection string: write it as "
                           "postgresql://USER@HOST:PORT/DATABASE, with the password in ~/.pgpass, never in the "
                           "source."))


def open_source(spec: str, lock_wait: int = 60, stall: int | None = None) -> Source:
    """`stall`: seconds a server's dump may send nothing before the run is abandoned (None: the kind's default)."""
    refuse_connection_string(spec)
    kind = kind_of_spec(spec)
    rest = spec.partition(":")[2]
    # sqlite:PATH, or a server written as a URL; each kind's module builds its own source.
    if (kind == "sqlite" and rest) or (kind is not None and rest.startswith("//")):
        return reader(kind).source(spec, lock_wait, *([] if stall is None else [stall]))
    raise UsageError(_("The source {source!r} is not understood; write it as sqlite:/path/to/pos.db, "
                       "postgresql://user@host/database or mariadb://user@host/database.").format(
        source=safe_spec(spec)))


def reader(kind: str | None):
    """The module of a source kind, for reading its copies; runs older than the kind field were SQLite."""
    kind = kind or "sqlite"
    if kind not in KINDS:
        raise ValueError(_("this run holds a database of an unknown kind ({kind})").format(kind=kind))
    return importlib.import_module(f"pipeline.snapshot.{kind}")


def reader_of(snap_facts: dict):
    return reader(snap_facts.get("source_kind"))


SCRATCH_PREFIX = "coffre_drill_"
SCRATCH_STALE = 86400  # a scratch database this old was left by a run that could not drop it (a server gone)


def scratch_name() -> str:
    """A scratch database's name: the time it was made, so that a later one can drop it if it was left behind."""
    import secrets
    import time

    return f"{SCRATCH_PREFIX}{int(time.time())}_{secrets.token_hex(4)}"


def stale_scratch(names: list[str]) -> list[str]:
    """The scratch databases among `names` made more than a day ago (never one a running drill may still use)."""
    import time

    stale = []
    for name in names:
        made = name[len(SCRATCH_PREFIX):].partition("_")[0]
        if name.startswith(SCRATCH_PREFIX) and made.isdigit() and time.time() - int(made) > SCRATCH_STALE:
            stale.append(name)
    return stale


def with_database(spec: str, database: str) -> str:
    """A server's address with another database (the drill's scratch one), its user, host and options kept."""
    from urllib.parse import quote, urlsplit, urlunsplit

    parts = urlsplit(spec)
    return urlunsplit((parts.scheme, parts.netloc, "/" + quote(database, safe=""), parts.query, parts.fragment))


def journals_only(snap: Snapshot) -> Path:
    """A snapshot's journals database, its dump read to the end and dropped: a source may take the journals from
    the dump itself (MariaDB), and a dump that fails says so here as in a run. The caller closes the snapshot."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        db = pool.submit(snap.journals_db)
        try:
            with snap.stream() as f:
                while f.read(1 << 20):
                    pass
            snap.finish()
        except BaseException:
            snap.close()
            raise
        return db.result()


@contextmanager
def journals_of_copy(path: Path, snap_facts: dict, spec: str, scratch: Path, wanted: Wanted, lock_wait: int = 60,
                     stall: int | None = None) -> Iterator[Path]:
    """The journals database of a restored copy: the file itself for SQLite; for a server's dump, the mirror of
    a scratch database the dump is loaded into on the configured server (dropped after), taken as a run takes it."""
    kind = reader_of(snap_facts)
    if not hasattr(kind, "scratch_database"):
        yield path
        return
    with kind.scratch_database(path, snap_facts, spec) as restored:
        snap = open_source(restored, lock_wait, stall).take(scratch, wanted=wanted)
        try:
            yield journals_only(snap)
        finally:
            snap.close()


def reader_of_file(names: list[str]):
    """The kind of the database among a run's data files (by its plain name), SQLite when none is recognised."""
    for kind in KINDS:
        module = reader(kind)
        if any(name.startswith(module.PLAIN_NAME + ".") for name in names):
            return module
    return reader("sqlite")


def safe_spec(spec: str) -> str:
    """A source as it may be shown or stored: a password written in a URL is replaced by ***."""
    from urllib.parse import urlsplit, urlunsplit

    spec = re.sub(r"(?i)(password\s*=\s*)('[^']*'|[^\s&]*)", r"\1***", spec)
    try:
        parts = urlsplit(spec)
        if parts.password is None:
            return spec
    except ValueError:
        return spec
    host = parts.hostname or ""
    netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
