"""Runs a whole export of the journals (a first run's, an inspector's package's) in a process of its own, beside the
checks.

The export's SQL calls Python for every row (the shop's local time, a ticket's digests of its lines and payments):
each call takes Python's lock, which the checks running beside it need as much. Threads then take turns on one core
while the other waits; a process has a lock of its own (measured on the 1-year sample: see bench/README.md). A small
export stays in a thread: starting a process costs a tenth of a second. An evening's new records, however many,
are exported in the run's own process after their checks (journals/incremental.py): beside them, a process of its own
held 55 MB more on a supermarket's evening.

The process writes the frames into the files the run gave it and says what it wrote; the run hashes the files itself.
For a package or `journals export`, it writes the plain CSV and JSON files into a folder of its own, moved into place
once it is done.
It stops when the run does: it is killed when the run gives up, and it ends itself when its parent is gone.
"""

from __future__ import annotations

import ctypes
import os
import pickle
import secrets
import shutil
import signal
import subprocess
import sys
from multiprocessing.connection import Connection
from pathlib import Path

import blake3

from pipeline import i18n, interrupt
from pipeline.i18n import _
from pipeline.journals.cache import FrameFile, ShortFile, prefix
from pipeline.progress import NO_PROGRESS, Progress

# The snapshot's size from which a whole export goes to a process of its own (the 1-year sample is 74 MB).
APART_FROM_BYTES = 16 << 20
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def worth_a_process(snapshot: Path) -> bool:
    """Whether a whole export of this snapshot goes to a process of its own (a first run's, a package's)."""
    return snapshot.stat().st_size >= APART_FROM_BYTES


class _Bridge:
    """The child's progress: tasks and ticks sent to the parent when it shows them. Ticked at every batch of rows, it
    also ends an orphaned child (a run killed with -9 kills nothing)."""

    def __init__(self, conn, parent: int, show: bool):
        self.conn, self.parent, self.show = conn, parent, show

    def task(self, label: str, total, unit: str = ""):
        if self.show:
            self.conn.send(("task", label, total, unit))
        return self

    def __call__(self, n: int) -> None:
        if os.getppid() != self.parent:
            os._exit(1)  # the run is gone: nothing will read these frames
        if self.show:
            self.conn.send(("tick", n))

    def expect(self, total: int) -> None:
        if self.show:
            self.conn.send(("expect", total))

    def done(self) -> None:
        if self.show:
            self.conn.send(("done_task",))

    def __bool__(self) -> bool:
        return self.show


def _child(conn, parent: int, language: str, job: dict) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle; it then stops this process
    _die_with(parent)
    i18n.set_language(language)  # what it says (a progress label) is said in the run's language
    try:
        from pipeline.journals.mapping import load_mapping

        mapping = load_mapping(job["mapping"], job["timezone"])
        snapshot = Path(job["snapshot"])
        if job["kind"] == "tables":
            from pipeline.journals.export import export_tables

            period = tuple(job["period"]) if job["period"] else None
            conn.send(("result", export_tables(snapshot, mapping, Path(job["out"]), period), {}))
            return
        from pipeline.journals.incremental import export_everything

        files = {n: FrameFile(n, None, 0, 0, blake3.blake3(), Path(p)) for n, p in job["paths"].items()}
        counts = export_everything(snapshot, mapping, files, job["level"], _Bridge(conn, parent, job["show"]))
        conn.send(("result", counts, {n: (f.new_len, f.new_plain) for n, f in files.items()}))
    except BaseException as err:  # noqa: BLE001 - handed to the run, which says it as it would have in a thread
        try:
            conn.send(("error", err))
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled goes as its text
            conn.send(("error", RuntimeError(str(err))))
    finally:
        conn.close()


