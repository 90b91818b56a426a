"""One long-lived rclone (`rclone rcd`) for a command's blocks on remotes, spoken to over HTTP on 127.0.0.1.

A first run writes hundreds of blocks to each copy (a supermarket's, tens of thousands), and an evening reads some
back. One rclone process per upload, move and read-back meant three program starts and three new connections to the
remote per block: the 1-year sample's first run to one remote took 82 s where two local copies take 16 s (rclone's
local backend, so without any network). Here one `rclone rcd` does them all, with its connections kept open.

It listens on a port of 127.0.0.1 that the system picks, and answers only to a password made for this command,
which it knows from a file only we can read (never from its command line, which anyone on the machine can see).
It runs under a small watcher (this module run as a program) that the kernel kills with us, and that kills it when
we are gone: a run killed with -9 leaves no rclone behind.
"""

from __future__ import annotations

import atexit
import base64
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

from pipeline import interrupt
from pipeline.i18n import _

START_WAIT = 15.0  # seconds for rclone to say where it listens
# A request the daemon does not answer in that long fails. An upload is answered once the remote has the block, so
# this must allow for a slow link (a 1 MiB block at 1 KiB/s); a remote that stops answering is rclone's to bound.
HTTP_TIMEOUT = 3600.0
SETTLE = 1.0  # seconds to tell a daemon that died from a remote that failed, after a failed request
RESTARTS = 2  # a daemon that died is started again this many times in a command, then blocks go a program each
# Settings of the environment that would keep the daemon from saying where it listens (START_WAIT, then a program
# per block): the daemon logs at NOTICE to its own file whatever the person's rclone settings say.
_LOG_SETTINGS = ("RCLONE_LOG_LEVEL", "RCLONE_LOG_FILE", "RCLONE_QUIET", "RCLONE_VERBOSE", "RCLONE_USE_JSON_LOG",
                 "RCLONE_SYSLOG")
_LISTENING = re.compile(rb"Serving remote control on http://127\.0\.0\.1:(\d+)/")


class DaemonError(OSError):
    """The daemon could not be started, or stopped answering."""


def _stopped(error) -> DaemonError:
    return DaemonError(_("the rclone daemon stopped answering ({error})").format(error=error))


