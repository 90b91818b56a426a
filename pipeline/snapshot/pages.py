"""Reads a finished snapshot's SQLite pages directly, to tell cheaply whether already-checked rows are unchanged."""

from __future__ import annotations

import mmap
import os
import struct
from array import array
from collections import deque
from itertools import repeat
from pathlib import Path
from typing import Iterator, NamedTuple, Sequence

import blake3

from pipeline.errors import CoffreError

# Page kinds, from the first byte of a b-tree page header.
INDEX_INTERIOR, TABLE_INTERIOR, INDEX_LEAF, TABLE_LEAF = 0x02, 0x05, 0x0A, 0x0D
HEADER_SIZE = 100
LOCK_BYTE_OFFSET = 1 << 30  # the page holding this byte is never used for data
ENCODINGS = {0: "utf-8", 1: "utf-8", 2: "utf-16-le", 3: "utf-16-be"}  # 0: no schema written yet
MAX_DEPTH = 40  # SQLite itself refuses trees deeper than 20
# Versioned, and followed by what decides how the same bytes read as rows (page geometry, text
# encoding), so a digest taken under other rules can never match.
DIGEST_DOMAIN = b"coffre sqlite rows v1\0"
# A BLAKE3 update call costs more than hashing one 4 KiB page, so scattered pages are joined
# into batches of about this size first.
BATCH_BYTES = 1 << 18
READ_BYTES = 4 << 20
COLUMN_OFFSETS = (0, 3, 4)  # the page type and the cell count: the bytes asked of many pages at once
FOLIO_BYTES = 2 << 20  # the most a single touch of a mapped file can make resident (a PMD-sized folio)
SHED_BYTES = 32 << 20  # mapped bytes read before the map lets go of its pages (see SQLiteFile._shed)

_u16 = struct.Struct(">H").unpack_from
_u32 = struct.Struct(">I").unpack_from
# Page numbers are below 2**32 (SQLite's limit). A supermarket's six years are millions of pages: a list of Python ints
# and a set of them took some 70 bytes a page, where an array takes 4 and a byte map 1 (memory stays flat).
PAGES = "I" if array("I").itemsize >= 4 else "L"


class Leaf(NamedTuple):
    page: int
    first_rowid: int
    last_rowid: int
    ncells: int


class RowsDigest(NamedTuple):
    hexdigest: str
    rows: int


class MalformedFile(CoffreError):
    """The pages do not form a structure SQLite could have written."""


class NotRowidTable(CoffreError):
    """The root is an index b-tree: a WITHOUT ROWID table, whose rows have no rowid to cut at."""


def _varint(buf, i: int) -> tuple[int, int]:
    value = 0
    for n in range(8):
        b = buf[i + n]
        value = (value << 7) | (b & 0x7F)
        if b < 0x80:
            return value, i + n + 1
    return (value << 8) | buf[i + 8], i + 9


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


