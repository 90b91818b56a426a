"""An rclone remote destination (`rclone:REMOTE:PATH`): cloud or network storage through the stock rclone."""

from __future__ import annotations

import errno
import json
import re
import shlex
import shutil
import subprocess
import tempfile

from pipeline import interrupt
from pipeline.destinations import NotPublished, not_a_file, rclone_daemon
from pipeline.errors import CopyAbsent, UsageError
from pipeline.i18n import _
from pipeline.manifest.block_table import BlockTable
from pipeline.manifest.blocks import BLOCKS_DIR, MAX_BLOCK, block_folder, valid_block_name
from pipeline.manifest.format import RUN_ID, SIGNATURE, valid_name

TMP_PREFIX = ".tmp-"
# Fail fast rather than retry for minutes: the end-of-day run must end, and the other copies go on.
# Never -L/--copy-links: on a local remote rclone then skips symbolic links (they are missing from a listing, so
# never read), and a copy can only show its own files.
# Every child goes through interrupt.spawn, so that a stop kills it: a remote that never answers holds nothing.
FLAGS = ["--retries", "1", "--low-level-retries", "3", "--contimeout", "15s", "--timeout", "60s"]
# A glance (status, list) must answer in seconds even when a remote accepts connections and never replies.
GLANCE_FLAGS = ["--retries", "1", "--low-level-retries", "1", "--contimeout", "5s", "--timeout", "10s"]
DIRECTORY_NOT_FOUND = 3  # rclone's documented exit code: the remote answered, and the folder is not there