class RcloneDaemon:
    def __init__(self, exe: str, flags: list[str]):
        self.exe, self.flags = exe, list(flags)
        self.proc: subprocess.Popen | None = None
        self.port = 0
        self.folder: str | None = None
        self.auth = ""
        self.local = threading.local()
        self.rclone_pid: int | None = None  # the rclone itself (the watcher's child), once it said where it listens

    def start(self) -> None:
        _sweep()
        self.folder = tempfile.mkdtemp(prefix="coffre-rclone-")  # mode 0700: the password file is ours alone
        with open(os.path.join(self.folder, "pid"), "w") as f:
            f.write(str(os.getpid()))
        password = secrets.token_urlsafe(24)
        htpasswd = os.path.join(self.folder, "htpasswd")
        sha = base64.b64encode(hashlib.sha1(password.encode()).digest()).decode()
        fd = os.open(htpasswd, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"coffre:{{SHA}}{sha}\n")
        self.auth = "Basic " + base64.b64encode(f"coffre:{password}".encode()).decode()
        log_path = os.path.join(self.folder, "log")
        log = open(log_path, "wb")  # a file, not a pipe: a chatty daemon never blocks on a pipe nobody reads
        try:
            self.proc = interrupt.spawn(
                [sys.executable, "-P", "-m", "pipeline.destinations.rclone_daemon", str(os.getpid()), self.exe, "rcd",
                 *self.flags, "--log-level", "NOTICE", "--rc-addr", "127.0.0.1:0", "--rc-htpasswd", htpasswd,
                 "--rc-serve"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log,
                env=dict({k: v for k, v in os.environ.items() if k not in _LOG_SETTINGS}, PYTHONPATH=os.pathsep.join(
                    [_root()] + [p for p in [os.environ.get("PYTHONPATH")] if p])))
        finally:
            log.close()
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline:
            with open(log_path, "rb") as f:
                found = _LISTENING.search(f.read(65536))
            if found:
                self.port = int(found.group(1))
                # The watcher wrote it before rclone could say where it listens; without it no answer could be
                # told ours (see _ours), so a daemon without it is not used.
                self.rclone_pid = _read_pid(os.path.join(self.folder, "rclone.pid"))
                if self.rclone_pid is not None:
                    return
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        said = _last_line(log_path)
        self.stop()
        raise DaemonError(f"rclone rcd did not start: {said}")

    def stop(self) -> None:
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            interrupt.forget(self.proc)
            self.proc = None
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    def running(self) -> bool:
        """Whether this daemon's rclone still runs (and so still holds its port)."""
        proc = self.proc  # another thread may stop this daemon meanwhile
        return proc is not None and proc.poll() is None and _alive(self.rclone_pid)

    def gone(self, wait: float = SETTLE) -> bool:
        """After a failed request: whether the daemon died (its work is then done again on another), or the failure
        is the remote's. A killed rclone cuts its connections a moment before the system shows it dead: its death
        is waited for, up to `wait` seconds, and a daemon that answers a request of nothing is alive."""
        deadline = time.monotonic() + wait
        while True:
            if not self.running():
                return True
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
            try:
                conn.request("POST", "/rc/noop", body=b"{}", headers={"Authorization": self.auth,
                                                                      "Content-Type": "application/json"})
                if conn.getresponse().status == 200 and self.running():
                    return False
            except (OSError, http.client.HTTPException):
                pass
            finally:
                conn.close()
            if time.monotonic() >= deadline:
                return not self.running()
            time.sleep(0.02)

    def _ours(self, error: str) -> None:
        """An answer counts only if our rclone was alive once it came: while it lives, the port is its own. Once it
        is gone, any local program may take the port, receive our blocks and answer in its name: a copy said
        written or intact by a stranger would be a lie."""
        if self.rclone_pid is not None and not _alive(self.rclone_pid):
            raise _stopped(error)

    # ---- HTTP

    def _connection(self) -> http.client.HTTPConnection:
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        return conn

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None) -> tuple:
        """(status, body bytes), on this thread's kept connection."""
        headers = dict(headers or {}, Authorization=self.auth)
        for attempt in (1, 2):  # a kept connection the daemon closed meanwhile is opened again, once
            conn = self._connection()
            try:
                conn.request(method, path, body=body, headers=headers)
                response = conn.getresponse()
                answer = response.status, response.read()
                self._ours(_("it ended"))
                return answer
            except (http.client.HTTPException, ConnectionError) as err:
                conn.close()
                self.local.conn = None
                proc = self.proc
                if attempt == 2 or (proc is not None and proc.poll() is not None):
                    raise _stopped(err) from None
            except OSError:
                conn.close()
                self.local.conn = None
                raise
        raise _stopped("?")

    def call(self, command: str, params: dict) -> dict:
        """An rc command; OSError with rclone's own words when it fails (FileNotFoundError when not found)."""
        status, data = self.request("POST", f"/{command}", json.dumps(params).encode(),
                                    {"Content-Type": "application/json"})
        return _answer(status, data)

    def upload(self, fs: str, folder: str, name: str, data: bytes) -> None:
        boundary = secrets.token_hex(16)
        head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file0"; filename="{name}"\r\n'
                f"Content-Type: application/octet-stream\r\n\r\n").encode()
        body = head + data + f"\r\n--{boundary}--\r\n".encode()
        query = urllib.parse.urlencode({"fs": fs, "remote": folder})
        status, answer = self.request("POST", f"/operations/uploadfile?{query}", body,
                                      {"Content-Type": f"multipart/form-data; boundary={boundary}"})
        _answer(status, answer)

    def open(self, fs: str, remote: str) -> "DaemonReader":
        """The object's bytes as a file to read (and close); FileNotFoundError when it is not there."""
        path = "/" + urllib.parse.quote(f"[{fs}]/{remote}", safe="/:[]")
        # A connection of its own: the reader may be read a little at a time, between other requests of its thread.
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=HTTP_TIMEOUT)
        try:
            conn.request("GET", path, headers={"Authorization": self.auth})
            response = conn.getresponse()
            if response.status == 200:
                self._ours(_("it ended"))
                return DaemonReader(conn, response, self)
            try:
                data = response.read()
            except http.client.IncompleteRead as err:  # rclone's 404 for a file it cannot open keeps its length
                data = err.partial
            self._ours(_("it ended"))  # a stranger's "not found" is not the remote's
        except (http.client.HTTPException, ConnectionError) as err:
            conn.close()
            raise _stopped(err) from None
        except BaseException:
            conn.close()
            raise
        conn.close()
        if response.status == 404 and response.getheader("Accept-Ranges") and not data.lstrip().startswith(b"{"):
            # rclone found the object (it announced its length, then sent at most "Not Found" of it) and could not
            # open it (a file of the local backend whose mode bars rclone's user, a failing medium): not missing,
            # whatever the status says. A missing object's 404 carries rclone's error as JSON.
            raise OSError(_("rclone found it but could not open it"))
        _answer(response.status, data)
        raise OSError(f"HTTP {response.status}")


