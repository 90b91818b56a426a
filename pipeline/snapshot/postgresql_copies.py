"""A PostgreSQL snapshot's copies: a dump held to its facts with pg_restore alone, a drill, and the sample loader."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Callable, Iterator

from pipeline.errors import CannotRun, UsageError
from pipeline.i18n import _, in_language, ngettext
from pipeline.progress import EVERY
from pipeline.snapshot import scratch_name, stale_scratch
from pipeline.snapshot.postgresql_client import (Session, Target, client_env, psql, quote_ident, quote_literal,
                                                 table_name, tables, tool)
from pipeline.snapshot.postgresql_copy import line, server_type
from pipeline.snapshot.postgresql_errors import first_line, sentence

PLAIN_NAME = "snapshot.pgdump"
CLIENT_PACKAGE = "postgresql-client"  # pg_restore and psql, for RESTORE.txt
MAGIC = b"PGDMP"


def check_stream(header: bytes, size: int | None, snap_facts: dict) -> list[str]:
    """A decrypted snapshot's first bytes: pg_dump's custom format, and the size recorded at archive time."""
    if not header.startswith(MAGIC):
        return [_("decrypts to something that is not a PostgreSQL dump")]
    if snap_facts.get("plain_size") not in (None, size) and size is not None:
        return [_("decompresses to {size} bytes, {recorded} were recorded at archive time").format(
            size=size, recorded=snap_facts["plain_size"])]
    return []


def damaged_at_archive_time(snap_facts: dict) -> str | None:
    return None  # the server keeps its own pages; the dump says nothing of their health


_TABLE_DATA = re.compile(r"^\d+; \d+ \d+ TABLE DATA (\S+) (.+) \S*$")
_IDENT = r'(?:"(?:[^"]|"")*"|[^\s."]+)'
_COPY = re.compile(rf"^COPY ({_IDENT})\.({_IDENT}) .*FROM stdin;$")


def _unquote(ident: str) -> str:
    return ident[1:-1].replace('""', '"') if ident.startswith('"') else ident


def check_restored(path: Path, snap_facts: dict, integrity: str = "none") -> list[str]:
    """A restored dump checked with no server: pg_restore reads its table of contents, which must hold the data of
    every table that had rows, then reads it whole (a cut file fails there). With integrity "quick" or "full", the
    rows of each COPY block it writes are counted and held to the row counts recorded at archive time."""
    expected = {t: n for t, n in (snap_facts.get("row_counts") or {}).items() if n is not None}
    listing = subprocess.run([tool("pg_restore"), "-l", str(path)], capture_output=True, env=client_env())
    if listing.returncode != 0:
        return [_("pg_restore cannot read the restored dump ({reason})").format(
            reason=first_line(listing.stderr.decode("utf-8", "replace")))]
    with_data = set()
    for entry in listing.stdout.decode("utf-8", "replace").splitlines():
        found = _TABLE_DATA.match(entry)
        if found:
            with_data.add(table_name(found.group(1), found.group(2)))
    problems = [_("table {table} recorded at archive time has no data in the restored dump").format(table=t)
                for t, n in sorted(expected.items()) if n > 0 and t not in with_data]
    if integrity == "none":
        done = subprocess.run([tool("pg_restore"), "-f", "/dev/null", str(path)], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, env=client_env())
        if done.returncode != 0:
            problems.append(_("pg_restore cannot read the restored dump to its end ({reason})").format(
                reason=first_line(done.stderr.decode("utf-8", "replace"))))
        return problems
    counted, error = _count_copy_rows(path)
    if error is not None:
        problems.append(_("pg_restore cannot read the restored dump to its end ({reason})").format(reason=error))
        return problems
    for table, count in sorted(expected.items()):
        got = counted.get(table, 0)
        if got != count:
            problems.append(ngettext("table {table} has {got} rows, {count} was recorded at archive time",
                                     "table {table} has {got} rows, {count} were recorded at archive time",
                                     count).format(table=table, got=got, count=count))
    return problems


def _count_copy_rows(path: Path) -> tuple[dict[str, int], str | None]:
    """The lines of every `COPY ... FROM stdin;` block of the SQL pg_restore writes, read as a stream."""
    counts: dict[str, int] = {}
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([tool("pg_restore"), "-f", "-", str(path)], stdout=subprocess.PIPE, stderr=err,
                                env=client_env())
        table = None
        n = 0
        with proc.stdout:
            for raw in proc.stdout:
                if table is None:
                    if raw.startswith(b"COPY "):
                        found = _COPY.match(raw.decode("utf-8", "replace").rstrip("\n"))
                        if found:
                            table = table_name(_unquote(found.group(1)), _unquote(found.group(2)))
                            n = 0
                elif raw == b"\\.\n":
                    counts[table] = counts.get(table, 0) + n
                    table = None
                else:
                    n += 1
        code = proc.wait()
        err.seek(0)
        if code != 0:
            return counts, first_line(err.read().decode("utf-8", "replace"))
    return counts, None


def restore_lines(language: str) -> list[str]:
    """Step 3 of RESTORE.txt: the dump loaded into a NEW database with the stock PostgreSQL client alone."""
    return [
        in_language(language, "3. Load the restored dump into a new, empty database (the PostgreSQL client tools "
                              "alone, on a machine that reaches a PostgreSQL server):\n"),
        "\n",
        "     createdb -h HOST -p PORT -U USER shop_restored\n",
        "     pg_restore --no-owner --no-privileges -h HOST -p PORT -U USER -d shop_restored snapshot.pgdump\n",
        '     psql -h HOST -p PORT -U USER -d shop_restored -c "SELECT count(*) FROM tickets;"\n',
        "\n",
        in_language(language, "   facts.json (from facts.json.zst.age) records, at archive time, the BLAKE3 of the\n"
                              "   plain snapshot (compare with `b3sum snapshot.pgdump`) and the row count of each "
                              "table.\n"),
    ]


@contextmanager
def scratch_database(path: Path, snap_facts: dict, spec: str) -> Iterator[str]:
    """The dump restored into a scratch database created on the configured server; yields its address. The
    database is always dropped after (even when the restore failed)."""
    target = Target(spec)
    name = scratch_name()
    for stale in stale_scratch(psql(target, "-c", "SELECT datname FROM pg_database WHERE datname LIKE "
                                                  "'coffre\\_drill\\_%'").split()):
        _drop(target, stale)  # left by a run whose server stopped answering before it could drop it
    # Without the CREATEDB right, the server's refusal becomes the sentence naming `ALTER ROLE ... CREATEDB`.
    psql(target, "-c", f"CREATE DATABASE {quote_ident(name)}")
    try:
        scratch_target = target.at(name)
        done = subprocess.run([tool("pg_restore"), "-w", "--no-owner", "--no-privileges", "--exit-on-error",
                               "-d", target.uri(name), str(path)], capture_output=True, env=client_env())
        if done.returncode != 0:
            said = done.stderr.decode("utf-8", "replace")
            if "no password supplied" in said or "password authentication" in said:
                raise CannotRun(sentence(said, scratch_target, drill=True))
            raise CannotRun(_("The dump could not be restored into the drill's scratch database {database}: "
                              "{reason}").format(database=name, reason=first_line(said)))
        yield target.uri(name)
    finally:
        _drop(target, name)


def drill(path: Path, snap_facts: dict, spec: str, scratch: Path) -> dict[str, int]:
    """The dump restored into a scratch database, its rows counted as the server counts them."""
    with scratch_database(path, snap_facts, spec) as restored:
        session = Session(Target(restored))
        try:
            found = tables(session)
            return {t.name: int(session.one(f"SELECT count(*) FROM {t.qualified};")) for t in found}
        finally:
            session.close()


def _drop(target: Target, name: str) -> None:
    try:
        psql(target, "-c", f"DROP DATABASE IF EXISTS {quote_ident(name)} WITH (FORCE)")
    except CannotRun:
        psql(target, "-c", f"DROP DATABASE IF EXISTS {quote_ident(name)}")  # a server older than 13


def feed_psql(target: Target, send: Callable[[IO[bytes]], None]) -> None:
    """One psql reads the SQL `send` writes to it, stopping at the first error, which is then one sentence
    (CannotRun): how a sample is loaded, in one transaction and streamed."""
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([tool("psql"), "-X", "-w", "-q", "-v", "ON_ERROR_STOP=1", "-d", target.uri(), "-f",
                                 "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=client_env())
        try:
            with proc.stdin:
                send(proc.stdin)
        except BrokenPipeError:
            pass  # psql stopped on an error: its words are read below
        code = proc.wait()
        err.seek(0)
        if code != 0:
            raise CannotRun(sentence(err.read().decode("utf-8", "replace"), target))


def load_sample(sqlite_path: Path, spec: str, progress_task=None) -> dict[str, int]:
    """The sample shop's tables created in the server database of `spec` and every row copied exactly, in one
    transaction through one psql (COPY ... FROM STDIN, streamed). Refuses a database that holds any of them."""
    target = Target(spec)
    conn = sqlite3.connect(f"{Path(sqlite_path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
        present = psql(target, "-c", "SELECT coalesce(string_agg(relname, ' '), '') FROM pg_class c JOIN "
                       "pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND relname IN ("
                       + ", ".join(quote_literal(n) for n in names) + ")").split()
        if present:
            raise UsageError(_("The database {database} already holds the table {table}: the sample is only "
                               "loaded into a database without its tables.").format(database=target.database,
                                                                                    table=present[0]))
        counts: dict[str, int] = {}

        def send(out) -> None:
            out.write(b"BEGIN;\n")
            for name in names:
                out.write(_create_sql(conn, name).encode("utf-8"))
                counts[name] = _copy_rows(conn, name, out, progress_task)
            out.write(b"COMMIT;\n")

        feed_psql(target, send)
        return counts
    finally:
        conn.close()


def _create_sql(conn: sqlite3.Connection, table: str) -> str:
    info = conn.execute(f"PRAGMA table_info({quote_ident(table)})").fetchall()
    key = [r[1] for r in sorted((r for r in info if r[5]), key=lambda r: r[5])]
    defs = [f"{quote_ident(r[1])} {server_type(r[2])}" + (" NOT NULL" if r[3] or r[1] in key else "") for r in info]
    if key:
        defs.append("PRIMARY KEY (" + ", ".join(quote_ident(k) for k in key) + ")")
    return f"CREATE TABLE {quote_ident(table)} ({', '.join(defs)});\n"


def _copy_rows(conn: sqlite3.Connection, table: str, out, task) -> int:
    columns = [r[1] for r in conn.execute(f"PRAGMA table_info({quote_ident(table)})")]
    listed = ", ".join(quote_ident(c) for c in columns)
    out.write(f"COPY {quote_ident(table)} ({listed}) FROM STDIN;\n".encode("utf-8"))
    n = 0
    for row in conn.execute(f"SELECT {listed} FROM {quote_ident(table)}"):
        out.write(line(row))
        n += 1
        if task and n & (EVERY - 1) == 0:
            task(EVERY)
    out.write(b"\\.\n")
    if task:
        task(n & (EVERY - 1))
    return n