class RcloneDestination:
    def __init__(self, spec: str, glance: bool = False):
        self.spec = spec
        self.flags = GLANCE_FLAGS if glance else FLAGS
        rest = spec[len("rclone:"):]
        remote, sep, path = rest.partition(":")
        if not sep or not remote or "\0" in rest:
            raise UsageError(_("The destination {spec} must be written rclone:REMOTE:PATH.").format(spec=repr(spec)))
        self.remote = f"{remote}:{path.rstrip('/')}"
        self.unlisted_block_folders: set[str] = set()  # one listing of the whole tree: complete or an error

    def describe(self) -> str:
        return self.spec

    def _rclone(self) -> str:
        exe = shutil.which("rclone")
        if not exe:
            raise CopyAbsent(_("The destination {destination} needs the rclone program, which is not installed.").format(
                destination=self.spec), _("needs the rclone program, which is not installed"))
        return exe

    def _daemon(self) -> "rclone_daemon.RcloneDaemon | None":
        """The command's rclone daemon (rclone_daemon.py) for blocks, or None where it cannot start: a program per
        block then, as before."""
        if _no_daemon or "]" in self.remote:  # the daemon's URLs name the remote in [brackets]: not this one
            return None
        try:
            # --links: a symbolic link in a block's place is not followed out of the copy (the local backend would):
            # it is not the block (missing), and a block written there replaces the link, not its target.
            return rclone_daemon.daemon_for(self._rclone(), [*self.flags, "--links"])
        except OSError:
            _no_daemon.append(True)
            return None

    def _daemons(self):
        """The daemon to take a block through, then, if it died on the way, a new one (at most): a block's work is
        done again whole by the next, and the blocks go a program each once none can be had."""
        for _attempt in (1, 2):
            daemon = self._daemon()
            if daemon is None:
                return
            yield daemon

    def _block_remote(self, store_id: str, name: str) -> str:
        return "/".join((store_id, BLOCKS_DIR, block_folder(name), name))

    def _path(self, *parts: str) -> str:
        joiner = "" if self.remote.endswith(":") else "/"
        return self.remote + joiner + "/".join(parts)

    def _run(self, *args: str, check_msg: str) -> str:
        code, out, err = interrupt.run([self._rclone(), *self.flags, *args])
        if code == DIRECTORY_NOT_FOUND:
            raise FileNotFoundError(f"{check_msg}: {_last_line(err)}")
        if code != 0:
            raise OSError(f"{check_msg}: {_last_line(err)}")
        return out

    def check_ready(self) -> None:
        try:
            self._run("lsf", "--max-depth", "1", self.remote, check_msg=_("not reachable"))
        except FileNotFoundError:
            raise CopyAbsent(_("The destination {destination} does not exist on the remote: create it with "
                               "`rclone mkdir {remote}`.").format(destination=self.spec,
                                                                  remote=shlex.quote(self.remote)),
                             _("does not exist on the remote (create it with `rclone mkdir {remote}`)").format(
                                 remote=shlex.quote(self.remote)))
        except OSError as err:
            raise CopyAbsent(_("The destination {destination} cannot be reached ({error}).").format(destination=self.spec,
                                                                                              error=err),
                             _("cannot be reached ({error})").format(error=err))

    def device(self) -> int | None:
        return None

    def free_space(self) -> int | None:
        """What `rclone about` says is free; None for a remote that does not tell (many object stores)."""
        try:
            out = self._run("about", "--json", self.remote, check_msg=_("cannot ask for the free space"))
            free = json.loads(out).get("free")
        except (OSError, ValueError, AttributeError):
            return None
        return free if isinstance(free, int) and not isinstance(free, bool) else None

    def runs(self, store_id: str) -> list[str]:
        try:
            out = self._run("lsf", "--dirs-only", self._path(store_id), check_msg=_("cannot list"))
        except OSError as err:
            if "not found" in str(err):
                return []
            raise
        return sorted(n.rstrip("/") for n in out.splitlines() if RUN_ID.match(n.rstrip("/")))

    def signed_runs(self, store_id: str) -> set[str]:
        """The run folders that hold a signature file, in one listing (not one call per run)."""
        try:
            out = self._run("lsf", "-R", "--max-depth", "2", "--files-only", "--include", f"/*/{SIGNATURE}",
                            self._path(store_id), check_msg=_("cannot list"))
        except OSError as err:
            if "not found" in str(err):
                return set()
            raise
        return {line.partition("/")[0] for line in out.splitlines() if RUN_ID.match(line.partition("/")[0])}

    def files(self, store_id: str, run_id: str) -> dict[str, int]:
        out = self._run("lsf", "--format", "sp", "--separator", ";", self._path(store_id, run_id), check_msg=_("cannot list"))
        listing = {}
        for line in out.splitlines():
            size, _sep, name = line.partition(";")
            listing[name.rstrip("/")] = int(size) if size.lstrip("-").isdigit() else -1
        return listing

    def entry_kind(self, store_id: str, run_id: str, name: str) -> str:
        # lsf gives -1 for a folder and for an object whose size the remote does not know.
        out = self._run("lsf", "--dirs-only", self._path(store_id, run_id), check_msg=_("cannot list"))
        return _("a folder") if name + "/" in out.splitlines() else _("an object of unknown size")

    def open_read(self, store_id: str, run_id: str, name: str):
        if not valid_name(name):
            raise ValueError(f"refusing to read {name!r}")
        return _PipeReader([self._rclone(), *self.flags, "cat", self._path(store_id, run_id, name)], name)

    def remove_run(self, store_id: str, run_id: str, patient: bool = True) -> None:
        if not patient and self.flags is not GLANCE_FLAGS:
            # A remote that stopped answering takes rclone minutes a request to give up (its timeout, three times):
            # the run that failed there goes on, and the next archive removes what is left.
            RcloneDestination(self.spec, glance=True).remove_run(store_id, run_id)
            return
        if not RUN_ID.match(run_id) or SIGNATURE in self.files(store_id, run_id):
            return
        self._run("purge", self._path(store_id, run_id), check_msg=_("cannot remove"))

    def remove_signed_run(self, store_id: str, run_id: str) -> None:
        """Retention's removal of a whole run: the signature first (see LocalDestination.remove_signed_run)."""
        if not RUN_ID.match(run_id):
            raise ValueError(f"refusing to remove {run_id!r}")
        self._delete(self._path(store_id, run_id, SIGNATURE))
        self._run("purge", self._path(store_id, run_id), check_msg=_("cannot remove"))

    def store_files(self, store_id: str, folder: str) -> list[str]:
        try:
            out = self._run("lsf", "--files-only", self._path(store_id, folder), check_msg=_("cannot list"))
        except OSError as err:
            if "not found" in str(err):
                return []
            raise
        return sorted(n for n in out.splitlines() if n and not n.startswith(TMP_PREFIX))

    def read_store_file(self, store_id: str, folder: str, name: str, limit: int) -> bytes:
        if not valid_name(name):
            raise ValueError(f"refusing to read {name!r}")
        with _PipeReader([self._rclone(), *self.flags, "cat", "--count", str(limit + 1),
                          self._path(store_id, folder, name)], name) as f:
            return f.read(limit + 1)

    def remove_store_file(self, store_id: str, folder: str, name: str) -> None:
        if not valid_name(name):
            raise ValueError(f"refusing to remove {folder}/{name}")
        self._delete(self._path(store_id, folder, name))

    def _delete(self, path: str, *flags: str) -> None:
        """Deletes one object; one already gone is no error."""
        try:
            self._run("deletefile", *flags, path, check_msg=_("cannot remove"))
        except OSError as err:
            # rclone says an absent object "not found", or (deletefile on some remotes) "doesn't exist".
            if not isinstance(err, FileNotFoundError) and "not found" not in str(err) \
                    and "doesn't exist" not in str(err):
                raise

    def _is_folder(self, path: str) -> bool:
        try:
            return (self._stat(path) or {}).get("IsDir") is True
        except OSError:
            return False

    def _stat(self, path: str) -> dict | None:
        """rclone's description of one entry, or None when there is none; OSError when the remote would not say."""
        try:
            # --links: a symbolic link is nothing here (the local backend would follow it), as listings have it.
            found = json.loads(self._run("lsjson", "--stat", "--links", path, check_msg=_("cannot list")) or "null")
        except ValueError:
            raise OSError(_("rclone's answer cannot be read")) from None
        except OSError as err:
            if isinstance(err, FileNotFoundError) or "not found" in str(err):  # rclone's exit 3 or 4, or its words
                return None
            raise
        return found if isinstance(found, dict) else None

    def put_store_file(self, store_id: str, folder: str, name: str, data: bytes) -> None:
        if not valid_name(name) or not valid_name(folder):
            raise ValueError(f"refusing to write {folder}/{name}")
        tmp = self._path(store_id, folder, TMP_PREFIX + name)
        code, _out, err = interrupt.run([self._rclone(), *self.flags, "rcat", tmp], input=data, text=False)
        if code != 0:
            raise OSError(_("writing {name} failed: {error}").format(
                name=name, error=_last_line(err.decode("utf-8", "replace"))))
        self._run("moveto", tmp, self._path(store_id, folder, name), check_msg=_("cannot publish"))

    def normalised(self) -> str:
        """rclone:REMOTE:PATH with the path's redundant slashes and dots removed."""
        remote, _sep, path = self.remote.partition(":")
        absolute = path.startswith("/")
        parts = [p for p in path.split("/") if p not in ("", ".")]
        return f"rclone:{remote}:{'/' if absolute else ''}{'/'.join(parts)}"

    def read_root_file(self, name: str, limit: int) -> bytes | None:
        # `rclone cat PATH` of a folder prints every file in it: the root is listed with a filter instead, so that
        # only a file of that name, at the root, is ever read (none: nothing printed).
        code, out, err = interrupt.run([self._rclone(), *self.flags, "cat", "--max-depth", "1", "--include", f"/{name}",
                                        "--count", str(limit + 1), self.remote], text=False)
        if code != 0:
            err = err.decode("utf-8", "replace")
            if code == DIRECTORY_NOT_FOUND:
                return None
            raise OSError(_("reading {name} failed: {error}").format(name=name, error=_last_line(err)))
        return out or None

    def create_root_file(self, name: str, data: bytes) -> bool:
        if self.read_root_file(name, 0) is not None:
            return False
        tmp = self._path(TMP_PREFIX + name)
        code, _out, err = interrupt.run([self._rclone(), *self.flags, "rcat", tmp], input=data, text=False)
        if code != 0:
            raise OSError(_("writing {name} failed: {error}").format(
                name=name, error=_last_line(err.decode("utf-8", "replace"))))
        self._run("moveto", tmp, self._path(name), check_msg=_("cannot publish"))
        return True

    def blocks(self, store_id: str) -> BlockTable:
        """Every block of the store on this remote with its size, in one listing (-1: not a file, or not where its name
        puts it)."""
        try:
            # Folders too: one in a block's place is not the block (-1, as a local copy lists it). Left out, it read as
            # a missing block, which every evening then failed to write, and repair to heal, the copy failing each time.
            out = self._run("lsf", "-R", "--format", "sp", "--separator", ";",
                            self._path(store_id, BLOCKS_DIR), check_msg=_("cannot list"))
        except OSError as err:
            if "not found" in str(err):
                return BlockTable()
            raise
        return BlockTable(_listed_blocks(out))

    def open_block(self, store_id: str, name: str):
        if not valid_block_name(name):
            raise ValueError(f"refusing to read block {name!r}")
        daemon, reader = self._open_block_once(store_id, name)
        return reader if daemon is None else _ResumingReader(self, store_id, name, daemon, reader)

    def _open_block_once(self, store_id: str, name: str):
        """(the daemon it goes through or None, the block as a file to read)."""
        for daemon in self._daemons():
            try:
                return daemon, daemon.open(self.remote, self._block_remote(store_id, name))
            except FileNotFoundError:
                raise FileNotFoundError(2, _("{name} not found").format(name=name)) from None
            except OSError as err:
                if not daemon.gone():  # the remote's own failure; a daemon that died is started again, once
                    if "is a directory" in str(err):  # rclone: "is a directory not a file"; asked only then (a program)
                        self._refuse_folder(store_id, name)
                    raise OSError(_("reading {name} failed: {error}").format(name=name, error=err)) from None
        # `rclone cat` of a folder would give the files in it as the block. Named in --files-from with --no-traverse,
        # the block is looked up as one object (no listing of its folder): a folder there is "a directory", and
        # nothing given (a block never is empty) is then told apart, missing or an empty file. --links: a symbolic
        # link in its place is not followed (out of the copy), but missing, as the listing has it.
        folder = self._path(store_id, BLOCKS_DIR, block_folder(name))
        return None, _PipeReader([self._rclone(), *self.flags, "cat", "--links", "--files-from-raw", "-", "--no-traverse",
                                  "--count", str(MAX_BLOCK + 1), folder], name,
                                 on_empty=lambda: self._missing_or_folder(store_id, name), names=name)

    def _refuse_folder(self, store_id: str, name: str) -> None:
        """A folder in a block's place is said as a local copy says it, not as a failing medium."""
        if self._is_folder(self._path(store_id, BLOCKS_DIR, block_folder(name), name)):
            raise not_a_file(_("a folder"))

    def _missing_or_folder(self, store_id: str, name: str) -> None:
        """Nothing was given for a block: nothing there, an empty file (then read as the empty block it is, which its
        BLAKE3 will say is damaged), or a folder (should rclone give nothing for one)."""
        found = self._stat(self._path(store_id, BLOCKS_DIR, block_folder(name), name))
        if found is None:
            raise FileNotFoundError(2, _("{name} not found").format(name=name))
        if found.get("IsDir") is True:
            raise not_a_file(_("a folder"))

    def start_blocks(self, store_id: str) -> "RcloneBlockWriter":
        return RcloneBlockWriter(self, store_id)

    def remove_block(self, store_id: str, name: str) -> None:
        if not valid_block_name(name):
            raise ValueError(f"refusing to remove block {name!r}")
        self._delete(self._path(store_id, BLOCKS_DIR, block_folder(name), name))

    def remove_block_leftovers(self, store_id: str) -> None:
        try:
            out = self._run("lsf", "-R", "--files-only", "--include", f"{TMP_PREFIX}*",
                            self._path(store_id, BLOCKS_DIR), check_msg=_("cannot list"))
        except OSError as err:
            if "not found" in str(err):
                return
            raise
        for path in out.splitlines():
            sub, _slash, name = path.rpartition("/")
            if name.startswith(TMP_PREFIX) and valid_name(sub):
                self._delete(self._path(store_id, BLOCKS_DIR, sub, name))

    def start_run(self, store_id: str, run_id: str) -> "RcloneRunWriter":
        self._run("mkdir", self._path(store_id, run_id), check_msg=_("cannot create the run folder"))
        return RcloneRunWriter(self, store_id, run_id)


