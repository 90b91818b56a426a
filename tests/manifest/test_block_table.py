"""BlockTable answers as the dict it replaces would, whatever is put in it, in a fraction of the dict's memory; block
lists read line by line give what parse_list gives and refuse what it refuses."""

from __future__ import annotations

import os
import random
import tracemalloc

import pytest

from pipeline.manifest import block_table
from pipeline.manifest.block_table import BlockTable
from pipeline.manifest.blocks import BlockListError, list_lines, parse_list, render_list


def names(n: int, seed: int = 1) -> list[str]:
    rnd = random.Random(seed)
    return [rnd.randbytes(32).hex() for _ in range(n)]


def same_first_bytes(n: int) -> list[str]:
    """Names that share their first 8 bytes: the table must tell them apart by the rest."""
    return ["00" * 8 + random.Random(i).randbytes(24).hex() for i in range(n)]


ODD_NAMES = ["ab/not-a-block", "A" * 64, "a" * 63, "g" * 64, " " + "a" * 63, "", "ab/" + "c" * 64]


def values(digests: bool, rnd: random.Random):
    """Values as the listing and the lists give them, and a few a table cannot pack (kept beside all the same)."""
    if digests:
        return [rnd.randbytes(32).hex(), rnd.randbytes(32).hex(), "A" * 64, "not a digest", None][rnd.randrange(5)]
    return [rnd.randrange(1 << 23), -1, 1 << 70, rnd.randrange(100)][rnd.randrange(4)]


@pytest.mark.parametrize("fold_from", [4096, 8])
@pytest.mark.parametrize("digests", [False, True])
def test_a_table_answers_as_a_dict_through_any_mix_of_changes(digests, fold_from, monkeypatch):
    """fold_from 8: names added are packed in with the others every few changes."""
    monkeypatch.setattr(block_table, "FOLD_FROM", fold_from)
    rnd = random.Random(7)
    pool = names(300) + same_first_bytes(20) + ODD_NAMES
    first = [(rnd.choice(pool), values(digests, rnd)) for _ in range(400)]  # names given twice: the last one counts
    model, table = dict(first), BlockTable(first, digests=digests)
    assert table == model and len(table) == len(model)
    for step in range(3000):
        name, op = rnd.choice(pool), rnd.randrange(4)
        if op == 0:
            value = values(digests, rnd)
            model[name] = value
            table[name] = value
        elif op == 1:
            if name in model:
                del model[name]
                del table[name]
            else:
                with pytest.raises(KeyError):
                    del table[name]
        elif op == 2:
            assert table.get(name, "none") == model.get(name, "none")
            assert (name in table) == (name in model)
        else:
            assert len(table) == len(model), step
    assert sorted(table) == sorted(model) and dict(table.items()) == model


@pytest.mark.parametrize("digests", [False, True])
def test_names_added_one_by_one_are_packed_in_and_deleted_ones_leave(digests):
    """As a verify notes every block it read: a table built empty holds them packed, not in a dict beside."""
    rnd = random.Random(3)
    pool = names(3 * block_table.FOLD_FROM, seed=5)
    model, table = {}, BlockTable(digests=digests)
    for name in pool:
        model[name] = table[name] = values(digests, rnd) if rnd.random() < 0.1 else (
            rnd.randbytes(32).hex() if digests else rnd.randrange(1 << 20))
    for name in pool[::3]:
        del model[name]
        del table[name]
    for name in names(block_table.FOLD_FROM, seed=6):
        model[name] = table[name] = rnd.randbytes(32).hex() if digests else 7
    assert dict(table.items()) == model and len(table) == len(model)
    packable_beside = [n for n, v in table._more.items() if v is not block_table._GONE and table._pack(v) is not None]
    assert len(packable_beside) <= block_table.FOLD_FROM, len(packable_beside)
    assert len(table._more) < len(model) // 2, len(table._more)


def test_names_are_told_apart_by_every_byte_not_only_the_first_ones():
    pool = same_first_bytes(50)
    table = BlockTable(((n, i) for i, n in enumerate(pool)))
    assert [table[n] for n in pool] == list(range(50))
    near = pool[0][:-1] + ("0" if pool[0][-1] != "0" else "1")
    assert near not in table and table.get(near) is None


def test_the_packed_names_come_in_the_order_of_their_bytes():
    pool = names(500)
    assert list(BlockTable((n, 1) for n in pool)) == sorted(pool)


def test_a_block_list_read_line_by_line_gives_what_parse_list_gives():
    blocks = list(zip(names(50, seed=2), names(50, seed=3)))
    data = render_list(blocks)
    assert parse_list(data, "x.blocks") == blocks
    table = BlockTable.of_list_lines(list_lines(data, "x.blocks"))
    assert dict(table.items()) == dict(blocks)


