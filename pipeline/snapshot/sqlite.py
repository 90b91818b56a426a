"""SQLite source: one read transaction through the backup API, so sales go on in WAL mode; and its copies' checks."""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path

from pipeline.errors import CannotRun
from pipeline.interrupt import Interruptible
from pipeline.i18n import _, in_language, ngettext
from pipeline.progress import NO_PROGRESS, Progress
from pipeline.snapshot import Snapshot

PLAIN_NAME = "snapshot.sqlite"
CLIENT_PACKAGE = "sqlite3"  # the stock client RESTORE.txt names

# SQLite's own busy wait for one try. The tries are looped in Python, so that a SIGTERM (a KeyboardInterrupt,
# see cli/__init__.py) stops the wait within this much: a single long busy timeout would hold it in C.
BUSY_TRY = 0.2


class _StillLocked(Exception):
    """The deadline passed while another program held its lock on the database."""


class SqliteSource:
    kind = "sqlite"

    def __init__(self, path: Path, lock_wait: int = 60):
        self.path = Path(path).absolute()
        self.lock_wait = lock_wait

    def describe(self) -> str:
        return _("SQLite database {path}").format(path=self.path)

    def device(self) -> int | None:
        try:
            return os.stat(self.path).st_dev
        except OSError:
            return None

    def warnings(self) -> list[str]:
        if not self.path.is_file():
            return []  # take() says what is wrong with it
        # Bytes 18 and 19 of the header are 2 in WAL mode and 1 otherwise. Read from the file with no SQLite
        # connection, they take no lock, so a till holding the database cannot make this wait, and nothing changes.
        try:
            with open(self.path, "rb") as f:
                header = f.read(20)
        except OSError:
            return []
        if not header.startswith(b"SQLite format 3\0") or header[18:20] == b"\2\2":
            return []
        return [_("Warning: the till database {path} is not in WAL mode: the till cannot record a sale while the "
                  "snapshot is taken (a few seconds). If the till software allows it, switch it to WAL "
                  "(PRAGMA journal_mode=WAL).").format(path=self.path)]

    def take(self, scratch: Path, progress: Progress = NO_PROGRESS, wanted=None) -> Snapshot:
        if not self.path.is_file():
            raise CannotRun(_("The source database {path} does not exist or is not a file.").format(path=self.path))
        out = scratch / "snapshot.sqlite"
        started = time.time()
        deadline = time.monotonic() + self.lock_wait
        try:
            src = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, timeout=BUSY_TRY, isolation_level=None)
        except sqlite3.Error as err:
            raise CannotRun(_("The source database {path} cannot be opened ({error}).").format(path=self.path,
                                                                                               error=sqlite_reason(err)))
        try:
            _begin_read(src, deadline)
            dst = sqlite3.connect(out)
            try:
                # The copy is scratch: a crash leaves nothing worth keeping (the next run removes it),
                # so no fsync of hundreds of megabytes to the till's disk before packing can start.
                dst.execute("PRAGMA synchronous=OFF")
                # pages=-1 copies every page in ONE step, inside the read transaction opened above:
                # a consistent instant, while WAL lets the till keep committing.
                with _watched(out, src, progress):
                    src.backup(dst, pages=-1, progress=_until(deadline), sleep=BUSY_TRY)
                # The copy is one self-contained file (no -wal/-shm needed to open it anywhere).
                dst.execute("PRAGMA journal_mode=DELETE")
            finally:
                dst.close()
        except _StillLocked:
            raise CannotRun(_("The till database {path} is locked by another program (waited {seconds} s): try "
                              "again when the till has finished writing.").format(path=self.path,
                                                                                  seconds=self.lock_wait))
        except sqlite3.DatabaseError as err:
            raise CannotRun(_("The source database {path} cannot be read ({error}).").format(path=self.path,
                                                                                             error=sqlite_reason(err)))
        finally:
            src.close()
        facts = {
            "source_kind": self.kind,
            "snapshot_started_at": _iso(started),
            "snapshot_seconds": round(time.time() - started, 3),
            "size": out.stat().st_size,
        }
        return SqliteSnapshot(out, facts)


