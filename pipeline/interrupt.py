"""Stopping promptly on SIGTERM, Ctrl-C or a hang-up: cleanup first, child programs killed, an exit nothing holds.

The first signal raises KeyboardInterrupt in the main thread, so that finally blocks run (the scratch copy of the
database removed, the lock's note cleared, partial files removed), and kills every child program started through
`spawn` (rclone), so that a thread reading from a remote that never answers is freed at once. Worker threads can
still hold the process (a `with ThreadPoolExecutor` waits for them, and so does the interpreter's exit): once the
command has said it was interrupted it ends with os._exit, and a watchdog ends it GRACE seconds after the signal
whatever the main thread is doing. A second signal ends it at once. Ending this way is safe: the store lock is an
flock the kernel releases, and an unsigned run is never counted.

Python runs a signal's handler only between two steps of Python code: while SQLite runs one statement (a supermarket's
closures check, the integrity check of a large restore) the main thread is in C for seconds or minutes, and nothing
would happen until it returns. So the signal's arrival is also read from a wake-up pipe by a thread of this module's:
the first one starts the watchdog and interrupts every connection opened with `Interruptible` (its statement ends at
once, with "interrupted", and it starts no other), the second ends the process.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import weakref
from pathlib import Path

from pipeline.errors import CANNOT_RUN
from pipeline.i18n import _

GRACE = 5.0  # seconds between the first signal and the hard exit


# What a stopped command may have left on the copies, by command: the sentence says only what is true of it.
WRITES_RUNS = ("archive",)
ONLY_READS = ("verify", "restore", "drill", "export-auditor", "journals", "list", "status")
_command: str | None = None  # the command running (cli/common.py says it once click has resolved it)


def running(command: str | None) -> None:
    global _command
    _command = command


def sentence() -> str:
    """What is said when a command is stopped, in the person's language (chosen after this module is imported)."""
    if _command == "prune":
        return _("coffre: interrupted; the runs the rules keep are as they were, and the next prune finishes the "
                 "removal.")
    if _command == "repair":
        return _("coffre: interrupted; no block was made worse, and running coffre repair again heals what is left.")
    if _command in ONLY_READS:
        return _("coffre: interrupted; nothing was changed on the copies.")
    if _command in WRITES_RUNS:
        return _("coffre: interrupted; earlier runs are intact and an unfinished run is never counted.")
    return _("coffre: interrupted.")


# Reentrant: the second signal's handler runs in the main thread, which may hold it already.
_lock = threading.RLock()
_children: set[subprocess.Popen] = set()
_half_made: set[Path] = set()
_connections: weakref.WeakSet = weakref.WeakSet()  # SQLite connections a stop interrupts
_stopping = threading.Event()
_ending = threading.Lock()  # held by the thread that ends the process
_ender: int | None = None  # that thread
ENDING = 2.0  # seconds a second thread ending the process waits for the first
_handled = 0  # signals whose Python handler ran (in the main thread)
_held = False  # hold(): a first signal waits for release()
_firm = False  # hold(firm=True): every signal does
_wakeup: int | None = None  # the read end of the wake-up pipe, once install() made it
STOPS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _refused_once_stopping() -> None:
    # SQLite's interrupt ends the statements running when it comes, not the next one: a thread between two
    # statements would run its next one to the end.
    if _stopping.is_set() and not _held:
        raise sqlite3.OperationalError("interrupted")


class _Refusing:
    """Statements refused once a stop was asked for, on a connection and on its cursors alike."""

    def execute(self, *args, **kwargs):
        _refused_once_stopping()
        return super().execute(*args, **kwargs)

    def executemany(self, *args, **kwargs):
        _refused_once_stopping()
        return super().executemany(*args, **kwargs)

    def executescript(self, *args, **kwargs):
        _refused_once_stopping()
        return super().executescript(*args, **kwargs)


class _Cursor(_Refusing, sqlite3.Cursor):
    pass


