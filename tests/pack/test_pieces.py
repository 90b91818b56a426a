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
                        ({"a": 1}, 10), (None, 0), ([[True, 0]], 1)]:
        assert parse(bad, length) is None, bad
    assert parse([], 0) == []
