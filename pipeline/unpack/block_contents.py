"""A block list's blocks opened one by one and held to the facts' contents root: a block many runs share is opened once.

A run whose facts record `blocks_blake3` (FORMAT.md §11) vouches for each block's content on its own: its BLAKE3 and
size, in the list's order, make that root. The same stored bytes (a block's BLAKE3, which the signed list gives)
always decrypt to the same content, so once one run's block is opened, another run or copy naming the same BLAKE3
needs its bytes read and hashed on that copy, not decrypted again: a store of many runs costs what its blocks weigh,
not what its runs do.
"""

from __future__ import annotations

import io
import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import blake3
import zstandard

from pipeline.age import AgeError, NoIdentity
from pipeline.age.reader import decrypt_bytes
from pipeline import heap
from pipeline.i18n import _
from pipeline.keys.age_identity import identity_secret
from pipeline.manifest.blocks import ContentsRoot
from pipeline.unpack.data_file import hash_block, read_block
from pipeline.unpack.frames import FrameWalk
from pipeline.unpack.stream import MAX_WINDOW, UnpackError

HEAD = 100  # the first bytes a data file's kind checks (an SQLite header)
MAX_CONTENT = 8 << 20  # one block's content at most (FORMAT.md §11); Coffre's are 256 KiB of snapshot, 1 MiB of zstd
IN_FLIGHT = 3  # blocks decrypted ahead of their hashing


@dataclass(frozen=True)
class Content:
    digest: bytes  # BLAKE3 of the block's content
    size: int
    head: bytes | None  # its first bytes, kept only for a block met first in a list


@dataclass
class Opened:
    """A data file's blocks, each opened or known: the root their contents make, their total size, the first bytes."""

    root: str
    size: int
    head: bytes
    bytes_read: int  # stored bytes read from this copy now


class OpenedBlocks:
    """What each block opened in one verify holds, and on which copies its stored bytes were read (thread-safe)."""

    def __init__(self, identities: list):
        heap.keep_buffers()  # each block's buffers reused, not mapped and faulted in afresh
        self.secrets = [identity_secret(i) for i in identities]
        self._lock = threading.Lock()
        # Packed small, since a six-year supermarket's store holds some 100,000 distinct blocks: a block's key is its
        # stored BLAKE3's 32 bytes and a byte saying whether it was decompressed; what it holds, its content's BLAKE3
        # and size in 40 bytes (about 200 bytes a block in all, and as much again for each copy it was read on).
        self._found: dict[bytes, bytes] = {}
        self._heads: dict[bytes, bytes] = {}  # the first bytes of blocks met first in a list
        self._read_on: dict[str, set[bytes]] = {}  # copy -> the stored BLAKE3s read and held to it there
        self._busy: dict[bytes, Future] = {}  # being opened now by another thread
        self.opened = 0  # blocks decrypted: what the sharing saves shows in it

    def open_list(self, dest, store_id: str, blocks: list[tuple[str, str]], decompress: bool, limit: int) -> Opened:
        """The contents of `blocks` (a run's list, held to its signed manifest): each block read from `dest` once per
        verify and decrypted (and decompressed) once per verify whatever the copy, at most `limit` bytes of content in
        all and MAX_CONTENT in one block. Raises UnpackError (damaged) or SourceReadError (the copy cannot be read),
        naming the block.

        Two stages, as a stream's (unpack/stream.py): this thread reads and decrypts, a second decompresses and hashes,
        a few blocks apart (all four let go of Python's lock; a pool of one thread per core measured no faster on two
        cores, since a second copy or the other stage keeps both busy)."""
        copy = dest.describe()
        room = min(limit, MAX_CONTENT)
        root = ContentsRoot()
        head = b""
        read = 0
        pending: deque = deque()

        def take() -> None:
            nonlocal head
            first, got = pending.popleft()
            known = got.result() if isinstance(got, Future) else got
            if known is None or known.size > limit - root.size:
                raise UnpackError(_too_much(decompress, limit))
            root.add(known.digest, known.size)
            if first:
                head = known.head

        with ThreadPoolExecutor(1, thread_name_prefix="coffre-blocks") as pool:
            for i, (name, digest) in enumerate(blocks):
                first = i == 0 and decompress  # a snapshot's first bytes are checked (its kind's header)
                got, n = self._content(dest, store_id, copy, name, digest, decompress, room, first, pool)
                read += n
                pending.append((first, got))
                while len(pending) > IN_FLIGHT or (pending and _ready(pending[0][1])):
                    take()
            while pending:
                take()
        return Opened(root.hexdigest(), root.size, head, read)

    def _content(self, dest, store_id: str, copy: str, name: str, digest: str, decompress: bool, room: int,
                 first: bool, pool) -> tuple["Content | Future", int]:
        """One block's content (or its opening under way in `pool`), and the stored bytes read for it now. Two copies
        verified at once meet the same blocks together: the second hashes its own bytes while the first opens them,
        then takes what the first found."""
        stored = bytes.fromhex(digest)
        key = stored + bytes([decompress])
        mine = theirs = None
        with self._lock:
            known = self._known(key)
            if known is None or (first and known.head is None):
                theirs = self._busy.get(key)
                if theirs is None:
                    self._busy[key] = mine = Future()
        n = 0
        if mine is None:
            with self._lock:
                here = stored in self._read_on.get(copy, ())
            if not here:
                n = hash_block(dest, store_id, name, digest)
                with self._lock:
                    self._read_on.setdefault(copy, set()).add(stored)
            if theirs is not None:
                known = theirs.result()
                if known is not None and first and known.head is None:
                    known = None
            if known is not None:
                return known, n
        try:
            data = read_block(dest, store_id, name, digest)
            plain = _decrypt(name, data, self.secrets)
        except BaseException:
            self._settle(key, mine, None)
            raise
        with self._lock:
            self._read_on.setdefault(copy, set()).add(stored)
            self.opened += 1
        return pool.submit(self._finish, key, mine, name, plain, decompress, room, first), n + len(data)

    def _finish(self, key: bytes, mine: Future | None, name: str, plain: bytes, decompress: bool, room: int,
                first: bool) -> Content:
        found = None
        try:
            content = _decompress(name, plain, room) if decompress else plain
            if len(content) > room:
                raise UnpackError(_("its block {name} holds more than {size} bytes, more than the run records or any "
                                    "block Coffre writes").format(name=name, size=room))
            found = Content(blake3.blake3(content).digest(), len(content), bytes(content[:HEAD]) if first else None)
            return found
        finally:
            self._settle(key, mine, found)

    def _settle(self, key: bytes, mine: Future | None, found: Content | None) -> None:
        """What an opening found (None: it failed), for the threads waiting on it and the blocks to come."""
        if mine is None:
            return
        with self._lock:
            self._busy.pop(key, None)
            if found is not None:
                self._found[key] = found.digest + found.size.to_bytes(8, "big")
                if found.head is not None:
                    self._heads[key] = found.head
        mine.set_result(found)

    def _known(self, key: bytes) -> Content | None:
        packed = self._found.get(key)
        if packed is None:
            return None
        return Content(packed[:32], int.from_bytes(packed[32:], "big"), self._heads.get(key))


