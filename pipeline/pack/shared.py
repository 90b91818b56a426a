"""Data files as lists of shared, individually encrypted blocks (format 2): a block already on every copy is named,
not written again, so an evening writes what changed.

A block is age(zstd(content)) stored under a name derived from its content by a keyed hash (the key comes from the
store's signing key, which never leaves the archiving machine): equal contents get equal names, and a name reveals
nothing of the content to whoever reads the copy. The snapshot's blocks are its 256 KiB stretches (named from the plain
bytes, so an unchanged stretch is neither compressed nor encrypted again); the journals' are stretches of their zstd
stream, whose frames are kept byte-identical from run to run (pipeline/pack/frames.py), cut as pipeline/pack/pieces.py
says.

The same run must be the same bytes on every copy (its block list names each block's stored BLAKE3), yet the same
content may have been encrypted twice (on two USB keys used in turn): a name whose copies disagree, or that a copy
holds damaged, is not used; the content goes under the next variant of the name (a keyed hash of name and number).
A block is never written over (a run that names it was written with those bytes); only `coffre repair` replaces a
damaged one, with bytes that hash to what the lists say.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import blake3

from pipeline.age.writer import AgeWriter, SharedHeader
from pipeline.errors import CannotRun
from pipeline.hashing import HashingReader
from pipeline.i18n import _
from pipeline.manifest.blocks import MAX_BLOCK, ContentsRoot
from pipeline.pack.blocks import compress_block
from pipeline.pack.pieces import TOP

SNAPSHOT_BLOCK = 256 << 10  # a day of sales changes 13 of the 1-year sample's 283 such stretches (7 of 71 MiB)
VARIANTS = 16  # tries before a content is said not placeable (never met: each try needs two copies disagreeing)
CONTEXT = "coffre 2026-12-05 block names"


def read_tonight(name: str, day: int, every: int) -> bool:
    """Whether the run of day number `day` reads again, on every copy, a block the copies hold already: each held block
    on one day of each stretch of `every` days (every day when `every` is 1), a day drawn anew for each stretch from
    the block's name, so that no block is tied to a weekday a shop is closed on. (One copy reads them all anyway.)"""
    if every <= 1:
        return True
    stretch = (day // every).to_bytes(4, "big")
    return int(blake3.blake3(bytes.fromhex(name) + stretch).hexdigest()[:8], 16) % every == day % every


class BlockNames:
    """Keyed names: one key for plain content (compressed here), one for content that is zstd already."""

    def __init__(self, secret: bytes):
        root = blake3.blake3(secret, derive_key_context=CONTEXT).digest()
        self._plain = blake3.blake3(b"plain", key=root).digest()
        self._zst = blake3.blake3(b"zstd", key=root).digest()

    def plain(self, data) -> str:
        return blake3.blake3(data, key=self._plain).hexdigest()

    def zst(self, data) -> str:
        return blake3.blake3(data, key=self._zst).hexdigest()

    def variant(self, name: str, k: int) -> str:
        return blake3.blake3(bytes.fromhex(name) + k.to_bytes(4, "big"), key=self._plain).hexdigest()


class _Collector:
    """A sink that gathers what age writes for one block."""

    def __init__(self):
        self.parts: list[bytes] = []

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def value(self) -> bytes:
        return b"".join(self.parts)


def encrypt(content: bytes, header: SharedHeader) -> bytes:
    out = _Collector()
    age = AgeWriter(out, [], shared=header)
    age.write(content)
    age.close()
    return out.value()


@dataclass(slots=True)  # one per block of the run: a supermarket's six years are 130,000
class Placed:
    name: str
    digest: str  # BLAKE3 of the stored bytes
    size: int
    written: bool  # False: the copies held it already


@dataclass
class Tally:
    blocks: int = 0
    written: int = 0
    written_bytes: int = 0
    shared_bytes: int = 0


class SharedBlocks:
    """Tonight's copies' blocks: which each holds (listed once at the start) and with which bytes, and the placing of a
    content under a name every copy holds with the same bytes. Thread-safe: the snapshot and the journals place
    blocks at once, each from several threads."""

    def __init__(self, run, names: BlockNames, recipients: list, listed: dict[str, dict[str, int]],
                 known: dict[str, dict[str, str]], day: int = 0, reread_days: int = 1, first: list[str] = ()):
        self.run, self.names = run, names
        self.header = SharedHeader(recipients)  # every block tonight writes opens with it
        self.listed = listed  # spec -> {name: size}
        self.known = known  # spec -> {name: stored BLAKE3} (from the newest run's lists there)
        self.day, self.reread_days = day, reread_days
        self.first = list(first)  # the copies to read every held block from, in order (those on this machine first)
        self.held_read = 0  # held blocks read and hashed tonight (read_tonight)
        # spec -> the held blocks tonight found damaged or unreadable there: tonight's run goes round them, but the
        # earlier runs that name them cannot be restored from that copy until `coffre repair` heals them.
        self.damaged_held: dict[str, set[str]] = {}
        self.damaged_holders: dict[str, set[str]] = {}  # name -> the copies that held it when it was found damaged
        # Of damaged_held, what was seen damaged (bytes read that differ from the lists, a size the listing gives that
        # cannot be the block's, a block gone from the listing), not only unreadable: said even of a copy that failed
        # later in the run, whose unreadable blocks may be its medium going, not damage.
        self.damaged_seen: dict[str, set[str]] = {}
        # name -> the copies where tonight read or wrote (and read back) its bytes, as the bits of an int (_bit): a set
        # of them took 230 bytes a block, a small int takes none of its own.
        self.checked: dict[str, int] = {}
        self._bits: dict[str, int] = {}
        self.named: set[str] = set()  # the names tonight's lists give
        self._lock = threading.Lock()
        self._busy: dict[str, Future] = {}  # a name being placed now (by another thread, perhaps)

    def place(self, base: str, make, tally: Tally) -> Placed:
        """`make()` gives the content's stored bytes (called only when no copy holds it)."""
        for k in range(VARIANTS):
            name = base if k == 0 else self.names.variant(base, k)
            mine = False
            with self._lock:
                fut = self._busy.get(name)
                if fut is None:
                    fut = self._busy[name] = Future()
                    mine = True
            if not mine:
                placed = fut.result()
                if placed is None:
                    continue
                return self._count(placed, tally, written=False)
            placed = None
            try:
                placed = self._try(name, make)
            finally:
                fut.set_result(placed)
                with self._lock:  # placed, it is in `listed` for the next placing of the same content
                    self._busy.pop(name, None)
            if placed is not None:
                return self._count(placed, tally, placed.written)
        raise CannotRun(_("No name could be found for a block after {tries} tries: the copies hold different bytes "
                          "under every one (run coffre verify, then coffre repair).").format(tries=VARIANTS))

    def _count(self, placed: Placed, tally: Tally, written: bool) -> Placed:
        with self._lock:
            self.named.add(placed.name)
            tally.blocks += 1
            if written:
                tally.written += 1
                tally.written_bytes += placed.size
            else:
                tally.shared_bytes += placed.size
        return placed

    def _try(self, name: str, make) -> Placed | None:
        live = self.run.live_specs()
        holders = [s for s in live if name in self.listed.get(s, {})]
        digests, data = set(), None
        seen: dict[str, tuple[str, int, bool]] = {}  # copy -> (the digest its list vouches, size, read and held to it)
        reading = read_tonight(name, self.day, self.reread_days)
        # One copy reads every held block every evening, so that tonight's run restores from it at least: a block
        # damaged on every copy is written again tonight, not named. The others read it on its evening only.
        always = next((s for s in self._order() if s in holders), None)
        if not holders:
            gone = [s for s in live if name in self.known.get(s, {})]
            if gone:
                # Gone from every copy here whose newest run names it: the runs that need it restore from none of
                # them (a person must hear it), and the name is not used for other bytes, since a copy not here
                # tonight may still hold the old ones, which repair would then put back under tonight's run.
                self._damaged(gone, name, gone, seen=True)
                return None
        for spec in holders:
            # Only bytes a signed list of the copy vouches for (its newest run's, or tonight's) are named again: a
            # block no such list names (an older run's, a killed run's) may be damaged unseen, and is not trusted.
            vouched = self.known.get(spec, {}).get(name)
            size = self.listed[spec][name]
            if vouched is None:
                return None
            if not 0 < size <= MAX_BLOCK:  # empty, too big, or not a file (a folder in its place): damaged there
                self._damaged([spec], name, holders, seen=True)
                self._look_at_the_others(holders, spec, name)
                return None
            if reading or spec == always:
                # Read and hashed before the run names it (as format 1 read back the whole run): one that differs
                # from its list, or cannot be read, is damaged there, and the content goes under the next variant
                # of the name, written whole tonight.
                data = self._read(spec, name, vouched)
                if data is None:
                    self._look_at_the_others(holders, spec, name)
                    return None
                size = len(data)
                self._checked(name, [spec])
                seen[spec] = (vouched, size, True)
            seen.setdefault(spec, (vouched, size, False))
            digests.add((vouched, size))
        if len(digests) > 1:
            self._size_differs(seen, name, holders)
            return None
        if digests:
            digest, size = digests.pop()
            lacking = [s for s in live if s not in holders]
            if lacking:
                if data is None:  # a copy lacks it: the bytes come from one that holds it, read and held to its list
                    data = self._read(holders[0], name, digest)
                    if data is None:
                        return None
                    self._checked(name, holders[:1])
                self.run.put_block(lacking, name, data, digest)
                self._checked(name, lacking)
                self._listed(lacking, name, size)
                for spec in lacking:
                    self.known.setdefault(spec, {})[name] = digest
            return Placed(name, digest, size, written=bool(lacking) and len(lacking) == len(live))
        data = make()
        digest = blake3.blake3(data).hexdigest()
        self.run.put_block(live, name, data, digest)
        self._checked(name, live)
        self._listed(live, name, len(data))
        for spec in live:
            self.known.setdefault(spec, {})[name] = digest
        return Placed(name, digest, len(data), written=True)

    def _size_differs(self, seen: dict[str, tuple[str, int, bool]], name: str, holders: list[str]) -> None:
        """Copies whose lists vouch for the same bytes, one read tonight and found to be them: a copy that lists the
        block at another size (truncated, or grown) is damaged there, as an emptied one is; the content goes under the
        next variant of the name, and the runs that need the block are said not to restore from that copy."""
        sizes = {size for vouched, size, read in seen.values() if read}
        if len(sizes) != 1:
            return  # none read tonight (the lists alone disagree), or read twice and the bytes differ: not told here
        (good,) = sizes
        digest = next(vouched for vouched, size, read in seen.values() if read)
        bad = [spec for spec, (vouched, size, _read) in seen.items() if vouched == digest and size != good]
        if bad:
            self._damaged(bad, name, holders, seen=True)

    def _look_at_the_others(self, holders: list[str], bad: str, name: str) -> None:
        """A held block found damaged on one copy: read on the others too, whatever their evening, so that what is said
        names every copy it is damaged on (and whether any holds it intact, for coffre repair)."""
        for spec in holders:
            if spec == bad:
                continue
            vouched = self.known.get(spec, {}).get(name)
            size = self.listed[spec][name]
            if vouched is None or not 0 < size <= MAX_BLOCK:
                self._damaged([spec], name, holders, seen=not 0 < size <= MAX_BLOCK)
            else:
                self._read(spec, name, vouched)  # a damaged one is recorded there

    def _damaged(self, specs, name: str, holders, seen: bool = False) -> None:
        with self._lock:
            for spec in specs:
                self.damaged_held.setdefault(spec, set()).add(name)
                if seen:
                    self.damaged_seen.setdefault(spec, set()).add(name)
            self.damaged_holders.setdefault(name, set()).update(holders)

    def _checked(self, name: str, specs) -> None:
        with self._lock:
            bits = self.checked.get(name, 0)
            for spec in specs:
                bits |= self._bit(spec)
            self.checked[name] = bits

    def _bit(self, spec: str) -> int:
        return self._bits.setdefault(spec, 1 << len(self._bits))

    def _was_checked(self, name: str, spec: str) -> bool:
        with self._lock:
            return bool(self.checked.get(name, 0) & self._bit(spec))

    def confirm(self) -> None:
        """Before the run is signed: each block it names has been read or written tonight on a copy still being written.
        One that has not (the copy that read it failed since) is read now on a copy that holds it, and a copy whose
        bytes differ from its lists is failed: tonight's run is never signed where no copy was seen to restore."""
        for name in sorted(self.named):
            for spec in self._order():
                if self._was_checked(name, spec):
                    break
                if name not in self.listed.get(spec, {}):
                    continue
                vouched = self.known.get(spec, {}).get(name)
                if vouched is not None and self._read(spec, name, vouched) is not None:
                    self._checked(name, [spec])
                    break
                self.run.fail_copy(spec, _("its block {name} cannot be read, or differs from what its lists say (run "
                                           "coffre verify, then coffre repair)").format(name=name))

    def unread(self) -> dict[str, int]:
        """{copy still written: how many blocks tonight's run names there that were not read there tonight} (held
        blocks trusted until their reread evening), for the copies that have any."""
        out: dict[str, int] = {}
        for spec in self.run.live_specs():
            n = sum(1 for name in self.named if not self._was_checked(name, spec))
            if n:
                out[spec] = n
        return out

    def sure(self) -> set[str]:
        """The copies still written that were seen tonight to hold every block the run names (one at least: confirm)."""
        self.confirm()
        return {spec for spec in self.run.live_specs() if all(self._was_checked(n, spec) for n in self.named)}

    def _order(self) -> list[str]:
        live = self.run.live_specs()
        return [s for s in self.first if s in live] + [s for s in live if s not in self.first]

    def _read(self, spec: str, name: str, vouched: str) -> bytes | None:
        """A held block's bytes, if they are those its list gives."""
        held = self.run.read_block(spec, name)
        good = held is not None and blake3.blake3(held).hexdigest() == vouched
        with self._lock:
            self.held_read += 1
        if not good:
            with self._lock:
                holders = [s for s, names in self.listed.items() if name in names]
            self._damaged([spec], name, holders, seen=held is not None)
        return held if good else None

    def _listed(self, specs, name: str, size: int) -> None:
        with self._lock:
            for spec in specs:
                self.listed.setdefault(spec, {})[name] = size


def place_snapshot(src, shared: SharedBlocks, level: int, progress=None, workers: int = 2
                   ) -> tuple[list[Placed], str, int, Tally, str]:
    """The snapshot's 256 KiB stretches as blocks, in order; returns them, the plain BLAKE3 and size, the tally and the
    blocks' contents root (each stretch a frame of its own, so that each block decompresses alone)."""
    plain = HashingReader(src, progress)
    tally = Tally()
    out: list[Placed] = []
    root = ContentsRoot()
    header = shared.header

    def one(name: str, block: bytes) -> tuple[bytes, Placed]:
        return blake3.blake3(block).digest(), shared.place(name, lambda: encrypt(compress_block(block, level), header),
                                                           tally)

    def take(job) -> None:
        future, size = job
        digest, placed = future.result()
        root.add(digest, size)
        out.append(placed)

    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        while block := plain.read(SNAPSHOT_BLOCK):
            pending.append((pool.submit(one, shared.names.plain(block), block), len(block)))
            while len(pending) > 2 * workers or (pending and pending[0][0].done()):
                take(pending.popleft())
        while pending:
            take(pending.popleft())
    return out, plain.hash.hexdigest(), plain.size, tally, root.hexdigest()


def stretches(chunks, most: int = TOP):
    """The journals' zstd stream cut into blocks that stay the same from run to run: each piece of a kept file
    (pack/pieces.py) is a block, and the bytes between pieces (tar headers, which change every run, and frames made
    now) are gathered into blocks of their own, of at most `most` bytes."""
    gathered: list[bytes] = []
    held = 0
    piece: list[bytes] = []
    for chunk, end in chunks:
        if end is None:
            view = memoryview(chunk)
            at = 0
            while at < len(view):
                take = min(most - held, len(view) - at)
                gathered.append(bytes(view[at:at + take]) if take < len(view) else chunk)
                held += take
                at += take
                if held >= most:
                    yield b"".join(gathered)
                    gathered, held = [], 0
            continue
        if gathered:
            yield b"".join(gathered)
            gathered, held = [], 0
        piece.append(chunk)
        if end:
            yield piece[0] if len(piece) == 1 else b"".join(piece)
            piece = []
    if piece:
        raise ValueError("the stream ended within a piece")
    if gathered:
        yield b"".join(gathered)


def place_stream(chunks, shared: SharedBlocks, workers: int = 2) -> tuple[list[Placed], str, int, Tally, str]:
    """An already compressed stream (the journals' tar.zst) as blocks; returns them, its BLAKE3 and size, the tally and
    the blocks' contents root."""
    whole = blake3.blake3(max_threads=1)
    root = ContentsRoot()
    tally = Tally()
    out: list[Placed] = []
    header = shared.header
    with ThreadPoolExecutor(workers) as pool:
        pending: deque = deque()
        for piece in stretches(chunks):
            whole.update(piece)
            root.add(blake3.blake3(piece).digest(), len(piece))
            pending.append(pool.submit(shared.place, shared.names.zst(piece),
                                       lambda p=piece: encrypt(p, header), tally))
            while len(pending) > 2 * workers or (pending and pending[0].done()):
                out.append(pending.popleft().result())
        while pending:
            out.append(pending.popleft().result())
    return out, whole.hexdigest(), root.size, tally, root.hexdigest()
