"""A run's block list (format version 2): the blocks one data file is made of, in order, as `b3sum --check` reads them.

A line is `<BLAKE3 of the stored block>  ../blocks/<first two hex of its name>/<name>`: run inside the run folder,
`b3sum --check snapshot.sqlite.blocks` checks every block, and decrypting the blocks in the list's order, one
after the other, gives the data file's zstd stream (docs/FORMAT.md, §3).
"""

from __future__ import annotations

import re

import blake3

from pipeline.i18n import _
from pipeline.manifest.format import HEX64

BLOCKS_DIR = "blocks"  # <store_id>/blocks/<ab>/<name>, shared by every run of the store on that copy
LIST_SUFFIX = ".blocks"
LAYOUT = "blocks"  # manifest.json's `layout` of such a data file
MAX_BLOCK = 8 << 20  # stored bytes of one block at most: Coffre writes about 1 MiB of zstd in each
MAX_LIST = 64 << 20  # a list of half a million blocks: far past a supermarket's six years
_LINE_BYTES = re.compile(rb"([0-9a-f]{64})  \.\./blocks/([0-9a-f]{2})/([0-9a-f]{64})\n")


class BlockListError(ValueError):
    """A block list that cannot be trusted as written; one sentence."""


def valid_block_name(name: str) -> bool:
    return bool(HEX64.match(name))


def block_folder(name: str) -> str:
    return name[:2]


def block_path(name: str) -> str:
    """The block's path from inside a run folder."""
    return f"../{BLOCKS_DIR}/{block_folder(name)}/{name}"


def render_list(blocks) -> bytes:
    """[(name, BLAKE3 of its stored bytes)] in the data file's order."""
    return b"".join(list_chunks(blocks))


def refuse_odd(blocks) -> None:
    """Raises ValueError at the first (name, digest) that is not a block's: called before a list is written, so that
    nothing of a list that would be refused is."""
    for name, digest in blocks:
        _refuse_odd_line(name, digest)


def _refuse_odd_line(name: str, digest: str) -> None:
    if not valid_block_name(name) or not HEX64.match(digest):
        raise ValueError(f"refusing to list block {name!r}")


def list_chunks(blocks, per: int = 4096):
    """render_list's bytes a few thousand lines at a time: a supermarket's list is 19 MB, which its text, its bytes and
    their join would hold three times over. It checks each line as it goes: refuse_odd first, to refuse before any
    byte is written."""
    lines = []
    for name, digest in blocks:
        _refuse_odd_line(name, digest)
        lines.append(f"{digest}  {block_path(name)}\n")
        if len(lines) == per:
            yield "".join(lines).encode("ascii")
            lines = []
    if lines:
        yield "".join(lines).encode("ascii")


def parse_list(data: bytes, what: str) -> list[tuple[str, str]]:
    """[(name, stored BLAKE3)]; any odd line (another path, a folder that is not the name's) refuses the whole list."""
    return [(name.decode("ascii"), digest.decode("ascii")) for name, digest in list_lines(data, what)]


def list_lines(data: bytes, what: str):
    """(name, stored BLAKE3) of each line as ASCII bytes, one at a time: a supermarket's list of 130,000 blocks is
    19 MB, which split into lines and tuples of texts would hold five times over. The caller takes nothing from it
    until it has read the last one: a BlockListError may come at any line."""
    if not data.isascii():
        raise BlockListError(_("{file} holds bytes that are not plain ASCII").format(file=what))
    if not data.endswith(b"\n"):
        raise BlockListError(_("{file} is truncated (no final newline)").format(file=what))
    at, n = 0, 0
    while at < len(data):
        n += 1
        m = _LINE_BYTES.match(data, at)
        if not m or m.group(2) != m.group(3)[:2]:
            raise BlockListError(_("{file} line {line} is not '<BLAKE3 hex>  ../blocks/<ab>/<block name>'").format(
                file=what, line=n))
        yield m.group(3), m.group(1)
        at = m.end()


def is_block_list(entry: dict) -> bool:
    """Whether a manifest.json file entry is a block list (format 2) rather than one age file."""
    return entry.get("layout") == LAYOUT


class ContentsRoot:
    """facts.json's `blocks_blake3` of a data file (FORMAT.md §11): one BLAKE3 over each block's content (the snapshot's:
    decompressed; the journals': decrypted) as its 32-byte BLAKE3 and its size in 8 bytes big-endian, in the list's
    order. It vouches for every block's content on its own, so that a block many runs share is opened once."""

    def __init__(self):
        self._root = blake3.blake3(max_threads=1)
        self.size = 0

    def add(self, digest: bytes, size: int) -> None:
        self._root.update(digest + size.to_bytes(8, "big"))
        self.size += size

    def hexdigest(self) -> str:
        return self._root.hexdigest()