def _ready(got) -> bool:
    return not isinstance(got, Future) or got.done()


def _too_much(decompress: bool, limit: int) -> str:
    if decompress:
        return _("it decompresses to more than the {size} bytes recorded at archive time").format(size=limit)
    return _("it decrypts to more than the {size} bytes of zstd stream recorded at archive time").format(size=limit)


def _decrypt(name: str, data: bytes, secrets: list) -> bytearray:
    try:
        return decrypt_bytes(data, secrets)
    except NoIdentity as err:
        raise UnpackError(str(err))
    except AgeError as err:
        raise UnpackError(_("its block {name} does not decrypt ({reason})").format(name=name, reason=err))
    except Exception as err:  # noqa: BLE001 - whatever else the bytes make the decryption raise is damage
        raise UnpackError(_("its block {name} does not decrypt ({reason}): damaged, truncated or forged").format(
            name=name, reason=err))


def _decompress(name: str, data: bytes, room: int) -> bytes:
    """The block's zstd frames decompressed, at most `room` + 1 bytes; the whole frames it holds, nothing else."""
    walk = FrameWalk()
    walk.feed(data)
    if walk.window > MAX_WINDOW:
        raise UnpackError(_("its block {name} asks for a zstd window of {asked} MiB, more than the {most} MiB Coffre "
                            "ever needs").format(name=name, asked=walk.window >> 20, most=MAX_WINDOW >> 20))
    if not walk.complete:
        raise UnpackError(_("its block {name} is not whole zstd frames").format(name=name))
    dctx = zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)
    if walk.frames == 1:
        # One frame, as Coffre writes them: one call (a fifth cheaper than the stream reader), bounded by the size
        # its header gives. Anything that call refuses (a skippable frame after it, damage) takes the stream reader.
        try:
            size = zstandard.get_frame_parameters(data).content_size
            if 0 <= size <= room:
                return dctx.decompress(data, max_output_size=room + 1, allow_extra_data=False)
        except zstandard.ZstdError:
            pass
    try:
        with dctx.stream_reader(io.BytesIO(data), read_across_frames=True) as reader:
            return reader.read(room + 1)
    except zstandard.ZstdError as err:
        raise UnpackError(_("its block {name} holds a damaged zstd stream ({reason})").format(name=name, reason=err))