class DaemonReader:
    """An object read through the daemon, on a connection of its own."""

    def __init__(self, conn: http.client.HTTPConnection, response: http.client.HTTPResponse,
                 daemon: RcloneDaemon | None = None):
        self.conn, self.response, self.daemon = conn, response, daemon

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.response.read() if n is None or n < 0 else self.response.read(n)
        except (http.client.HTTPException, ConnectionError) as err:
            raise OSError(_("the transfer through the rclone daemon failed ({error})").format(error=err)) from None
        # A connection cut before the length announced gives short data and no error: that is a failed read, not
        # a shorter block (which would be said to be damaged).
        left = self.response.length
        if left and (not data or (n is not None and 0 <= n and len(data) < n)):
            raise OSError(_("the transfer through the rclone daemon failed ({error})").format(
                error=f"{left} bytes missing"))
        if self.daemon is not None and (not data or not left):
            self.daemon._ours(_("it ended"))  # the last bytes too came from our rclone
        return data

    def close(self) -> None:
        self.response.close()
        self.conn.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _answer(status: int, data: bytes) -> dict:
    try:
        doc = json.loads(data) if data else {}
    except ValueError:
        doc = {"error": data[:300].decode("utf-8", "replace")}
    if status == 200:
        return doc if isinstance(doc, dict) else {}
    said = str(doc.get("error") if isinstance(doc, dict) else doc) or f"HTTP {status}"
    if status == 404 or "not found" in said or "doesn't exist" in said:
        raise FileNotFoundError(2, said)
    raise OSError(said)


def _last_line(path: str) -> str:
    try:
        with open(path, "rb") as f:
            lines = [l.strip() for l in f.read().decode("utf-8", "replace").splitlines() if l.strip()]
    except OSError:
        return "no message"
    return (lines[-1] if lines else "no message")[:300]


def _read_pid(path: str) -> int | None:
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    """Whether process `pid` runs (a zombie holds no port); True where that cannot be told (no pid, no /proc)."""
    if pid is None or not os.path.isdir("/proc/self"):
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[0]
    except (OSError, IndexError):
        return False
    return state not in (b"Z", b"X")


def _root() -> str:
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _sweep() -> None:
    """Folders of daemons whose command is gone (a command stopped by a signal ends without its atexit)."""
    base = tempfile.gettempdir()
    try:
        names = [n for n in os.listdir(base) if n.startswith("coffre-rclone-")]
    except OSError:
        return
    for name in names:
        folder = os.path.join(base, name)
        pid = _read_pid(os.path.join(folder, "pid"))
        if pid is None:
            continue  # not ours to judge (another user's, or no pid written yet)
        try:
            os.kill(pid, 0)
            continue  # its command is still running
        except ProcessLookupError:
            pass
        except OSError:
            continue
        shutil.rmtree(folder, ignore_errors=True)


_daemons: dict[tuple, RcloneDaemon] = {}
_restarts: dict[tuple, int] = {}
_lock = threading.Lock()


def daemon_for(exe: str, flags: list[str]) -> RcloneDaemon:
    """The command's daemon for these flags, started on first use, and again if it died (DaemonError when it cannot
    be, or when it died RESTARTS times: the blocks then go a program each)."""
    key = (exe, tuple(flags))
    with _lock:
        daemon = _daemons.get(key)
        if daemon is not None and not daemon.running():
            daemon.stop()
            del _daemons[key]
            _restarts[key] = _restarts.get(key, 0) + 1
            daemon = None
        if daemon is None:
            if _restarts.get(key, 0) > RESTARTS:
                raise DaemonError(_("the rclone daemon stopped {count} times").format(count=_restarts[key]))
            daemon = RcloneDaemon(exe, flags)
            daemon.start()
            _daemons[key] = daemon
        return daemon


@atexit.register
def stop_all() -> None:
    with _lock:
        for daemon in _daemons.values():
            daemon.stop()
        _daemons.clear()


def _watch(parent: int, argv: list[str]) -> int:
    """The watcher: starts rclone, which the kernel kills when this process ends, and ends when `parent` is gone.

    It does not ask the kernel to kill it with its parent: the kernel means the parent's thread that started it,
    and a run starts its daemon from whichever of its threads first needs one."""
    import ctypes
    import signal

    def die_with_me() -> None:
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: this one thread is ours
        except (OSError, AttributeError):
            pass

    # The command's folder (password file, log): removed here too, for a command killed with -9 cannot remove it.
    folder = os.path.dirname(argv[argv.index("--rc-htpasswd") + 1]) if "--rc-htpasswd" in argv else None

    def clean() -> None:
        if folder and os.path.basename(folder).startswith("coffre-rclone-"):
            shutil.rmtree(folder, ignore_errors=True)

    child = subprocess.Popen(argv, preexec_fn=die_with_me)  # one thread here: preexec_fn is safe
    if folder:
        with open(os.path.join(folder, "rclone.pid"), "w") as f:  # before rclone says where it listens
            f.write(str(child.pid))
    signal.signal(signal.SIGTERM, lambda *_: (child.kill(), clean(), os._exit(1)))
    while child.poll() is None:
        if os.getppid() != parent:
            child.kill()
            child.wait()
            clean()
            return 1
        time.sleep(0.5)
    return child.returncode


if __name__ == "__main__":
    sys.exit(_watch(int(sys.argv[1]), sys.argv[2:]))
