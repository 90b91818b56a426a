"""The reference sample shop (an SQLite file) copied into a MariaDB database: same tables, every row exactly."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

from pipeline.errors import CannotRun, UsageError
from pipeline.i18n import _
from pipeline.snapshot.mariadb_client import parse, quote_name, quote_text
from pipeline.snapshot.mariadb_errors import sentence

SAMPLE_RIGHTS = "SELECT, INSERT, CREATE"
BATCH_BYTES = 256 * 1024  # one INSERT's size: well under any server's max_allowed_packet


def _type(declared: str, keyed: bool) -> str:
    d = declared.upper()
    if "INT" in d:
        return "BIGINT"
    if "CHAR" in d or "CLOB" in d or "TEXT" in d:
        return "VARCHAR(255)" if keyed else "LONGTEXT"  # an index over LONGTEXT needs a prefix length
    if "REAL" in d or "FLOA" in d or "DOUB" in d:
        return "DOUBLE"
    if "BLOB" in d or not d:
        return "VARBINARY(255)" if keyed else "LONGBLOB"
    return "VARCHAR(255)" if keyed else "LONGTEXT"


def _literal(value) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return "0x" + value.hex() if value else "''"
    return quote_text(str(value))


def _tables(conn: sqlite3.Connection) -> dict[str, str]:
    """{table: CREATE TABLE for MariaDB}, with the primary key, NOT NULL and the unique indexes kept."""
    out = {}
    names = [r[0] for r in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    for table in names:
        info = conn.execute(f'PRAGMA table_info("{table}")').fetchall()
        pk = [row[1] for row in sorted(info, key=lambda r: r[5]) if row[5]]
        uniques = []
        for index in conn.execute(f'PRAGMA index_list("{table}")').fetchall():
            if index[2] and index[3] != "pk" and not index[4]:  # unique, not the key, not partial
                uniques.append([r[2] for r in conn.execute(f'PRAGMA index_info("{index[1]}")')])
        keyed = set(pk).union(*uniques) if uniques else set(pk)
        defs = [f"{quote_name(name)} {_type(declared, name in keyed)}{' NOT NULL' if notnull or name in pk else ''}"
                for _cid, name, declared, notnull, _default, _pk in info]
        if pk:
            defs.append(f"PRIMARY KEY ({', '.join(map(quote_name, pk))})")
        defs += [f"UNIQUE KEY ({', '.join(map(quote_name, cols))})" for cols in uniques]
        out[table] = (f"CREATE TABLE {quote_name(table)} (\n  " + ",\n  ".join(defs) +
                      "\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;\n")
    return out


def feed_client(server, send) -> None:
    """One mariadb client reads the SQL `send` writes to it; when it stops at an error, that error is one sentence
    (CannotRun): how a sample is loaded, streamed."""
    proc = subprocess.Popen(server.argv("mariadb", "--batch", server.database), stdin=subprocess.PIPE,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        send(proc.stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass  # the client stopped at an error: said below
    said = proc.stderr.read().decode("utf-8", "replace")
    if proc.wait() != 0:
        raise CannotRun(sentence(said, server, SAMPLE_RIGHTS))


def load_sample(sqlite_path: Path, spec: str, progress_task=None) -> dict[str, int]:
    """Creates the sample's tables in the spec's database and copies every row, in one transaction; returns
    {table: rows}. Refuses (UsageError) when the database already holds one of those tables."""
    server = parse(spec)
    conn = sqlite3.connect(f"{Path(sqlite_path).absolute().as_uri()}?mode=ro", uri=True)
    try:
        creates = _tables(conn)
        there = {r[0] for r in server.query("SELECT TABLE_NAME FROM information_schema.TABLES "
                                            "WHERE TABLE_SCHEMA = DATABASE()", rights=SAMPLE_RIGHTS)}
        clash = sorted(set(creates) & there)
        if clash:
            raise UsageError(_("The MariaDB database {database} on {server} already holds a table {table}: the "
                               "sample is only written into a database without its tables.").format(
                database=server.database, server=server.server(), table=clash[0]))
        counts: dict[str, int] = {}
        feed_client(server, lambda out: _send(out, conn, creates, counts, progress_task))
        return counts
    finally:
        conn.close()


def _send(out, conn: sqlite3.Connection, creates: dict[str, str], counts: dict, task) -> None:
    out.write(b"SET NAMES utf8mb4;\n")
    for create in creates.values():
        out.write(create.encode())  # DDL commits by itself: the tables first, then the rows in one transaction
    out.write(b"SET autocommit=0;\nSTART TRANSACTION;\n")
    for table in creates:
        head = f"INSERT INTO {quote_name(table)} VALUES ".encode()
        counts[table] = 0
        batch: list[bytes] = []
        size = 0
        for row in conn.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
            values = ("(" + ",".join(map(_literal, row)) + ")").encode()
            batch.append(values)
            size += len(values) + 1
            counts[table] += 1
            if size >= BATCH_BYTES:
                out.write(head + b",".join(batch) + b";\n")
                if task:
                    task(len(batch))
                batch, size = [], 0
        if batch:
            out.write(head + b",".join(batch) + b";\n")
            if task:
                task(len(batch))
    out.write(b"COMMIT;\n")
