"""A local folder destination: USB key, external disk or a mounted network share."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from pipeline.destinations import NotPublished, NotRegular, not_a_file
from pipeline.durable import fsync_dir, fsync_fd
from pipeline.errors import CopyAbsent
from pipeline.i18n import _
from pipeline.manifest.block_table import BlockTable
from pipeline.manifest.blocks import BLOCKS_DIR, block_folder, valid_block_name
from pipeline.manifest.format import RUN_ID, SIGNATURE, valid_name

TMP_PREFIX = ".tmp-"
# Below the root (which may be a symbolic link the user configured) nothing is followed: a store or run folder, or a
# file, that is a link is refused, so that a copy can only ever show its own files. A FIFO could block the open
# forever and a device could act on being opened: what is not a regular file is refused before it is opened, and
# the open does not block (O_NONBLOCK) in case it was swapped meanwhile.
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
# While a file is written, every this many bytes the kernel is asked to start writing them to the medium.
WRITEBACK_EVERY = 8 << 20


class LocalDestination:
    def __init__(self, spec: str):
        self.spec = spec
        self.root = Path(spec).expanduser().absolute()
        self.unlisted_block_folders: set[str] = set()
        self.medium_device: int | None = None  # the root's device once found ready: a run writes on that one only

    def describe(self) -> str:
        return str(self.root)

    def check_ready(self) -> None:
        # The root must already exist: creating it would write "the USB key" onto the till's own disk
        # when the key is not plugged in.
        if not self.root.is_dir():
            raise CopyAbsent(_("The destination {destination} is missing: is the USB key or disk plugged in and "
                               "mounted?").format(destination=self.root),
                             _("missing (is the USB key or disk plugged in and mounted?)"))
        if not os.access(self.root, os.W_OK | os.X_OK):
            raise CopyAbsent(_("The destination {destination} is not writable.").format(destination=self.root),
                             _("not writable"))
        device = os.stat(self.root).st_dev
        if self.medium_device is not None and device != self.medium_device:
            # Asked again later in a command (the sweep): the medium it began with is what must still be there.
            raise CopyAbsent(_("The destination {destination} is no longer the disk or USB key the command began "
                               "with.").format(destination=self.root),
                             _("no longer the disk or USB key the command began with"))
        self.medium_device = device

    def _store_folder(self, store_id: str) -> None:
        """The store's folder, made if need be, in the destination found ready: never the destination itself again (a
        key pulled out during the run, its folder renamed, would otherwise be made anew on the till's own disk), and
        never once another file system stands at its path (the key's mount point left behind, empty)."""
        try:
            device = os.stat(self.root).st_dev
        except FileNotFoundError:
            raise FileNotFoundError(errno.ENOENT, _("the destination is gone since the run started (the USB key or "
                                                    "disk pulled out?)")) from None
        if self.medium_device is not None and device != self.medium_device:
            raise FileNotFoundError(errno.ENOENT, _("the disk or USB key the run started writing to is no longer "
                                                    "mounted there"))
        self.store_dir(store_id).mkdir(exist_ok=True)

    def free_space(self) -> int | None:
        """Bytes a run may still take on the medium (what the file system gives a user that is not root)."""
        st = os.statvfs(self.root)
        return st.f_bavail * st.f_frsize

    def device(self) -> int | None:
        p = self.root
        while not p.exists() and p != p.parent:
            p = p.parent
        return os.stat(p).st_dev

    def store_dir(self, store_id: str) -> Path:
        return self.root / store_id

    def _open_store(self, store_id: str) -> int:
        """A descriptor of `<root>/<store_id>`; NotRegular when it is a symbolic link or not a folder."""
        root = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            return _enter(root, store_id, lambda kind: _("the store folder {store_id} is {kind}, not a folder; not "
                                                         "followed").format(store_id=store_id, kind=kind))
        finally:
            os.close(root)

    def _open_run(self, store_id: str, run_id: str) -> int:
        return self._open_sub(store_id, run_id, lambda kind: _("is {kind}, not a folder; not followed").format(
            kind=kind))

    def runs(self, store_id: str) -> list[str]:
        """The run folders; a symbolic link named like one is listed too, so that readers say it is not followed."""
        try:
            store = self._open_store(store_id)
        except FileNotFoundError:
            return []
        try:
            with os.scandir(store) as entries:
                return sorted(e.name for e in entries if RUN_ID.match(e.name)
                              and (e.is_dir(follow_symlinks=False) or e.is_symlink()))
        finally:
            os.close(store)

    def signed_runs(self, store_id: str) -> set[str]:
        """The run folders (real ones, not links) that hold a signature file; whether it verifies is the reader's
        business."""
        try:
            store = self._open_store(store_id)
        except FileNotFoundError:
            return set()
        try:
            with os.scandir(store) as entries:
                folders = [e.name for e in entries if RUN_ID.match(e.name) and e.is_dir(follow_symlinks=False)]
            return {r for r in folders if _lexists(f"{r}/{SIGNATURE}", store)}
        finally:
            os.close(store)

    def files(self, store_id: str, run_id: str) -> dict[str, int]:
        folder = self._open_run(store_id, run_id)
        try:
            with os.scandir(folder) as entries:
                return {e.name: (e.stat(follow_symlinks=False).st_size if e.is_file(follow_symlinks=False) else -1)
                        for e in entries}
        finally:
            os.close(folder)

    def entry_kind(self, store_id: str, run_id: str, name: str) -> str:
        folder = self._open_run(store_id, run_id)
        try:
            return _kind(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode)
        finally:
            os.close(folder)

    def open_read(self, store_id: str, run_id: str, name: str):
        if not valid_name(name):
            raise ValueError(f"refusing to read {name!r}")
        return _open_regular(self._open_run(store_id, run_id), name)

    def remove_run(self, store_id: str, run_id: str, patient: bool = True) -> None:
        """Removes a run folder that never got its signature; a signed run is never removed here."""
        if not RUN_ID.match(run_id):
            return
        # Through descriptors, following no link: a linked store folder must not lead to another copy's run.
        try:
            folder = self._open_run(store_id, run_id)
        except NotRegular:
            return
        try:
            with os.scandir(folder) as entries:
                found = list(entries)
            if any(e.name == SIGNATURE for e in found):
                return
            for e in found:
                if not e.is_dir(follow_symlinks=False):  # files, and links themselves (never what they point to)
                    os.unlink(e.name, dir_fd=folder)
        finally:
            os.close(folder)
        store = self._open_store(store_id)
        try:
            os.rmdir(run_id, dir_fd=store)
        finally:
            os.close(store)

    def remove_signed_run(self, store_id: str, run_id: str) -> None:
        """Retention's removal of a whole run (prune, after its signed removal record is written): the signature
        goes first, so that a removal cut short leaves a folder that is no longer a run, never a damaged one."""
        if not RUN_ID.match(run_id):
            raise ValueError(f"refusing to remove {run_id!r}")
        _durably(self._open_run(store_id, run_id), lambda fd: os.unlink(SIGNATURE, dir_fd=fd), FileNotFoundError)
        self.remove_run(store_id, run_id)

    def store_files(self, store_id: str, folder: str) -> list[str]:
        """The regular files of `<store>/<folder>/` (links and the rest refused by the reader); [] when absent."""
        try:
            fd = self._open_sub(store_id, folder)
        except FileNotFoundError:
            return []
        try:
            with os.scandir(fd) as entries:
                return sorted(e.name for e in entries if not e.name.startswith(TMP_PREFIX))
        finally:
            os.close(fd)

    def read_store_file(self, store_id: str, folder: str, name: str, limit: int) -> bytes:
        """At most limit+1 bytes of `<store>/<folder>/<name>`, a regular file reached without following a link."""
        if not valid_name(name):
            raise ValueError(f"refusing to read {name!r}")
        with _open_regular(self._open_sub(store_id, folder), name) as f:
            return f.read(limit + 1)

    def put_store_file(self, store_id: str, folder: str, name: str, data: bytes) -> None:
        """Writes `<store>/<folder>/<name>` durably, through a temporary name, never over an existing file."""
        if not valid_name(name) or not valid_name(folder):
            raise ValueError(f"refusing to write {folder}/{name}")
        _durably(self._open_store(store_id), lambda fd: os.mkdir(folder, dir_fd=fd), FileExistsError)
        fd = self._open_sub(store_id, folder)
        try:
            tmp = f"{TMP_PREFIX}{name}-{os.urandom(4).hex()}"
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=fd)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(out, view):]
                os.fsync(out)
            finally:
                os.close(out)
            try:
                os.link(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
            finally:
                os.unlink(tmp, dir_fd=fd)
            fsync_fd(fd)
        finally:
            os.close(fd)

    def remove_store_file(self, store_id: str, folder: str, name: str) -> None:
        if not valid_name(name):
            raise ValueError(f"refusing to remove {folder}/{name}")
        _durably(self._open_sub(store_id, folder), lambda fd: os.unlink(name, dir_fd=fd), FileNotFoundError)

    def _open_sub(self, store_id: str, folder: str, refusal=None) -> int:
        """A descriptor of the folder `<root>/<store_id>/<folder>` (a run, or removals/), following no link."""
        store = self._open_store(store_id)
        try:
            return _enter(store, folder, refusal or (lambda kind: _("{folder} is {kind}, not a folder; not "
                                                                   "followed").format(folder=folder, kind=kind)))
        finally:
            os.close(store)

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
                raise OSError(errno.ELOOP, _("{name} is a symbolic link, not a file of Coffre's").format(name=name))
            raise
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise OSError(errno.EINVAL, _("{name} is not a regular file").format(name=name))
        with os.fdopen(fd, "rb") as f:
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
        fsync_dir(self.root)
        return True

    def blocks(self, store_id: str) -> BlockTable:
        """Every block of the store on this copy with its size (-1: not a regular file, or not where its name puts
        it), as a BlockTable; an empty one when there is none."""
        self.unlisted_block_folders = set()
        return BlockTable(self._listed_blocks(store_id))

    def _listed_blocks(self, store_id: str):
        for sub, entries, _fd in self._block_folders(store_id):
            for e in entries:
                if e.name.startswith(TMP_PREFIX):
                    continue
                good = valid_block_name(e.name) and block_folder(e.name) == sub
                yield (e.name if good else f"{sub}/{e.name}",
                       e.stat(follow_symlinks=False).st_size if good and e.is_file(follow_symlinks=False) else -1)

    def _block_folders(self, store_id: str):
        """(name, entries, descriptor) of each real folder of `<store>/blocks/` (none: no block store), following no
        link; the descriptor is open until the next one is given."""
        try:
            top = self._open_sub(store_id, BLOCKS_DIR)
        except FileNotFoundError:
            return
        try:
            with os.scandir(top) as folders:
                named = [(e.name, e.is_dir(follow_symlinks=False)) for e in folders if valid_name(e.name)]
            subs = [name for name, folder in named if folder]
            # A block folder's name held by a link or a file: its blocks are not listed here (opening one says what
            # stands in its place).
            self.unlisted_block_folders.update(name for name, folder in named if not folder)
            for sub in subs:
                try:
                    fd = _enter(top, sub, lambda kind: kind)
                except OSError:
                    # A folder that cannot be entered (its mode, a medium failing): its blocks go unlisted, and each
                    # caller meets them one by one and says why each cannot be read.
                    self.unlisted_block_folders.add(sub)
                    continue
                try:
                    try:
                        with os.scandir(fd) as entries:
                            found = list(entries)
                    except OSError:
                        self.unlisted_block_folders.add(sub)
                        continue
                    yield sub, found, fd
                finally:
                    os.close(fd)
        finally:
            os.close(top)

    def _open_block_folder(self, store_id: str, name: str, create: bool = False) -> int:
        if not valid_block_name(name):
            raise ValueError(f"refusing block {name!r}")
        if create:
            self._store_folder(store_id)
            _durably(self._open_store(store_id), lambda fd: os.mkdir(BLOCKS_DIR, dir_fd=fd), FileExistsError)
            _durably(self._open_sub(store_id, BLOCKS_DIR), lambda fd: os.mkdir(block_folder(name), dir_fd=fd),
                     FileExistsError)
        top = self._open_sub(store_id, BLOCKS_DIR)
        try:
            return _enter(top, block_folder(name), lambda kind: _("{folder} is {kind}, not a folder; not "
                                                                "followed").format(folder=block_folder(name), kind=kind))
        finally:
            os.close(top)

    def open_block(self, store_id: str, name: str):
        """The stored block `name`, a regular file reached without following a link."""
        return _open_regular(self._open_block_folder(store_id, name), name)

    def start_blocks(self, store_id: str) -> "LocalBlockWriter":
        return LocalBlockWriter(self, store_id)

    def remove_block(self, store_id: str, name: str) -> None:
        """Removes one block (the prune's sweep, once no run names it); nothing there is no error."""
        try:
            folder = self._open_block_folder(store_id, name)
        except FileNotFoundError:
            return
        _durably(folder, lambda fd: os.unlink(name, dir_fd=fd), FileNotFoundError)

    def remove_block_leftovers(self, store_id: str) -> None:
        """What a killed run or prune left being written among the blocks (`.tmp-` files). A folder of such a name is
        not Coffre's (it writes none): left, rather than stopping every prune of the copy on it."""
        for _sub, entries, fd in self._block_folders(store_id):
            for e in entries:
                if e.name.startswith(TMP_PREFIX) and not e.is_dir(follow_symlinks=False):
                    os.unlink(e.name, dir_fd=fd)

    def start_run(self, store_id: str, run_id: str) -> "LocalRunWriter":
        self._store_folder(store_id)
        store = self._open_store(store_id)  # never a run written through a linked store folder, elsewhere
        try:
            os.mkdir(run_id, dir_fd=store)
            fsync_fd(store)
        finally:
            os.close(store)
        return LocalRunWriter(self.store_dir(store_id) / run_id)


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
            try:
                os.fsync(f.fileno())
                # Drop the cached pages so the read-back check reads the medium, not memory.
                os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                f.close()
        except OSError as err:
            raise NotPublished(err.errno, err.strerror) from err
        os.rename(self.folder / (TMP_PREFIX + name), self.folder / name)
        fsync_dir(self.folder)

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


class LocalBlockWriter:
    """Writes blocks into `<store>/blocks/<ab>/`: each under a temporary name, fsynced, then linked to its name, never
    over a block already there (a block, once written, stays the bytes the runs that name it were written with)
    unless `replace` (coffre repair, with bytes that hash to what the lists say)."""

    def __init__(self, dest: LocalDestination, store_id: str):
        self.dest, self.store_id = dest, store_id
        self.pending: dict[str, tuple[int, str]] = {}  # name -> (its folder's descriptor, temporary name)

    def put(self, name: str, data: bytes, replace: bool = False) -> None:
        folder = self.dest._open_block_folder(self.store_id, name, create=True)
        tmp = f"{TMP_PREFIX}{name}-{os.urandom(4).hex()}"
        try:
            out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644, dir_fd=folder)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(out, view):]
                os.fsync(out)
                os.posix_fadvise(out, 0, 0, os.POSIX_FADV_DONTNEED)  # read back from the medium, not memory
            finally:
                os.close(out)
            if replace:
                os.rename(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
            else:
                try:
                    os.link(tmp, name, src_dir_fd=folder, dst_dir_fd=folder)
                except FileExistsError:
                    pass  # written meanwhile (never by Coffre under the store lock): the reader holds it to its hash
                finally:
                    os.unlink(tmp, dir_fd=folder)
            fsync_fd(folder)
        except BaseException:
            try:
                os.unlink(tmp, dir_fd=folder)
            except OSError:
                pass
            raise
        finally:
            os.close(folder)


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


def _durably(folder: int, change, already) -> None:
    """change(folder), then the folder's entry made durable; the error `already` means there was nothing to do.
    Closes `folder`."""
    try:
        try:
            change(folder)
            fsync_fd(folder)
        except already:
            pass
    finally:
        os.close(folder)


def _open_regular(folder: int, name: str):
    """The regular file `name` in the open folder `folder` (closed here), never through a link nor a FIFO."""
    try:
        mode = os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode
        if not stat.S_ISREG(mode):
            raise not_a_file(_kind(mode))
        try:
            fd = os.open(name, _FILE, dir_fd=folder)
        except OSError as err:
            if err.errno == errno.ELOOP:
                raise not_a_file(_("a symbolic link")) from None
            raise
    finally:
        os.close(folder)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_a_file(_kind(mode))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def _lexists(name: str, dir_fd: int) -> bool:
    try:
        os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _enter(parent: int, name: str, refusal) -> int:
    """A descriptor of the folder `name` in `parent`, not following a link; refusal(kind) words any other entry."""
    if not valid_name(name):
        raise ValueError(f"refusing to open {name!r}")
    try:
        return os.open(name, _FOLDER, dir_fd=parent)
    except OSError as err:
        if err.errno not in (errno.ENOTDIR, errno.ELOOP):
            raise
        kind = _kind(os.stat(name, dir_fd=parent, follow_symlinks=False).st_mode)
    raise NotRegular(refusal(kind))


def _kind(mode: int) -> str:
    if stat.S_ISLNK(mode):
        return _("a symbolic link")
    if stat.S_ISFIFO(mode):
        return _("a FIFO (named pipe)")
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return _("a device")
    if stat.S_ISSOCK(mode):
        return _("a socket")
    if stat.S_ISDIR(mode):
        return _("a folder")
    if stat.S_ISREG(mode):
        return _("a regular file")
    return _("an entry of an unknown kind")