class RcloneRunWriter:
    def __init__(self, dest: RcloneDestination, store_id: str, run_id: str):
        self.dest, self.store_id, self.run_id = dest, store_id, run_id
        self.procs: dict[str, tuple[subprocess.Popen, object]] = {}

    def _tmp(self, name: str) -> str:
        return self.dest._path(self.store_id, self.run_id, TMP_PREFIX + name)

    def open(self, name: str):
        if not valid_name(name):
            raise ValueError(f"refusing to write {name!r}")
        # stderr to a file, not a pipe: a chatty rclone must never block on a pipe nobody reads yet.
        log = tempfile.TemporaryFile()
        try:
            proc = interrupt.spawn([self.dest._rclone(), *self.dest.flags, "rcat", self._tmp(name)], stdin=subprocess.PIPE,
                                   stdout=subprocess.DEVNULL, stderr=log)
        except BaseException:
            log.close()
            raise
        self.procs[name] = (proc, log)
        return proc.stdin

    def commit(self, name: str) -> None:
        proc, log = self.procs.pop(name)
        try:
            proc.stdin.close()
        except OSError:
            pass
        code = proc.wait()
        interrupt.forget(proc)
        err = _read_log(log)
        log.close()
        if code != 0:
            raise NotPublished(_("upload failed: {error}").format(error=_last_line(err)))
        self.dest._run("moveto", self._tmp(name), self.dest._path(self.store_id, self.run_id, name),
                       check_msg=_("cannot publish"))

    def discard(self) -> None:
        for name, (proc, log) in list(self.procs.items()):
            proc.kill()
            proc.wait()
            interrupt.forget(proc)
            log.close()
            try:
                self.dest._run("deletefile", self._tmp(name), check_msg=_("cannot remove"))
            except OSError:
                pass
        self.procs.clear()


