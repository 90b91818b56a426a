"""A tar.zst assembled from zstd frames, so that members compressed at an earlier run are copied, not compressed again.

zstd frames concatenate: `zstd -d` of frame(a) + frame(b) gives a + b. A member's content may
therefore be the frames kept from earlier runs followed by a frame made now, and the tar
headers and paddings between members are small frames of their own.
"""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import zstandard

from pipeline.hashing import HashingReader
from pipeline.i18n import _
from pipeline.age.writer import AgeWriter

BLOCK = 512
RECORD = 20 * BLOCK  # what tarfile pads a stream to; kept so readers see what they always saw
READ_SIZE = 1 << 20


@dataclass
class FileSlice:
    """The first `length` bytes of a file of zstd frames."""
    path: Path
    length: int


@dataclass
class Member:
    name: str
    plain_size: int
    parts: list = field(default_factory=list)  # bytes (whole zstd frames) or FileSlice, in order
    # The lengths the FileSlice parts are cut into as blocks (pack/pieces.py); the slices come before any bytes part.
    pieces: list[int] | None = None


def frame(data: bytes, level: int) -> bytes:
    return zstandard.ZstdCompressor(level=level, write_checksum=True).compress(data)


def member_of_bytes(name: str, data: bytes, level: int) -> Member:
    return Member(name, len(data), [frame(data, level)])


class FrameTar(io.RawIOBase):
    """Readable stream of the compressed tar of `members` under `arcroot/`, in the order given."""

    def __init__(self, members: list[Member], arcroot: str, level: int, mtime: int):
        self._chunks = self._produce(members, arcroot, level, mtime)
        self._buf = b""
        self._pos = 0
        self.plain_size = 0

    def _header(self, m: Member, arcroot: str, mtime: int) -> bytes:
        info = tarfile.TarInfo(f"{arcroot}/{m.name}")
        info.size, info.mtime, info.mode = m.plain_size, mtime, 0o644
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")

    def _produce(self, members: list[Member], arcroot: str, level: int, mtime: int):
        """(bytes, end): a member's FileSlice parts come in its pieces, end False within one and True at its last
        bytes; everything else (headers, paddings, frames made now, slices not cut into pieces) has end None."""
        pad = b""
        for m in members:
            head = pad + self._header(m, arcroot, mtime)
            self.plain_size += len(head) + m.plain_size
            yield frame(head, level), None
            slices = [p for p in m.parts if isinstance(p, FileSlice)]
            if m.pieces is not None:
                if m.parts[:len(slices)] != slices or sum(m.pieces) != sum(s.length for s in slices):
                    raise ValueError(f"{m.name}: its pieces do not cover its kept frames")
                yield from _in_pieces(slices, m.pieces)
            for part in m.parts[len(slices):] if m.pieces is not None else m.parts:
                if isinstance(part, FileSlice):
                    yield from ((data, None) for data in _read(part, lambda: READ_SIZE))
                else:
                    yield part, None
            pad = b"\0" * (-m.plain_size % BLOCK)
        end = pad + b"\0" * (2 * BLOCK)
        end += b"\0" * (-(self.plain_size + len(end)) % RECORD)
        self.plain_size += len(end)
        yield frame(end, level), None

    def chunks(self):
        """The compressed stream as the (bytes, end) chunks it is made of, for a reader that cuts it into blocks
        (pipeline/pack/shared.py); not to be mixed with read()."""
        return self._chunks

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            rest, self._buf, self._pos = self._buf[self._pos:], b"", 0
            return b"".join([rest, *(chunk for chunk, _aligned in self._chunks)])
        # Serves reads from the current chunk by offset: no copy of the megabyte left over at each read.
        while self._pos >= len(self._buf):
            nxt = next(self._chunks, None)
            if nxt is None:
                return b""
            self._buf, self._pos = nxt[0], 0
        out = self._buf[self._pos:self._pos + n]
        self._pos += len(out)
        return out


def _read(part: FileSlice, most):
    """The slice's bytes, in reads of at most most() bytes (asked before each read)."""
    with open(part.path, "rb") as f:
        left = part.length
        while left:
            data = f.read(min(most(), left))
            if not data:
                raise OSError(_("{path} is shorter than recorded").format(path=part.path))
            left -= len(data)
            yield data


def _in_pieces(slices: list[FileSlice], lengths: list[int]):
    """The slices' bytes one after the other, as (bytes, end) with end True at the last bytes of each piece; reads
    stop at the pieces' ends, so that a piece's bytes are not copied again to be cut."""
    lengths = iter(lengths)
    left = [next(lengths, 0)]  # bytes to go in the current piece
    for part in slices:
        for data in _read(part, lambda: min(READ_SIZE, left[0])):
            left[0] -= len(data)
            end = left[0] == 0
            if end:
                left[0] = next(lengths, 0)
            yield data, end


def seal(src, sink, recipients: list) -> tuple[str, int]:
    """Encrypts an already compressed stream; returns (BLAKE3, size) of what was encrypted."""
    plain = HashingReader(src)
    age = AgeWriter(sink, recipients)
    while data := plain.read(READ_SIZE):
        age.write(data)
    age.close()
    return plain.hash.hexdigest(), plain.size
