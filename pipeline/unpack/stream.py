"""Turns stored bytes back into plain data in one pass: BLAKE3 of what is read, age, BLAKE3 of the compressed
stream, zstd, BLAKE3 of the plain.

Three stages, each in its own thread, so that they overlap on several CPUs: age in the calling thread, zstd in
a second, the plain BLAKE3 and the writes to `out` in a third. Between stages, queues of at most QUEUE_DEPTH items: memory stays flat.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass

import blake3
import zstandard

from pipeline.age import AgeError, NoIdentity
from pipeline.age.reader import decrypt
from pipeline.keys.age_identity import identity_secret

from pipeline.hashing import HashingWriter

READ_SIZE = 1 << 20  # stored bytes read (and hashed) at a time
BATCH = 256 << 10  # compressed bytes handed to the zstd thread at a time
QUEUE_DEPTH = 4  # items in flight between two stages
SLICE = 64 << 10  # compressed bytes per zstd call: bounds the copy zstandard makes at each frame's end


class UnpackError(ValueError):
    """The stored bytes do not decrypt or decompress: damaged, truncated or forged. One sentence."""


class SourceReadError(OSError):
    """The copy could not be read (medium gone, remote failing); not the same as a write error of ours."""


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


class _Inflater:
    """zstd, frame after frame, in one stage; the plain bytes go on to the next stage, which hashes and writes."""

    def __init__(self, out):
        self.plain = HashingWriter(out)
        self.dctx = zstandard.ZstdDecompressor()
        self.obj = self.dctx.decompressobj()
        self.in_frame = False
        self.frames = 0
        self.writer = _Stage("coffre-plain", self.plain.write)
        self.stage = _Stage("coffre-unzstd", self._feed)

    @property
    def failed(self) -> bool:
        return self.stage.error is not None or self.writer.error is not None

    def put(self, batch: bytes) -> None:
        self.stage.put(batch)

    def _feed(self, batch: bytes) -> None:
        view = memoryview(batch)
        pos, end = 0, len(batch)
        while pos < end:
            piece = view[pos:pos + SLICE]
            pos += len(piece)
            while piece:
                self.in_frame = True
                try:
                    plain = self.obj.decompress(piece)
                except zstandard.ZstdError as err:
                    raise UnpackError(f"the zstd stream inside is damaged ({err})")
                if plain:
                    if self.writer.error is not None:
                        raise _Stop()
                    self.writer.put(plain)
                if self.obj.eof:
                    piece = self.obj.unused_data
                    self.obj = self.dctx.decompressobj()
                    self.in_frame = False
                    self.frames += 1
                else:
                    piece = b""

    def close(self) -> None:
        try:
            self.stage.close()
        finally:
            self.writer.close()

    def raise_failure(self) -> None:
        """The first real failure: `out` failing (our disk, a size limit), else the stream's damage."""
        err = self.writer.error
        if err is not None:
            if isinstance(err, OSError):
                raise err
            if isinstance(err, Exception):
                raise UnpackError(f"the plain content is {err}")
            raise err  # KeyboardInterrupt and the like
        err = self.stage.error
        if err is not None and not isinstance(err, _Stop):
            raise err

    def finish(self) -> None:
        if self.in_frame or not self.frames:
            raise UnpackError("the zstd stream inside ends before its last frame (truncated)")


class _StoredReader:
    """Reads the stored bytes READ_SIZE at a time, hashing each block once, and serves them in the small reads
    age makes (8 KiB): one BLAKE3 call and one system call per MiB, not per 8 KiB."""

    def __init__(self, raw, progress=None):
        self.raw = raw
        self.hash = blake3.blake3(max_threads=1)
        self.size = 0
        self.progress = progress
        self.error: OSError | None = None  # kept apart: a medium that cannot be read is not a damaged stream
        self.block = b""
        self.pos = 0

    def read(self, n: int = -1) -> bytes:
        if self.pos >= len(self.block):
            try:
                self.block = self.raw.read(READ_SIZE)
            except OSError as err:
                self.error = err
                raise
            self.pos = 0
            if not self.block:
                return b""
            self.hash.update(self.block)
            self.size += len(self.block)
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
    """What age writes into (8 KiB at a time): the compressed stream, gathered into batches, each hashed in one
    call and handed to the zstd thread (if any)."""

    def __init__(self, inflater: _Inflater | None, hash_zst: bool = True):
        self.hash = blake3.blake3(max_threads=1) if hash_zst else None
        self.size = 0
        self.inflater = inflater
        self.parts: list[bytes] = []
        self.pending = 0

    def write(self, data) -> int:
        n = len(data)
        if not n:
            return 0
        if self.inflater is not None and self.inflater.failed:
            raise _Stop()
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


def unpack(src, identities: list, out=None, progress=None, decompress: bool = True, hash_zst: bool = True) -> Unpacked:
    """Streams `src` (stored bytes) through age and zstd into `out` (None: hash only).

    With decompress=False the age plaintext (the zstd stream) is only hashed: plain_* are None. hash_zst=False
    spares the BLAKE3 of the zstd stream where the facts record none (the snapshot): zst_blake3 is None.
    Raises UnpackError when the data is damaged, SourceReadError when reading fails, and
    OSError when writing `out` fails.
    Plain bytes reach `out` before the whole stream is authenticated: callers write to a
    temporary name and publish only after this returns.
    """
    stored = _StoredReader(src, progress)
    inflater = _Inflater(out) if decompress else None
    sink = _Sink(inflater, hash_zst)
    try:
        try:
            decrypt(stored, sink, [identity_secret(i) for i in identities])
            sink.hand_over()
        finally:
            if inflater is not None:
                inflater.close()
    except Exception as err:
        if stored.error is not None:
            raise SourceReadError(stored.error.errno, stored.error.strerror or str(stored.error))
        if inflater is not None:
            inflater.raise_failure()
        if isinstance(err, NoIdentity):
            raise UnpackError(str(err))
        if isinstance(err, AgeError):
            raise UnpackError(f"the age stream does not decrypt ({err})")
        raise UnpackError(f"the age stream does not decrypt ({err}): damaged, truncated or forged")
    if inflater is not None:
        inflater.raise_failure()
        inflater.finish()
    # age may stop before the end of a file with junk appended; anything left is damage too.
    if stored.read(1):
        raise UnpackError("bytes follow the end of the age stream")
    plain = inflater.plain if inflater is not None else None
    return Unpacked(stored.hash.hexdigest(), stored.size, sink.hash.hexdigest() if sink.hash else None, sink.size,
                    plain.hash.hexdigest() if plain else None, plain.size if plain else None)
