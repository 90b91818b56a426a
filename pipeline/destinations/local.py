"""A local folder destination: USB key, external disk or a mounted network share."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pipeline.errors import CannotRun
from pipeline.manifest.format import RUN_ID, SIGNATURE, valid_name

TMP_PREFIX = ".tmp-"
# While a file is written, every this many bytes the kernel is asked to start writing them to the medium.
WRITEBACK_EVERY = 8 << 20


class LocalDestination:
    def __init__(self, spec: str):
        self.spec = spec
        self.root = Path(spec).expanduser().absolute()

    def describe(self) -> str:
        return str(self.root)

    def check_ready(self) -> None:
        # The root must already exist: creating it would write "the USB key" onto the till's own disk
        # when the key is not plugged in.
        if not self.root.is_dir():
            raise CannotRun(f"The destination {self.root} is missing: is the USB key or disk plugged in and mounted?")
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise CannotRun(f"The destination {self.root} is not writable.")

    def device(self) -> int | None:
        p = self.root
        while not p.exists() and p != p.parent:
            p = p.parent
        return os.stat(p).st_dev

    def store_dir(self, store_id: str) -> Path:
        return self.root / store_id

    def runs(self, store_id: str) -> list[str]:
        d = self.store_dir(store_id)
        if not d.is_dir():
            return []
        return sorted(e.name for e in os.scandir(d) if e.is_dir(follow_symlinks=False) and RUN_ID.match(e.name))

    def signed_runs(self, store_id: str) -> set[str]:
        """The run folders that hold a signature file (whether it verifies is the reader's business)."""
        d = self.store_dir(store_id)
        return {r for r in self.runs(store_id) if os.path.lexists(d / r / SIGNATURE)}

    def files(self, store_id: str, run_id: str) -> dict[str, int]:
        d = self.store_dir(store_id) / run_id
        return {e.name: (e.stat(follow_symlinks=False).st_size if e.is_file(follow_symlinks=False) else -1)
                for e in os.scandir(d)}

    def open_read(self, store_id: str, run_id: str, name: str):
        if not valid_name(name):
            raise ValueError(f"refusing to read {name!r}")
        return open(self.store_dir(store_id) / run_id / name, "rb")

    def remove_run(self, store_id: str, run_id: str) -> None:
        """Removes a run folder that never got its signature; a signed run is never removed here."""
        d = self.store_dir(store_id) / run_id
        if not RUN_ID.match(run_id) or os.path.lexists(d / SIGNATURE):
            return
        for e in os.scandir(d):
            if not e.is_dir(follow_symlinks=False):  # files, and links themselves (never what they point to)
                os.unlink(e.path)
        os.rmdir(d)

    def normalised(self) -> str:
        """The folder this spec names, whatever the spelling (trailing slash, relative path, symlinks)."""
        return os.path.realpath(self.root)

    def mount_point(self) -> str:
        """The mount point of the file system the destination's folder is on (or would be, were it created)."""
        p = Path(os.path.realpath(self.root))
        while not p.exists() and p != p.parent:
            p = p.parent
        while not os.path.ismount(p) and p != p.parent:
            p = p.parent
        return str(p)

    def read_root_file(self, name: str, limit: int) -> bytes | None:
        """At most limit+1 bytes of a regular file at the root (never through a symlink); None when absent."""
        try:
            fd = os.open(self.root / name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise OSError(errno.ELOOP, f"{name} is a symbolic link, not a file of Coffre's")
            raise
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, f"{name} is not a regular file")
            return f.read(limit + 1)

    def create_root_file(self, name: str, data: bytes) -> bool:
        """Writes a file at the root through a temporary name; False, writing nothing, if it already exists."""
        tmp = self.root / (TMP_PREFIX + name + "-" + os.urandom(4).hex())
        with open(tmp, "xb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.link(tmp, self.root / name)  # unlike rename, never replaces a file that appeared meanwhile
        except FileExistsError:
            return False
        finally:
            os.unlink(tmp)
        _fsync_dir(self.root)
        return True

    def start_run(self, store_id: str, run_id: str) -> "LocalRunWriter":
        d = self.store_dir(store_id) / run_id
        d.mkdir(parents=True, exist_ok=False)
        _fsync_dir(d.parent)
        return LocalRunWriter(d)


class LocalRunWriter:
    def __init__(self, folder: Path):
        self.folder = folder
        self.open_files: dict[str, object] = {}

    def open(self, name: str):
        if not valid_name(name):
            raise ValueError(f"refusing to write {name!r}")
        f = _WritebackFile(open(self.folder / (TMP_PREFIX + name), "xb", buffering=0))
        self.open_files[name] = f
        return f

    def commit(self, name: str) -> None:
        f = self.open_files.pop(name)
        try:
            os.fsync(f.fileno())
            # Drop the cached pages so the read-back check reads the medium, not memory.
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            f.close()
        os.rename(self.folder / (TMP_PREFIX + name), self.folder / name)
        _fsync_dir(self.folder)

    def discard(self) -> None:
        for name, f in list(self.open_files.items()):
            try:
                f.close()
            except OSError:
                pass
            try:
                os.unlink(self.folder / (TMP_PREFIX + name))
            except OSError:
                pass
        self.open_files.clear()


class _WritebackFile:
    """A file being written that starts the medium's work as the bytes come, not at the final fsync.

    Left alone, the kernel keeps what is written in memory for up to 30 s, so that the fsync at commit
    finds the whole file still to write: on a USB key, seconds spent after the packing, one key after
    the other. Here, every WRITEBACK_EVERY bytes the kernel is told to start writing them out (without
    waiting; POSIX_FADV_DONTNEED also drops the pages of earlier stretches already on the medium), so the
    medium writes while the data is still being compressed, and every copy at once.
    """

    def __init__(self, raw):
        self.raw = raw
        self.fd = raw.fileno()
        self.written = 0
        self.started = 0  # the stretch from here to `written` has not been handed to the kernel yet
        self.previous = 0  # start of the stretch handed over last time, dropped from memory next time

    def write(self, data) -> int:
        view = memoryview(data)
        while view:  # an unbuffered write may be short
            n = self.raw.write(view)
            view = view[n:]
            self.written += n
        if self.written - self.started >= WRITEBACK_EVERY:
            os.posix_fadvise(self.fd, self.previous, self.written - self.previous, os.POSIX_FADV_DONTNEED)
            self.previous, self.started = self.started, self.written
        return len(data)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self.fd

    def close(self) -> None:
        self.raw.close()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError as err:
        if err.errno not in (errno.EINVAL, errno.ENOTSUP):
            raise
    finally:
        os.close(fd)
