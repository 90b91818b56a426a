"""PostgreSQL reached through its stock clients only (psql, pg_dump, pg_restore): the spec, the tools, a session.

Coffre never reads a password: libpq finds it in ~/.pgpass, the file PGPASSFILE names, the URI's passfile or a
service file. Every client runs with -w (never prompt, never hang on a terminal) and a connection timeout.
"""

from __future__ import annotations

import getpass
import json
import os
import shutil
import subprocess
import tempfile
from urllib.parse import parse_qsl, quote, unquote, urlsplit, urlunsplit

from pipeline.errors import CannotRun, UsageError
from pipeline.i18n import _
from pipeline.snapshot import safe_spec
from pipeline.snapshot.postgresql_errors import sentence

PSQL_ARGS = ["-X", "-w", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
CONNECT_TIMEOUT = "10"


def shown(spec: str) -> str:
    """A spec as it may be shown: no password, whether in the user part or a password= parameter."""
    import re

    return re.sub(r"(?i)([?&]password=)[^&#]*", r"\1***", safe_spec(spec))


class Target:
    """A database on a server, from a libpq URI without a password."""

    def __init__(self, spec: str):
        try:
            parts = urlsplit(spec)
            port = parts.port
        except ValueError:
            raise UsageError(_("The source {source!r} is not a PostgreSQL URI; write it as "
                               "postgresql://user@host:port/database.").format(source=shown(spec))) from None
        query = dict(parse_qsl(parts.query))
        if parts.password is not None or "password" in {k.lower() for k in query}:
            raise UsageError(_("The source {source} holds a password: write the password in the password file "
                               "(~/.pgpass, or the file PGPASSFILE names) and leave it out of the source.").format(
                source=shown(spec)))
        if parts.scheme.lower() not in ("postgresql", "postgres") or parts.fragment:
            raise UsageError(_("The source {source!r} is not a PostgreSQL URI; write it as "
                               "postgresql://user@host:port/database.").format(source=shown(spec)))
        self.scheme = parts.scheme
        self.query = query
        self.user = unquote(parts.username or "") or query.get("user") or (
            "" if "service" in query else getpass.getuser())
        self.host = parts.hostname or query.get("host") or "localhost"
        query_port = query.get("port", "")
        self.port = port or (int(query_port) if query_port.isdigit() else 5432)
        self.database = unquote(parts.path.lstrip("/")) or query.get("dbname") or self.user
        self._netloc = parts.netloc

    def uri(self, database: str | None = None) -> str:
        path = "/" + quote(database if database is not None else self.database, safe="")
        query = "&".join(f"{quote(k, safe='')}={quote(v, safe='/')}" for k, v in self.query.items())
        return urlunsplit((self.scheme, self._netloc, path, query, ""))

    def at(self, database: str) -> "Target":
        return Target(self.uri(database))

    def password_file(self) -> str:
        if self.query.get("passfile"):
            return self.query["passfile"]
        if os.environ.get("PGPASSFILE"):
            return os.environ["PGPASSFILE"] + " (PGPASSFILE)"
        return "~/.pgpass"

    def describe(self) -> str:
        return _("PostgreSQL database {database} on {host}:{port}").format(database=self.database, host=self.host,
                                                                           port=self.port)


def tool(name: str) -> str:
    path = os.path.join("/usr/bin", name)
    if os.path.exists(path):
        return path
    found = shutil.which(name)
    if found:
        return found
    raise CannotRun(_("The PostgreSQL client program {tool} is not installed on this machine (on Debian: "
                      "apt install postgresql-client).").format(tool=name))


def client_env() -> dict:
    """The clients' environment: English words to read back, UTF-8, UTC and ISO dates, no password variable."""
    env = {k: v for k, v in os.environ.items() if k != "PGPASSWORD"}
    env.update(PGCONNECT_TIMEOUT=CONNECT_TIMEOUT, PGCLIENTENCODING="UTF8", PGTZ="UTC", PGDATESTYLE="ISO",
               LC_ALL="C", LANG="C")
    env.pop("LANGUAGE", None)
    return env


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def psql(target: Target, *args: str, input: bytes | None = None, database: str | None = None,
         drill: bool = False) -> str:
    """One psql run to its end; CannotRun (one sentence) if it failed."""
    proc = subprocess.run([tool("psql"), *PSQL_ARGS, "-d", target.uri(database), *args], input=input,
                          capture_output=True, env=client_env())
    if proc.returncode != 0:
        where = target.at(database) if database is not None else target
        raise CannotRun(sentence(proc.stderr.decode("utf-8", "replace"), where, drill))
    return proc.stdout.decode("utf-8")


class Session:
    """One psql kept open and spoken to a statement at a time: psql writes (and flushes) each answer at once."""

    def __init__(self, target: Target):
        self.target = target
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([tool("psql"), *PSQL_ARGS, "-d", target.uri()], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=self.err, env=client_env())

    def send(self, sql: str) -> None:
        try:
            self.proc.stdin.write(sql.encode("utf-8") + b"\n")
            self.proc.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise self.failed() from None

    def one(self, sql: str) -> str:
        """A statement whose answer is a single line."""
        self.send(sql)
        line = self.proc.stdout.readline()
        if not line:
            raise self.failed()
        return line.decode("utf-8").rstrip("\n")

    def json(self, sql: str):
        """A query giving one jsonb value (jsonb's text is always a single line)."""
        return json.loads(self.one(sql))

    def failed(self) -> CannotRun:
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.err.seek(0)
        return CannotRun(sentence(self.err.read().decode("utf-8", "replace"), self.target))

    def close(self) -> None:
        """Ends the session (and so its transaction, which only read)."""
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
        self.err.close()


USER_SCHEMAS = "n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'"
NOT_EXTENSION = ("NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass "
                 "AND d.objid = c.oid AND d.deptype = 'e')")

TABLES_SQL = f"""SELECT coalesce(jsonb_agg(t ORDER BY t.s, t.n), '[]') FROM (
 SELECT n.nspname AS s, c.relname AS n,
  (SELECT jsonb_agg(jsonb_build_array(a.attname, coalesce(bt.typname, ty.typname)) ORDER BY a.attnum)
     FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid
     LEFT JOIN pg_type bt ON ty.typtype = 'd' AND bt.oid = ty.typbasetype
    WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped) AS cols,
  (SELECT jsonb_agg(a.attname ORDER BY k.i) FROM pg_index x
     CROSS JOIN LATERAL unnest(x.indkey) WITH ORDINALITY AS k(attnum, i)
     JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum
    WHERE x.indrelid = c.oid AND x.indisprimary) AS pk,
  (SELECT jsonb_agg(jsonb_build_array(a.attname, pn.nspname, pc.relname, pa.attname) ORDER BY k.conname)
     FROM pg_constraint k
     JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]
     JOIN pg_class pc ON pc.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = pc.relnamespace
     JOIN pg_attribute pa ON pa.attrelid = k.confrelid AND pa.attnum = k.confkey[1]
    WHERE k.conrelid = c.oid AND k.contype = 'f' AND cardinality(k.conkey) = 1) AS fk
 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND {USER_SCHEMAS} AND {NOT_EXTENSION}) t;"""

DENIED_SQL = f"""SELECT coalesce(jsonb_agg(jsonb_build_array(k, s, r)), '[]') FROM (
 SELECT 'schema' AS k, n.nspname AS s, n.nspname AS r FROM pg_namespace n
  WHERE {USER_SCHEMAS} AND NOT has_schema_privilege(n.oid, 'USAGE')
 UNION ALL
 SELECT CASE c.relkind WHEN 'S' THEN 'sequence' ELSE 'table' END, n.nspname, c.relname
   FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE c.relkind IN ('r', 'S') AND {USER_SCHEMAS} AND {NOT_EXTENSION}
    AND NOT has_table_privilege(c.oid, 'SELECT')) d;"""


class Table:
    def __init__(self, doc: dict):
        self.schema, self.relname = doc["s"], doc["n"]
        self.columns: list[tuple[str, str]] = [tuple(c) for c in doc["cols"] or []]
        self.key: list[str] = doc["pk"] or []
        # The single-column foreign keys it declares: {column: (table, column)}, the table named as Coffre names it.
        self.references: dict[str, tuple[str, str]] = {
            col: (table_name(schema, relname), to) for col, schema, relname, to in doc.get("fk") or []}
        self.name = table_name(self.schema, self.relname)
        self.qualified = quote_ident(self.schema) + "." + quote_ident(self.relname)


def table_name(schema: str, relname: str) -> str:
    """How Coffre names a server's table: public's by their own name, the others' as schema.table."""
    return relname if schema == "public" else f"{schema}.{relname}"


def tables(session: Session) -> list[Table]:
    return [Table(doc) for doc in session.json(TABLES_SQL)]


def refuse_denied(session: Session) -> None:
    """Before any dump: every table, sequence and schema readable, or one sentence naming the GRANT."""
    from pipeline.snapshot.postgresql_errors import denied

    for kind, schema, name in session.json(DENIED_SQL):
        shown_name = schema if kind == "schema" else table_name(schema, name)
        raise CannotRun(denied(kind, shown_name, session.target))
