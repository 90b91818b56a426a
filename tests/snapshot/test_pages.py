"""The page reader against real SQLite files: it sees the rows SQLite sees, and its digest of old rows
survives appends but no change to those rows."""

import random
import sqlite3
from pathlib import Path

import pytest

from pipeline.sample import SaleWriter, generate
from pipeline.snapshot import pages
from pipeline.snapshot.pages import MalformedFile, NotRowidTable, SQLiteFile

ROWS = 3000  # rows of the test table `t` at the first run; the digest covers rowids up to here


def label(i: int) -> str:
    return f"row-{i:06d}-" + "x" * (i * 7 % 41)  # lengths vary, so rows differ in size


def build(path: Path, rows: int = ROWS, page_size: int = 4096, first: int = 1, pad: int = 0, gap: int | None = 100,
          pragmas: str = "") -> Path:
    """A live database whose rowid table `t` holds rows first.. (but `gap`), with an index over it."""
    conn = sqlite3.connect(path)
    conn.executescript(f"PRAGMA page_size = {page_size}; {pragmas}"
                       "CREATE TABLE t (id INTEGER PRIMARY KEY, label TEXT NOT NULL, amount INTEGER);"
                       "CREATE INDEX t_label ON t (label);")
    append(conn, first, rows, pad)
    if gap is not None:
        with conn:
            conn.execute("DELETE FROM t WHERE id = ?", (gap,))
    conn.close()
    return path


def append(conn: sqlite3.Connection, first: int, count: int, pad: int = 0) -> None:
    with conn:
        conn.executemany("INSERT INTO t (id, label, amount) VALUES (?, ?, ?)",
                         ((i, label(i) + "p" * pad, i * 7) for i in range(first, first + count)))


def append_in_transactions(path: Path, first: int, batches: int, per_batch: int, pad: int = 0) -> None:
    conn = sqlite3.connect(path)
    for b in range(batches):
        append(conn, first + b * per_batch, per_batch, pad)
    conn.close()


def snapshot(live: Path, out: Path) -> Path:
    """A consistent copy through the backup API, as the archive takes it."""
    src, dst = sqlite3.connect(live), sqlite3.connect(out)
    src.backup(dst)
    src.close()
    dst.close()
    return out


def digest(path: Path, table: str = "t", upto: int = ROWS) -> pages.RowsDigest:
    with SQLiteFile(path) as f:
        return f.rows_digest(f.table_roots()[table], upto)


def sql_one(path: Path, query: str, *args):
    conn = sqlite3.connect(path)
    try:
        return conn.execute(query, args).fetchone()
    finally:
        conn.close()


def assert_leaves_agree(path: Path, table: str) -> list:
    """leaves() against SQLite's own view of the same rows, leaf by leaf."""
    with SQLiteFile(path) as f:
        leaves = list(f.leaves(f.table_roots()[table]))
    count, low, high = sql_one(path, f'SELECT count(*), min(rowid), max(rowid) FROM "{table}"')
    assert sum(leaf.ncells for leaf in leaves) == count
    if count:
        assert (leaves[0].first_rowid, leaves[-1].last_rowid) == (low, high)
    for before, after in zip(leaves, leaves[1:]):
        assert before.last_rowid < after.first_rowid
    conn = sqlite3.connect(path)
    for leaf in leaves:
        assert leaf.first_rowid <= leaf.last_rowid
        between = f'SELECT count(*) FROM "{table}" WHERE rowid BETWEEN ? AND ?'
        assert conn.execute(between, (leaf.first_rowid, leaf.last_rowid)).fetchone()[0] == leaf.ncells
    # dbstat lists the same leaf pages; its paths sort in tree order.
    listed = [page for page, in conn.execute(
        "SELECT pageno FROM dbstat WHERE name = ? AND pagetype = 'leaf' ORDER BY path", (table,))]
    conn.close()
    assert [leaf.page for leaf in leaves] == (listed if count else [])
    return leaves


def interior_levels(path: Path, table: str) -> int:
    slashes = sql_one(path, "SELECT max(length(path) - length(replace(path, '/', ''))) FROM dbstat "
                            "WHERE name = ? AND pagetype = 'leaf'", table)[0]
    return slashes - 1


