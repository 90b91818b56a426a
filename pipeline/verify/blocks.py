"""The blocks a copy's runs name (format 2), read from their signed block lists, and each block checked once."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from pipeline.destinations import why_not_read
from pipeline.hashing import hash_stream
from pipeline.i18n import _
from pipeline.manifest import format as fmt
from pipeline.manifest.block_table import BlockTable
from pipeline.manifest.blocks import (LIST_SUFFIX, MAX_BLOCK, MAX_LIST, BlockListError, block_folder, list_lines,
                                      parse_list)
from pipeline.manifest.check import SignatureInvalid, verify as verify_signature

CONTROL_LIMIT = 1 << 20


def signed_lists(dest, store_id: str, run_id: str, pinned_key: str) -> dict[str, list[tuple[str, str]]] | None:
    """{list name: [(block, stored BLAKE3)]} of one run, each list held to the run's signed MANIFEST.b3; None when the
    run's signature or a list does not check (the run then vouches for no block)."""
    raw = _signed_list_bytes(dest, store_id, run_id, pinned_key)
    try:
        return None if raw is None else {name: parse_list(data, name) for name, data in raw.items()}
    except BlockListError:
        return None


def vouched_blocks(dest, store_id: str, run_id: str, pinned_key: str) -> BlockTable | None:
    """{block: stored BLAKE3} of every list of one run, as signed_lists vouches for them, in 72 bytes a block."""
    raw = _signed_list_bytes(dest, store_id, run_id, pinned_key)
    if raw is None:
        return None
    try:
        return BlockTable.of_list_lines(line for name, data in raw.items() for line in list_lines(data, name))
    except BlockListError:
        return None


def _signed_list_bytes(dest, store_id: str, run_id: str, pinned_key: str) -> dict[str, bytes] | None:
    """{list name: its bytes} of one run, each held to the run's signed MANIFEST.b3; None when the run's signature
    or a list does not check."""
    try:
        with dest.open_read(store_id, run_id, fmt.MANIFEST_B3) as f:
            b3 = f.read(CONTROL_LIMIT + 1)
        with dest.open_read(store_id, run_id, fmt.SIGNATURE) as f:
            sig = f.read(CONTROL_LIMIT + 1)
        if verify_signature(pinned_key, b3, sig) != fmt.trusted_comment(store_id, run_id):
            return None
        listed = fmt.parse_b3(b3)
    except (OSError, SignatureInvalid, fmt.ManifestError):
        return None
    out = {}
    for name, digest in listed.items():
        if not name.endswith(LIST_SUFFIX):
            continue
        try:
            with dest.open_read(store_id, run_id, name) as f:
                data = f.read(MAX_LIST + 1)
        except OSError:
            return None
        if len(data) > MAX_LIST or _b3(data) != digest:
            return None
        out[name] = data
    return out


def named_blocks(dest, store_id: str, run_id: str, pinned_key: str) -> set[str] | None:
    """Every block a run names, or None when that cannot be told (see signed_lists)."""
    table = vouched_blocks(dest, store_id, run_id, pinned_key)
    return None if table is None else set(table)


def _b3(data: bytes) -> str:
    import blake3

    return blake3.blake3(data).hexdigest()


@dataclass
class BlockChecks:
    """One copy's blocks, each read and hashed at most once however many runs name it; what is wrong with a block is
    said once, with every run that needs it."""

    listed: Mapping[str, int] | None = None  # the copy's blocks and sizes, listed once (a BlockTable)
    unlisted: set[str] | None = field(default_factory=set)  # folders the listing could not read (None: any)
    # Each block read intact, with the stored BLAKE3 it was held to: 72 bytes a block once packed in, under 100 with
    # those still beside (a dict of "name:digest" keys took 220). A copy may hold hundreds of thousands.
    intact: BlockTable = field(default_factory=lambda: BlockTable(digests=True))
    done: dict[str, str] = field(default_factory=dict)  # "name:digest" -> what is wrong with it
    needed_by: dict[str, set[str]] = field(default_factory=dict)  # damaged block -> runs naming it
    unreadable: set[str] = field(default_factory=set)  # blocks the copy would not give (permissions, a medium error)
    bytes_read: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self, dest, store_id: str, run_id: str, blocks: Iterable[tuple[str, str]], progress=None,
              read: Callable[[str], bool] | None = None) -> list[str]:
        """The damaged blocks among `blocks` (a run's list); each block is read only the first time it is asked.
        `read`: which blocks to read this time (verify --read-data-subset); the others are only looked for in the
        copy's listing, which tells a missing block, or one that is not a file or too large, without reading it."""
        if self.listed is None:
            try:
                self.listed = dest.blocks(store_id)
                self.unlisted = set(getattr(dest, "unlisted_block_folders", ()))
            except OSError:
                self.listed, self.unlisted = {}, None  # None: any folder
        bad = []
        for name, digest in blocks:
            if self.intact.get(name) == digest:
                continue
            key = f"{name}:{digest}"
            if key not in self.done:
                if read is not None and not read(name):
                    why = self._as_listed(name)[0]
                    if why is None:
                        continue  # looked up again for the next run that names it: one lookup, no memory
                else:
                    why = self._check_one(dest, store_id, name, digest, progress)
                    if why is None:
                        self.intact[name] = digest
                        continue
                self.done[key] = why
            self.needed_by.setdefault(key, set()).add(run_id)
            bad.append(key)
        return bad

    def _as_listed(self, name: str) -> tuple[str | None, int | None]:
        """(what the listing alone shows is wrong with a block, or None; its listed size)."""
        size = self.listed.get(name)
        if size is None:
            if self.unlisted is not None and block_folder(name) not in self.unlisted:
                return _("is missing"), None
            # In a folder the listing could not read: only opening it says why, or that it is missing.
        elif size < 0:
            return _("is not a regular file; not read"), size
        elif size > MAX_BLOCK:
            return _("is {size} bytes, larger than any block Coffre writes; not read").format(size=size), size
        return None, size

    def _check_one(self, dest, store_id: str, name: str, digest: str, progress) -> str | None:
        why, size = self._as_listed(name)
        if why is not None:
            return why
        try:
            with dest.open_block(store_id, name) as f:
                got, n = hash_stream(f, limit=MAX_BLOCK + 1)
        except FileNotFoundError as err:
            return _("is missing") if size is None else why_not_read(err)  # (listed: gone since the listing)
        except OSError as err:
            self.unreadable.add(name)
            return why_not_read(err)
        self.bytes_read += n
        if progress:
            progress(n)
        if got != digest:
            return _("is damaged: its BLAKE3 differs from the block lists")
        return None

    def problems(self) -> list[tuple[str, str, list[str], bool]]:
        """(block name, what is wrong, the runs that need it, whether it could not be read rather than being found
        damaged or missing) for every such block met."""
        out = []
        for key, runs in sorted(self.needed_by.items()):
            name = key.partition(":")[0]
            out.append((name, self.done[key], sorted(runs), name in self.unreadable))
        return out
