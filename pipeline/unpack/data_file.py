"""One data file of a run, read from its copy and unpacked within the sizes recorded at archive time."""

from __future__ import annotations

import io
import os

import blake3

from pipeline.destinations import NotRegular, why_not_read
from pipeline.hashing import hash_stream
from pipeline.i18n import _
from pipeline.unpack.check import FACTS_LIMIT
from pipeline.manifest.blocks import MAX_BLOCK, BlockListError, is_block_list, parse_list
from pipeline.unpack.stream import Limits, SourceReadError, UnpackError, Unpacked, unpack, unpack_parts


def _size(value) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def limits_for(entry: dict, facts: dict | None) -> Limits:
    """The stored size from manifest.json, and the sizes the facts recorded for this kind of file (facts.json
    itself: the most any facts.json holds, since nothing records its size). Every facts.json Coffre ever wrote
    records the plain size of the snapshot and of the journals: facts without it are not Coffre's (UnpackError)."""
    if entry["kind"] == "facts":
        return Limits(entry["size"], plain=FACTS_LIMIT, plain_recorded=False)
    part = facts.get(entry["kind"]) if isinstance(facts, dict) else None
    if isinstance(facts, dict) and (not isinstance(part, dict) or _size(part.get("plain_size")) is None):
        raise UnpackError(_("facts.json records no plain size for it (every Coffre run records one): it is not "
                            "unpacked"))
    part = part if isinstance(part, dict) else {}
    return Limits(entry["size"], _size(part.get("zst_size")), _size(part.get("plain_size")))


def authenticate(dest, store_id: str, run_id: str, entry: dict) -> None:
    """The stored bytes' BLAKE3 against the signed manifest, nothing decrypted (at most one byte past its size); a
    block list's blocks each against the list."""
    if is_block_list(entry):
        for name, digest in block_list(dest, store_id, run_id, entry):
            hash_block(dest, store_id, name, digest)
        return
    try:
        with dest.open_read(store_id, run_id, entry["name"]) as src:
            got, size = hash_stream(_Capped(src, entry["size"] + 1))
    except OSError as err:
        raise read_error(err)
    if size > entry["size"]:
        raise UnpackError(_("it is longer than the {size} bytes manifest.json records").format(size=entry["size"]))
    if got != entry["blake3"]:
        raise UnpackError(_("its BLAKE3 differs from MANIFEST.b3"))


def hash_block(dest, store_id: str, name: str, digest: str) -> int:
    """A block's stored bytes held to the list's BLAKE3, nothing decrypted; returns how many were read."""
    try:
        with dest.open_block(store_id, name) as src:
            got, size = hash_stream(_Capped(src, MAX_BLOCK + 1))
    except OSError as err:
        raise read_error(err, name)
    if size > MAX_BLOCK or got != digest:
        raise UnpackError(_("its block {name} is damaged: its BLAKE3 differs from the block list").format(name=name))
    return size


def read_block(dest, store_id: str, name: str, digest: str) -> bytes:
    """A block's stored bytes, held to the list's BLAKE3 before age sees any of them (a block is 8 MiB at most)."""
    try:
        with dest.open_block(store_id, name) as src:
            data = _read_all(src, MAX_BLOCK + 1, _size_of(src))
    except OSError as err:
        raise read_error(err, name)
    if len(data) > MAX_BLOCK or blake3.blake3(data).hexdigest() != digest:
        raise UnpackError(_("its block {name} is damaged: its BLAKE3 differs from the block list").format(name=name))
    return data


class _Capped:
    """A reader that ends after `left` bytes."""

    def __init__(self, raw, left: int):
        self.raw, self.left = raw, left

    def read(self, n: int) -> bytes:
        data = self.raw.read(min(n, self.left)) if self.left > 0 else b""
        self.left -= len(data)
        return data


