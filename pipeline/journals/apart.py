"""Runs a big first export of the journals in a process of its own, beside the checks.

The export's SQL calls Python for every row (the shop's local time, a ticket's digests of its lines and payments):
each call takes Python's lock, which the checks running beside it need as much. Threads then take turns on one core
while the other waits; a process has a lock of its own (measured on the 1-year sample: see bench/README.md). A small
export stays in a thread: starting a process costs a tenth of a second.

The process writes the frames into the files the run gave it and says what it wrote; the run hashes the files itself.
It stops when the run does: it is killed when the run gives up, and it ends itself when its parent is gone.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from pathlib import Path

import blake3

from pipeline import i18n, interrupt
from pipeline.i18n import _
from pipeline.journals.cache import CHUNK, FrameFile
from pipeline.progress import NO_PROGRESS, Progress

# The snapshot's size from which the export goes to a process of its own (the 1-year sample is 74 MB).
APART_FROM_BYTES = 16 << 20


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


def _child(conn, parent: int, language: str, snapshot: str, mapping_name: str, timezone: str,
           paths: dict[str, str], level: int, show: bool) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the run's to handle; it then stops this process
    i18n.set_language(language)  # what it says (a progress label) is said in the run's language
    try:
        from pipeline.journals.incremental import export_everything
        from pipeline.journals.mapping import load_mapping

        files = {n: FrameFile(n, None, 0, 0, blake3.blake3(), Path(p)) for n, p in paths.items()}
        counts = export_everything(Path(snapshot), load_mapping(mapping_name, timezone), files, level,
                                   _Bridge(conn, parent, show))
        conn.send(("result", counts, {n: (f.new_len, f.new_plain) for n, f in files.items()}))
    except BaseException as err:  # noqa: BLE001 - handed to the run, which says it as it would have in a thread
        try:
            conn.send(("error", err))
        except Exception:  # noqa: BLE001 - an exception that cannot be pickled goes as its text
            conn.send(("error", RuntimeError(str(err))))
    finally:
        conn.close()


def export_apart(snapshot: Path, mapping_name: str, timezone: str, files: dict[str, FrameFile], level: int,
                 progress: Progress = NO_PROGRESS) -> dict[str, int]:
    """export_everything(...) in a child process; `files` (fresh, empty) are filled as the thread would fill them."""
    ctx = multiprocessing.get_context("spawn")  # fork would copy the run's threads' locks mid-flight
    ours, theirs = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, name="coffre-export", daemon=True,
                       args=(theirs, os.getpid(), i18n.language(), str(snapshot), mapping_name, timezone,
                             {n: str(f.new_path) for n, f in files.items()}, level, bool(progress)))
    proc.start()
    theirs.close()
    task = None
    try:
        interrupt.adopt(proc)
        while True:
            try:
                msg = ours.recv()
            except EOFError:
                raise RuntimeError(_("the process exporting the journals ended with exit code {code}").format(
                    code=_ended(proc))) from None
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
                counts, written = msg[1], msg[2]
                break
    except BaseException:
        proc.kill()
        raise
    finally:
        ours.close()
        proc.join()
        interrupt.forget(proc)
    for name, (length, plain) in written.items():
        f = files[name]
        f.new_len, f.new_plain = length, plain
        _hash_into(f)
    return counts


def _hash_into(f: FrameFile) -> None:
    """The frames the child wrote, hashed here: the run records only bytes it has read itself."""
    left = f.new_len
    with open(f.new_path, "rb") as src:
        while left:
            data = src.read(min(CHUNK, left))
            if not data:
                raise RuntimeError(_("{path} is shorter than the process exporting the journals said").format(
                    path=f.new_path))
            f.hasher.update(data)
            left -= len(data)


def _ended(proc) -> int | None:
    proc.join(5)
    return proc.exitcode
