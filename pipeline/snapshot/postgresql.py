"""PostgreSQL source: one exported snapshot that pg_dump, the journals' mirror and the row counts all read.

A psql session opens a read-only REPEATABLE READ transaction and exports its snapshot; pg_dump (custom format,
uncompressed: Coffre's zstd and block reuse do better) and every other psql import it, so the dump, the mirrored
journal tables and the counts are the same instant while the till keeps selling. The exporting session stays
open until close(). Only the stock clients are used, found in /usr/bin; no Python driver.
"""

from __future__ import annotations

import subprocess
import tempfile
import threading
import time
from pathlib import Path

from pipeline.errors import CannotRun
from pipeline.i18n import _
from pipeline.progress import NO_PROGRESS, Progress
from pipeline.snapshot import Snapshot
from pipeline.snapshot.mirror import Mirror
from pipeline.snapshot.postgresql_client import (PSQL_ARGS, Session, Target, Table, client_env, quote_ident,
                                                 refuse_denied, tables, tool)
# The kind's read side (no live source, except drill and load_sample), under the names every kind offers.
from pipeline.snapshot.postgresql_copies import (CLIENT_PACKAGE, PLAIN_NAME, check_restored, check_stream,
                                                 damaged_at_archive_time, drill, load_sample, restore_lines,
                                                 scratch_database)
from pipeline.snapshot.postgresql_copy import mirror_column, rows
from pipeline.snapshot.postgresql_errors import sentence
from pipeline.snapshot.stall import STALL, StallGuard, stall_seconds, stalled

READ_SNAPSHOT = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY"

__all__ = ["CLIENT_PACKAGE", "PLAIN_NAME", "scratch_database", "check_restored", "check_stream",
           "damaged_at_archive_time", "drill", "load_sample", "restore_lines", "source", "PostgresqlSource",
           "PostgresqlSnapshot"]


class PostgresqlSource:
    kind = "postgresql"

    def __init__(self, spec: str, lock_wait: int = 60, stall: int = STALL):
        self.target = Target(spec)
        self.lock_wait = lock_wait
        self.stall = stall

    def describe(self) -> str:
        return self.target.describe()

    def device(self) -> int | None:
        return None

    def warnings(self) -> list[str]:
        return []

    def check(self) -> None:
        """Connects, and reads one row count: what `coffre init` asks before writing the configuration."""
        session = Session(self.target)
        try:
            found = tables(session)
            refuse_denied(session)
            if found:
                session.one(f"SELECT count(*) FROM {found[0].qualified};")
            else:
                session.one("SELECT 1;")
        finally:
            session.close()

    def take(self, scratch: Path, progress: Progress = NO_PROGRESS, wanted=None) -> "PostgresqlSnapshot":
        snap = PostgresqlSnapshot(self.target, Path(scratch), self.lock_wait, stall_seconds(self.stall, self.lock_wait))
        try:
            snap.open(wanted)
        except BaseException:
            snap.close()
            raise
        return snap


