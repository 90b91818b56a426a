"""A private PostgreSQL cluster for the tests: its own data folder, a free port on 127.0.0.1, run as nobody.

One cluster per test session (`postgresql_server`, or the `cluster()` context manager). The role `coffre` logs in
with a password over TCP (scram-sha-256) and reads everything through pg_read_all_data; Coffre is given that
password only through a password file (`pgpass()`), never in a URI, argv or environment. The administrator
`postgres` reaches the cluster through its Unix socket, trusted, for the tests' own setup.
"""

from __future__ import annotations

import glob
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from servers import as_nobody, free_port

IN_CI = os.environ.get("CI", "").lower() == "true"
ROLE = "coffre"


def _missing(reason: str):
    if IN_CI:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def bindir() -> Path | None:
    """The server's programs: Debian keeps them out of PATH, under /usr/lib/postgresql/<major>/bin."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]) if
                   p.split("/")[4].isdigit() else 0)
    if found:
        return Path(found[-1]).parent
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
        if out and (Path(out) / "initdb").exists():
            return Path(out)
    except OSError:
        pass
    initdb = shutil.which("initdb")
    return Path(initdb).resolve().parent if initdb else None


class Server:
    def __init__(self, base: Path, bin_dir: Path, port: int, password: str):
        self.base = base
        self.bin = bin_dir
        self.host = "127.0.0.1"
        self.port = port
        self.socket_dir = base / "sock"
        self.data = base / "data"
        self.password = password  # the role coffre's; the tests check it never shows
        self.role = ROLE

    def psql(self, sql: str, database: str = "postgres", user: str = "postgres", check: bool = True
             ) -> subprocess.CompletedProcess:
        """SQL run by the administrator over the Unix socket (trusted): the tests' setup and their checks."""
        proc = subprocess.run(["/usr/bin/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir),
                               "-p", str(self.port), "-U", user, "-d", database, "-c", sql],
                              capture_output=True, text=True, timeout=60)
        if check and proc.returncode != 0:
            raise AssertionError(f"psql failed: {proc.stderr}")
        return proc

    def client(self, database: str) -> list[str]:
        """psql as the administrator, reading SQL from its input (a till's writes, in the tests and the benchmark)."""
        return ["/usr/bin/psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-h", str(self.socket_dir), "-p",
                str(self.port), "-U", "postgres", "-d", database]

    def uri(self, database: str, user: str = ROLE, port: int | None = None, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return (f"postgresql://{user}@{self.host}:{port or self.port}/{database}" + (f"?{query}" if query else ""))

    def pgpass(self, path: Path, user: str = ROLE, password: str | None = None, database: str = "*") -> Path:
        """A 0600 password file for `user` on this server (any database unless told: the drill's scratch one too)."""
        path = Path(path)
        path.write_text(f"{self.host}:{self.port}:{database}:{user}:{password or self.password}\n")
        path.chmod(0o600)
        return path

    def new_database(self, name: str | None = None) -> str:
        """A fresh database owned by coffre (which can then also create its tables there)."""
        name = name or f"shop_{secrets.token_hex(4)}"
        self.psql(f'CREATE DATABASE "{name}" OWNER {ROLE}')
        return name

    def stop(self) -> None:
        subprocess.run([*as_nobody(), str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate",
                        "-w", "stop"], capture_output=True, timeout=60)


@contextmanager
def cluster():
    bin_dir = bindir()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        _missing("PostgreSQL server programs (initdb, pg_ctl) not installed")
    for tool in ("psql", "pg_dump", "pg_restore"):
        if not Path("/usr/bin", tool).exists():
            _missing(f"the PostgreSQL client `{tool}` is not installed in /usr/bin")
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        _missing("setpriv is needed to run the server as nobody")
    base = Path(tempfile.mkdtemp(prefix="coffre-pg-"))
    password = secrets.token_urlsafe(18)
    server = Server(base, bin_dir, free_port(), password)
    server.socket_dir.mkdir()
    try:
        if os.geteuid() == 0:
            for p in (base, server.socket_dir):
                os.chown(p, 65534, 65534)
        subprocess.run([*as_nobody(), str(bin_dir / "initdb"), "-D", str(server.data), "-U", "postgres",
                        "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync"],
                       check=True, capture_output=True, timeout=120)
        subprocess.run([*as_nobody(), str(bin_dir / "pg_ctl"), "-D", str(server.data), "-l", str(base / "log"),
                        "-w", "-t", "60", "-o",
                        f"-p {server.port} -k {server.socket_dir} -c listen_addresses=127.0.0.1 -c fsync=off "
                        "-c synchronous_commit=off -c full_page_writes=off", "start"],
                       check=True, capture_output=True, timeout=90)
        deadline = time.monotonic() + 30
        while server.psql("SELECT 1", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError("the test PostgreSQL server did not become ready")
            time.sleep(0.1)
        # The password is set through the admin's stdin-less -c: it is this test cluster's, made up now.
        server.psql(f"CREATE ROLE {ROLE} LOGIN PASSWORD '{password}' CREATEDB")
        server.psql(f"GRANT pg_read_all_data TO {ROLE}")
        yield server
    except subprocess.CalledProcessError as err:
        log = (base / "log").read_text() if (base / "log").exists() else ""
        raise AssertionError(f"the test PostgreSQL server did not start: {err.stderr!r} {log}") from err
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def postgresql_server():
    with cluster() as server:
        yield server
