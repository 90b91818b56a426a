"""The snapshot compressed as independent zstd frames of 1 MiB blocks, reusing the frames of blocks unchanged since the last run.

A day of sales changes a few dozen pages of the till's database: on the 4x sample (297 MB), 400
tickets changed 81 of its 74,269 pages, in 14 of its 291 blocks. Every run still writes the whole
compressed snapshot to every copy (zstd frames concatenate: `zstd -d` gives back the file), but only
the changed blocks are compressed again; the others' frames are copied from a cache beside the
config (STORE.snapshot/), kept from the last run.

A kept frame stands in for block i only when block i hashes (BLAKE3) to what the frame was made
from, and the frame's own bytes hash to what was recorded when it was written; anything else (a
damaged or cut cache, another level, another block size) compresses the block again. Each frame
also carries zstd's checksum of its content, and restore checks the whole file's BLAKE3.
"""

from __future__ import annotations

import json
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import blake3
import zstandard

from pipeline.hashing import HashingReader
from pipeline.age.writer import AgeWriter

BLOCK = 1 << 20
INDEX = "index.json"
FRAMES = "frames.zst"
FORMAT = 1
STALE_SLACK = 16 << 20  # stale frames the cache's file may carry beyond the live ones' size


@dataclass
class Kept:
    plain: str  # BLAKE3 of the block
    offset: int  # where its frame starts in the frames file
    length: int
    frame: str  # BLAKE3 of the frame


@dataclass
class BlockCache:
    """The frames kept from the last run, and the new ones this run appends (recorded only at commit).

    The cache only saves work: when its folder cannot be read or written (the till's disk full, say),
    the run compresses every block and carries on, and the next run starts the cache afresh."""

    dir: Path
    level: int
    kept: list[Kept] = field(default_factory=list)
    size: int = 0  # bytes of the frames file that the index covers; past them, a killed run's leftovers
    fresh: bool = False  # this run writes a new frames file (none yet, or mostly stale frames)
    next: list[Kept] = field(default_factory=list)
    end: int = 0  # bytes of the frames file once this run's frames are in
    count: int = 0  # blocks in this run's snapshot
    reused: int = 0
    broken: bool = False

    @classmethod
    def open(cls, state_dir: Path, store_id: str, level: int) -> "BlockCache":
        cache = cls(Path(state_dir) / f"{store_id}.snapshot", level)
        try:
            doc = json.loads((cache.dir / INDEX).read_text(encoding="utf-8"))
            if not isinstance(doc, dict) or not isinstance(doc.get("blocks"), list):
                raise ValueError("the index is not an index")
            if doc.get("format") == FORMAT and doc.get("block") == BLOCK and doc.get("level") == level:
                cache.kept = [_entry(k) for k in doc["blocks"]]
                cache.size = doc["size"]
                if type(cache.size) is not int or any(k.offset + k.length > cache.size for k in cache.kept):
                    raise ValueError("the index points past the frames it records")
        except (OSError, ValueError, TypeError, KeyError, RecursionError):
            cache.kept, cache.size = [], 0
        live = sum(k.length for k in cache.kept if k)
        # Frames replaced by later runs stay in the file until it is written afresh, once they outweigh the live ones.
        cache.fresh = not cache.kept or cache.size > 2 * live + STALE_SLACK
        return cache

    @property
    def compressed(self) -> int:
        return self.count - self.reused

    def commit(self) -> None:
        """Records this run's frames for the next run: after the run is signed, never before."""
        try:
            if self.broken:
                (self.dir / INDEX).unlink(missing_ok=True)
                return
            if self.fresh:
                os.replace(self.dir / (FRAMES + ".new"), self.dir / FRAMES)
            doc = {"format": FORMAT, "block": BLOCK, "level": self.level, "size": self.end,
                   "blocks": [[k.plain, k.offset, k.length, k.frame] for k in self.next]}
            tmp = self.dir / (INDEX + ".tmp")
            tmp.write_text(json.dumps(doc, separators=(",", ":")), encoding="utf-8")
            os.replace(tmp, self.dir / INDEX)
        except OSError:
            pass  # the next run compresses what it cannot find


