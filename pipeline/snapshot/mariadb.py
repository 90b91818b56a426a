"""MariaDB/MySQL source: one mariadb-dump in a single transaction (no lock), read once; its journals and row counts
come from the dump itself as it streams by, so they are of the same instant without holding anything."""

from __future__ import annotations

import os
import queue
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from itertools import groupby
from operator import itemgetter
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from pipeline.errors import CannotRun
from pipeline.i18n import _, in_language, ngettext
from pipeline.progress import NO_PROGRESS
from pipeline.snapshot import SCRATCH_PREFIX, Snapshot, scratch_name, stale_scratch, with_database
from pipeline.snapshot.stall import STALL, StallGuard, stall_seconds, stalled
from pipeline.snapshot.mariadb_client import Spec, parse, quote_name, quote_text
from pipeline.snapshot.mariadb_dump import HEADS, SANDBOX, DumpError, DumpReader
from pipeline.snapshot.mariadb_errors import DRILL_PATTERN, DRILL_RIGHTS, sentence
from pipeline.snapshot.mariadb_values import schema_of
from pipeline.snapshot.mirror import Mirror
from pipeline.snapshot import mariadb_sample

PLAIN_NAME = "snapshot.sql"
CLIENT_PACKAGE = "mariadb-client"  # the stock client RESTORE.txt names
DUMP_OPTIONS = ("--single-transaction", "--quick", "--skip-lock-tables", "--hex-blob", "--routines", "--triggers",
                "--events", "--no-tablespaces", "--order-by-primary")
CHUNKS_HELD = 16  # read chunks between the reader and the mirror: memory stays flat, the reader waits if it must
TABLE_TYPES = "('BASE TABLE', 'SYSTEM VERSIONED')"
class MariadbSource:
    kind = "mariadb"

    def __init__(self, spec: str, lock_wait: int = 60, stall: int = STALL):
        self.spec = parse(spec)
        self.stall = stall_seconds(stall, lock_wait)

    def describe(self) -> str:
        return _("MariaDB database {database} on {server}").format(database=self.spec.database,
                                                                   server=self.spec.server())

    def device(self) -> int | None:
        return None

    def warnings(self) -> list[str]:
        path = self.spec.option_file
        try:
            loose = path is not None and os.stat(path).st_mode & 0o077
        except OSError:
            return []  # take() says what is wrong with it
        if not loose:
            return []
        return [_("Warning: the MariaDB option file {path} holds a password and other users of this computer may "
                  "read it: chmod 600 {path}").format(path=path)]

    def check(self) -> None:
        first = self.spec.query(f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA=DATABASE() "
                                f"AND TABLE_TYPE IN {TABLE_TYPES} ORDER BY TABLE_NAME LIMIT 1")
        if first:
            self.spec.query(f"SELECT COUNT(*) FROM {quote_name(first[0][0])}")

    def take(self, scratch: Path, progress=NO_PROGRESS, wanted=None) -> Snapshot:
        started = time.time()
        rows = self.spec.query(
            "SELECT VERSION(); SELECT c.TABLE_NAME, c.COLUMN_NAME, c.DATA_TYPE, c.COLUMN_KEY "
            "FROM information_schema.COLUMNS c JOIN information_schema.TABLES t "
            "ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
            f"WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE IN {TABLE_TYPES} "
            "ORDER BY c.TABLE_NAME, c.ORDINAL_POSITION")
        version, columns = rows[0][0], rows[1:]
        # Single-column foreign keys: a key over two columns has two rows under one name, and is left out (counted
        # here: a correlated count in information_schema takes seconds on a schema of hundreds of tables).
        keyed = self.spec.query(
            "SELECT k.TABLE_NAME, k.COLUMN_NAME, k.REFERENCED_TABLE_NAME, k.REFERENCED_COLUMN_NAME, k.CONSTRAINT_NAME "
            "FROM information_schema.KEY_COLUMN_USAGE k WHERE k.TABLE_SCHEMA = DATABASE() "
            "AND k.REFERENCED_TABLE_SCHEMA = DATABASE() AND k.REFERENCED_TABLE_NAME IS NOT NULL")
        columns_of = Counter((row[0], row[4]) for row in keyed)
        references = [row[:4] for row in keyed if columns_of[(row[0], row[4])] == 1]
        facts = {"source_kind": self.kind, "snapshot_started_at": _iso(started), "server_version": version,
                 "database": self.spec.database, "dump_format": "mariadb-dump"}
        snap = MariadbSnapshot(self.spec, Path(scratch), facts, schema_of(columns, references), wanted, started,
                               self.stall)
        return snap