class RcloneBlockWriter:
    """Blocks uploaded under a temporary name and moved to theirs (see LocalBlockWriter)."""

    def __init__(self, dest: RcloneDestination, store_id: str):
        self.dest, self.store_id = dest, store_id

    def put(self, name: str, data: bytes, replace: bool = False) -> None:
        if not valid_block_name(name):
            raise ValueError(f"refusing to write block {name!r}")
        folder = (self.store_id, BLOCKS_DIR, block_folder(name))
        for daemon in self.dest._daemons():
            try:
                self._put_through(daemon, "/".join(folder), name, data, replace)
                return
            except OSError:
                if not daemon.gone():
                    raise
        tmp = self.dest._path(*folder, f"{TMP_PREFIX}{name}")
        code, _out, err = interrupt.run([self.dest._rclone(), *self.dest.flags, "rcat", tmp], input=data, text=False)
        if code != 0:
            raise OSError(_("writing {name} failed: {error}").format(
                name=name, error=_last_line(err.decode("utf-8", "replace"))))
        if replace:  # a remote may refuse, or botch, a move over an object: the damaged block goes first
            try:
                self.dest._delete(self.dest._path(*folder, name), "--links")
            except OSError:
                pass  # absent (WebDAV answers 405 for that), or not removable: repair reads back what is there
        try:
            # --links: onto a link in its place, the block replaces the link; without, rclone compared the link's
            # target with the block and could keep the link (a target of the block's bytes and of its size).
            self.dest._run("moveto", "--links", tmp, self.dest._path(*folder, name), check_msg=_("cannot publish"))
        except OSError as err:
            raise self._not_published("/".join(folder), name, err) from None

    def _not_published(self, folder: str, name: str, err: OSError) -> OSError:
        """A block uploaded but not moved into its place: its upload is removed (a repair tried again must not leave
        one more each time), and a folder standing in the place is said as such (repair asks for it to be moved)."""
        try:
            self.dest._delete(self.dest._path(folder, f"{TMP_PREFIX}{name}"))
        except OSError:
            pass
        if self.dest._is_folder(self.dest._path(folder, name)):
            return OSError(errno.EISDIR, _("a folder stands in its place"))
        return err

    def _put_through(self, daemon, folder: str, name: str, data: bytes, replace: bool) -> None:
        fs, tmp = self.dest.remote, f"{TMP_PREFIX}{name}"
        try:
            daemon.upload(fs, folder, tmp, data)
        except OSError as err:
            raise OSError(_("writing {name} failed: {error}").format(name=name, error=err)) from None
        if replace:  # as below: the damaged block goes first
            try:
                daemon.call("operations/deletefile", {"fs": fs, "remote": f"{folder}/{name}"})
            except OSError:
                pass
        try:
            daemon.call("operations/movefile", {"srcFs": fs, "srcRemote": f"{folder}/{tmp}", "dstFs": fs,
                                                "dstRemote": f"{folder}/{name}"})
        except OSError as err:
            # A move whose answer was lost is sent again, and then finds nothing to move: the block in place, of
            # its size, with its upload gone, is that move done (the run reads every block back all the same).
            if not (daemon.running() and _moved(daemon, fs, folder, tmp, name, len(data))):
                raise self._not_published(folder, name, OSError(f"{_('cannot publish')}: {err}")) from None