@pytest.mark.parametrize("bad, why", [
    (b"\xc3\xa9" + b"a" * 62 + b"  ../blocks/bb/" + b"b" * 64 + b"\n", "not plain ASCII"),
    (b"a" * 64 + b"  ../blocks/bb/" + b"b" * 64, "truncated"),
    (b"a" * 64 + b"  ../blocks/bb/" + b"b" * 64 + b"\n\n", "line 2 "),
    (b"a" * 64 + b"  ../blocks/bb/" + b"b" * 64 + b"\r\n", "line 1 "),
    (b"a" * 64 + b"  ../blocks/bb/" + b"B" * 64 + b"\n", "line 1 "),
    (b"a" * 64 + b"  ../blocks/cc/" + b"b" * 64 + b"\n", "line 1 "),
])
def test_a_list_read_line_by_line_refuses_what_parse_list_refuses_with_the_same_words(bad, why):
    good = b"c" * 64 + b"  ../blocks/dd/" + b"d" * 64 + b"\n"
    for data in (bad, good + bad):
        with pytest.raises(BlockListError) as whole:
            parse_list(data, "x.blocks")
        with pytest.raises(BlockListError) as lines:
            BlockTable.of_list_lines(list_lines(data, "x.blocks"))
        assert str(whole.value) == str(lines.value)
        if data is bad:
            assert why in str(whole.value)


def held(make) -> float:
    """Bytes a block that `make()` holds, measured under tracemalloc."""
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = make()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return (after - before) / len(kept)


@pytest.mark.parametrize("digests, most", [(False, 56), (True, 80)])
def test_a_block_costs_tens_of_bytes_where_a_dict_of_hex_names_took_hundreds(digests, most):
    n = 20_000
    pool = names(n, seed=11)
    rnd = random.Random(5)
    vals = [rnd.randbytes(32).hex() if digests else rnd.randrange(1, 1 << 20) for _ in range(n)]
    # Given as the listing and the lists give them: new texts, not the ones kept here.
    as_dict = held(lambda: {bytes.fromhex(a).hex(): (bytes.fromhex(v).hex() if digests else v + 0)
                            for a, v in zip(pool, vals)})
    as_table = held(lambda: BlockTable(((bytes.fromhex(a).hex(), v) for a, v in zip(pool, vals)), digests=digests))
    assert as_table < most, as_table
    assert as_dict > 2.5 * as_table, (as_dict, as_table)


def test_a_copy_listing_is_a_table_that_names_odd_entries_as_before(tmp_path):
    from pipeline.destinations import open_destination

    store = tmp_path / "copy" / "boutique" / "blocks"
    good = names(3, seed=4)
    for n in good:
        (store / n[:2]).mkdir(parents=True, exist_ok=True)
        (store / n[:2] / n).write_bytes(b"x" * 10)
    (store / good[0][:2] / "stray").write_bytes(b"")
    misplaced = "ff" + good[1][2:] if good[1][:2] != "ff" else "ee" + good[1][2:]
    (store / good[1][:2] / misplaced).write_bytes(b"y")
    fifo = good[2][:2] + "a" * 62  # a block's name in its folder, not a regular file
    os.mkfifo(store / fifo[:2] / fifo)
    listed = open_destination(str(tmp_path / "copy")).blocks("boutique")
    assert isinstance(listed, BlockTable)
    assert dict(listed.items()) == {good[0]: 10, good[1]: 10, good[2]: 10, fifo: -1,
                                    f"{good[0][:2]}/stray": -1, f"{good[1][:2]}/{misplaced}": -1}


def test_a_copy_of_eight_thousand_blocks_is_listed_in_under_sixty_bytes_a_block(tmp_path):
    """The listing an evening holds for each copy, through the real folder walk (it took 169 bytes a block as a dict
    of hex names, measured on the large lab store)."""
    from pipeline.destinations import open_destination

    n = 8_000
    top = tmp_path / "copy" / "boutique" / "blocks"
    for name in names(n, seed=9):
        folder = top / name[:2]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / name).touch()
    dest = open_destination(str(tmp_path / "copy"))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        listed = dest.blocks("boutique")
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(listed) == n
    assert (after - before) / n < 60, (after - before) / n
    assert (peak - before) / n < 200, (peak - before) / n  # while it is sorted: still about what the dict kept


def test_threads_adding_names_never_make_a_name_already_there_go_missing(monkeypatch):
    """SharedBlocks places blocks from several threads: while some add names (and the table packs them in, replacing
    its buffers), a lookup of a name already there must always find it with its value."""
    import threading

    monkeypatch.setattr(block_table, "FOLD_FROM", 16)
    there = names(2000, seed=21)
    table = BlockTable(((n, i) for i, n in enumerate(there)))
    adders = [names(3000, seed=30 + k) for k in range(2)]
    misses: list = []
    done = threading.Event()

    def add(pool):
        for i, name in enumerate(pool):
            table[name] = -i - 1

    def look():
        rnd = random.Random(1)
        while not done.is_set():
            i = rnd.randrange(len(there))
            if table.get(there[i]) != i:
                misses.append(there[i])

    readers = [threading.Thread(target=look) for _ in range(2)]
    writers = [threading.Thread(target=add, args=(pool,)) for pool in adders]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join()
    done.set()
    for t in readers:
        t.join()
    assert not misses, len(misses)
    assert len(table) == 2000 + 6000
    assert all(table[name] == -i - 1 for pool in adders for i, name in enumerate(pool))