def poke(src: Path, dst: Path, offset: int, new: bytes) -> Path:
    data = bytearray(src.read_bytes())
    data[offset:offset + len(new)] = new
    dst.write_bytes(bytes(data))
    return dst


@pytest.fixture(scope="module")
def shop(tmp_path_factory) -> Path:
    """The sample shop, live (WAL mode, as the till runs it)."""
    path = tmp_path_factory.mktemp("shop") / "caisse.db"
    generate(path, days=3, tickets_per_day=120, seed=7)
    return path


# --- what the reader sees ---


def test_table_roots_and_leaves_agree_with_sqlite_on_the_sample_shop(shop, tmp_path):
    snap = snapshot(shop, tmp_path / "snap.db")
    with SQLiteFile(snap) as f:
        roots = f.table_roots()
        assert f.page_size == sql_one(snap, "PRAGMA page_size")[0]
        assert f.page_count == sql_one(snap, "PRAGMA page_count")[0]
    conn = sqlite3.connect(snap)
    expected = dict(conn.execute("SELECT name, rootpage FROM sqlite_schema WHERE type = 'table'"))
    conn.close()
    assert roots == {"sqlite_schema": 1, **expected}
    for table in roots:
        assert_leaves_agree(snap, table)


def test_leaves_of_a_tree_three_interior_levels_deep(tmp_path):
    live = build(tmp_path / "live.db", rows=20000, page_size=512, pad=150)
    assert interior_levels(live, "t") >= 3
    leaves = assert_leaves_agree(live, "t")
    assert len(leaves) > 3000


def test_a_database_with_65536_byte_pages(tmp_path):
    live = build(tmp_path / "live.db", rows=5000, page_size=65536)
    assert live.read_bytes()[16:18] == b"\x00\x01"  # the format's way of writing 65536
    with SQLiteFile(live) as f:
        assert f.page_size == 65536
    assert len(assert_leaves_agree(live, "t")) > 1
    assert digest(live).rows == ROWS - 1


def test_table_roots_skips_views_and_reads_utf16_names(tmp_path):
    path = tmp_path / "utf16.db"
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA encoding = 'UTF-16le'; CREATE TABLE caisse_é (id INTEGER PRIMARY KEY, v);"
                       "INSERT INTO caisse_é (v) VALUES ('a'), ('b'); CREATE VIEW vue AS SELECT 1;")
    root = conn.execute("SELECT rootpage FROM sqlite_schema WHERE name = 'caisse_é'").fetchone()[0]
    conn.close()
    with SQLiteFile(path) as f:
        assert f.table_roots() == {"sqlite_schema": 1, "caisse_é": root}
        assert f.rows_digest(root, 2).rows == 2


def test_an_empty_table_has_no_leaves_and_no_rows(tmp_path):
    path = build(tmp_path / "empty.db", rows=0, gap=None)
    with SQLiteFile(path) as f:
        root = f.table_roots()["t"]
        assert list(f.leaves(root)) == []
        assert f.rows_digest(root, 10).rows == 0


# --- the digest survives appends ---


def test_digest_is_unchanged_by_appends_and_page_1_header_changes(tmp_path):
    live = build(tmp_path / "live.db")
    first = snapshot(live, tmp_path / "run1.db")
    schema_max = sql_one(first, "SELECT max(rowid) FROM sqlite_schema")[0]
    before, schema_before = digest(first), digest(first, "sqlite_schema", schema_max)
    with SQLiteFile(first) as f:
        leaves_before = len(list(f.leaves(f.table_roots()["t"])))

    append_in_transactions(live, ROWS + 1, batches=6, per_batch=500)
    conn = sqlite3.connect(live)
    conn.execute("PRAGMA user_version = 42")  # rewrites page 1's header, besides the change counter
    conn.close()
    second = snapshot(live, tmp_path / "run2.db")
    assert first.read_bytes()[:100] != second.read_bytes()[:100]
    with SQLiteFile(second) as f:
        assert len(list(f.leaves(f.table_roots()["t"]))) > leaves_before + 10

    assert digest(second) == before
    assert before.rows == sql_one(second, "SELECT count(*) FROM t WHERE id <= ?", ROWS)[0] == ROWS - 1
    assert digest(second, "sqlite_schema", schema_max) == schema_before


