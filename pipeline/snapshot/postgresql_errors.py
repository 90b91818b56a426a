"""What psql, pg_dump and pg_restore said on stderr, told to a person in one sentence (never a password).

The clients run with LC_ALL=C, so libpq's own words are English; a server's words follow its lc_messages, so the
commonest French ones are recognised too, and anything else is passed on as the server's first line.
"""

from __future__ import annotations

import re

from pipeline.i18n import _

_UNREACHABLE = ("Connection refused", "timeout expired", "could not translate host name", "No route to host",
                "Network is unreachable", "could not connect to server", "Connection timed out",
                "server closed the connection unexpectedly", "No such file or directory\n\tIs the server running")


def sentence(stderr: str, where, drill: bool = False) -> str:
    """`where` has user, host, port, database and passfile (pipeline.snapshot.postgresql.Target)."""
    said = {"user": where.user, "host": where.host, "port": where.port, "database": where.database}
    if "password authentication failed" in stderr or "authentification par mot de passe" in stderr:
        return _("The PostgreSQL server {host}:{port} refused the password of role {user} (database {database}): "
                 "correct that line of the password file ({passfile}).").format(passfile=where.password_file(),
                                                                                 **said)
    if "no password supplied" in stderr:
        if drill:
            return _("No password was found for role {user} on {host}:{port} to reach the drill's scratch database "
                     "{database}: write * as the database of that line in the password file ({passfile}).").format(
                passfile=where.password_file(), **said)
        return _("No password was found for role {user} on {host}:{port} (database {database}): Coffre never "
                 "asks for it, libpq reads it from the password file ({passfile}), one line "
                 "host:port:database:user:password, readable by its owner only (chmod 600).").format(
            passfile=where.password_file(), **said)
    if any(s in stderr for s in _UNREACHABLE):
        return _("The PostgreSQL server {host}:{port} cannot be reached (is it running, and does it accept TCP "
                 "connections from this machine?).").format(**said)
    found = re.search(r'database "([^"]+)" does not exist|la base de donn\S+ « ([^»]+) » n\S+existe pas', stderr)
    if found:
        return _("The PostgreSQL server {host}:{port} has no database {database}.").format(
            **dict(said, database=found.group(1) or found.group(2)))
    found = re.search(r'role "([^"]+)" does not exist|le rôle « ([^»]+) » n\S+existe pas', stderr)
    if found:
        return _("The PostgreSQL server {host}:{port} has no role {user}.").format(
            **dict(said, user=found.group(1) or found.group(2)))
    found = re.search(r"permission denied for (table|relation|schema|sequence|view|materialized view) (\S+)", stderr)
    if found:
        return denied(found.group(1), found.group(2), where)
    if "permission denied to create database" in stderr:
        return need_createdb(where)
    if "server version mismatch" in stderr:
        return _("The PostgreSQL client tools of this machine are older than the server {host}:{port}: install "
                 "the client of the server's version (pg_dump cannot dump a newer server).").format(**said)
    return _("The PostgreSQL server refused: {said}").format(said=first_line(stderr))


def denied(what: str, name: str, where) -> str:
    schema = name.split(".")[0] if "." in name else "public"
    if what == "schema":
        schema = name
        return _("The PostgreSQL role {user} may not use schema {schema} of database {database}: give it the "
                 "right with `GRANT pg_read_all_data TO {user};` (or `GRANT USAGE ON SCHEMA {schema} TO {user};`)."
                 ).format(user=where.user, schema=schema, database=where.database)
    if what == "sequence":
        return _("The PostgreSQL role {user} may not read sequence {name} of database {database}: give it the "
                 "right with `GRANT pg_read_all_data TO {user};` (or `GRANT SELECT ON ALL SEQUENCES IN SCHEMA "
                 "{schema} TO {user};`).").format(user=where.user, name=name, schema=schema, database=where.database)
    return _("The PostgreSQL role {user} may not read table {name} of database {database}: give it the right with "
             "`GRANT pg_read_all_data TO {user};` (or `GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {user};`)."
             ).format(user=where.user, name=name, schema=schema, database=where.database)


def need_createdb(where) -> str:
    return _("The PostgreSQL role {user} may not create the drill's scratch database on {host}:{port}: give it "
             "the right with `ALTER ROLE {user} CREATEDB;`.").format(user=where.user, host=where.host,
                                                                      port=where.port)


def first_line(stderr: str) -> str:
    """The server's own words, without the client's prefixes."""
    for line in stderr.splitlines():
        line = line.strip()
        if not line:
            continue
        line = re.sub(r"^(psql|pg_dump|pg_restore|createdb)(:[^:]*:\d+)?: (error|erreur|fatal)?:?\s*", "", line)
        line = re.sub(r'^connection to server (at|on) .*? failed: ', "", line)
        line = re.sub(r"^query failed: ", "", line)
        line = re.sub(r"^(FATAL|ERROR|ERREUR):\s+", "", line)
        return line[:300]
    return _("no reason given")