def _moved(daemon, fs: str, folder: str, tmp: str, name: str, size: int) -> bool:
    try:
        listed = daemon.call("operations/list", {"fs": fs, "remote": folder, "opt": {"filesOnly": True}})
    except OSError:
        return False
    found = {item.get("Name"): item.get("Size") for item in listed.get("list") or [] if isinstance(item, dict)}
    return tmp not in found and found.get(name) == size


_no_daemon: list[bool] = []  # set once the daemon could not start: not tried again for every block


class _ResumingReader:
    """A block read through the daemon which, should the daemon die mid-block, goes on through the next daemon (or
    a program): the block is read again from its start and what was already given is skipped (a block never
    changes, and its reader holds it to its BLAKE3 all the same)."""

    def __init__(self, dest: RcloneDestination, store_id: str, name: str, daemon, reader):
        self.dest, self.store_id, self.name = dest, store_id, name
        self.daemon, self.reader = daemon, reader
        self.given = 0
        self.to_skip = 0  # of what was given, what the reader opened anew has not yet passed
        self.resumed = 0

    def read(self, n: int = -1) -> bytes:
        while True:
            try:
                self._skip()
                data = self.reader.read(n)
            except OSError:
                if self.daemon is None or self.resumed >= 2 or not self.daemon.gone():
                    raise
                self._reopen()
                continue
            self.given += len(data)
            return data

    def _reopen(self) -> None:
        self.resumed += 1
        self.reader.close()
        self.daemon, self.reader = self.dest._open_block_once(self.store_id, self.name)
        self.to_skip = self.given

    def _skip(self) -> None:
        while self.to_skip:
            skipped = self.reader.read(min(self.to_skip, 1 << 20))
            if not skipped:
                raise OSError(_("reading {name} failed: {error}").format(
                    name=self.name, error=_("it is shorter than when it was first read")))
            self.to_skip -= len(skipped)

    def close(self) -> None:
        self.reader.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _PipeReader:
    """`rclone cat` as a readable file; a failed transfer raises OSError instead of looking like a short file."""

    def __init__(self, argv: list[str], name: str, on_empty=None, names: str | None = None):
        """`on_empty`: called (to raise) when rclone ends without error having given nothing; `names`: the object
        named on standard input (--files-from-raw -)."""
        self.name, self.on_empty, self.given = name, on_empty, 0
        self.log = tempfile.TemporaryFile()
        try:
            self.proc = interrupt.spawn(argv, stdout=subprocess.PIPE, stderr=self.log,
                                        stdin=None if names is None else subprocess.PIPE)
        except BaseException:
            self.log.close()
            raise
        if names is not None:
            for step in (lambda: self.proc.stdin.write(f"{names}\n".encode()), self.proc.stdin.close):
                try:
                    step()
                except OSError:
                    pass  # rclone gone already (a broken pipe, at the flush): its exit says why

    def read(self, n: int = -1) -> bytes:
        data = self.proc.stdout.read(n)
        if not data or (n > 0 and len(data) < n):  # a buffered pipe read is short only at the end
            self._check()
            if not data and not self.given and self.on_empty is not None:
                self.on_empty()
        self.given += len(data)
        return data

    def _check(self) -> None:
        code = self.proc.wait()
        err = _read_log(self.log)
        if code != 0:
            # The error is rclone's last line: an earlier one may be a notice ('Config file "…" not found - using
            # defaults', whenever there is no configuration file), which says nothing of the object.
            last = _last_line(err)
            if "not found" in last or "doesn't exist" in last:
                raise FileNotFoundError(2, _("{name} not found").format(name=self.name))
            if "is a directory" in last:  # rclone's "is a directory not a file", as a local copy says it
                raise not_a_file(_("a folder"))
            raise OSError(_("reading {name} failed: {error}").format(name=self.name, error=last))

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        interrupt.forget(self.proc)
        self.proc.stdout.close()
        self.log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _read_log(log) -> str:
    log.seek(0)
    return log.read(65536).decode("utf-8", "replace")


