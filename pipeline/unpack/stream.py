"""Turns stored bytes back into plain data in one pass: BLAKE3 of what is read, age, BLAKE3 of the compressed
stream, zstd, BLAKE3 of the plain.

Three stages, each in its own thread, so that they overlap on several CPUs: age in the calling thread, zstd in
a second, the plain BLAKE3 and the writes to `out` in a third. Between stages, queues of at most QUEUE_DEPTH items,
and no stage call gives more than a fixed amount whatever the file holds: memory stays flat. Each stage stops at
the size recorded at archive time (Limits), so a forged file cannot make it read, decompress or write more.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import blake3
import zstandard

from pipeline.age import AgeError, NoIdentity
from pipeline.age.reader import decrypt
from pipeline.hashing import HashingWriter
from pipeline.i18n import _
from pipeline.keys.age_identity import identity_secret
from pipeline.unpack.frames import FrameWalk

READ_SIZE = 1 << 20  # stored bytes read (and hashed) at a time
BATCH = 256 << 10  # compressed bytes handed to the zstd thread at a time
QUEUE_DEPTH = 4  # items in flight between two stages
PLAIN_READ = 256 << 10  # the most plain bytes one zstd call gives: a 4-byte block may stand for 128 KiB
# The largest window a frame may ask for. Coffre writes levels 1..19, whose windows are at most 8 MiB (levels 17-19,
# windowLog 23; frames of known size get smaller ones), and libzstd would otherwise allocate up to 128 MiB per stream
# for a forged header. Twice the most Coffre writes: headroom for a future libzstd's level table.
MAX_WINDOW = 16 << 20


class UnpackError(ValueError):
    """The stored bytes do not decrypt or decompress: damaged, truncated or forged. One sentence."""


class SourceReadError(OSError):
    """The copy could not be read (medium gone, remote failing); not the same as a write error of ours.

    `said`, when set, is what to say after the file's name (a FIFO or a link in the copy says what it is)."""

    said: str | None = None


@dataclass(frozen=True)
class Limits:
    """The most bytes unpacking one file may meet at each stage; past one, the file is damaged and the reading stops
    before the byte that passes it reaches anyone."""

    stored: int  # manifest.json's size (signed through MANIFEST.b3)
    zst: int | None = None  # the age plaintext, i.e. the zstd stream (facts' zst_size, where recorded)
    plain: int | None = None  # facts' plain_size; None: not recorded (the caller authenticates the file first)
    plain_recorded: bool = True  # False: `plain` is the most any file of this kind holds, not a recorded size

    def too_much(self) -> str:
        if self.plain_recorded:
            return _("it decompresses to more than the {size} bytes recorded at archive time").format(size=self.plain)
        return _("it decompresses to more than {size} bytes, more than any file of this kind Coffre writes").format(
            size=self.plain)


@dataclass
class Unpacked:
    stored_blake3: str
    stored_size: int
    zst_blake3: str | None  # of the age plaintext, i.e. the zstd stream before decompression (None: not asked)
    zst_size: int
    plain_blake3: str | None  # None when the stream was not decompressed
    plain_size: int | None


class _Stop(Exception):
    """Stops a stage once a later one has failed; the later failure is what gets reported."""


class _Stage:
    """One thread of the pipeline: `handle` applied to each item of a bounded queue. After a failure it only
    drains its queue, so that whoever feeds it never blocks; the failure waits in `error` for the caller."""

    def __init__(self, name: str, handle):
        self.handle = handle
        self.error: BaseException | None = None
        self.queue: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while (item := self.queue.get()) is not None:
            if self.error is None:
                try:
                    self.handle(item)
                except BaseException as err:  # noqa: BLE001 - raised again by the caller, in its thread
                    self.error = err

    def put(self, item) -> None:
        self.queue.put(item)

    def close(self) -> None:
        """Waits until every item handed over is handled (or skipped after a failure)."""
        if self.thread.is_alive():
            self.queue.put(None)
            self.thread.join()


class _Batches:
    """What the zstd thread reads: the batches age hands over, served in the sizes libzstd asks for, each byte shown
    to a FrameWalk on the way. After a failure, `drain` takes what is still handed over, so the feeder never blocks."""

    def __init__(self):
        self.queue: queue.Queue = queue.Queue(QUEUE_DEPTH)
        self.walk = FrameWalk()
        self.left = memoryview(b"")
        self.ended = False

    def read(self, n: int = -1) -> memoryview | bytes:
        if not self.left:
            batch = None if self.ended else self.queue.get()
            if batch is None:
                self.ended = True
                return b""
            self.left = memoryview(batch)
        n = len(self.left) if n is None or n < 0 else n
        data, self.left = self.left[:n], self.left[n:]
        self.walk.feed(data)
        return data

    def readable(self) -> bool:
        return True

    def drain(self) -> None:
        while not self.ended:
            self.ended = self.queue.get() is None


