"""Unpacks a data file made of blocks on every core, in order: the snapshot's (each one whole zstd frame), or any
file's when nothing is decompressed.

A snapshot's blocks are independent: each is an age file of one zstd frame of at most 256 KiB of the database. One
stream through age and zstd (stream.py) keeps a single thread decompressing, which then bounds a deep verify and a
restore. Here a few workers each take a block (read, held to its BLAKE3 in the list, decrypted, decompressed) and
the calling thread hashes and writes the plain bytes in the blocks' order. At most 2 blocks per worker are in
flight, so memory stays flat. A block that is not exactly one frame, or whose frame does not declare a size within
bounds, is damage: nothing decompresses without a bound.
"""

from __future__ import annotations

import io
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import blake3
import zstandard

from pipeline.age.reader import decrypt
from pipeline.hashing import HashingWriter
from pipeline.i18n import _
from pipeline.keys.age_identity import identity_secret
from pipeline.unpack.stream import (Limits, SourceReadError, StoredReader, UnpackError, Unpacked, as_unpack_error,
                                    decompressors, open_part)

MAX_PLAIN_BLOCK = 8 << 20  # the most one block's frame may declare (Coffre's snapshot blocks hold 256 KiB)


def _one(part, secrets: list, inflate: bool) -> tuple[int, bytes, bytes | None]:
    """(stored size, zstd frame, plain bytes or None when not inflated) of one block."""
    opener, digest, limit = part
    frame = io.BytesIO()
    with open_part(opener) as src:
        stored = StoredReader(src, limit)
        try:
            decrypt(stored, frame, secrets)
            if stored.read(1):
                raise UnpackError(_("bytes follow the end of the age stream"))
        except Exception as err:
            if stored.error is not None:
                raise SourceReadError(stored.error.errno, stored.error.strerror or str(stored.error))
            raise as_unpack_error(err)
    if digest is not None and stored.hash.hexdigest() != digest:
        raise UnpackError(_("its block {name} is damaged: its BLAKE3 differs from the block list").format(
            name=getattr(opener, "block", "?")))
    data = frame.getvalue()
    if not inflate:
        return stored.size, data, None
    try:
        declared = zstandard.frame_content_size(data)
    except zstandard.ZstdError as err:
        raise UnpackError(_("the zstd stream inside is damaged ({reason})").format(reason=err))
    if not 0 <= declared <= MAX_PLAIN_BLOCK:
        raise UnpackError(_("a block's zstd frame does not say a size within {size} bytes").format(
            size=MAX_PLAIN_BLOCK))
    dctx = decompressors.take()
    try:
        inflate = dctx.decompressobj()
        plain = inflate.decompress(data)
        whole = inflate.eof and not inflate.unused_data
    except zstandard.ZstdError as err:
        raise UnpackError(_("the zstd stream inside is damaged ({reason})").format(reason=err))
    finally:
        decompressors.give_back(dctx)
    if not whole or len(plain) != declared:
        raise UnpackError(_("a block of the snapshot is not one whole zstd frame"))
    return stored.size, data, plain


def unpack_frame_blocks(parts, identities: list, out=None, progress=None, decompress: bool = True,
                        hash_zst: bool = True, *, limits: Limits, whole: str, workers: int | None = None) -> Unpacked:
    """As stream.unpack_parts, for blocks that are each one zstd frame, or for any blocks when nothing is
    decompressed (a deep verify of the journals: decrypted and hashed); see the module's doc."""
    secrets = [identity_secret(i) for i in identities]
    workers = workers or len(os.sched_getaffinity(0))
    plain = HashingWriter(out)
    zst_hash = blake3.blake3(max_threads=1) if hash_zst else None
    stored_size = zst_size = 0
    with ThreadPoolExecutor(workers, thread_name_prefix="coffre-block") as pool:
        pending: deque = deque()
        todo = iter(parts)
        try:
            while True:
                while len(pending) < 2 * workers:
                    part = next(todo, None)
                    if part is None:
                        break
                    pending.append(pool.submit(_one, part, secrets, decompress))
                if not pending:
                    break
                size, frame, data = pending.popleft().result()
                stored_size += size
                zst_size += len(frame)
                if limits.zst is not None and zst_size > limits.zst:
                    raise UnpackError(_("it decrypts to more than the {size} bytes of zstd stream recorded at "
                                        "archive time").format(size=limits.zst))
                if zst_hash is not None:
                    zst_hash.update(frame)
                if data is not None:
                    if limits.plain is not None and plain.size + len(data) > limits.plain:
                        raise UnpackError(limits.too_much())
                    plain.write(data)
                if progress:
                    progress(size)
        finally:
            for job in pending:
                job.cancel()
    return Unpacked(whole, stored_size, zst_hash.hexdigest() if zst_hash else None, zst_size,
                    plain.hash.hexdigest() if decompress else None, plain.size if decompress else None)