class MariadbSnapshot(Snapshot):
    """mariadb-dump's output, read once by the caller; a thread reads the same bytes into counts and the mirror."""

    name = PLAIN_NAME

    def __init__(self, spec: Spec, scratch: Path, facts: dict, schema: dict, wanted, started: float,
                 stall: float = STALL):
        self.spec, self.facts, self.started, self.stall = spec, facts, started, stall
        self.size = None
        self._mirror_path = scratch / "mariadb-mirror.sqlite" if wanted is not None else None
        self._err_path = scratch / "mariadb-dump.err"
        self._chunks: queue.Queue = queue.Queue(CHUNKS_HELD)
        self._done = threading.Event()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._eof_sent = False
        self._closed = False
        self.counts: dict[str, int] = {}
        self.completed = False
        self._worker = threading.Thread(target=self._read, args=(schema, wanted), name="coffre-mariadb-mirror",
                                        daemon=True)
        self._worker.start()
        self._ready.wait()
        if self._error is not None:  # the mirror's schema or wanted() failed: nothing started yet
            self._done.wait()
            if self._mirror_path is not None:
                self._mirror_path.unlink(missing_ok=True)
            raise self._error
        try:
            with open(self._err_path, "wb") as err:
                self._proc = subprocess.Popen(spec.argv("mariadb-dump", *DUMP_OPTIONS, spec.database),
                                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
        except BaseException:
            self._send_eof()
            raise
        self._stream = _Tee(self._proc.stdout, self, lambda: stalled(
            _("MariaDB database {database} on {server}").format(database=spec.database, server=spec.server()),
            self.stall))

    # The thread's side.

    def _read(self, schema: dict, wanted) -> None:
        mirror = None
        try:
            chosen: set[str] = set()
            if wanted is not None:
                mirror = Mirror(self._mirror_path)
                for table, (cols, key, refs) in schema.items():
                    mirror.create(table, cols, key, refs)
                chosen = mirror.wanted(wanted)
        except BaseException as err:  # take() raises it: no dump was started, nothing will be fed
            self._error = err
            if mirror is not None:
                mirror.close()
            self._done.set()
            self._ready.set()
            return
        self._ready.set()
        try:
            reader = DumpReader(chosen)
            try:
                rows = reader.rows(iter(self._chunks.get, None))
                if mirror is None:
                    for _row in rows:
                        pass
                else:
                    for table, group in groupby(rows, key=itemgetter(0)):
                        mirror.fill(table, (values for _table, values in group))
            finally:
                self.counts, self.completed = reader.counts, reader.completed
        except BaseException as err:  # told by journals_db(), inspect() and finish()
            self._error = err
            while self._chunks.get() is not None:  # the reader must never wait on a dead thread
                pass
        finally:
            if mirror is not None:
                mirror.close()
            self._done.set()

    def _send_eof(self) -> None:
        if self._eof_sent:
            return
        self._eof_sent = True
        while not self._done.is_set():
            try:
                self._chunks.put(None, timeout=0.1)
                return
            except queue.Full:
                continue

    # The caller's side.

    def stream(self):
        return self._stream

    def journals_db(self) -> Path | None:
        self._wait_read()
        return self._mirror_path

    def inspect(self) -> dict:
        self._wait_read()
        return {"row_counts": dict(sorted(self.counts.items()))}

    def finish(self) -> None:
        self._proc.wait()
        self._done.wait()
        self.facts["snapshot_seconds"] = round(time.time() - self.started, 3)
        problem = self._problem()
        if problem:
            raise CannotRun(problem)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if getattr(self, "_proc", None) is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc.stdout.close()
        self._send_eof()
        self._worker.join()
        for path in (self._err_path, self._mirror_path):
            if path is not None:
                path.unlink(missing_ok=True)

    def _wait_read(self) -> None:
        self._done.wait()
        if self._proc.poll() is None and not self.completed:
            self._proc.wait()
        problem = self._problem()
        if problem:
            raise CannotRun(problem)

    def _problem(self) -> str | None:
        """Why the dump is not whole, in one sentence; None when it is."""
        if self._closed and not self.completed:  # close() ended the dump itself
            return _("The dump of database {database} was not read to its end.").format(database=self.spec.database)
        code = self._proc.poll()
        if code not in (None, 0):
            said = self._err_path.read_bytes().decode("utf-8", "replace") if self._err_path.exists() else ""
            return sentence(said, self.spec, **_rights_of(self.spec)) if said.strip() else _(
                "mariadb-dump stopped with exit status {code}.").format(code=code)
        if isinstance(self._error, (DumpError, sqlite3.Error)):  # e.g. a table altered during the snapshot
            return _("The dump of database {database} cannot be read ({reason}).").format(
                database=self.spec.database, reason=self._error)
        if self._error is not None:
            raise self._error
        if not self.completed:
            return _("mariadb-dump stopped before the end of the dump of database {database} (its last line, "
                     "\"-- Dump completed\", is missing).").format(database=self.spec.database)
        return None


class _Tee(StallGuard):
    """The dump's pipe as the caller reads it (with the stall deadline); every chunk read is also handed to the
    snapshot's thread."""

    def __init__(self, raw, snapshot: MariadbSnapshot, sentence):
        super().__init__(raw, snapshot.stall, snapshot.close, sentence)
        self.snapshot = snapshot

    def read(self, n: int = -1) -> bytes:
        data = super().read(n)
        if data:
            self.snapshot._chunks.put(data)
        else:
            self.snapshot._send_eof()
        return data


def load_sample(sqlite_path: Path, spec: str, progress_task=None) -> dict[str, int]:
    return mariadb_sample.load_sample(sqlite_path, spec, progress_task)


def source(spec: str, lock_wait: int = 60, stall: int = STALL) -> MariadbSource:
    return MariadbSource(spec, lock_wait, stall)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


# The copies' side: what a decrypted or restored dump is held to, with no access to the live database.

def check_stream(header: bytes, size: int | None, snap_facts: dict) -> list[str]:
    head = header[len(SANDBOX):].lstrip() if header.startswith(SANDBOX) else header
    problems = []
    if not head.startswith(HEADS):
        problems.append(_("decrypts to something that is not a MariaDB dump"))
    if snap_facts.get("plain_size") not in (None, size):
        problems.append(_("decompresses to {size} bytes, {recorded} were recorded at archive time").format(
            size=size, recorded=snap_facts["plain_size"]))
    return problems


def read_dump(path: Path) -> DumpReader:
    """The dump read through, its rows counted (DumpError when it is not one or ends inside a row)."""
    reader = DumpReader()
    with open(path, "rb") as f:
        reader.read_all(iter(lambda: f.read(1 << 20), b""))
    return reader


def check_restored(path: Path, snap_facts: dict, integrity: str = "none") -> list[str]:
    """Reads a restored dump with no server: whole (its last line is mariadb-dump's) and each table's rows counted
    as recorded at archive time. `integrity` asks nothing more of a dump: the drill loads it into a server."""
    try:
        reader = read_dump(path)
    except OSError as err:
        return [_("the restored dump does not open ({reason})").format(reason=err)]
    except DumpError as err:
        return [_("the restored dump is cut or damaged ({reason})").format(reason=err)]
    problems = []
    if not reader.completed:
        problems.append(_("the restored dump is cut: its last line, \"-- Dump completed\", is missing"))
    for table, count in sorted((snap_facts.get("row_counts") or {}).items()):
        if count is None:
            continue
        got = reader.counts.get(table)
        if got is None:
            problems.append(_("table {table} recorded at archive time is missing from the restored database").format(
                table=table))
        elif got != count:
            problems.append(ngettext("table {table} has {got} rows, {count} was recorded at archive time",
                                     "table {table} has {got} rows, {count} were recorded at archive time",
                                     count).format(table=table, got=got, count=count))
    return problems


def damaged_at_archive_time(snap_facts: dict) -> str | None:
    return None


def restore_lines(language: str) -> list[str]:
    """Step 3 of RESTORE.txt: the dump loaded with the stock mariadb client alone, into a new database."""
    return [
        in_language(language, "3. Load the restored dump into a NEW, empty database (never over the till's own):\n"),
        "\n",
        '     mariadb -e "CREATE DATABASE restored"\n',
        "     mariadb restored < snapshot.sql\n",
        '     mariadb restored -e "SELECT COUNT(*) FROM tickets"\n',
        "\n",
        in_language(language, "   facts.json (from facts.json.zst.age) records, at archive time, the BLAKE3 of the\n"
                              "   plain snapshot (compare with `b3sum snapshot.sql`) and the row count of each "
                              "table.\n"),
    ]


def _rights_of(spec: Spec) -> dict:
    """The rights a refusal names: on a scratch database (an auditor's package being made), those Coffre needs on
    every scratch one, not on that one name, gone by the next run."""
    if spec.database.startswith(SCRATCH_PREFIX):
        return dict(rights=DRILL_RIGHTS, on=DRILL_PATTERN)
    return {}


@contextmanager
def scratch_database(path: Path, snap_facts: dict, spec: str) -> Iterator[str]:
    """Loads the dump into a database of its own on the configured server; yields its address, always drops it."""
    server = parse(spec)
    name = scratch_name()
    rights = dict(rights=DRILL_RIGHTS, on=DRILL_PATTERN)
    listed = server.query("SHOW DATABASES LIKE 'coffre\\_drill\\_%'", database="", **rights)
    for stale in stale_scratch([row[0] for row in listed]):
        server.query(f"DROP DATABASE IF EXISTS {quote_name(stale)}", database="", **rights)  # left by a lost run
    server.query(f"CREATE DATABASE {quote_name(name)} CHARACTER SET utf8mb4", database="", **rights)
    try:
        with open(path, "rb") as dump:
            _load(server.with_database(name), dump, rights)
        yield with_database(spec, name)
    finally:
        server.query(f"DROP DATABASE IF EXISTS {quote_name(name)}", database="", **rights)


def drill(path: Path, snap_facts: dict, spec: str, scratch: Path) -> dict:
    """Loads the dump into a scratch database on the configured server and counts its rows."""
    rights = dict(rights=DRILL_RIGHTS, on=DRILL_PATTERN)
    with scratch_database(path, snap_facts, spec) as restored:
        drill_spec = parse(restored)
        name = drill_spec.database
        tables = [r[0] for r in drill_spec.query(
            f"SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = {quote_text(name)} "
            f"AND TABLE_TYPE IN {TABLE_TYPES} ORDER BY TABLE_NAME", **rights)]
        counts: dict[str, int] = {}
        for i in range(0, len(tables), 50):
            part = tables[i:i + 50]
            sql = " UNION ALL ".join(f"SELECT {quote_text(t)}, COUNT(*) FROM {quote_name(t)}" for t in part)
            counts.update({t: int(n) for t, n in drill_spec.query(sql, **rights)})
        return counts


def _load(spec: Spec, dump, rights: dict) -> None:
    argv = spec.argv("mariadb", "--batch", spec.database)
    done = subprocess.run(argv, stdin=dump, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        raise CannotRun(sentence(done.stderr.decode("utf-8", "replace"), spec, **rights))
