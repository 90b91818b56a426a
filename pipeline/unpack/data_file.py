"""One data file of a run, read from its copy and unpacked within the sizes recorded at archive time."""

from __future__ import annotations

from pipeline.destinations import why_not_read
from pipeline.hashing import hash_stream
from pipeline.i18n import _
from pipeline.unpack.check import FACTS_LIMIT
from pipeline.unpack.stream import Limits, SourceReadError, UnpackError, Unpacked, unpack


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
    """The stored bytes' BLAKE3 against the signed manifest, nothing decrypted (at most one byte past its size)."""
    try:
        with dest.open_read(store_id, run_id, entry["name"]) as src:
            got, size = hash_stream(_Capped(src, entry["size"] + 1))
    except OSError as err:
        raise _read_error(err)
    if size > entry["size"]:
        raise UnpackError(_("it is longer than the {size} bytes manifest.json records").format(size=entry["size"]))
    if got != entry["blake3"]:
        raise UnpackError(_("its BLAKE3 differs from MANIFEST.b3"))


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
    try:
        src = dest.open_read(store_id, run_id, entry["name"])
    except OSError as err:
        raise _read_error(err)
    with src:  # an OSError from here on is `out` failing: unpack reports read errors as SourceReadError
        return unpack(src, identities, out, progress, decompress=decompress, hash_zst=hash_zst, limits=limits)


def _read_error(err: OSError) -> SourceReadError:
    """Every failure to read the copy, a missing file included, as one kind: the copy's problem, not ours."""
    out = SourceReadError(err.errno, err.strerror or str(err))
    out.said = why_not_read(err)
    return out