class PostgresqlSnapshot(Snapshot):
    """pg_dump's custom format read from its pipe; the mirror and the counts made on demand, from other threads."""

    name = PLAIN_NAME
    size = None

    def __init__(self, target: Target, scratch: Path, lock_wait: int, stall: float = STALL):
        self.target = target
        self.scratch = scratch
        self.lock_wait = lock_wait
        self.stall = stall
        self.started = time.time()
        self.facts = {"source_kind": "postgresql", "snapshot_started_at": _iso(self.started),
                      "dump_format": "pg_dump custom (-Fc -Z0)"}
        self.session: Session | None = None
        self.snapshot_id = ""
        self.tables: list[Table] = []
        self.dump: subprocess.Popen | None = None
        self.dump_err = tempfile.TemporaryFile()
        self.mirror: Mirror | None = None
        self.chosen: list[Table] = []
        self.children: set[subprocess.Popen] = set()
        self.lock = threading.Lock()  # the children, and closing
        self.mirror_lock = threading.Lock()
        self.counts_lock = threading.Lock()
        self.mirror_done = False
        self.counts: dict[str, int] | None = None
        self.closed = False

    def open(self, wanted) -> None:
        self.session = Session(self.target)
        self.session.send(READ_SNAPSHOT + ";")
        self.snapshot_id = self.session.one("SELECT pg_export_snapshot();")
        about = self.session.json("SELECT jsonb_build_object('version', current_setting('server_version'), "
                                  "'database', current_database(), 'user', current_user);")
        self.facts.update(server_version=about["version"], database=about["database"])
        self.tables = tables(self.session)
        refuse_denied(self.session)
        if wanted is not None:
            self._schema(wanted)
        self.facts["dump_tool"] = subprocess.run([tool("pg_dump"), "--version"], capture_output=True, text=True,
                                                 env=client_env()).stdout.strip()
        self.dump = subprocess.Popen(
            [tool("pg_dump"), "-w", "-Fc", "-Z0", f"--snapshot={self.snapshot_id}",
             f"--lock-wait-timeout={int(self.lock_wait * 1000)}", "-d", self.target.uri()],
            stdout=subprocess.PIPE, stderr=self.dump_err, env=client_env())

    def _schema(self, wanted) -> None:
        """The mirror's empty tables, all of them, so that `wanted` sees the schema the journals' SQL resolves on."""
        self.mirror = Mirror(self.scratch / "postgresql-mirror.sqlite")
        for t in self.tables:
            key = t.key[0] if len(t.key) == 1 else None
            self.mirror.create(t.name, [mirror_column(name, kind) for name, kind in t.columns], key, t.references)
        names = self.mirror.wanted(wanted)
        self.chosen = [t for t in self.tables if t.name in names and t.columns]

    def stream(self):
        return StallGuard(self.dump.stdout, self.stall, self.close,
                          lambda: stalled(self.target.describe(), self.stall))

    def journals_db(self) -> Path | None:
        """Fills the mirror on the first call (one COPY per chosen table, in the snapshot), then gives its path."""
        if self.mirror is None:
            return None
        with self.mirror_lock:
            if not self.mirror_done:
                self._fill()
                self.mirror_done = True
        return self.mirror.path

    def _fill(self) -> None:
        mirror = self.mirror
        try:
            for t in self.chosen:
                columns = ", ".join(quote_ident(c) for c, _kind in t.columns)
                order = " ORDER BY " + ", ".join(quote_ident(c) for c in t.key) if t.key else ""
                proc, err = self._child(
                    "-c", "SET bytea_output = hex",
                    "-c", f"COPY (SELECT {columns} FROM {t.qualified}{order}) TO STDOUT")
                try:
                    mirror.fill(t.name, rows(proc.stdout))
                finally:
                    proc.stdout.close()
                self._ended(proc, err)
        finally:
            mirror.close()

    def inspect(self) -> dict:
        """Every table's row count, counted in the dump's own snapshot."""
        with self.counts_lock:
            if self.counts is None:
                script = "".join(f"SELECT count(*) FROM {t.qualified};\n" for t in self.tables)
                proc, err = self._child("-f", "-", stdin=True)
                out, _err = proc.communicate(script.encode())
                self._ended(proc, err)
                self.counts = {t.name: int(n) for t, n in zip(self.tables, out.split())}
        return {"row_counts": dict(self.counts)}

    def _child(self, *args: str, stdin: bool = False):
        """A psql inside the exported snapshot, killed by close() if still running."""
        err = tempfile.TemporaryFile()
        # lock_timeout: a program holding a table locked (an ALTER TABLE) stops this psql as it stops pg_dump.
        argv = [tool("psql"), *PSQL_ARGS, "-d", self.target.uri(), "-c", READ_SNAPSHOT,
                "-c", f"SET TRANSACTION SNAPSHOT '{self.snapshot_id}'",
                "-c", f"SET LOCAL lock_timeout = {int(self.lock_wait * 1000)}", *args]
        with self.lock:
            if self.closed:
                err.close()
                raise CannotRun(_("The snapshot of {source} was already closed.").format(source=self.target.describe()))
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=err, env=client_env())
            self.children.add(proc)
        return proc, err

    def _ended(self, proc: subprocess.Popen, err) -> None:
        code = proc.wait()
        with self.lock:
            self.children.discard(proc)
        err.seek(0)
        said = err.read().decode("utf-8", "replace")
        err.close()
        if code != 0:
            raise self._refusal(said)

    def finish(self) -> None:
        code = self.dump.wait()
        self.facts["snapshot_seconds"] = round(time.time() - self.started, 3)
        if code != 0:
            self.dump_err.seek(0)
            raise self._refusal(self.dump_err.read().decode("utf-8", "replace"))

    def _refusal(self, said: str) -> CannotRun:
        if "lock timeout" in said or "statement timeout" in said:  # pg_dump waits through statement_timeout
            return CannotRun(_("Another program holds a lock on a table of {source} (waited {seconds} s): try "
                               "again when it has finished.").format(source=self.target.describe(),
                                                                     seconds=self.lock_wait))
        return CannotRun(sentence(said, self.target))

    def close(self) -> None:
        with self.lock:
            if self.closed:
                return
            self.closed = True
            procs = list(self.children) + ([self.dump] if self.dump else [])
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout:
                proc.stdout.close()
        if self.session:
            self.session.close()
        self.dump_err.close()
        if self.mirror is not None:
            self.mirror.path.unlink(missing_ok=True)


def source(spec: str, lock_wait: int = 60, stall: int = STALL) -> PostgresqlSource:
    return PostgresqlSource(spec, lock_wait, stall)


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


