"""A private MariaDB server for the test session: its own data folder, 127.0.0.1 on a free port, run as nobody."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import pytest

from servers import as_nobody, free_port

IN_CI = os.environ.get("CI", "").lower() == "true"
BINARIES = ("mariadbd", "mariadb-install-db", "mariadb", "mariadb-dump")
SERVER_OPTIONS = ("--skip-name-resolve", "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=8M",
                  "--skip-log-bin", "--max-connections=30", "--performance-schema=OFF")
USER = "coffre"
TEST_PREFIX = "coffre_test_"


def _binary(name: str) -> str | None:
    return shutil.which(name) or next((str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name)
                                       if p.exists()), None)


class MariadbServer:
    def __init__(self, folder: Path, port: int, password: str):
        self.folder, self.host, self.port, self.password = folder, "127.0.0.1", port, password
        self.socket = folder / "sock"
        self.user = USER
        self._made = 0

    def admin(self, sql: str, database: str | None = None, check: bool = True) -> list[list[str]]:
        """Rows of `sql` run as root over the unix socket."""
        argv = [_binary("mariadb"), "--no-defaults", f"--socket={self.socket}", "--user=root", "--batch",
                "--skip-column-names", "-e", sql] + ([database] if database else [])
        done = subprocess.run(argv, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        if check and done.returncode != 0:
            raise AssertionError(f"admin SQL failed: {done.stderr.strip()}")
        return [line.split("\t") for line in done.stdout.splitlines()]

    def client(self, database: str) -> list[str]:
        """mariadb as root, reading SQL from its input, each answer written at once (a till's writes)."""
        return [_binary("mariadb"), "--no-defaults", f"--socket={self.socket}", "--user=root", "-N", "-B",
                "--unbuffered", database]

    def option_file(self, path: Path, user: str = USER, password: str | None = None, port: int | None = None) -> Path:
        """A 0600 [client] file, as a shop's administrator writes one for Coffre."""
        path = Path(path)
        path.write_text(f"[client]\nuser={user}\npassword={self.password if password is None else password}\n"
                        f"host={self.host}\nport={port or self.port}\n")
        path.chmod(0o600)
        return path

    def new_database(self) -> str:
        self._made += 1
        name = f"{TEST_PREFIX}{self._made}_{secrets.token_hex(3)}"
        self.admin(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        return name

    def url(self, database: str, option_file: Path | None = None, user: str | None = USER,
            port: int | None = None, scheme: str = "mariadb") -> str:
        who = f"{user}@" if user else ""
        query = f"?option_file={quote(str(option_file))}" if option_file else ""
        return f"{scheme}://{who}{self.host}:{port or self.port}/{database}{query}"

    def user_with(self, name: str, password: str, grants: list[str]) -> None:
        """Another account, e.g. one without SELECT: `grants` are "PRIV ON db.*" clauses."""
        self.admin(f"CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{password}'")
        for grant in grants:
            self.admin(f"GRANT {grant} TO '{name}'@'127.0.0.1'")


def _start(folder: Path) -> tuple[subprocess.Popen, MariadbServer]:
    if os.geteuid() == 0:
        shutil.chown(folder, "nobody", "nogroup")
    folder.chmod(0o755)
    data = folder / "data"
    install = subprocess.run(as_nobody() + [_binary("mariadb-install-db"), "--no-defaults", f"--datadir={data}",
                                             "--auth-root-authentication-method=normal", "--skip-test-db",
                                             *SERVER_OPTIONS],
                             capture_output=True, text=True)
    if install.returncode != 0:
        pytest.fail(f"mariadb-install-db failed: {install.stderr[-2000:]}")
    port = free_port()
    proc = subprocess.Popen(as_nobody() + [_binary("mariadbd"), "--no-defaults", f"--datadir={data}",
                                            f"--socket={folder / 'sock'}", f"--port={port}",
                                            "--bind-address=127.0.0.1", f"--pid-file={folder / 'pid'}",
                                            f"--log-error={folder / 'error.log'}", *SERVER_OPTIONS],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    server = MariadbServer(folder, port, secrets.token_urlsafe(12))
    deadline = time.monotonic() + 30
    while True:
        if proc.poll() is not None:
            log = (folder / "error.log").read_text(errors="replace")[-2000:]
            pytest.fail(f"mariadbd stopped at start: {log}")
        if server.admin("SELECT 1", check=False) == [["1"]]:
            break
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("mariadbd did not answer within 30 s")
        time.sleep(0.1)
    server.admin(f"CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{server.password}'")
    read = "SELECT, SHOW VIEW, TRIGGER, EVENT, LOCK TABLES, CREATE, DROP, INSERT, ALTER, INDEX"
    server.admin(f"GRANT {read} ON `coffre\\_test\\_%`.* TO '{USER}'@'127.0.0.1'")
    server.admin(f"GRANT {read}, CREATE VIEW, CREATE ROUTINE, ALTER ROUTINE ON `coffre\\_drill\\_%`.* "
                 f"TO '{USER}'@'127.0.0.1'")
    return proc, server


@pytest.fixture(scope="session")
def mariadb_server():
    missing = [name for name in BINARIES if not _binary(name)]
    if missing:
        reason = f"MariaDB not installed ({', '.join(missing)} missing: Debian packages mariadb-server, mariadb-client)"
        if IN_CI:
            pytest.fail(reason)
        pytest.skip(reason)
    folder = Path(tempfile.mkdtemp(prefix="coffre-mariadb-"))
    proc = None
    try:
        proc, server = _start(folder)
        yield server
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(folder, ignore_errors=True)
