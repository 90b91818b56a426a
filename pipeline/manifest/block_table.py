"""Block names mapped to a size or a stored BLAKE3 in 48 or 72 bytes a block, for copies of hundreds of thousands.

A supermarket's six years are some 130,000 snapshot blocks a run, and more kept by older runs. A dict of hex names
takes 169 bytes a block with a size and 291 with a digest (tracemalloc, on the large lab store), and an evening holds
both for each copy. Here a name is its 32 bytes, in one sorted buffer with its first 8 bytes in an array that
`bisect` searches in C; a size is 8 bytes of an array, a digest 32 bytes of a buffer.

Names that are not a block's (a folder's odd entry, listed so that verify says it), values that do not pack, and names
added after the table is built (tonight's blocks, the blocks a verify has read) are kept in a plain dict beside it.
Once that dict holds half as many as the buffers, or FOLD_FROM, the names added are packed in and deleted ones leave.
"""

from __future__ import annotations

import binascii
import threading
from array import array
from bisect import bisect_left
from collections.abc import ItemsView, Iterable, Iterator, MutableMapping, ValuesView

NAME_BYTES = 32
_GONE = object()
FOLD_FROM = 4096  # names added from which they are packed in with the others


def _raw(name) -> bytes | None:
    """A block name's 32 bytes, or None when `name` is not 64 lowercase hex characters (kept as it is)."""
    if not isinstance(name, str) or len(name) != 2 * NAME_BYTES:
        return None
    try:
        raw = bytes.fromhex(name)
    except ValueError:
        return None
    return raw if len(raw) == NAME_BYTES and raw.hex() == name else None