def _die_with(parent: int) -> None:
    """Killed by the kernel when the run ends, however it ends (Linux); between batches it also looks for itself."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass
    if os.getppid() != parent:
        os._exit(1)


def export_apart(snapshot: Path, mapping_name: str, timezone: str, files: dict[str, FrameFile], level: int,
                 progress: Progress = NO_PROGRESS) -> dict[str, int]:
    """export_everything(...) in a child process: `files` get their frames as a thread would write them."""
    # The child writes files of its own, moved to their places once it has said it is done: a child left behind by a
    # run killed with -9 then never writes into a later run's files (they are opened by name, once per frame).
    token = secrets.token_hex(8)
    private = {n: f.new_path.with_name(f"{f.new_path.name}.{token}") for n, f in files.items()}
    job = {"kind": "frames", "snapshot": str(snapshot), "mapping": mapping_name, "timezone": timezone,
           "paths": {n: str(p) for n, p in private.items()}, "level": level, "show": bool(progress)}
    try:
        counts, written = _in_child(job, progress)
    except BaseException:
        for path in private.values():
            path.unlink(missing_ok=True)
        raise
    for name, (length, plain) in written.items():
        f = files[name]
        if private[name].exists():
            os.replace(private[name], f.new_path)
        f.new_len, f.new_plain = length, plain
        _hash_into(f)
    return counts


def export_tables_apart(snapshot: Path, mapping_name: str, timezone: str, out_dir: Path,
                        period: tuple[str, str] | None) -> dict[str, int]:
    """export.export_tables(...) in a child process (an inspector's package, `journals export`): the checks beside it
    call Python for every row too, and in a thread both would take turns at Python's lock."""
    out_dir.mkdir(parents=True, exist_ok=True)
    private = out_dir / f".coffre-export-{secrets.token_hex(8)}"
    job = {"kind": "tables", "snapshot": str(snapshot), "mapping": mapping_name, "timezone": timezone,
           "out": str(private), "period": list(period) if period else None}
    try:
        counts, _written = _in_child(job, NO_PROGRESS)
        for path in sorted(private.iterdir()):
            os.replace(path, out_dir / path.name)
    finally:
        shutil.rmtree(private, ignore_errors=True)
    return counts


def _in_child(job: dict, progress: Progress) -> tuple[dict, dict]:
    """Runs `job` in a fresh interpreter running this module; (counts, what it wrote) once it is done."""
    # A fresh interpreter: a fork would copy the run's threads' locks mid-flight, and multiprocessing's spawn would
    # run again whatever script started the run.
    root = str(Path(__file__).resolve().parents[2])
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([root] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
    ours_fd, theirs = os.pipe()
    try:
        # A session of its own: the terminal's Ctrl-C is the run's to handle (it kills this child), and would
        # otherwise reach the child before it can ignore it, with a traceback.
        proc = interrupt.spawn([sys.executable, "-P", "-m", "pipeline.journals.apart", str(theirs)],
                               stdin=subprocess.PIPE, pass_fds=(theirs,), env=env, start_new_session=True)
    finally:
        os.close(theirs)
    ours = Connection(ours_fd, writable=False)
    task = None
    try:
        try:
            proc.stdin.write(pickle.dumps((os.getpid(), i18n.language(), job)))
            proc.stdin.close()
        except BrokenPipeError:  # gone before it read its job
            raise ExportStopped(_stopped(_ended(proc))) from None
        while True:
            try:
                msg = ours.recv()
            except EOFError:
                raise ExportStopped(_stopped(_ended(proc))) from None
            if msg[0] == "tick":
                task(msg[1])
            elif msg[0] == "task":
                task = progress.task(msg[1], msg[2], msg[3])
            elif msg[0] == "expect":
                task.expect(msg[1])
            elif msg[0] == "done_task":
                task.done()
            elif msg[0] == "error":
                raise msg[1]
            else:
                return msg[1], msg[2]
    except BaseException:
        proc.kill()
        raise
    finally:
        ours.close()
        proc.wait()
        interrupt.forget(proc)


def _hash_into(f: FrameFile) -> None:
    """The frames the child wrote, hashed here: the run records only bytes it has read itself."""
    with open(f.new_path, "rb") as src:
        try:
            for data in prefix(src, f.new_len):
                f.hasher.update(data)
        except ShortFile:
            raise RuntimeError(_("{path} is shorter than the process exporting the journals said").format(
                path=f.new_path)) from None


class ExportStopped(RuntimeError):
    """The export process ended before it said it was done: killed from outside (short of memory), or crashed."""


def _stopped(code: int | None) -> str:
    if isinstance(code, int) and code < 0:
        return _("the process exporting the journals was killed by signal {number} before the end, perhaps for lack "
                 "of memory").format(number=-code)
    return _("the process exporting the journals stopped before the end (exit code {code})").format(
        code="?" if code is None else code)


def _ended(proc) -> int | None:
    try:
        return proc.wait(5)
    except subprocess.TimeoutExpired:
        return None


if __name__ == "__main__":
    try:
        _job = pickle.load(sys.stdin.buffer)
    except Exception:  # noqa: BLE001 - the run is gone before it said what to do: nothing to say to anyone
        os._exit(1)
    _child(Connection(int(sys.argv[1]), readable=False), *_job)
