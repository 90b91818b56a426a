"""What the MariaDB clients said on stderr, as one sentence a person can act on (never the password: they print none)."""

from __future__ import annotations

import re

from pipeline.i18n import _

READ_RIGHTS = "SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES"
DRILL_RIGHTS = ("SELECT, INSERT, CREATE, DROP, ALTER, INDEX, LOCK TABLES, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, "
                "ALTER ROUTINE, TRIGGER, EVENT")
DRILL_PATTERN = "`coffre\\_drill\\_%`"

UNREACHABLE = {2002, 2003, 2005, 2006, 2013}
NO_RIGHT = {1044, 1142, 1227, 1143, 1370}

_CODE = (re.compile(r"ERROR (\d{4})"), re.compile(r"Got error: (\d{4}):"), re.compile(r"\((\d{4})\)\s*$", re.M))
_ACCOUNT = re.compile(r"user '([^']*)'@'([^']*)'")
_COMMAND = re.compile(r"([A-Z][A-Z ]*?) command denied")
_PRIVILEGE = re.compile(r"the ([A-Z][A-Z ,]*?) privilege")


def code_of(stderr: str) -> int | None:
    for pattern in _CODE:
        m = pattern.search(stderr)
        if m:
            return int(m.group(1))
    return None


def first_line(stderr: str) -> str:
    for line in stderr.splitlines():
        line = line.strip()
        if line and not line.startswith("-----"):
            return line[:300]
    return _("no message")


def sentence(stderr: str, spec, rights: str = READ_RIGHTS, on: str | None = None) -> str:
    """The sentence for a failed client: `spec` names the account and server; `rights` and `on` (default: the
    spec's database) make the GRANT named when a right is missing."""
    code = code_of(stderr)
    account = _ACCOUNT.search(stderr)
    user = spec.user or (account.group(1) if account else "?")
    server = spec.server()
    if code == 1045:
        return _("The MariaDB server {server} refused user {user}: wrong password (Coffre reads it from the option "
                 "file {option_file}).").format(server=server, user=user, option_file=spec.option_file_shown())
    if code in UNREACHABLE:
        return _("The MariaDB server {server} cannot be reached ({reason}): is it running, and are the host and "
                 "port right?").format(server=server, reason=first_line(_without_code(stderr)))
    if code == 1049:
        return _("The MariaDB server {server} has no database {database}.").format(server=server,
                                                                                  database=spec.database)
    if code in NO_RIGHT:
        grant = "GRANT {rights} ON {on}.* TO '{user}'@'{host}';".format(
            rights=rights, on=on or _quote_db(spec.database), user=user,
            host=account.group(2) if account else "%")
        right = _missing_right(stderr, code)
        if "show events" in stderr.lower():  # mariadb-dump --events: the account's rights are per table
            right = "EVENT"
        if code == 1044 and right != "EVENT":
            return _("User {user} may not use database {database} on the MariaDB server {server} (it does not exist, "
                     "or the user has no right on it); if it exists, an administrator gives the rights with: "
                     "{grant}").format(user=user, database=on or spec.database, server=server, grant=grant)
        return _("User {user} lacks the {right} right on database {database} on the MariaDB server {server}; an "
                 "administrator gives it with: {grant}").format(user=user, right=right, database=on or spec.database,
                                                                server=server, grant=grant)
    return _("The MariaDB server refused: {said}").format(said=first_line(stderr))


def _missing_right(stderr: str, code: int) -> str:
    m = _COMMAND.search(stderr) or _PRIVILEGE.search(stderr)
    return m.group(1).strip() if m else "SELECT"


def _without_code(stderr: str) -> str:
    """The reason alone, from "mariadb-dump: Got error: 2002: "Can't connect ..." when trying to connect"."""
    m = re.search(r"(Can't connect[^\"\n]*|Unknown server host[^\"\n]*|Lost connection[^\"\n]*)", stderr)
    return m.group(1) if m else stderr


def _quote_db(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"