def unpack_data_file(dest, store_id: str, run_id: str, entry: dict, identities: list, out, facts: dict | None,
                     decompress: bool = True, hash_zst: bool = True, progress=None) -> Unpacked:
    """Unpacks `entry` (a manifest.json file object) into `out`; see stream.unpack for what it raises.

    Nothing is decompressed without a bound: with no facts to give the plain size (facts that did not verify),
    the file is only authenticated and decrypted (decompress=False), or refused."""
    limits = limits_for(entry, facts)
    if decompress and limits.plain is None:
        raise UnpackError(_("facts.json did not verify, so nothing bounds what it decompresses to: it is not "
                            "unpacked"))
    if is_block_list(entry):
        parts = [_BlockOpener(dest, store_id, name, digest) for name, digest in block_list(dest, store_id, run_id,
                                                                                             entry)]
        return unpack_parts([(p, p.digest, MAX_BLOCK) for p in parts], identities, out, progress, decompress,
                            hash_zst, limits=limits, whole=entry["blake3"])
    try:
        src = dest.open_read(store_id, run_id, entry["name"])
    except OSError as err:
        raise read_error(err)
    with src:  # an OSError from here on is `out` failing: unpack reports read errors as SourceReadError
        return unpack(src, identities, out, progress, decompress=decompress, hash_zst=hash_zst, limits=limits)


def block_list(dest, store_id: str, run_id: str, entry: dict) -> list[tuple[str, str]]:
    """A data file's block list (format 2), held to the signed manifest's size and BLAKE3."""
    try:
        with dest.open_read(store_id, run_id, entry["name"]) as src:
            data = _read_all(src, entry["size"] + 1)
    except OSError as err:
        raise read_error(err)
    if len(data) != entry["size"] or blake3.blake3(data).hexdigest() != entry["blake3"]:
        raise UnpackError(_("its BLAKE3 differs from MANIFEST.b3"))
    try:
        return parse_list(data, entry["name"])
    except BlockListError as err:
        raise UnpackError(str(err))


def _read_all(src, limit: int, expect: int | None = None) -> bytes:
    """At most `limit` bytes of `src`, however short its reads; `expect` (its size, if known) is read in one call."""
    parts, got = [], 0
    while got < limit and (data := src.read(min(max(1 << 20, (expect or 0) + 1), limit - got))):
        parts.append(data)
        got += len(data)
    return b"".join(parts)


class _BlockOpener:
    """Opens one block of a list when the unpacking reaches it (never all at once)."""

    checked = True  # what it gives has been held to the list's BLAKE3: the unpacking need not hash it again

    def __init__(self, dest, store_id: str, block: str, digest: str):
        self.dest, self.store_id, self.block, self.digest = dest, store_id, block, digest

    def __call__(self):
        return _Held(read_block(self.dest, self.store_id, self.block, self.digest))


class _Held:
    """Bytes in memory read as a file, in views rather than copies."""

    def __init__(self, data: bytes):
        self.view, self.at = memoryview(data), 0

    def read(self, n: int = -1):
        end = len(self.view) if n is None or n < 0 else min(len(self.view), self.at + n)
        out, self.at = self.view[self.at:end], end
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.view = memoryview(b"")


def _size_of(src) -> int | None:
    """The size of an open regular file, to read it in one call; None for a pipe (a remote's)."""
    try:
        return os.fstat(src.fileno()).st_size
    except (AttributeError, OSError, io.UnsupportedOperation):
        return None


def read_error(err: OSError, block: str | None = None) -> SourceReadError:
    """Every failure to read the copy, a missing file included, as one kind: the copy's problem, not ours."""
    out = SourceReadError(err.errno, err.strerror or str(err))
    if block is None:
        out.said = why_not_read(err)
    elif isinstance(err, NotRegular):  # "07 is a symbolic link, not a folder": a sentence of its own
        out.said = _("needs its block {name}: {reason}").format(name=block, reason=err)
    else:
        out.said = _("needs its block {name}, which {reason}").format(name=block, reason=why_not_read(err))
    return out
