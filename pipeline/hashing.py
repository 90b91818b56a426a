"""Stream wrappers that hash what passes through them, so no byte is read twice to be hashed."""

from __future__ import annotations

import blake3


class HashingReader:
    """Reads from `raw`, hashing the plain bytes on the way; `progress(n)` is told of each chunk."""

    def __init__(self, raw, progress=None):
        self.raw = raw
        self.hash = blake3.blake3(max_threads=1)
        self.size = 0
        self.progress = progress
        self.error: OSError | None = None

    def read(self, n: int = -1) -> bytes:
        try:
            data = self.raw.read(n)
        except OSError as err:  # kept apart: a medium that cannot be read is not a damaged stream
            self.error = err
            raise
        if data:
            self.hash.update(data)
            self.size += len(data)
            if self.progress:
                self.progress(len(data))
        return data

    def readable(self) -> bool:
        return True


def hash_stream(f, chunk: int = 1 << 20, limit: int | None = None) -> tuple[str, int]:
    """BLAKE3 hex and size of a whole file object (at most its first `limit` bytes), read in fixed chunks."""
    h = blake3.blake3()
    size = 0
    while data := f.read(chunk if limit is None else min(chunk, limit - size)):
        h.update(data)
        size += len(data)
    return h.hexdigest(), size


class HashingWriter:
    """Writes to `raw` (or nowhere), hashing the bytes on the way."""

    def __init__(self, raw=None):
        self.raw = raw
        self.hash = blake3.blake3(max_threads=1)
        self.size = 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.raw is not None:
            self.raw.write(data)
        return len(data)

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True