class BlockTable(MutableMapping):
    """{block name: size} (digests=False) or {block name: stored BLAKE3 hex} (digests=True); a name given twice keeps
    its last value, as a dict would. A value that does not pack (a size past 64 bits, a digest that is not lowercase hex)
    is kept too, beside."""

    def __init__(self, items: Iterable = (), digests: bool = False, *, _list_lines: bool = False):
        self.digests = digests
        names, vals, firsts = bytearray(), (bytearray() if digests else array("q")), array("Q")
        odd: dict = {}
        for name, value in items:
            if _list_lines:  # (name, digest) as a block list's line gives them: lowercase hex, as bytes
                raw, packed = binascii.unhexlify(name), binascii.unhexlify(value)
            else:
                raw = _raw(name)
                packed = self._pack(value) if raw is not None else None
            if packed is None:
                odd[name] = value
                continue
            if odd:
                odd.pop(name, None)  # given again: the value that packs is the last
            names += raw
            firsts.append(int.from_bytes(raw[:8], "big"))
            if digests:
                vals += packed
            else:
                vals.append(packed)
        self._firsts, self._names, self._vals = firsts, names, vals
        # Every method holds it (an iteration, at each step): SharedBlocks places blocks from several threads, and a
        # _fold replaces the buffers.
        self._lock = threading.RLock()
        self._generation = 0  # counts the times the buffers were replaced
        self._settle()
        self._more = {}  # names that are not a block's, tonight's, and packed ones changed: see the docstring
        self._shadowed = 0  # packed names with an entry in _more (a new value, or _GONE)
        self._gone = 0  # entries of _more that are _GONE
        self._fold_at = max(FOLD_FROM, len(self._firsts) // 2)  # _more's size from which new names are packed in
        for name, value in odd.items():
            self._set(name, value)  # a packed name given again with a value that does not pack shadows it

    @classmethod
    def of_list_lines(cls, lines: Iterable[tuple[bytes, bytes]]) -> "BlockTable":
        """{name: stored BLAKE3} from block lists' lines (manifest/blocks.py list_lines: lowercase hex, checked)."""
        return cls(lines, digests=True, _list_lines=True)

    def _settle(self) -> None:
        """Sorts the packed names by their first 8 bytes and keeps the last of a name given twice. Names that share
        their first 8 bytes (one pair in 2^32 at four billion blocks) sit side by side in input order, and a lookup
        looks at each."""
        self._generation += 1
        firsts, n = self._firsts, len(self._firsts)
        if any(firsts[i] > firsts[i + 1] for i in range(n - 1)):
            order = sorted(range(n), key=firsts.__getitem__)  # stable: a name's later value stays later
        elif any(firsts[i] == firsts[i + 1] for i in range(n - 1)):
            order = list(range(n))
        else:
            return
        keep = [i for j, i in enumerate(order)
                if j + 1 == n or firsts[order[j + 1]] != firsts[i] or not self._same_later(order, j)]
        self._keep(keep)

    def _keep(self, keep: list[int]) -> None:
        """The buffers rebuilt with the entries at `keep`, in that order."""
        firsts = self._firsts
        self._firsts = array("Q", (firsts[i] for i in keep))
        self._names = _reordered(self._names, keep, NAME_BYTES)
        self._vals = _reordered(self._vals, keep, NAME_BYTES) if self.digests else array("q", (self._vals[i]
                                                                                                for i in keep))

    def _same_later(self, order: list[int], j: int) -> bool:
        """Whether the name at order[j] comes again later among those sharing its first 8 bytes."""
        here = self._raw_at(order[j])
        first = self._firsts[order[j]]
        k = j + 1
        while k < len(order) and self._firsts[order[k]] == first:
            if self._raw_at(order[k]) == here:
                return True
            k += 1
        return False

    def _raw_at(self, i: int) -> bytes:
        return bytes(self._names[i * NAME_BYTES:(i + 1) * NAME_BYTES])

    def _pack(self, value):
        """The value packed (32 bytes, or the int), or None when it does not pack (kept in the dict beside)."""
        if self.digests:
            if type(value) is not str or len(value) != 2 * NAME_BYTES:
                return None
            try:
                raw = binascii.unhexlify(value)
            except (binascii.Error, ValueError):
                return None
            return raw if raw.hex() == value else None
        return value if type(value) is int and -(1 << 63) <= value < (1 << 63) else None

    def _find(self, name) -> int:
        """The packed index of `name`, or -1."""
        raw = _raw(name)
        if raw is None:
            return -1
        first = int.from_bytes(raw[:8], "big")
        i = bisect_left(self._firsts, first)
        while i < len(self._firsts) and self._firsts[i] == first:
            if self._names[i * NAME_BYTES:(i + 1) * NAME_BYTES] == raw:
                return i
            i += 1
        return -1

    def __getitem__(self, name):
        value = self.get(name, _GONE)
        if value is _GONE:
            raise KeyError(name)
        return value

    def get(self, name, default=None):
        with self._lock:
            return self._get(name, default)

    def _get(self, name, default):
        if name in self._more:
            value = self._more[name]
            return default if value is _GONE else value
        i = self._find(name)
        if i < 0:
            return default
        return self._vals[i * NAME_BYTES:(i + 1) * NAME_BYTES].hex() if self.digests else self._vals[i]

    def __contains__(self, name) -> bool:
        with self._lock:
            return self._get(name, _GONE) is not _GONE

    def __setitem__(self, name, value) -> None:
        with self._lock:
            self._set(name, value)

    def _set(self, name, value) -> None:
        i = self._find(name)
        packed = self._pack(value) if i >= 0 else None
        self._forget(name, i >= 0)
        if packed is None:
            if i >= 0:
                self._shadowed += 1
            self._more[name] = value
            if len(self._more) > self._fold_at:
                self._fold()
        elif self.digests:
            self._vals[i * NAME_BYTES:(i + 1) * NAME_BYTES] = packed
        else:
            self._vals[i] = packed

    def _fold(self) -> None:
        """Names added since the table was built packed in with the others: a verify that notes every block it read
        adds them all. The packed ones stay sorted, so the sort only places the new ones (Timsort merges runs)."""
        gone = {self._find(name): name for name, value in self._more.items() if value is _GONE}
        if gone:  # deleted packed names leave for good
            self._keep([i for i in range(len(self._firsts)) if i not in gone])
            for name in gone.values():
                del self._more[name]
            self._shadowed -= len(gone)
            self._gone -= len(gone)
        moved = [(name, value) for name, value in self._more.items()
                 if _raw(name) is not None and self._pack(value) is not None and self._find(name) < 0]
        for name, value in moved:
            del self._more[name]
            raw = _raw(name)
            self._names += raw
            self._firsts.append(int.from_bytes(raw[:8], "big"))
            if self.digests:
                self._vals += self._pack(value)
            else:
                self._vals.append(value)
        self._settle()
        self._fold_at = len(self._more) + max(FOLD_FROM, len(self._firsts) // 2)

    def __delitem__(self, name) -> None:
        with self._lock:
            self._delete(name)

    def _delete(self, name) -> None:
        if self._get(name, _GONE) is _GONE:
            raise KeyError(name)
        packed = self._find(name) >= 0
        self._forget(name, packed)
        if packed:
            self._more[name] = _GONE
            self._shadowed += 1
            self._gone += 1

    def _forget(self, name, packed: bool) -> None:
        """Drops `name`'s entry in _more, if any, with what it counted."""
        if name in self._more:
            if self._more.pop(name) is _GONE:
                self._gone -= 1
            if packed:
                self._shadowed -= 1

    def clear(self) -> None:
        with self._lock:
            self._firsts, self._names = array("Q"), bytearray()
            self._vals = bytearray() if self.digests else array("q")
            self._more.clear()
            self._shadowed = self._gone = 0
            self._fold_at = FOLD_FROM
            self._generation += 1

    def __len__(self) -> int:
        with self._lock:
            return len(self._firsts) - self._shadowed + len(self._more) - self._gone

    def __iter__(self) -> Iterator:
        return (name for name, _value in self._pairs())

    def items(self) -> ItemsView:
        return _Items(self)

    def values(self) -> ValuesView:
        return _Values(self)

    def _pairs(self) -> Iterator:
        """(name, value): the packed names in the order of their bytes, then the others in the order they came, each
        read under the lock. As a dict's, it gives each name once whatever values change meanwhile, and stops with
        RuntimeError if names are packed in or leave (another thread's _fold)."""
        generation = self._generation
        i = 0
        while True:
            with self._lock:
                if self._generation != generation:
                    raise RuntimeError("BlockTable changed during iteration")
                if i >= len(self._firsts):
                    # Names beside the buffers that are not packed ones (a packed name's new value was given above).
                    more = [(name, value) for name, value in self._more.items()
                            if value is not _GONE and self._find(name) < 0]
                    break
                name = self._names[i * NAME_BYTES:(i + 1) * NAME_BYTES].hex()
                value = self._get(name, _GONE)
            if value is not _GONE:
                yield name, value
            i += 1
        yield from more

    # MutableMapping's own, made of several calls: each under the lock, as one step, as a dict's are.
    def pop(self, name, *default):
        with self._lock:
            return super().pop(name, *default)

    def popitem(self):
        with self._lock:
            return super().popitem()

    def setdefault(self, name, default=None):
        with self._lock:
            return super().setdefault(name, default)

    def update(self, *args, **kwargs) -> None:
        with self._lock:
            super().update(*args, **kwargs)

    def __eq__(self, other) -> bool:
        with self._lock:
            return super().__eq__(other)


    def __repr__(self) -> str:
        return f"BlockTable({dict(self.items())!r}, digests={self.digests})"


def _reordered(packed: bytearray, order: list[int], width: int) -> bytearray:
    """The entries of `width` bytes at `order`, one by one into a buffer of their size: only the order is held twice."""
    out = bytearray(len(order) * width)
    for j, i in enumerate(order):
        out[j * width:(j + 1) * width] = packed[i * width:(i + 1) * width]
    return out


class _Items(ItemsView):
    def __iter__(self):
        return self._mapping._pairs()


class _Values(ValuesView):
    def __iter__(self):
        return (value for _name, value in self._mapping._pairs())
