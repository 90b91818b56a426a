"""A run's block list (format version 2): the blocks one data file is made of, in order, as `b3sum --check` reads them.

A line is `<BLAKE3 of the stored block>  ../blocks/<first two hex of its name>/<name>`: run inside the run folder,
`b3sum --check snapshot.sqlite.blocks` checks every block, and decrypting the blocks in the list's order, one
after the other, gives the data file's zstd stream (docs/FORMAT.md, §3).
"""

from __future__ import annotations

import re

import blake3

from pipeline.i18n import _

BLOCKS_DIR = "blocks"  # <store_id>/blocks/<ab>/<name>, shared by every run of the store on that copy
LIST_SUFFIX = ".blocks"
LAYOUT = "blocks"  # manifest.json's `layout` of such a data file
MAX_BLOCK = 8 << 20  # stored bytes of one block at most: Coffre writes about 1 MiB of zstd in each
MAX_LIST = 64 << 20  # a list of half a million blocks: far past a supermarket's six years
_NAME = re.compile(r"^[0-9a-f]{64}$")
_LINE = re.compile(r"^([0-9a-f]{64})  \.\./blocks/([0-9a-f]{2})/([0-9a-f]{64})$")


class BlockListError(ValueError):
    """A block list that cannot be trusted as written; one sentence."""


def valid_block_name(name: str) -> bool:
    return bool(_NAME.match(name))


def block_folder(name: str) -> str:
    return name[:2]


def block_path(name: str) -> str:
    """The block's path from inside a run folder."""
    return f"../{BLOCKS_DIR}/{block_folder(name)}/{name}"


def render_list(blocks: list[tuple[str, str]]) -> bytes:
    """[(name, BLAKE3 of its stored bytes)] in the data file's order."""
    for name, digest in blocks:
        if not valid_block_name(name) or not _NAME.match(digest):
            raise ValueError(f"refusing to list block {name!r}")
    return "".join(f"{digest}  {block_path(name)}\n" for name, digest in blocks).encode("ascii")


def parse_list(data: bytes, what: str) -> list[tuple[str, str]]:
    """[(name, stored BLAKE3)]; any odd line (another path, a folder that is not the name's) refuses the whole list."""
    try:
        text = data.decode("ascii")
    except UnicodeDecodeError:
        raise BlockListError(_("{file} holds bytes that are not plain ASCII").format(file=what))
    if not text.endswith("\n"):
        raise BlockListError(_("{file} is truncated (no final newline)").format(file=what))
    out = []
    for n, line in enumerate(text[:-1].split("\n"), 1):
        m = _LINE.match(line)
        if not m or m.group(2) != block_folder(m.group(3)):
            raise BlockListError(_("{file} line {line} is not '<BLAKE3 hex>  ../blocks/<ab>/<block name>'").format(
                file=what, line=n))
        out.append((m.group(3), m.group(1)))
    return out


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
