"""Turns stored bytes back into plain data in one pass: BLAKE3 of what is read, age, zstd, BLAKE3 of the plain."""

from __future__ import annotations

from dataclasses import dataclass

import pyrage
import zstandard

from pipeline.hashing import HashingReader, HashingWriter

READ_SIZE = 1 << 20


class UnpackError(ValueError):
    """The stored bytes do not decrypt or decompress: damaged, truncated or forged. One sentence."""


class SourceReadError(OSError):
    """The copy could not be read (medium gone, remote failing); not the same as a write error of ours."""


@dataclass
class Unpacked:
    stored_blake3: str
    stored_size: int
    plain_blake3: str
    plain_size: int


class _ZstdSink:
    """Decompresses what age hands over, frame after frame, into `out`; knows if the last frame ended."""

    def __init__(self, out):
        self.out = out
        self.dctx = zstandard.ZstdDecompressor()
        self.obj = self.dctx.decompressobj()
        self.in_frame = False
        self.frames = 0
        self.out_error: Exception | None = None

    def write(self, data) -> int:
        n = len(data)
        data = bytes(data)
        while data:
            self.in_frame = True
            try:
                plain = self.obj.decompress(data)
            except zstandard.ZstdError as err:
                raise UnpackError(f"the zstd stream inside is damaged ({err})")
            if plain:
                try:
                    self.out.write(plain)
                except Exception as err:  # kept apart: our own disk failing is not a damaged copy
                    self.out_error = err
                    raise
            if self.obj.eof:
                data = self.obj.unused_data
                self.obj = self.dctx.decompressobj()
                self.in_frame = False
                self.frames += 1
            else:
                data = b""
        return n

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True

    def finish(self) -> None:
        if self.in_frame or not self.frames:
            raise UnpackError("the zstd stream inside ends before its last frame (truncated)")


def unpack(src, identities: list, out=None, progress=None) -> Unpacked:
    """Streams `src` (stored bytes) through age and zstd into `out` (None: hash only).

    Raises UnpackError when the data is damaged, SourceReadError when reading fails, and
    OSError when writing `out` fails.
    Plain bytes reach `out` before the whole stream is authenticated: callers write to a
    temporary name and publish only after this returns.
    """
    stored = HashingReader(src, progress)
    plain = HashingWriter(out)
    sink = _ZstdSink(plain)
    try:
        pyrage.decrypt_io(stored, sink, identities)
    except Exception as err:
        if stored.error is not None:
            raise SourceReadError(stored.error.errno, stored.error.strerror or str(stored.error))
        if sink.out_error is not None:
            if isinstance(sink.out_error, OSError):
                raise sink.out_error
            raise UnpackError(f"the plain content is {sink.out_error}")
        if isinstance(err, UnpackError):
            raise
        if isinstance(err, pyrage.DecryptError) and "No matching keys" in str(err):
            raise UnpackError("no identity given opens the age stream (encrypted to other recipients)")
        raise UnpackError(f"the age stream does not decrypt ({err}): damaged, truncated or forged")
    sink.finish()
    # age may stop before the end of a file with junk appended; anything left is damage too.
    if stored.read(1):
        raise UnpackError("bytes follow the end of the age stream")
    return Unpacked(stored.hash.hexdigest(), stored.size, plain.hash.hexdigest(), plain.size)