def test_keys_a_dict_would_take_as_they_are_are_taken_so():
    """A str subclass equal to a name is that name; bytes, ints and None are keys of their own; clear() empties."""
    class Name(str):
        pass

    name = names(1, seed=40)[0]
    table, model = BlockTable([(name, 5)]), {name: 5}
    for t in (table, model):
        t[Name(name)] = 6
        t[bytes.fromhex(name)] = 7
        t[name.encode()] = 8
        t[None] = 9
    assert dict(table.items()) == model and len(table) == len(model) == 4
    del table[Name(name)]
    del model[Name(name)]
    assert dict(table.items()) == model and len(table) == 3
    table.clear()
    assert len(table) == 0 and list(table) == [] and name not in table
    table[name] = 1
    assert dict(table.items()) == {name: 1}


def test_a_list_with_an_odd_entry_is_refused_before_a_byte_of_it_is_written():
    from pipeline.manifest.blocks import list_chunks, refuse_odd

    blocks = list(zip(names(5000, seed=41), names(5000, seed=42))) + [("not-a-block", "a" * 64)]
    with pytest.raises(ValueError):
        refuse_odd(iter(blocks))
    assert b"".join(list_chunks(blocks[:-1])) == render_list(blocks[:-1])


def test_an_iteration_gives_each_name_once_whatever_values_change_meanwhile():
    """As a dict's: values may change during an iteration, to values that pack or not, and each name comes once."""
    a, b, c = sorted(names(3, seed=50))
    table = BlockTable([(a, 1), (b, 2), (c, 3)])
    seen = []
    for name in table:
        seen.append(name)
        if name == a:
            table[a] = 1 << 70  # does not pack: kept beside
            table[c] = 1 << 71
    assert seen == [a, b, c] and dict(table.items()) == {a: 1 << 70, b: 2, c: 1 << 71}
    seen = [name for name, _value in table.items() if not table.__setitem__(a, 4)]
    assert sorted(seen) == [a, b, c] and table[a] == 4


def test_pop_setdefault_and_items_are_one_step_each_beside_threads_that_delete(monkeypatch):
    """A pop with a default never raises, and items() never gives a KeyError, while other threads delete the same
    names (MutableMapping's own pop and items are several calls, which another thread could come between)."""
    import sys
    import threading

    monkeypatch.setattr(block_table, "FOLD_FROM", 64)
    pool = names(4000, seed=51)
    table = BlockTable((n, i) for i, n in enumerate(pool))
    errors: list = []

    def popper():
        try:
            for name in pool:
                table.pop(name, None)
                table.setdefault(name, 1)
                table.pop(name, None)
        except Exception as err:  # noqa: BLE001 - what the test counts
            errors.append(repr(err))

    def walker():
        try:
            for _ in range(20):
                try:
                    for _name, _value in table.items():
                        pass
                except RuntimeError:
                    pass  # the buffers were replaced meanwhile, as a dict says it changed size
        except Exception as err:  # noqa: BLE001 - what the test counts
            errors.append(repr(err))

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)
    try:
        threads = [threading.Thread(target=popper) for _ in range(2)] + [threading.Thread(target=walker)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    assert not errors, errors[:3]
    assert len(table) == 0


def test_a_cleared_table_packs_in_the_names_added_after():
    table = BlockTable((n, 1) for n in names(4 * block_table.FOLD_FROM, seed=52))
    table.clear()
    for name in names(2 * block_table.FOLD_FROM, seed=53):
        table[name] = 2
    assert len(table._more) <= block_table.FOLD_FROM and len(table) == 2 * block_table.FOLD_FROM


def test_a_name_or_digest_with_a_newline_after_it_is_refused():
    from pipeline.manifest.blocks import refuse_odd, valid_block_name

    assert not valid_block_name("a" * 64 + "\n")
    for pair in (("a" * 64 + "\n", "b" * 64), ("a" * 64, "b" * 64 + "\n")):
        with pytest.raises(ValueError):
            refuse_odd([pair])
        with pytest.raises(ValueError):
            render_list([pair])


def test_archive_refuses_a_list_before_asking_the_copies_to_write_it():
    from pipeline.archive import write_list
    from pipeline.pack.shared import Placed

    class Run:
        asked = 0

        def data_file(self, *args, **kwargs):
            Run.asked += 1

    good = [Placed(n, d, 10, True) for n, d in zip(names(10, seed=54), names(10, seed=55))]
    with pytest.raises(ValueError):
        write_list(Run(), "snapshot.sqlite.blocks", "snapshot", good + [Placed("not-a-block", "a" * 64, 1, True)])
    assert Run.asked == 0
    write_list(Run(), "snapshot.sqlite.blocks", "snapshot", good)
    assert Run.asked == 1