def test_digest_is_unchanged_by_appends_when_upto_is_inside_the_tree(tmp_path):
    """upto on a leaf's last row, inside a leaf, before a leaf, before any row, on the last row: appends
    change none of them."""
    live = build(tmp_path / "live.db", rows=20000, page_size=512, pad=40)
    first = snapshot(live, tmp_path / "run1.db")
    with SQLiteFile(first) as f:
        leaves = list(f.leaves(f.table_roots()["t"]))
    middle = leaves[len(leaves) // 2]
    uptos = [middle.last_rowid, (middle.first_rowid + middle.last_rowid) // 2, middle.first_rowid - 1,
             leaves[0].first_rowid, 0, 20000]
    before = {upto: digest(first, upto=upto) for upto in uptos}

    append_in_transactions(live, 20001, batches=4, per_batch=1000, pad=40)
    second = snapshot(live, tmp_path / "run2.db")
    for upto in uptos:
        after = digest(second, upto=upto)
        assert after == before[upto], upto
        assert after.rows == sql_one(second, "SELECT count(*) FROM t WHERE id <= ?", upto)[0], upto
    assert digest(second, upto=10 ** 9).rows == 23999  # there, the new rows count too


def test_digest_is_unchanged_by_appends_after_a_full_leaf(tmp_path):
    """At the first run the leaf holding upto was full, so the appended rows all went to new leaves."""
    with SQLiteFile(build(tmp_path / "probe.db", gap=None)) as f:
        boundary = list(f.leaves(f.table_roots()["t"]))[10].last_rowid  # where a leaf filled up
    live = build(tmp_path / "live.db", rows=boundary, gap=None)
    first = snapshot(live, tmp_path / "run1.db")
    before = digest(first, upto=boundary)
    append_in_transactions(live, boundary + 1, batches=3, per_batch=300)
    second = snapshot(live, tmp_path / "run2.db")
    with SQLiteFile(second) as f:
        assert boundary in [leaf.last_rowid for leaf in f.leaves(f.table_roots()["t"])]
    assert digest(second, upto=boundary) == before
    assert before.rows == boundary


def test_digest_is_unchanged_while_the_till_keeps_selling(shop, tmp_path):
    live = tmp_path / "caisse.db"
    snapshot(shop, live)  # a private copy of the shop, to sell in
    first = snapshot(live, tmp_path / "run1.db")
    with SQLiteFile(first) as f:
        tables = f.table_roots()
        assert f.accounted_for()
    uptos = {t: sql_one(first, f'SELECT coalesce(max(rowid), 0) FROM "{t}"')[0] for t in tables}
    before = {t: digest(first, t, uptos[t]) for t in tables}

    with SaleWriter(live, seed=7) as till:
        for _ in range(150):
            till.commit_ticket()
    second = snapshot(live, tmp_path / "run2.db")
    assert sql_one(second, "SELECT max(id) FROM tickets")[0] > uptos["tickets"] + 100
    with SQLiteFile(second) as f:
        assert f.accounted_for()
        after = {t: f.rows_digest(tables[t], uptos[t]) for t in tables}
    assert after == before


def test_digest_is_the_same_however_pages_are_batched(tmp_path, monkeypatch):
    live = build(tmp_path / "live.db", rows=20000)
    with SQLiteFile(live) as f:
        root = f.table_roots()["t"]
        usual = f.rows_digest(root, 19000)
        for size in (1, 4096, 1 << 30):
            monkeypatch.setattr(pages, "BATCH_BYTES", size)
            assert f.rows_digest(root, 19000) == usual


# --- the digest sees every change to the old rows ---


CHANGES = {
    "same-length update, early leaf": "UPDATE t SET label = upper(label) WHERE id = 7",
    "longer update, early leaf": "UPDATE t SET label = label || '!' WHERE id = 7",
    "number update, early leaf": "UPDATE t SET amount = amount + 1 WHERE id = 8",
    "same-length update, last leaf": f"UPDATE t SET label = upper(label) WHERE id = {ROWS - 1}",
    "shorter update, last row": f"UPDATE t SET label = 'x' WHERE id = {ROWS}",
    "delete, early leaf": "DELETE FROM t WHERE id = 7",
    "delete, last row": f"DELETE FROM t WHERE id = {ROWS}",
    "insert into an old gap": "INSERT INTO t (id, label, amount) VALUES (100, 'late', 1)",
    "vacuum closing the gap": "VACUUM",
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
def test_digest_changes_when_an_old_row_changes(tmp_path, change):
    live = build(tmp_path / "live.db")
    before = digest(snapshot(live, tmp_path / "run1.db"))
    conn = sqlite3.connect(live, isolation_level=None)
    conn.execute(change)
    conn.close()
    append_in_transactions(live, ROWS + 1, batches=2, per_batch=500)
    after = digest(snapshot(live, tmp_path / "run2.db"))
    assert after.hexdigest != before.hexdigest


def flip_in_row(path: Path, out: Path, rowid: int, page: int, page_size: int = 4096) -> Path:
    """A copy of `path` with one byte of row `rowid`'s label changed, on the leaf page that holds it."""
    data = path.read_bytes()
    at = data.index(label(rowid).encode(), (page - 1) * page_size, page * page_size) + 5
    return poke(path, out, at, bytes([data[at] ^ 0x01]))


def test_a_flipped_byte_in_an_old_row_changes_the_digest(tmp_path):
    snap = snapshot(build(tmp_path / "live.db", gap=None), tmp_path / "snap.db")
    with SQLiteFile(snap) as f:
        leaves = list(f.leaves(f.table_roots()["t"]))
    before = digest(snap)
    for n, leaf in enumerate(leaves):  # every leaf, the one holding upto included
        for row in {leaf.first_rowid, leaf.last_rowid}:
            copy = flip_in_row(snap, tmp_path / "flip.db", row, leaf.page)
            assert digest(copy).hexdigest != before.hexdigest, (n, row)


def test_a_flipped_byte_past_upto_leaves_the_digest_alone(tmp_path):
    snap = snapshot(build(tmp_path / "live.db"), tmp_path / "snap.db")
    with SQLiteFile(snap) as f:
        leaves = list(f.leaves(f.table_roots()["t"]))
    cut = leaves[5]
    upto = cut.first_rowid + 1
    before = digest(snap, upto=upto)
    # A later row on the leaf that holds upto, then a row on the last leaf.
    for n, (row, page) in enumerate([(cut.last_rowid, cut.page), (leaves[-1].last_rowid, leaves[-1].page)]):
        copy = flip_in_row(snap, tmp_path / f"flip-{n}.db", row, page)
        assert digest(copy, upto=upto) == before
    copy = flip_in_row(snap, tmp_path / "flip-in.db", upto, cut.page)
    assert digest(copy, upto=upto).hexdigest != before.hexdigest


def test_overflowing_rows_on_the_leaf_holding_upto_are_read_whole(tmp_path):
    """On the leaf that holds upto, a row that overflows is hashed with its overflow pages."""
    live = build(tmp_path / "live.db", rows=50, gap=None)
    conn = sqlite3.connect(live)
    with conn:  # in the column without an index, so these bytes are the table's alone
        conn.execute("INSERT INTO t (id, label, amount) VALUES (51, 'big', ?)", (b"B" * 20000,))
    conn.close()
    snap = snapshot(live, tmp_path / "snap.db")
    assert sql_one(snap, "SELECT count(*) FROM dbstat WHERE name = 't' AND pagetype = 'overflow'")[0] == 4
    before = digest(snap, upto=51)
    assert before.rows == 51
    data = snap.read_bytes()
    holding = [page for page in range(len(data) // 4096) if b"B" * 100 in data[page * 4096:(page + 1) * 4096]]
    assert len(holding) == 5  # the leaf and the four overflow pages
    for page in holding:
        at = data.index(b"B" * 100, page * 4096) + 50
        copy = poke(snap, tmp_path / "flip.db", at, b"C")
        assert digest(copy, upto=51).hexdigest != before.hexdigest, page + 1


def test_payloads_of_every_size_are_read_back_exactly(tmp_path):
    """Across the sizes where the part kept on the page changes rule, the payload read back ends
    with the row's blob: the file format's split is followed to the byte."""
    path = tmp_path / "sizes.db"
    conn = sqlite3.connect(path)
    conn.executescript("PRAGMA page_size = 512; CREATE TABLE b (id INTEGER PRIMARY KEY, v BLOB);")
    rng = random.Random(3)
    blobs = {size: rng.randbytes(size) for size in range(0, 2100, 3)}
    with conn:
        conn.executemany("INSERT INTO b (id, v) VALUES (?, ?)", blobs.items())
    conn.close()
    read = {}
    with SQLiteFile(path) as f:
        root = f.table_roots()["b"]
        for leaf in f.leaves(root):
            read.update((rowid, b"".join(parts)) for rowid, parts in f._cells(leaf.page))
        assert f.rows_digest(root, 2100).rows == len(blobs)
    assert read.keys() == blobs.keys()
    for size, blob in blobs.items():
        assert read[size].endswith(blob) and len(read[size]) - size <= 6, size  # after a short record header


# --- accounted_for: every page has a known use, no overflow page ---


def test_accounted_for_on_ordinary_files_and_ones_with_free_pages(shop, tmp_path):
    with SQLiteFile(snapshot(shop, tmp_path / "shop.db")) as f:
        assert f.accounted_for()
    live = build(tmp_path / "live.db", rows=20000)
    with SQLiteFile(live) as f:
        assert f.accounted_for()
    conn = sqlite3.connect(live)
    with conn:
        conn.execute("DELETE FROM t WHERE id % 3 != 0 OR id > 15000")
    conn.close()
    snap = snapshot(live, tmp_path / "deleted.db")
    assert sql_one(snap, "PRAGMA freelist_count")[0] > 100
    with SQLiteFile(snap) as f:
        assert f.accounted_for()


@pytest.mark.parametrize("mode", ["FULL", "INCREMENTAL"])
def test_accounted_for_with_pointer_map_pages(tmp_path, mode):
    live = build(tmp_path / "live.db", rows=40000, page_size=1024, pragmas=f"PRAGMA auto_vacuum = {mode};")
    conn = sqlite3.connect(live)
    with conn:
        conn.execute("DELETE FROM t WHERE id % 2 = 0")
    conn.close()
    assert sql_one(live, "PRAGMA auto_vacuum")[0] in (1, 2)
    with SQLiteFile(live) as f:
        assert f.page_count > 1024 // 5 + 2  # more than one pointer-map page
        assert f.accounted_for()


def test_accounted_for_is_false_with_an_overflow_page(tmp_path):
    live = build(tmp_path / "live.db")
    conn = sqlite3.connect(live)
    with conn:
        conn.execute("UPDATE t SET amount = ? WHERE id = 5", (bytes(range(256)) * 20,))  # a blob over a page
    conn.close()
    with SQLiteFile(live) as f:
        assert not f.accounted_for()
    # An overflowing index entry is no exception.
    live = build(tmp_path / "index.db")
    conn = sqlite3.connect(live)
    with conn:
        conn.execute("CREATE TABLE k (id INTEGER PRIMARY KEY, v TEXT)")
        conn.execute("CREATE INDEX k_v ON k (v)")
        conn.execute("INSERT INTO k (v) VALUES (?)", ("y" * 1500,))
    conn.close()
    # The row fits on its table page; its index entry, allowed less room, does not.
    assert sql_one(live, "SELECT count(*) FROM dbstat WHERE name = 'k' AND pagetype = 'overflow'")[0] == 0
    assert sql_one(live, "SELECT count(*) FROM dbstat WHERE name = 'k_v' AND pagetype = 'overflow'")[0] == 1
    with SQLiteFile(live) as f:
        assert not f.accounted_for()


# --- what it refuses ---


def test_a_without_rowid_table_is_refused(tmp_path):
    live = build(tmp_path / "live.db")
    conn = sqlite3.connect(live)
    conn.executescript("CREATE TABLE w (k TEXT PRIMARY KEY, v) WITHOUT ROWID;"
                       "INSERT INTO w VALUES ('a', 1), ('b', 2);")
    conn.close()
    with SQLiteFile(live) as f:
        root = f.table_roots()["w"]
        with pytest.raises(NotRowidTable):
            f.leaves(root)
        with pytest.raises(NotRowidTable):
            f.rows_digest(root, 10)
        assert f.accounted_for()


def test_files_that_are_not_sqlite_are_malformed(tmp_path):
    for name, content in {"empty": b"", "short": b"SQLite format 3\0", "text": b"hello, world\n" * 200}.items():
        path = tmp_path / name
        path.write_bytes(content)
        with pytest.raises(MalformedFile):
            SQLiteFile(path)


def test_a_truncated_file_is_malformed(tmp_path):
    snap = snapshot(build(tmp_path / "live.db", rows=20000), tmp_path / "snap.db")
    data = snap.read_bytes()
    cut = tmp_path / "cut.db"
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(MalformedFile, match="truncated"):
        SQLiteFile(cut)
    # Without a trusted page count in the header, the file size is taken, and the pages are missed.
    blind = poke(cut, tmp_path / "blind.db", 28, b"\0\0\0\0")
    with SQLiteFile(blind) as f:
        root = f.table_roots()["t"]
        with pytest.raises(MalformedFile):
            list(f.leaves(root))
        with pytest.raises(MalformedFile):
            f.rows_digest(root, ROWS)
        with pytest.raises(MalformedFile):
            f.accounted_for()


def table_layout(path: Path) -> tuple[int, int, int]:
    """(page size, root page of t, root page of its index)."""
    with SQLiteFile(path) as f:
        return (f.page_size, f.table_roots()["t"],
                sql_one(path, "SELECT rootpage FROM sqlite_schema WHERE name = 't_label'")[0])


TREE_DAMAGE = ["far away", "zero", "itself", "index page", "cell pointer", "leaf page type"]


@pytest.mark.parametrize("damage", TREE_DAMAGE + ["cell pointer on the leaf holding upto"])
def test_a_bad_pointer_in_a_table_is_malformed(tmp_path, damage):
    snap = snapshot(build(tmp_path / "live.db", rows=20000), tmp_path / "snap.db")
    page_size, root, index_root = table_layout(snap)
    with SQLiteFile(snap) as f:
        leaves = list(f.leaves(root))
    base = (root - 1) * page_size
    assert snap.read_bytes()[base] == 0x05  # the root is an interior page
    cut = next(leaf for leaf in leaves if leaf.last_rowid >= ROWS)
    cut_base = (cut.page - 1) * page_size
    offset, new = {
        "far away": (base + 8, (0x7FFFFFF0).to_bytes(4, "big")),  # the right-most child pointer
        "zero": (base + 8, bytes(4)),
        "itself": (base + 8, root.to_bytes(4, "big")),
        "index page": (base + 8, index_root.to_bytes(4, "big")),
        "cell pointer": (base + 12, b"\xff\xf0"),
        "leaf page type": ((leaves[-1].page - 1) * page_size, b"\x07"),
        "cell pointer on the leaf holding upto": (cut_base + 8 + 2 * (cut.ncells - 1), b"\xff\xf0"),
    }[damage]
    bad = poke(snap, tmp_path / "bad.db", offset, new)
    with SQLiteFile(bad) as f:
        assert f.table_roots()["t"] == root
        with pytest.raises(MalformedFile):
            list(f.leaves(root))
        with pytest.raises(MalformedFile):
            f.rows_digest(root, ROWS)
        if damage in TREE_DAMAGE:
            with pytest.raises(MalformedFile):
                f.accounted_for()
        else:  # it reads page headers and child pointers only, and those are sound
            assert f.accounted_for()


def test_a_bad_schema_page_is_malformed(tmp_path):
    snap = snapshot(build(tmp_path / "live.db"), tmp_path / "snap.db")
    bad = poke(snap, tmp_path / "bad.db", 100 + 3, b"\xff\xff")  # page 1's cell count
    with SQLiteFile(bad) as f:
        with pytest.raises(MalformedFile):
            f.table_roots()
        with pytest.raises(MalformedFile):
            f.accounted_for()


def test_random_damage_gives_malformed_or_an_answer_never_a_traceback(tmp_path):
    live = build(tmp_path / "live.db", rows=400, page_size=512, pad=20)
    conn = sqlite3.connect(live)
    with conn:
        conn.execute("INSERT INTO t (id, label, amount) VALUES (401, ?, 0)", ("B" * 3000,))
        conn.execute("DELETE FROM t WHERE id BETWEEN 200 AND 260")
    conn.close()
    snap = snapshot(live, tmp_path / "snap.db")
    data = snap.read_bytes()
    rng = random.Random(11)
    outcomes = {"answer": 0, "malformed": 0}
    for _ in range(600):
        damaged = bytearray(data)
        for _hit in range(rng.choice((1, 1, 2, 8))):
            if rng.random() < 0.7:  # mostly page headers, cell pointers and child pointers
                at = rng.randrange(len(data) // 512) * 512 + rng.randrange(24)
            else:
                at = rng.randrange(len(data))
            if at >= 100:
                damaged[at] = rng.randrange(256)
        path = tmp_path / "damaged.db"
        path.write_bytes(bytes(damaged))
        try:
            with SQLiteFile(path) as f:
                for root in f.table_roots().values():
                    list(f.leaves(root))
                    f.rows_digest(root, 350)
                f.accounted_for()
            outcomes["answer"] += 1
        except (MalformedFile, NotRowidTable):
            outcomes["malformed"] += 1
    assert outcomes["malformed"] > 10 and outcomes["answer"] > 10, outcomes


def test_several_bounds_in_one_pass_give_each_bound_its_own_digest(tmp_path):
    live = build(tmp_path / "live.db")
    append_in_transactions(live, ROWS + 1, 4, 500)
    snap = snapshot(live, tmp_path / "snap.db")
    bounds = [ROWS + 2000, 17, ROWS, ROWS + 2000, 1]
    with SQLiteFile(snap) as f:
        root = f.table_roots()["t"]
        together = f.rows_digests(root, bounds)
        alone = [f.rows_digest(root, b) for b in bounds]
    assert together == alone
    assert len({d.hexdigest for d in together}) == 4  # four distinct bounds, four digests
    assert together[2].rows == ROWS - 1 and together[0].rows == ROWS - 1 + 2000


def test_reading_a_big_snapshot_does_not_count_it_as_memory(tmp_path):
    """Large page-cache folios map up to 2 MiB a touch: the reader lets go of the map as it goes, so a
    96 MB file read whole adds far less than 96 MB to the process's peak memory."""
    import subprocess
    import sys
    big = tmp_path / "big.db"
    conn = sqlite3.connect(big)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    with conn:
        conn.executemany("INSERT INTO t VALUES (?, ?)", ((i, f"{i:08d}" * 50) for i in range(1, 240_001)))
    conn.close()
    assert big.stat().st_size > 90e6
    probe = (
        "import sys; from pathlib import Path; from pipeline.snapshot.pages import SQLiteFile\n"
        "def hwm(): return int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])\n"
        "before = hwm()\n"
        "with SQLiteFile(Path(sys.argv[1])) as f:\n"
        "    assert f.accounted_for()\n"
        "    d = f.rows_digest(f.table_roots()['t'], 1 << 62)\n"
        "print(hwm() - before, d.rows)\n")
    out = subprocess.run([sys.executable, "-c", probe, str(big)], capture_output=True, text=True, check=True).stdout
    grown_kb, rows = map(int, out.split())
    assert rows == 240_000
    assert grown_kb < 60_000, f"peak memory grew by {grown_kb} kB reading a {big.stat().st_size} byte file"


def _walk_peak(path: Path) -> tuple[int, int]:
    """(pages, the most memory Python traced while the file's pages were accounted for and a table hashed)."""
    import tracemalloc
    with SQLiteFile(path) as f:
        tracemalloc.start()
        try:
            assert f.accounted_for()
            assert f.rows_digest(f.table_roots()["t"], 1 << 62).rows > 0
            return f.page_count, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()


def test_walking_a_file_holds_a_few_bytes_a_page_not_a_python_object(tmp_path, monkeypatch):
    """A supermarket's six years are millions of pages: what the walk keeps of each page (the pages claimed, a table's
    leaves) is a byte or a few, not a Python int in a set or a list (some 70 bytes a page before, measured). The
    reads' buffers are the same whatever the file (made small here, so that they do not make the peak): the growth
    from a file to one twice its size is what is held."""
    monkeypatch.setattr(pages, "READ_BYTES", 64 << 10)
    small, small_peak = _walk_peak(build(tmp_path / "small.db", rows=120_000, page_size=512, gap=None))
    large, large_peak = _walk_peak(build(tmp_path / "large.db", rows=240_000, page_size=512, gap=None))
    assert large - small > 20_000
    per_page = (large_peak - small_peak) / (large - small)
    assert per_page < 16, (f"{per_page:.1f} bytes a page ({small_peak} bytes for {small} pages, "
                           f"{large_peak} for {large})")