class SQLiteFile:
    """A snapshot file that nobody writes to any more, read through a read-only memory map."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._mm = None
        self._file = open(self.path, "rb")
        try:
            size = os.fstat(self._file.fileno()).st_size
            if size < HEADER_SIZE:
                raise self._bad(f"it holds {size} bytes, fewer than an SQLite header")
            self._mm = mmap.mmap(self._file.fileno(), 0, access=mmap.ACCESS_READ)
            self._read_header(size)
        except BaseException:
            self.close()
            raise
        # The file never changes, so what has been worked out once is kept.
        self._leaf_lists: dict[int, array] = {}
        self._schema_rows: list[tuple[str, str, int]] | None = None
        self._columns: dict[int, bytes] = {}
        self._asked: dict[int, int] = {}
        self._touched = 0

    def _shed(self, nbytes: int = 0) -> None:
        """Lets go of the mapped pages every SHED_BYTES read. The kernel counts every page a process has
        touched through a map as its memory, and with large folios one touched byte maps up to 2 MiB:
        without this, reading a 300 MB snapshot would look like 300 MB more of it. The pages stay in
        the page cache, so reading one again costs a minor fault. Called with no size, a touch counts
        as a whole large folio."""
        nbytes = nbytes or FOLIO_BYTES
        self._touched += nbytes
        if self._touched >= SHED_BYTES and self._mm is not None:
            self._mm.madvise(mmap.MADV_DONTNEED)
            self._touched = 0

    def _read_header(self, size: int) -> None:
        mm = self._mm
        if mm[:16] != b"SQLite format 3\0":
            raise self._bad("it does not start with the SQLite magic string")
        page_size = _u16(mm, 16)[0]
        page_size = 65536 if page_size == 1 else page_size
        if page_size < 512 or page_size & (page_size - 1):
            raise self._bad(f"its header gives the page size {page_size}")
        self.page_size = page_size
        self.usable = page_size - mm[20]
        if self.usable < 480:
            raise self._bad(f"its header leaves {self.usable} usable bytes per page")
        # SQLite trusts the in-header page count only when the version that wrote it kept it up to
        # date, which the two change counters matching tells; otherwise the file size is the count.
        in_header = _u32(mm, 28)[0]
        on_disk = size // page_size
        if in_header and _u32(mm, 24)[0] == _u32(mm, 92)[0]:
            if in_header > on_disk:
                raise self._bad(f"its header counts {in_header} pages but only {on_disk} are there (truncated)")
            self.page_count = in_header
        else:
            self.page_count = on_disk
        encoding = _u32(mm, 56)[0]
        if encoding not in ENCODINGS:
            raise self._bad(f"its header gives the unknown text encoding {encoding}")
        self._encoding = ENCODINGS[encoding]
        self._freelist = (_u32(mm, 32)[0], _u32(mm, 36)[0])
        self._auto_vacuum = _u32(mm, 52)[0] != 0
        lock_page = LOCK_BYTE_OFFSET // page_size + 1
        self._lock_page = lock_page if lock_page <= self.page_count else 0
        self._domain = DIGEST_DOMAIN + struct.pack(">III", page_size, self.usable, max(encoding, 1))

    def close(self) -> None:
        if self._mm is not None:
            self._mm.close()
            self._mm = None
        self._file.close()

    def __enter__(self) -> SQLiteFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- what callers use ---

    def table_roots(self) -> dict[str, int]:
        """Every table with a b-tree of its own (views and virtual tables have none) -> its root page."""
        roots = {"sqlite_schema": 1}
        for kind, name, root in self._schema():
            if kind == "table" and root:
                roots[name] = root
        return roots

    def leaves(self, root: int) -> Iterator[Leaf]:
        """The table's leaves in rowid order; an empty table has none."""
        leaf_pages = self._table_leaf_pages(root)
        return self._guarded(self._describe_leaves(root, leaf_pages))

    def accounted_for(self) -> bool:
        """True when every page is a b-tree, freelist, pointer-map or lock-byte page: no overflow page."""
        with _Slips(self):
            seen = bytearray(self.page_count + 1)  # 1 at each page some structure claims
            for root in sorted({1, *(root for _, _, root in self._schema() if root)}):
                kind = self._page_type(self._checked(root, "a root page"))
                if kind in (TABLE_INTERIOR, TABLE_LEAF):
                    self._leaf_lists[root] = self._walk(root, TABLE_INTERIOR, TABLE_LEAF, seen)
                elif kind in (INDEX_INTERIOR, INDEX_LEAF):
                    self._walk(root, INDEX_INTERIOR, INDEX_LEAF, seen)
                else:
                    raise self._bad(f"the root page {root} has the page type {kind:#04x}")
            self._claim(list(self._other_pages()), seen, "a freelist, pointer-map or lock-byte page")
            return seen.count(1) == self.page_count

    def max_rowid(self, root: int) -> int:
        """The highest rowid of the table (0 when empty), from its last leaf: no column can shadow it here."""
        leaf_pages = self._table_leaf_pages(root)
        with _Slips(self):
            last = leaf_pages[-1]
            return self._rowid_at(last, -1) if self._cell_count(last) else 0

    def rows_digest(self, root: int, upto: int) -> RowsDigest:
        """BLAKE3 of the rows with rowid <= upto, the same after rows with larger rowids are appended.

        Leaves wholly before the one that reaches `upto` are hashed as raw pages: appending never
        touches them, and any change to their rows changes their bytes. The leaf that reaches
        `upto`, which appends do fill further, is hashed row by row. Overflow pages of the raw
        leaves are not covered: callers require accounted_for() first.
        """
        return self.rows_digests(root, [upto])[0]

    def rows_digests(self, root: int, uptos: list[int]) -> list[RowsDigest]:
        """rows_digest for several bounds in one pass: the raw leaves they share are read and hashed once."""
        leaf_pages = self._table_leaf_pages(root)
        found: dict[int, RowsDigest] = {}
        with _Slips(self):
            hasher = blake3.blake3()
            hasher.update(self._domain)
            done = raw_rows = 0
            for upto in sorted(set(uptos)):
                k = self._first_leaf_reaching(leaf_pages, upto)
                before = leaf_pages[done:k]
                self._hash_raw_pages(hasher, before)
                # Page 1 is never among them: it can only be the root of sqlite_schema.
                raw_rows += sum(self._byte_of_each(before, 3)) * 256 + sum(self._byte_of_each(before, 4))
                done = max(done, k)
                h, rows = hasher.copy(), raw_rows
                for rowid, parts in self._cells(leaf_pages[k]):
                    if rowid > upto:
                        break
                    h.update(b"C" + rowid.to_bytes(8, "big", signed=True) + sum(map(len, parts)).to_bytes(8, "big"))
                    for part in parts:
                        h.update(part)
                    rows += 1
                found[upto] = RowsDigest(h.hexdigest(), rows)
        return [found[u] for u in uptos]

    # --- b-tree walking ---

    def _table_leaf_pages(self, root: int) -> array:
        with _Slips(self):
            kind = self._page_type(self._checked(root, "a root page"))
            if kind in (INDEX_INTERIOR, INDEX_LEAF):
                raise NotRowidTable(f"The b-tree at page {root} of {self.path} is an index b-tree "
                                    "(a WITHOUT ROWID table), whose rows have no rowid.")
            if kind not in (TABLE_INTERIOR, TABLE_LEAF):
                raise self._bad(f"the root page {root} has the page type {kind:#04x}, not a table b-tree's")
            if root not in self._leaf_lists:
                self._leaf_lists[root] = self._walk(root, TABLE_INTERIOR, TABLE_LEAF, bytearray(self.page_count + 1))
            return self._leaf_lists[root]

    def _walk(self, root: int, interior: int, leaf: int, seen: bytearray) -> array:
        """The tree's leaf pages in key order, marking every page of the tree in `seen`.

        The children of an interior page are checked all at once with C-level map and bytes
        operations: a big table has tens of thousands of leaves, and a Python step for each would
        be most of the time spent here.
        """
        self._claim([self._checked(root, "a root page")], seen, f"the root of the b-tree at page {root}")
        kind = self._page_type(root)
        if kind == leaf:
            return array(PAGES, [root])
        if kind != interior:
            raise self._bad(f"the root page {root} has the page type {kind:#04x}")
        leaves = array(PAGES)
        leaf_depth = 0
        stack = [(root, 0)]
        while stack:
            page, depth = stack.pop()
            if depth >= MAX_DEPTH:
                raise self._bad(f"the b-tree at page {root} is deeper than any SQLite writes")
            children = self._children(page)
            if min(children) < 1 or max(children) > self.page_count or self._lock_page in children:
                bad = next(c for c in children if not 0 < c <= self.page_count or c == self._lock_page)
                raise self._bad(f"page {page} points to page {bad}, which cannot hold data")
            self._claim(children, seen, f"a child of page {page}")
            # Page 1 reads as 0x53 here ('S' of the magic string): it is never anyone's child.
            kinds = self._byte_of_each(children, 0)
            if kinds.count(leaf) == len(kinds):
                if leaf_depth and leaf_depth != depth + 1:
                    raise self._bad(f"the b-tree at page {root} has leaves at different depths")
                leaf_depth = depth + 1
                leaves.extend(children)
            elif kinds.count(interior) == len(kinds):
                stack.extend([(child, depth + 1) for child in reversed(children)])
            else:
                stray = next(((c, t) for c, t in zip(children, kinds) if t not in (leaf, interior)), None)
                if stray is None:
                    raise self._bad(f"page {page} of the b-tree at page {root} has both leaf and interior children")
                raise self._bad(f"page {stray[0]}, a child of page {page} in the b-tree at page {root}, "
                                f"has the page type {stray[1]:#04x}, not {interior:#04x} or {leaf:#04x}")
        return leaves

    def _children(self, page: int) -> list[int]:
        mm = self._mm
        base, head = self._page_start(page)
        ncells = _u16(mm, head + 3)[0]
        cells_from = head - base + 12 + 2 * ncells
        if cells_from > self.usable:
            raise self._bad(f"interior page {page} claims {ncells} cells, more than fit")
        offsets = struct.unpack_from(f">{ncells}H", mm, head + 12)
        if ncells and (min(offsets) < cells_from or max(offsets) > self.usable - 4):
            raise self._bad(f"interior page {page} has a cell pointer outside its cell area")
        children = [_u32(mm, base + offset)[0] for offset in offsets]
        children.append(_u32(mm, head + 8)[0])
        return children

    def _other_pages(self) -> Iterator[int]:
        """The freelist pages, pointer-map pages and lock-byte page."""
        trunk, total = self._freelist
        listed = 0
        # A chain longer than the header says (a loop, say) is cut short and reported below.
        while trunk and listed <= min(total, self.page_count):
            yield self._checked(trunk, "a freelist trunk page")
            base = (trunk - 1) * self.page_size
            following, nleaves = _u32(self._mm, base)[0], _u32(self._mm, base + 4)[0]
            if nleaves > (self.usable - 8) // 4:
                raise self._bad(f"freelist trunk page {trunk} lists {nleaves} pages, more than fit")
            for page in struct.unpack_from(f">{nleaves}I", self._mm, base + 8):
                yield self._checked(page, "a freelist page")
            listed += 1 + nleaves
            trunk = following
        if listed != total:
            raise self._bad(f"its freelist holds at least {listed} pages but its header counts {total}")
        if self._auto_vacuum:
            # Pointer-map pages sit at page 2 and then after each run of pages one of them maps;
            # one that would fall on the lock-byte page takes the next page instead.
            for page in range(2, self.page_count + 1, self.usable // 5 + 1):
                page += page == self._lock_page
                if page <= self.page_count:
                    yield page
        if self._lock_page:
            yield self._lock_page

    # --- reading pages and cells ---

    def _describe_leaves(self, root: int, leaf_pages: Sequence[int]) -> Iterator[Leaf]:
        previous = None
        for page in leaf_pages:
            ncells = self._cell_count(page)
            if not ncells and page == root:
                return
            first, last = self._rowid_at(page, 0), self._rowid_at(page, -1)
            if first > last or (previous is not None and first <= previous):
                raise self._bad(f"the rowids on leaf page {page} are out of order")
            previous = last
            yield Leaf(page, first, last, ncells)

    def _first_leaf_reaching(self, leaf_pages: Sequence[int], upto: int) -> int:
        """Index of the first leaf whose last rowid is >= upto, or of the last leaf if none is."""
        lo, hi = 0, len(leaf_pages) - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if self._rowid_at(leaf_pages[mid], -1) >= upto:
                hi = mid
            else:
                lo = mid + 1
        return lo

    def _hash_raw_pages(self, hasher, pages: Sequence[int]) -> None:
        """Feeds whole pages in order; how they are grouped into update calls does not change the digest."""
        fd, page_size = self._file.fileno(), self.page_size
        batch: list = []
        batched = 0

        def flush() -> None:
            nonlocal batched
            if batch:
                hasher.update(batch[0] if len(batch) == 1 else b"".join(batch))
                batch.clear()
                batched = 0

        def feed(start: int, end: int) -> None:
            # Read, not mapped: the bulk of the file goes through here once, as plain memory freed at once.
            nonlocal batched
            if end - start >= BATCH_BYTES:
                flush()
                for at in range(start, end, READ_BYTES):  # a long run (a vacuumed table) in bounded reads
                    hasher.update(os.pread(fd, min(READ_BYTES, end - at), at))
                return
            batch.append(os.pread(fd, end - start, start))
            batched += end - start
            if batched >= BATCH_BYTES:
                flush()

        start = end = None
        for page in pages:
            offset = (page - 1) * page_size
            if offset == end:  # neighbouring pages go as one slice
                end += page_size
                continue
            if start is not None:
                feed(start, end)
            # Page 1 opens with the file header, rewritten at every commit, so that is left out.
            start, end = (offset + HEADER_SIZE if page == 1 else offset), offset + page_size
        if start is not None:
            feed(start, end)
        flush()

    def _cells(self, page: int) -> Iterator[tuple[int, list]]:
        """(rowid, payload parts) of each cell of a table leaf, the payload whole even when it overflows."""
        base, head = self._page_start(page)
        data = self._mm[base:base + self.page_size]
        head -= base
        ncells = _u16(data, head + 3)[0]
        usable = self.usable
        max_local = usable - 35
        min_local = (usable - 12) * 32 // 255 - 23
        for i in range(ncells):
            offset = _u16(data, head + 8 + 2 * i)[0]
            if not head + 8 + 2 * ncells <= offset < usable:
                raise self._bad(f"leaf page {page} has a cell pointer outside its cell area")
            size, at = _varint(data, offset)
            rowid, at = _varint(data, at)
            # How much of a big payload stays on the page is fixed by the file format, so that
            # the last overflow page is never nearly empty.
            local = size
            if size > max_local:
                local = min_local + (size - min_local) % (usable - 4)
                if local > max_local:
                    local = min_local
            if at + local + (4 if local < size else 0) > usable:
                raise self._bad(f"a cell of leaf page {page} runs past the end of the page")
            parts = [data[at:at + local]]
            if local < size:
                parts += self._overflow(page, _u32(data, at + local)[0], size - local)
            yield _signed64(rowid), parts

    def _overflow(self, page: int, next_page: int, remaining: int) -> list[bytes]:
        parts = []
        room = self.usable - 4
        if remaining > room * self.page_count:
            raise self._bad(f"a cell on page {page} claims a payload larger than the whole file")
        chain: set[int] = set()
        while remaining > 0:
            self._checked(next_page, f"an overflow page of a cell on page {page}")
            if next_page in chain:
                raise self._bad(f"the overflow chain of a cell on page {page} loops back to page {next_page}")
            chain.add(next_page)
            base = (next_page - 1) * self.page_size
            take = min(remaining, room)
            parts.append(self._mm[base + 4:base + 4 + take])
            remaining -= take
            next_page = _u32(self._mm, base)[0]
        return parts

    def _rowid_at(self, page: int, index: int) -> int:
        base, head = self._page_start(page)
        ncells = _u16(self._mm, head + 3)[0]
        if not ncells:
            raise self._bad(f"leaf page {page} holds no row, which SQLite allows only on a root page")
        offset = _u16(self._mm, head + 8 + 2 * (index % ncells))[0]
        if not head - base + 8 + 2 * ncells <= offset < self.usable:
            raise self._bad(f"leaf page {page} has a cell pointer outside its cell area")
        _, at = _varint(self._mm, base + offset)
        return _signed64(_varint(self._mm, at)[0])

    def _cell_count(self, page: int) -> int:
        return _u16(self._mm, self._page_start(page)[1] + 3)[0]

    def _page_start(self, page: int) -> tuple[int, int]:
        self._shed()
        base = (page - 1) * self.page_size
        return base, base + (HEADER_SIZE if page == 1 else 0)

    def _page_type(self, page: int) -> int:
        return self._mm[self._page_start(page)[1]]

    def _byte_of_each(self, pages: Sequence[int], offset: int) -> bytes:
        """The byte at `offset` of each page.

        Once many pages have been asked about, that byte of every page in the file is taken in one
        strided copy and kept: several times faster than a Python step per page. Before, reading
        page by page spares a look at a file's every page for a small table.
        """
        column = self._columns.get(offset)
        if column is None:
            self._asked[offset] = asked = self._asked.get(offset, 0) + len(pages)
            if asked * 16 < self.page_count:
                mm, page_size, out = self._mm, self.page_size, bytearray()
                for page in pages:
                    out.append(mm[(page - 1) * page_size + offset])
                    self._shed()
                return bytes(out)
            self._read_columns({offset, *COLUMN_OFFSETS})
            column = self._columns[offset]
        return bytes(map(column.__getitem__, pages))

    def _read_columns(self, offsets: set[int]) -> None:
        """The byte at each offset of every page, from one read of the file in large blocks: touching every
        page through the map instead costs a page fault each, and did so again for each offset."""
        fd, ps = self._file.fileno(), self.page_size
        per = max(1, READ_BYTES // ps)
        parts: dict[int, list[bytes]] = {o: [b"\0"] for o in offsets}
        for first in range(0, self.page_count, per):
            block = os.pread(fd, min(per, self.page_count - first) * ps, first * ps)
            for o in offsets:
                parts[o].append(block[o::ps])
        for o in offsets:
            self._columns[o] = b"".join(parts[o])[:self.page_count + 1]

    def _schema(self) -> list[tuple[str, str, int]]:
        """(type, name, rootpage) of every sqlite_schema row."""
        if self._schema_rows is None:
            rows = []
            with _Slips(self):
                for leaf in self._table_leaf_pages(1):
                    for _, parts in self._cells(leaf):
                        kind, name, _, root = self._record(b"".join(parts), 4)
                        if not (isinstance(kind, str) and isinstance(name, str) and isinstance(root, int)):
                            raise self._bad("a row of its sqlite_schema table is not (type, name, rootpage)")
                        if root and not 0 < root <= self.page_count:
                            raise self._bad(f"sqlite_schema gives {name!r} the root page {root}, out of range")
                        rows.append((kind, name, root))
            self._schema_rows = rows
        return self._schema_rows

    def _record(self, payload: bytes, ncolumns: int) -> list:
        """The first `ncolumns` values of a record (SQLite's row encoding)."""
        header_size, at = _varint(payload, 0)
        types = []
        while at < header_size and len(types) < ncolumns:
            serial, at = _varint(payload, at)
            types.append(serial)
        values, at = [], header_size
        for serial in types:
            if serial == 0:
                values.append(None)
            elif serial <= 6:
                width = (1, 2, 3, 4, 6, 8)[serial - 1]
                values.append(int.from_bytes(payload[at:at + width], "big", signed=True))
                at += width
            elif serial == 7:
                values.append(struct.unpack_from(">d", payload, at)[0])
                at += 8
            elif serial in (8, 9):
                values.append(serial - 8)
            elif serial >= 12:
                width = (serial - 12) // 2
                chunk = payload[at:at + width]
                if len(chunk) != width:
                    raise self._bad("a row of its sqlite_schema table is shorter than its header says")
                values.append(chunk.decode(self._encoding) if serial & 1 else chunk)
                at += width
            else:
                raise self._bad(f"a row of its sqlite_schema table uses the reserved serial type {serial}")
        return values + [None] * (ncolumns - len(values))

    # --- errors ---

    def _checked(self, page: int, role: str) -> int:
        if not 0 < page <= self.page_count or page == self._lock_page:
            raise self._bad(f"{role} is given as page {page}, which cannot hold data")
        return page

    def _claim(self, pages: list[int], seen: bytearray, role: str) -> None:
        """Marks `pages` (each already checked to be in the file) in `seen`; a page marked before, or twice among them,
        makes the file malformed."""
        if any(map(seen.__getitem__, pages)) or len(set(pages)) != len(pages):
            once: set[int] = set()
            twice = next(p for p in pages if seen[p] or p in once or once.add(p))
            raise self._bad(f"page {twice} is used twice, once as {role}")
        deque(map(seen.__setitem__, pages, repeat(1)), maxlen=0)

    def _bad(self, why: str) -> MalformedFile:
        return MalformedFile(f"The SQLite file {self.path} is malformed: {why}.")

    def _guarded(self, items: Iterator) -> Iterator:
        with _Slips(self):
            yield from items


class _Slips:
    """Turns a read past a page or a varint cut short, in a damaged file no explicit check
    foresaw, into MalformedFile: callers meet one sentence, never an IndexError traceback."""

    def __init__(self, owner: SQLiteFile):
        self.owner = owner

    def __enter__(self) -> _Slips:
        return self

    def __exit__(self, kind, err, tb) -> bool:
        if kind is not None and issubclass(kind, (IndexError, struct.error, ValueError, UnicodeDecodeError)):
            raise self.owner._bad(f"reading it failed ({err})") from err
        return False