class _Decompressors:
    """zstd contexts kept from one file to the next: a context keeps its window buffer (up to MAX_WINDOW) for the
    next stream, where a new one would allocate another, which the C allocator often keeps after it is freed
    (one heap per thread): so memory stays at what the streams running at once need, copy after copy."""

    def __init__(self):
        self.lock = threading.Lock()
        self.free: list[zstandard.ZstdDecompressor] = []

    def take(self) -> zstandard.ZstdDecompressor:
        with self.lock:
            if self.free:
                return self.free.pop()
        return zstandard.ZstdDecompressor(max_window_size=MAX_WINDOW)

    def give_back(self, dctx: zstandard.ZstdDecompressor) -> None:
        with self.lock:
            self.free.append(dctx)


_decompressors = _Decompressors()


class _Inflater:
    """zstd in one stage, through libzstd's stream reader: each call gives at most PLAIN_READ bytes, whatever the
    stream holds, and the plain bytes go on to the next stage, which hashes and writes, until `limits.plain`."""

    def __init__(self, out, limits: Limits):
        self.plain = HashingWriter(out)
        self.limits = limits
        self.source = _Batches()
        self.given = 0
        self.error: BaseException | None = None
        self.writer = _Stage("coffre-plain", self.plain.write)
        self.thread = threading.Thread(target=self._run, name="coffre-unzstd", daemon=True)
        self.thread.start()

    @property
    def failed(self) -> bool:
        return self.error is not None or self.writer.error is not None

    def put(self, batch: bytes) -> None:
        self.source.queue.put(batch)

    def _run(self) -> None:
        dctx = reader = plain = None
        try:
            dctx = _decompressors.take()
            reader = dctx.stream_reader(self.source, read_size=BATCH, read_across_frames=True)
            while plain := self._read(reader):
                self.given += len(plain)
                if self.limits.plain is not None and self.given > self.limits.plain:
                    raise UnpackError(self.limits.too_much())
                if self.writer.error is not None:
                    raise _Stop()
                self.writer.put(plain)
        except BaseException as err:  # noqa: BLE001 - raised again by the caller, in its thread
            self.error = err
        finally:
            # An error's traceback keeps this frame, which keeps `self`: a cycle only the garbage collector breaks.
            # Its locals are dropped now, so that the context (and its window) is held by the pool alone.
            if reader is not None:
                reader.close()
                _decompressors.give_back(dctx)
            dctx = reader = plain = None
            self.source.drain()

    def _read(self, reader) -> bytes:
        try:
            return reader.read(PLAIN_READ)
        except zstandard.ZstdError as err:
            if self.source.walk.window > MAX_WINDOW:
                raise UnpackError(_("its zstd stream asks for a window of {asked} MiB, more than the {most} MiB "
                                    "Coffre ever needs").format(asked=self.source.walk.window >> 20,
                                                                most=MAX_WINDOW >> 20))
            raise UnpackError(_("the zstd stream inside is damaged ({reason})").format(reason=err))

    def close(self) -> None:
        try:
            if self.thread.is_alive():
                self.source.queue.put(None)
                self.thread.join()
        finally:
            self.writer.close()

    def raise_failure(self) -> None:
        """The first real failure: `out` failing (our disk, a size limit), else the stream's damage."""
        err = self.writer.error
        if err is not None:
            if isinstance(err, OSError):
                raise err
            if isinstance(err, Exception):
                raise UnpackError(_("the plain content is {reason}").format(reason=err))
            raise err  # KeyboardInterrupt and the like
        err = self.error
        if err is not None and not isinstance(err, _Stop):
            raise err

    def finish(self) -> None:
        if self.source.walk.lost:
            raise UnpackError(_("the zstd stream inside is damaged (not a sequence of zstd frames)"))
        if not self.source.walk.complete:
            raise UnpackError(_("the zstd stream inside ends before its last frame (truncated)"))


class _StoredReader:
    """Reads the stored bytes READ_SIZE at a time, hashing each block once, and serves them in the small reads
    age makes (8 KiB): one BLAKE3 call and one system call per MiB, not per 8 KiB. Never more than one byte past
    `limit`: that byte says the file is longer than recorded."""

    def __init__(self, raw, limit: int, progress=None, hashing: bool = True):
        self.raw = raw
        self.limit = limit
        self.hash = blake3.blake3(max_threads=1) if hashing else None
        self.size = 0
        self.progress = progress
        self.error: OSError | None = None  # kept apart: a medium that cannot be read is not a damaged stream
        self.block = b""
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        if self.pos >= len(self.block):
            want = min(READ_SIZE, self.limit + 1 - self.size)
            try:
                self.block = self.raw.read(want) if want > 0 else b""
            except OSError as err:
                self.error = err
                raise
            self.pos = 0
            if not self.block:
                return b""
            if self.hash is not None:
                self.hash.update(self.block)
            self.size += len(self.block)
            if self.size > self.limit:
                raise UnpackError(_("it is longer than the {size} bytes manifest.json records").format(size=self.limit))
            if self.progress:
                self.progress(len(self.block))
        if n is None or n < 0:
            n = len(self.block) - self.pos
        data = self.block[self.pos:self.pos + n]
        self.pos += len(data)
        return data

    def readable(self) -> bool:
        return True


