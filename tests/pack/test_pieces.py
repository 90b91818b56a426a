"""How a kept journals file is cut into blocks from run to run: evenings write each byte about twice, lists stay short,
a piece once made full is never cut again, and a file kept before pieces were recorded is cut as it was then."""

from __future__ import annotations

import pytest

from pipeline.pack.pieces import FAN, FULL, FULL_LEVEL, TOP, grow, legacy, parse, whole


def spans(pieces) -> set[tuple[int, int]]:
    return {(at, length) for at, length, _level in placed(pieces)}


def placed(pieces) -> list[tuple[int, int, int]]:
    """(offset, length, level) of each piece."""
    out, at = [], 0
    for length, level in pieces:
        out.append((at, length, level))
        at += length
    return out


def evenings(start: int, growth: int, count: int):
    """The pieces of a file `start` bytes long at its first run, then growing by `growth` bytes each evening: yields
    the bytes each evening writes (the pieces no earlier run had) and the pieces."""
    pieces = whole(start)
    for _ in range(count):
        after = grow(pieces, growth)
        yield sum(length for _at, length in spans(after) - spans(pieces)), after
        pieces = after


def test_a_first_run_cuts_a_file_into_equal_full_pieces_of_at_most_top():
    for length in (FULL, TOP, TOP + 1, 25_000_000):
        cut = whole(length)
        assert sum(p for p, _ in cut) == length
        assert all(FULL <= p <= TOP and level == FULL_LEVEL for p, level in cut)
        assert max(p for p, _ in cut) - min(p for p, _ in cut) <= 1
    assert whole(FULL - 1) == [(FULL - 1, 0)] and whole(0) == []


@pytest.mark.parametrize("growth, most", [(68_000, 2.0), (20_000, 3.0), (2_000, 4.0), (400, 5.0), (3_000_000, 1.0)])
def test_an_evening_writes_each_new_byte_a_few_times_at_most(growth, most):
    written = [w for w, _pieces in evenings(3_000_000, growth, 400)]
    assert sum(written) <= most * 400 * growth, sum(written) / (400 * growth)
    # tonight's bytes are always written (they are a piece of their own, or part of a merge)
    assert min(written) >= growth


@pytest.mark.parametrize("growth", [68_000, 2_000, 400])
def test_the_pieces_not_yet_full_stay_few(growth):
    for _written, pieces in evenings(0, growth, 600):
        small = [level for _length, level in pieces if level != FULL_LEVEL]
        for level in set(small):
            assert small.count(level) < FAN
        assert all(length <= TOP for length, _level in pieces)


def test_a_big_evening_takes_the_small_pieces_before_it_along_so_that_none_is_stranded():
    pieces, small_most = whole(3_000_000), 0
    for day in range(365):
        pieces = grow(pieces, 600_000 if day % 7 == 6 else 40_000)  # one busy day a week
        small = [p for p in placed(pieces) if p[2] != FULL_LEVEL]
        small_most = max(small_most, len(small))
        assert all(level == FULL_LEVEL for _at, _length, level in placed(pieces)[:len(pieces) - len(small)])
    assert small_most < FAN


@pytest.mark.parametrize("seed", range(20))
def test_every_cut_grow_makes_from_any_start_is_one_a_later_run_follows(seed):
    import random

    rng = random.Random(seed)
    length = rng.choice([0, 5_000, 3 * TOP + 700_000, 12_345_678])
    pieces = legacy(length) if seed % 2 else whole(length)
    for _ in range(60):
        new = rng.choice([0, 1, 300, 4_000, 40_000, 68_000, 300_000, FULL, 700_000, 5_000_000])
        pieces = grow(pieces, new)
        length += new
        assert parse([list(p) for p in pieces], length) == pieces


def test_a_merge_never_cuts_a_piece_that_was_full():
    pieces = whole(5_000_000)
    for growth in [68_000] * 30 + [700_000, 3, 5_000_000, 10] * 5:
        after = grow(pieces, growth)
        full = {(at, length) for at, length, level in placed(pieces) if level == FULL_LEVEL}
        assert full <= spans(after)
        assert sum(length for length, _ in after) == sum(length for length, _ in pieces) + growth
        pieces = after


def test_nothing_new_changes_nothing():
    _w, pieces = list(evenings(3_000_000, 50_000, 13))[-1]
    assert grow(pieces, 0) == pieces


def test_a_file_kept_before_pieces_were_recorded_is_cut_as_those_runs_cut_it():
    length = 3 * TOP + 5 * (64 << 10) + 7 * (4 << 10) + 100
    cut = legacy(length)
    assert [p for p, _ in cut] == [TOP] * 3 + [64 << 10] * 5 + [4 << 10] * 7 + [100]
    assert sum(p for p, _ in cut) == length and legacy(0) == []


def test_recorded_pieces_are_followed_only_when_they_hold_together():
    good = [[TOP, FULL_LEVEL], [68_000, 0]]
    assert parse(good, TOP + 68_000) == [(TOP, FULL_LEVEL), (68_000, 0)]
    for bad, length in [(good, TOP + 68_001), ([[TOP + 1, FULL_LEVEL]], TOP + 1), ([[0, 0]], 0),
                        ([[10, -2]], 10), ([[10, 99]], 10), ([[10, 0.5]], 10), ([["10", 0]], 10), ([[10]], 10),
                        ({"a": 1}, 10), (None, 0), ([[True, 0]], 1),
                        ([[68_000, 0], [TOP, FULL_LEVEL]], TOP + 68_000),  # a full piece after a small one
                        ([[FULL - 1, FULL_LEVEL]], FULL - 1),  # too short to be full
                        ([[FULL, 0]], FULL),  # too long to be small
                        ([[10, 0], [10, 1]], 20),  # levels going up
                        ([[1, i % 2] for i in range(1000)], 1000),  # an edited cut: a block a byte
                        ([[1, 0]] * (2 * FAN + 1), 2 * FAN + 1)]:
        assert parse(bad, length) is None, bad
    assert parse([], 0) == []
