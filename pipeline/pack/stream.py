"""Compresses with zstd (all cores) and encrypts to age recipients, in one streaming pass."""

from __future__ import annotations

import io
import os

import zstandard

from pipeline.hashing import HashingReader
from pipeline.age.writer import AgeWriter

READ_SIZE = 1 << 20


def compressor(level: int) -> zstandard.ZstdCompressor:
    # threads=-1: one worker per core; the frames stay standard, so stock `zstd -d` reads them.
    return zstandard.ZstdCompressor(level=level, threads=-1, write_checksum=True)


def pack(src, sink, recipients: list, level: int, progress=None) -> tuple[str, int]:
    """Streams `src` (a readable file) to `sink` as age(zstd(plain)); returns (plain BLAKE3, plain size).
    `recipients` are X25519 public keys (keys.age_identity.parse_recipient)."""
    plain = HashingReader(src, progress)
    age = AgeWriter(sink, recipients)
    compressor(level).copy_stream(plain, age, read_size=READ_SIZE, write_size=READ_SIZE)
    age.close()
    return plain.hash.hexdigest(), plain.size


def pack_bytes(data: bytes, sink, recipients: list, level: int) -> tuple[str, int]:
    return pack(io.BytesIO(data), sink, recipients, level)


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