class _Sink:
    """What age writes into (64 KiB at a time): the compressed stream, gathered into batches, each hashed in one
    call and handed to the zstd thread (if any)."""

    def __init__(self, inflater: _Inflater | None, limits: Limits, hash_zst: bool = True):
        self.hash = blake3.blake3(max_threads=1) if hash_zst else None
        self.size = 0
        self.limit = limits.zst
        self.inflater = inflater
        self.parts: list[bytes] = []
        self.pending = 0

    def write(self, data) -> int:
        n = len(data)
        if not n:
            return 0
        if self.inflater is not None and self.inflater.failed:
            raise _Stop()
        if self.limit is not None and self.size + self.pending + n > self.limit:
            raise UnpackError(_("it decrypts to more than the {size} bytes of zstd stream recorded at archive time").format(
                size=self.limit))
        self.parts.append(bytes(data))
        self.pending += n
        if self.pending >= BATCH:
            self.hand_over()
        return n

    def hand_over(self) -> None:
        if not self.parts:
            return
        batch = b"".join(self.parts) if len(self.parts) > 1 else self.parts[0]
        self.parts, self.pending = [], 0
        if self.hash is not None:
            self.hash.update(batch)
        self.size += len(batch)
        if self.inflater is not None:
            self.inflater.put(batch)

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True


def unpack(src, identities: list, out=None, progress=None, decompress: bool = True, hash_zst: bool = True, *,
           limits: Limits) -> Unpacked:
    """Streams `src` (stored bytes) through age and zstd into `out` (None: hash only), within `limits`.

    With decompress=False the age plaintext (the zstd stream) is only hashed: plain_* are None. hash_zst=False
    spares the BLAKE3 of the zstd stream where the facts record none (the snapshot): zst_blake3 is None.
    Raises UnpackError when the data is damaged (or passes a limit), SourceReadError when reading fails, and
    OSError when writing `out` fails.
    Plain bytes reach `out` before the whole stream is authenticated: callers write to a
    temporary name and publish only after this returns. `out` never receives more than `limits.plain` bytes, and
    without that limit (None) the caller has held the stored bytes to the signed manifest first.
    """
    return unpack_parts([(lambda: src, None, limits.stored)], identities, out, progress, decompress, hash_zst,
                        limits=limits)


def unpack_parts(parts, identities: list, out=None, progress=None, decompress: bool = True, hash_zst: bool = True, *,
                 limits: Limits, whole: str | None = None) -> Unpacked:
    """As unpack, for a data file made of several age files one after the other (format 2's blocks): `parts` gives
    (open(), the BLAKE3 its stored bytes must have or None, the most stored bytes it may have) in order; their
    plaintexts make one zstd stream. `whole` is what stored_blake3 reports once every part matched (the list's)."""
    inflater = _Inflater(out, limits) if decompress else None
    sink = _Sink(inflater, limits, hash_zst)
    secrets = [identity_secret(i) for i in identities]
    stored_hash, stored_size = None, 0
    stored = None
    try:
        try:
            for opener, digest, limit in parts:
                stored = None
                try:
                    src = opener()
                except (SourceReadError, UnpackError):
                    raise
                except OSError as err:
                    raise SourceReadError(err.errno, err.strerror or str(err))
                checked = digest is not None and getattr(opener, "checked", False)
                with src:
                    stored = _StoredReader(src, limit, progress, hashing=not checked)
                    decrypt(stored, sink, secrets)
                    # age may stop before the end of a file with junk appended; anything left is damage too.
                    if stored.read(1):
                        raise UnpackError(_("bytes follow the end of the age stream"))
                got = digest if checked else stored.hash.hexdigest()
                if digest is not None and got != digest:
                    raise UnpackError(_("its block {name} is damaged: its BLAKE3 differs from the block list").format(
                        name=getattr(opener, "block", "?")))
                stored_hash, stored_size = got, stored_size + stored.size
            sink.hand_over()
        finally:
            if inflater is not None:
                inflater.close()
    except Exception as err:
        if stored is not None and stored.error is not None:
            raise SourceReadError(stored.error.errno, stored.error.strerror or str(stored.error))
        if isinstance(err, (UnpackError, SourceReadError)):
            raise
        if inflater is not None:
            inflater.raise_failure()
        if isinstance(err, NoIdentity):
            raise UnpackError(str(err))
        if isinstance(err, AgeError):
            raise UnpackError(_("the age stream does not decrypt ({reason})").format(reason=err))
        raise UnpackError(_("the age stream does not decrypt ({reason}): damaged, truncated or forged").format(
            reason=err))
    if inflater is not None:
        inflater.raise_failure()
        inflater.finish()
    plain = inflater.plain if inflater is not None else None
    return Unpacked(whole or stored_hash, stored_size, sink.hash.hexdigest() if sink.hash else None, sink.size,
                    plain.hash.hexdigest() if plain else None, plain.size if plain else None)