def _last_line(text: str) -> str:
    lines = [l.strip() for l in text.strip().splitlines() if l.strip()]
    return (lines[-1] if lines else _("no message"))[:300]


# Possessive: a file's line (most of them) fails at its end without going back over its 64-letter name.
_FOLDER_IN_PLACE = re.compile(r"^[^;\n]*+;([^/\n]*+/([^/\n]++))/$", re.M)  # "-1;ab/NAME/": a folder inside a block folder


def _listed_blocks(listing: str):
    """(name, size) of each line of `rclone lsf -R --format sp` (-1: not a file, or not where its name puts it)."""
    # Folders in blocks' places, first: few, and an object store may hold a block and a "folder" of the same name (an
    # object named NAME/x beside NAME), where the block is what counts.
    folders = {m[1] for m in _FOLDER_IN_PLACE.finditer(listing) if not m[2].startswith(TMP_PREFIX)}
    for line in listing.splitlines():
        size, _sep, path = line.partition(";")
        if path.endswith("/"):
            continue
        sub, _slash, name = path.rpartition("/")
        if name.startswith(TMP_PREFIX):
            continue
        folders.discard(path)
        good = valid_block_name(name) and sub == block_folder(name)
        yield name if good else path, int(size) if good and size.isdigit() else -1
    for path in sorted(folders):
        sub, _slash, name = path.rpartition("/")
        yield name if valid_block_name(name) and sub == block_folder(name) else path, -1