class Interruptible(_Refusing, sqlite3.Connection):
    """A SQLite connection (sqlite3.connect(..., factory=Interruptible)) whose running statement a stop ends, and
    which starts none once a stop was asked for."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        with _lock:
            _connections.add(self)

    def cursor(self, factory=_Cursor):
        return super().cursor(factory)


def install() -> None:
    """The handlers of SIGTERM, SIGINT and SIGHUP, and (once, from the main thread) the wake-up pipe and its reader."""
    global _wakeup
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    # A terminal hung up (an ssh session dropped) stops the command as SIGTERM does, cleanup first: by default it
    # would end it where it stands, plain files left. Started under nohup, it keeps ignoring it.
    if signal.getsignal(signal.SIGHUP) is not signal.SIG_IGN:
        signal.signal(signal.SIGHUP, _on_signal)
    if _wakeup is not None:
        return
    read, write = os.pipe()
    os.set_blocking(write, False)  # the C handler writes it: it must never wait
    try:
        signal.set_wakeup_fd(write, warn_on_full_buffer=False)
    except ValueError:  # not the main thread: the handlers alone
        os.close(read)
        os.close(write)
        return
    _wakeup = read
    threading.Thread(target=_woken, args=(read,), name="coffre-signals", daemon=True).start()


def ignore_from_now() -> None:
    """The command has ended and said everything: stops that come while the interpreter finishes are ignored, unless
    a thread of its own still runs (the interpreter would wait for it, and a stop must then still end the process)."""
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    for sig in STOPS:
        with contextlib.suppress(ValueError, OSError):  # not the main thread: nothing to do
            signal.signal(sig, signal.SIG_IGN)


def requested() -> bool:
    """Whether a stop was asked for: what the main thread meets while unwinding is a consequence, not news."""
    return _stopping.is_set()


def _on_signal(signum, frame) -> None:
    global _handled
    if _ender is not None:
        return  # the process is ending already
    _handled += 1
    if _handled > 1 and not _firm:
        end()
    _stop()
    if not _held:
        raise KeyboardInterrupt


def hold(firm: bool = False) -> None:
    """From here to release(), a first signal does not stop the main thread: what it finishes must not be cut in two
    (a package published and its password not yet shown). The watchdog still ends the command GRACE seconds after
    the signal, and a second signal at once, unless the hold is `firm` (an instant: the renaming of a package and
    the showing of its password); hold() again makes it an ordinary one."""
    global _held, _firm
    _held, _firm = True, firm


def holding() -> bool:
    """Between hold() and release(): what the command says still goes out, a stop or not."""
    return _held


def release() -> None:
    """The end of hold(): a stop that came meanwhile stops the command now."""
    global _held, _firm
    _held = _firm = False
    if _stopping.is_set():
        raise KeyboardInterrupt


def _woken(fd: int) -> None:
    """Signals as they arrive, whatever the main thread is doing (even inside one long C call)."""
    seen = 0
    while True:
        try:
            data = os.read(fd, 64)
        except OSError:
            return
        if not data:
            return
        for signum in data:
            if signum not in STOPS:
                continue
            seen += 1
            if seen > 1 and not _firm:
                end(flush=False)  # the main thread may hold a stream's lock: the sentence goes straight to fd 2
            _stop()


def _stop() -> None:
    """The first signal's work, done once by whichever sees it first: the watchdog started, SQLite interrupted."""
    with _lock:
        first = not _stopping.is_set()
        _stopping.set()
        connections = list(_connections)
    if first:
        threading.Thread(target=_watchdog, name="coffre-stop", daemon=True).start()
    if _held:
        return  # what is being finished goes on (the watchdog still ends it past the grace)
    for conn in connections:
        try:
            conn.interrupt()
        except sqlite3.ProgrammingError:
            pass  # closed meanwhile


def _watchdog() -> None:
    # Killed from here, not in the handler: the handler only raises, so that the main thread starts unwinding at once.
    _kill_children()
    time.sleep(GRACE)
    # Python's streams are not flushed from here: the main thread may be stuck holding one of them.
    end(flush=False)


def end(code: int = CANNOT_RUN, flush: bool = True, say: bool = True) -> None:
    """Says the interruption sentence, kills the child programs and ends the process now. Of two threads ending it at
    once (a second signal read by the wake-up thread while the main thread ends), the second waits for the first to
    have said the sentence; should the first be stuck, the second ends the process itself after a moment. `say`
    False: the command had finished, and its own code and words stand."""
    global _ender
    if _ender == threading.get_ident():
        return  # a signal's handler, run inside this thread's own end(): that end goes on
    if not _ending.acquire(timeout=ENDING):
        os._exit(code)
    _ender = threading.get_ident()
    _kill_children()
    _remove_half_made()
    for stream in (sys.stdout, sys.stderr) if flush else ():
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed or broken stream must not stop the exit
            pass
    try:
        if say:
            os.write(2, (sentence() + "\n").encode())
    except OSError:
        pass
    os._exit(code)


def half_made(path: Path) -> None:
    """A folder or file of the command's own, not finished (an export being made, a scratch folder, a package not yet
    published): removed should the command be ended before it finishes or removes it itself (a worker thread can hold
    the command past the grace, and its finally blocks never run)."""
    with _lock:
        _half_made.add(Path(path))


def finished(path: Path) -> None:
    with _lock:
        _half_made.discard(Path(path))


def _remove_half_made() -> None:
    with _lock:
        paths = list(_half_made)
    for path in paths:
        if not path.is_dir() or path.is_symlink():
            with contextlib.suppress(OSError):  # the exit goes on: what could not go is swept by the next command
                path.unlink(missing_ok=True)
            continue
        for _try in range(3):  # a worker thread may still be adding a file to it
            shutil.rmtree(path, ignore_errors=True)
            if not path.exists():
                break


def spawn(argv: list[str], **popen_args) -> subprocess.Popen:
    """Starts a child program that a stop kills; refused (InterruptedError) once a stop was asked for."""
    with _lock:
        if _stopping.is_set():
            raise InterruptedError(_("the command is stopping"))
        proc = None
        try:
            proc = subprocess.Popen(argv, **popen_args)
        finally:
            if proc is not None:  # registered even if the signal's KeyboardInterrupt comes right after the start
                _children.add(proc)
    return proc


def forget(proc: subprocess.Popen) -> None:
    """The child has ended (it was waited for): a stop has nothing to kill there."""
    with _lock:
        _children.discard(proc)


def run(argv: list[str], input: bytes | None = None, text: bool = True) -> tuple[int, str | bytes, str | bytes]:
    """subprocess.run with its output captured (as text, or bytes), through `spawn`: (exit code, stdout, stderr)."""
    proc = spawn(argv, stdin=subprocess.PIPE if input is not None else None, stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=text)
    try:
        out, err = proc.communicate(input)
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    finally:
        forget(proc)
    return proc.returncode, out, err


def _kill_children() -> None:
    with _lock:
        children = list(_children)
    for proc in children:
        try:
            proc.kill()
        except OSError:
            pass