class SqliteSnapshot(Snapshot):
    """A plain copy in the scratch folder: the pack reads it, and the journals open the same file."""

    name = PLAIN_NAME

    def __init__(self, path: Path, facts: dict):
        self.path = path
        self.facts = facts
        self.size = path.stat().st_size

    def stream(self):
        return open(self.path, "rb")

    def journals_db(self) -> Path:
        return self.path

    def inspect(self) -> dict:
        return inspect(self.path)

    def close(self) -> None:
        # Off the run's path: dropping a few hundred megabytes of cache takes the kernel a noticeable fraction
        # of a second.
        threading.Thread(target=self.path.unlink, kwargs={"missing_ok": True}, name="coffre-scratch-free").start()


def source(spec: str, lock_wait: int = 60, stall: int | None = None) -> SqliteSource:
    """`stall` is a server's: a SQLite snapshot is a local copy, waited for through lock_wait alone."""
    return SqliteSource(Path(spec.partition(":")[2]), lock_wait)


def sqlite_reason(err: Exception) -> str:
    """SQLite's own words for what is wrong with a file, in the reader's language when they are known ones."""
    text = str(err)
    known = {
        "file is not a database": _("file is not a database"),
        "database disk image is malformed": _("database disk image is malformed"),
        "unable to open database file": _("unable to open database file"),
        "disk I/O error": _("disk I/O error"),
        "database is locked": _("database is locked"),
    }
    return known.get(text, text)


def _begin_read(src: sqlite3.Connection, deadline: float) -> None:
    """Opens the read transaction the backup then copies from, trying again until the deadline while the database
    is locked (a rollback-journal till writing, or one holding it in exclusive locking mode)."""
    src.execute("BEGIN")
    while True:
        try:
            src.execute("SELECT count(*) FROM sqlite_master").fetchone()
            return
        except sqlite3.OperationalError as err:
            if not _busy(getattr(err, "sqlite_errorcode", 0)):
                raise
            if time.monotonic() >= deadline:
                raise _StillLocked from err


