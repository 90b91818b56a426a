"""Where a kept journals file is cut into blocks from run to run, so that each byte is written about twice and the
block lists stay short.

A kept file only grows at its end. Tonight's new bytes become pieces of their own, which the next runs find again
byte for byte (the kept file is those same frames); small pieces are merged into a bigger one now and then, as a
log-structured tree merges its runs: FAN pieces of one level, or pieces of one level that reach FULL bytes together,
become one piece of the next level, or pieces of FULL to TOP bytes, which are never merged again. A byte is thus
written once as tonight's piece and once per merge (once, for a file growing by a few dozen kilobytes an evening),
and a file's list holds its full pieces and at most FAN - 1 pieces per level beside them.

A piece is (length, level); level FULL_LEVEL marks a piece that is never merged again. Full pieces come first; a merge
that makes full pieces takes every smaller piece after the last full one along, so that none is stranded.
"""

from __future__ import annotations

TOP = 1 << 20  # the longest piece
FULL = TOP // 2  # a piece at least this long is never merged again
FAN = 8  # pieces of one level merged together
FULL_LEVEL = -1
MAX_LEVEL = 16  # more would need FAN ** 16 bytes: a state saying more is not followed

Piece = tuple[int, int]


def whole(length: int) -> list[Piece]:
    """`length` bytes as one piece of level 0, or, from FULL bytes on, as the fewest equal full pieces of at most
    TOP."""
    if length <= 0:
        return []
    if length < FULL:
        return [(length, 0)]
    count = -(-length // TOP)
    base, extra = divmod(length, count)
    return [(base + (1 if i < extra else 0), FULL_LEVEL) for i in range(count)]


def grow(kept: list[Piece], new: int) -> list[Piece]:
    """The pieces of the kept file once `new` bytes are added at its end, merged until no merge is due."""
    pieces = list(kept) + ([(new, 0)] if new > 0 else [])
    while pieces and pieces[-1][1] != FULL_LEVEL:
        level = pieces[-1][1]
        count = total = 0
        for length, lv in reversed(pieces):
            if lv != level:
                break
            count += 1
            total += length
        if total >= FULL:
            # Full pieces now: every smaller piece before them goes along, so that none is left behind a full one,
            # where no merge would reach it again.
            count = next((i for i, (_l, lv) in enumerate(reversed(pieces)) if lv == FULL_LEVEL), len(pieces))
            total = sum(length for length, _lv in pieces[len(pieces) - count:])
            del pieces[len(pieces) - count:]
            return pieces + whole(total)
        if count < FAN:
            break
        del pieces[-count:]
        pieces.append((total, level + 1))
    return pieces


def legacy(length: int) -> list[Piece]:
    """The pieces of a file kept before pieces were recorded, as those runs cut it into blocks: aligned 1 MiB pieces,
    then 64 KiB, then 4 KiB ones, then the rest (which they gathered with the tar headers, and is written again)."""
    out: list[Piece] = []
    for size, level in ((TOP, FULL_LEVEL), (64 << 10, 1), (4 << 10, 0)):
        count, length = divmod(length, size)
        out += [(size, level)] * count
    return out + ([(length, 0)] if length else [])


def parse(recorded, length: int) -> list[Piece] | None:
    """Recorded pieces, if they could have been cut here and cover exactly `length` bytes; None otherwise. A cut only
    this module makes is followed: full pieces of FULL to TOP bytes, then smaller ones whose levels never go up, at
    most 2 * FAN of a level, so that no edited state can make a list longer than the file's bytes allow."""
    if not isinstance(recorded, list):
        return None
    out: list[Piece] = []
    small: dict[int, int] = {}
    for item in recorded:
        if not (isinstance(item, list) and len(item) == 2 and all(type(v) is int for v in item)):
            return None
        size, level = item
        if level == FULL_LEVEL:
            if small or not FULL <= size <= TOP:
                return None
        elif not (0 < size < FULL and 0 <= level <= MAX_LEVEL and (not small or level <= min(small))):
            return None
        else:
            small[level] = small.get(level, 0) + 1
            if small[level] > 2 * FAN:
                return None
        out.append((size, level))
    return out if sum(size for size, _level in out) == length else None
