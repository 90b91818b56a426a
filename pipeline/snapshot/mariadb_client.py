"""A mariadb:// source written as a URL, and the stock clients (mariadb, mariadb-dump) run against it.

No password is ever in a URL, an argument or a message: the clients read it from an option file, the one the URL
names (?option_file=, given as --defaults-extra-file, which must come first) or the user's ~/.my.cnf.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from pipeline.errors import CannotRun, UsageError
from pipeline.i18n import _
from pipeline.snapshot import safe_spec
from pipeline.snapshot.mariadb_errors import READ_RIGHTS, sentence

QUERY_TIMEOUT = 600  # seconds: a count on a large table of a slow server, never a hung run
ALTERNATIVES = {"mariadb": "mysql", "mariadb-dump": "mysqldump"}


class Spec:
    def __init__(self, user: str | None, host: str | None, port: int | None, database: str,
                 option_file: Path | None):
        self.user, self.host, self.port, self.database, self.option_file = user, host, port, database, option_file

    def server(self) -> str:
        if not self.host:
            return "localhost"
        return f"{self.host}:{self.port or 3306}"

    def option_file_shown(self) -> str:
        return str(self.option_file) if self.option_file else "~/.my.cnf"

    def with_database(self, database: str) -> "Spec":
        return Spec(self.user, self.host, self.port, database, self.option_file)

    def argv(self, program: str, *extra: str) -> list[str]:
        """The client's arguments, connection first (the option file must be the very first one)."""
        args = [tool(program)]
        if self.option_file:
            args.append(f"--defaults-extra-file={self.option_file}")
        if self.host:
            args += ["--protocol=TCP", f"--host={self.host}"]
        if self.port:
            args.append(f"--port={self.port}")
        if self.user:
            args.append(f"--user={self.user}")
        if program == "mariadb":
            args.append("--connect-timeout=10")  # mariadb-dump has no such option
        args.append("--default-character-set=utf8mb4")
        return args + list(extra)

    def query(self, sql: str, database: str | None = None, rights: str = READ_RIGHTS, on: str | None = None,
              stdin=None) -> list[list[str]]:
        """Rows of a query in the spec's database (or `database`); CannotRun with the client's reason."""
        self.check_option_file()
        database = self.database if database is None else database  # "": no database (CREATE DATABASE)
        argv = self.argv("mariadb", "--batch", "--skip-column-names", "-e", sql, *([database] if database else []))
        try:
            done = subprocess.run(argv, stdin=stdin if stdin is not None else subprocess.DEVNULL,
                                  capture_output=True, timeout=QUERY_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise CannotRun(_("The MariaDB server {server} did not answer within {seconds} s.").format(
                server=self.server(), seconds=QUERY_TIMEOUT))
        if done.returncode != 0:
            raise CannotRun(sentence(done.stderr.decode("utf-8", "replace"), self, rights, on))
        return [[_unbatch(v) for v in line.split("\t")]
                for line in done.stdout.decode("utf-8", "replace").splitlines()]

    def check_option_file(self) -> None:
        if self.option_file and not os.access(self.option_file, os.R_OK):
            raise CannotRun(_("The MariaDB option file {path} does not exist or cannot be read.").format(
                path=self.option_file))
        try:
            writable = self.option_file and os.stat(self.option_file).st_mode & 0o002
        except OSError:
            writable = False
        if writable:  # the clients then ignore it, and its password with it: a "wrong password" would mislead
            raise CannotRun(_("The MariaDB option file {path} may be changed by any user of this computer, so the "
                              "MariaDB client ignores it: chmod 600 {path}").format(path=self.option_file))


def parse(spec: str) -> Spec:
    """mariadb://user@host:port/database[?option_file=/path] (or mysql://); UsageError without the password."""
    shown = safe_spec(spec)
    try:
        parts = urlsplit(spec)
        port = parts.port
    except ValueError:
        raise UsageError(_("The source {source!r} is not understood; write it as "
                           "mariadb://user@host:port/database.").format(source=shown))
    if parts.password is not None:
        raise UsageError(_("The source {source!r} holds a password: put it in an option file ([client] "
                           "password=...) given as ?option_file=/path, or in ~/.my.cnf, never in the "
                           "source.").format(source=shown))
    database = unquote(parts.path.lstrip("/"))
    if not database or "/" in database:
        raise UsageError(_("The source {source!r} names no database; write it as "
                           "mariadb://user@host:port/database.").format(source=shown))
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"option_file"})
    if unknown:  # shown without its options: one of them may be a password
        raise UsageError(_("The source {source!r} has an option Coffre does not know ({option}); the only one is "
                           "option_file.").format(source=shown.partition("?")[0], option=unknown[0]))
    option_file = Path(query["option_file"][-1]).expanduser() if query.get("option_file") else None
    return Spec(unquote(parts.username) if parts.username else None, parts.hostname, port, database, option_file)


def tool(program: str) -> str:
    """The stock client's path: mariadb's own name, or MySQL's where only it is installed."""
    found = shutil.which(program) or shutil.which(ALTERNATIVES.get(program, program))
    if not found:
        raise CannotRun(_("The MariaDB client {program} is not installed (Debian package mariadb-client).").format(
            program=program))
    return found


def quote_name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


_LITERAL = str.maketrans({"\\": "\\\\", "'": "\\'", "\0": "\\0", "\n": "\\n", "\r": "\\r", "\x1a": "\\Z"})


def quote_text(text: str) -> str:
    """A string literal the server reads back as `text` exactly."""
    return "'" + text.translate(_LITERAL) + "'"


def _unbatch(value: str) -> str:
    """A value as --batch writes it (\\t, \\n, \\\\ and \\0 escaped) back to itself."""
    if "\\" not in value:
        return value
    out, i = [], 0
    while i < len(value):
        c = value[i]
        if c == "\\" and i + 1 < len(value):
            out.append({"t": "\t", "n": "\n", "0": "\0", "\\": "\\"}.get(value[i + 1], value[i + 1]))
            i += 2
        else:
            out.append(c)
            i += 1
    return "".join(out)