@contextmanager
def _watched(out: Path, src: sqlite3.Connection, progress: Progress):
    """The copy's growth, told to the person watching: the backup is one step in C, so its file is looked at."""
    if not progress:
        yield
        return
    total = src.execute("PRAGMA page_count").fetchone()[0] * src.execute("PRAGMA page_size").fetchone()[0]
    task = progress.task(_("Snapshot of the database"), total)
    stop = threading.Event()

    told = [0]

    def look() -> None:
        try:
            now = out.stat().st_size
        except OSError:
            return
        if now > told[0]:
            task(now - told[0])
            told[0] = now

    def watch() -> None:
        while not stop.wait(0.2):
            look()

    watcher = threading.Thread(target=watch, name="coffre-snapshot-progress", daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()
        look()
        task.done()


def _until(deadline: float):
    """A backup progress callback: CPython retries a busy step forever, and in C, where no signal is handled."""

    def progress(status: int, remaining: int, total: int) -> None:
        if _busy(status) and time.monotonic() >= deadline:
            raise _StillLocked

    return progress


def _busy(code: int | None) -> bool:
    return code is not None and (code & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def inspect(path: Path) -> dict:
    """What a restore must find again: row counts per table, and SQLite's own check (read-only)."""
    conn = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, factory=Interruptible)
    try:
        return _facts(conn)
    finally:
        conn.close()


def _facts(conn: sqlite3.Connection) -> dict:
    # A damaged till database is still saved (the copy is what is left of it): errors become facts.
    facts: dict = {}
    try:
        tables = [r[0] for r in conn.execute(
            "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    except sqlite3.DatabaseError as err:
        return {"row_counts": {}, "quick_check": [f"schema unreadable: {err}"]}
    counts: dict = {}
    for t in tables:
        try:
            counts[t] = conn.execute(f'SELECT count(*) FROM "{t.replace(chr(34), chr(34) * 2)}"').fetchone()[0]
        except sqlite3.DatabaseError:
            counts[t] = None
    facts["row_counts"] = counts
    try:
        check = [r[0] for r in conn.execute("PRAGMA quick_check")]
        facts["quick_check"] = "ok" if check == ["ok"] else check[:20]
        for pragma in ("page_size", "page_count", "user_version"):
            facts[pragma] = conn.execute(f"PRAGMA {pragma}").fetchone()[0]
    except sqlite3.DatabaseError as err:
        facts["quick_check"] = [str(err)]
    return facts


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# The copies' side: what a decrypted or restored snapshot is held to, with no access to the live database.

INTEGRITY = ("none", "quick", "full")
PATH_ROOM = 504  # the longest database path SQLite opens (512 bytes, less its "-journal" suffix)


class PathTooLong(CannotRun):
    """A restored database in a folder whose path leaves SQLite no room to open it: the folder is this machine's."""

    def __init__(self, folder: Path, most: int):
        self.folder, self.most = folder, most
        self.length = len(os.fsencode(str(folder)))
        super().__init__(_("SQLite cannot open a database restored into {folder}: that folder's path is {n} bytes "
                           "long, and SQLite opens one only within {most}; restore into a folder with a shorter "
                           "path.").format(folder=folder, n=self.length, most=most))


def check_restored(path: Path, snap_facts: dict, integrity: str = "none") -> list[str]:
    """Opens a restored SQLite snapshot read-only; returns the sentences of what does not match.

    Always: it opens and every table holds the row count recorded at archive time. `integrity`: "quick" runs
    PRAGMA quick_check, "full" PRAGMA integrity_check (seconds per 100 MB). Callers compare the plain BLAKE3
    first: on bytes equal to the archived snapshot, SQLite can only say again what it said at archive time
    (facts' quick_check), so restore and deep verify leave it to the drill.
    """
    if integrity not in INTEGRITY:
        raise ValueError(f"integrity must be one of {INTEGRITY}")
    problems = []
    where = Path(path).absolute()
    try:
        conn = sqlite3.connect(f"{where.as_uri()}?mode=ro", uri=True, factory=Interruptible)
    except sqlite3.Error as err:
        if getattr(err, "sqlite_errorcode", None) == sqlite3.SQLITE_CANTOPEN:
            # The file was just written here and held to its archive-time BLAKE3: SQLite refusing to open it is this
            # machine's (a path past SQLite's 512 bytes, a folder it may not read), never the copy's damage.
            real = Path(os.path.realpath(where))  # SQLite follows the links itself
            if len(os.fsencode(str(real))) > PATH_ROOM:
                raise PathTooLong(real.parent, PATH_ROOM - len(os.fsencode(real.name)) - 1)
            raise CannotRun(_("SQLite cannot open the restored database {path} ({reason}); the copy is not at "
                              "fault.").format(path=where, reason=err))
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


def check_stream(header: bytes, size: int | None, snap_facts: dict) -> list[str]:
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


def restore_lines(language: str) -> list[str]:
    """Step 3 of RESTORE.txt: what a person runs on the restored file, with the stock sqlite3 alone."""
    return [
        in_language(language, "3. Check the restored database:\n"),
        "\n",
        '     sqlite3 snapshot.sqlite "PRAGMA integrity_check;"\n',
        "\n",
        in_language(language, "   facts.json (from facts.json.zst.age) records, at archive time, the BLAKE3 of the\n"
                              "   plain snapshot (compare with `b3sum snapshot.sqlite`) and the row count of each "
                              "table.\n"),
    ]


def drill(path: Path, snap_facts: dict, spec: str, scratch: Path) -> dict:
    """The restored file is itself the database: its rows counted as SQLite reads them ({table: rows})."""
    conn = sqlite3.connect(f"{Path(path).absolute().as_uri()}?mode=ro", uri=True, factory=Interruptible)
    try:
        return {table: rows for table, rows in _facts(conn)["row_counts"].items() if rows is not None}
    finally:
        conn.close()