def _entry(k) -> Kept:
    """One block's record, refused (ValueError) unless every field has its type and range."""
    plain, offset, length, frame = k
    for digest in (plain, frame):
        if not (isinstance(digest, str) and len(digest) == 64):
            raise ValueError("not a BLAKE3 digest")
    if not (type(offset) is int and type(length) is int and offset >= 0 and 0 < length <= 2 * BLOCK):
        raise ValueError("not a frame's place")
    return Kept(plain, offset, length, frame)


class _Frames:
    """The cache's frames file: kept frames read by offset, this run's frames appended; errors only disable it."""

    def __init__(self, cache: BlockCache):
        self.cache = cache
        self.reader = self.writer = None
        try:
            cache.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            if cache.kept:
                self.reader = open(cache.dir / FRAMES, "rb")
            if cache.fresh:
                # The till's data, compressed: readable by its owner only, like the journals' kept frames.
                self.writer = open(cache.dir / (FRAMES + ".new"), "wb", opener=lambda p, f: os.open(p, f, 0o600))
            else:
                self.writer = open(cache.dir / FRAMES, "r+b")
                self.writer.truncate(cache.size)  # a killed run's frames past the recorded end
                self.writer.seek(cache.size)
        except OSError:
            cache.broken = True
        cache.end = 0 if cache.fresh else cache.size

    def read(self, kept: Kept) -> bytes | None:
        if self.reader is None or self.cache.broken:
            return None
        try:
            return os.pread(self.reader.fileno(), kept.length, kept.offset)
        except OSError:
            return None

    def append(self, digest: str, frame: bytes, frame_hash: str) -> None:
        cache = self.cache
        if cache.broken:
            return
        try:
            self.writer.write(frame)
        except OSError:
            cache.broken = True
            return
        cache.next.append(Kept(digest, cache.end, len(frame), frame_hash))
        cache.end += len(frame)

    def close(self) -> None:
        for f in (self.reader, self.writer):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    self.cache.broken = True


def _compressor(level: int, local=threading.local()) -> zstandard.ZstdCompressor:
    # One per thread: a ZstdCompressor is not safe to share between threads.
    if getattr(local, "level", None) != level:
        local.c, local.level = zstandard.ZstdCompressor(level=level, write_checksum=True), level
    return local.c


def compress_block(block: bytes, level: int) -> bytes:
    return _compressor(level).compress(block)


def pack_blocks(src, sink, recipients: list, cache: BlockCache, progress=None, workers: int = 2) -> tuple[str, int]:
    """Streams `src` to `sink` as age(zstd frames of its 1 MiB blocks); returns (plain BLAKE3, plain size)."""
    plain = HashingReader(src, progress)
    age = AgeWriter(sink, recipients)
    frames = _Frames(cache)
    try:
        with ThreadPoolExecutor(workers) as pool:
            pending: deque = deque()  # (block number, plain hash, kept frame or a Future of a new one), in order

            def emit() -> None:
                i, digest, frame = pending.popleft()
                if isinstance(frame, bytes):
                    cache.reused += 1
                    age.write(frame)
                    if cache.fresh:
                        frames.append(digest, frame, cache.kept[i].frame)
                    elif not cache.broken:
                        cache.next.append(cache.kept[i])
                else:
                    frame = frame.result()
                    age.write(frame)
                    frames.append(digest, frame, blake3.blake3(frame).hexdigest())

            i = 0
            while block := plain.read(BLOCK):
                digest = blake3.blake3(block).hexdigest()
                frame = _reusable(cache, frames, i, digest)
                pending.append((i, digest, frame if frame is not None else pool.submit(compress_block, block, cache.level)))
                # Kept frames go out at once; new ones wait in a window as deep as the workers can fill.
                while pending and (len(pending) > 2 * workers or isinstance(pending[0][2], bytes)
                                   or pending[0][2].done()):
                    emit()
                i += 1
            while pending:
                emit()
            cache.count = i
    finally:
        frames.close()
    age.close()
    return plain.hash.hexdigest(), plain.size


def _reusable(cache: BlockCache, frames: _Frames, i: int, digest: str) -> bytes | None:
    """The kept frame of block i if it was made from these very bytes and is intact, else None."""
    if i >= len(cache.kept) or cache.kept[i].plain != digest:
        return None
    kept = cache.kept[i]
    frame = frames.read(kept)
    if frame is None or len(frame) != kept.length or blake3.blake3(frame).hexdigest() != kept.frame:
        return None
    return frame
