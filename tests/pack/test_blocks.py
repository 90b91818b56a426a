"""The snapshot as zstd frames of 1 MiB blocks: what stock age and zstd give back, and which blocks a run compresses again."""

from __future__ import annotations

import io
import json
import random
import sqlite3
import subprocess

import blake3
import pytest
from conftest import need_tool, run_coffre, written_in_module_format
from pyrage import x25519

from pipeline.keys.age_identity import parse_recipient
from pipeline.pack import blocks
from pipeline.pack.blocks import BLOCK, BlockCache, pack_blocks
from pipeline.sample import SaleWriter

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    ident = x25519.Identity.generate()
    path = tmp_path_factory.mktemp("age") / "identity.txt"
    path.write_text(str(ident) + "\n")
    return path, parse_recipient(str(ident.to_public()))


def text_like(n: int, seed: int) -> bytearray:
    """Compressible bytes, like a database's rows."""
    rnd = random.Random(seed)
    words = [b"CAISSE-01", b"sale", b"2025-01-01T09:00:38Z", b"OP02", b"1836", b"169", b"2005"]
    out = bytearray()
    while len(out) < n:
        out += rnd.choice(words) + rnd.randbytes(rnd.randint(0, 3)) + b";"
    return out[:n]


def run_pack(data: bytes, state, key, level: int = 3) -> tuple[bytes, BlockCache, str]:
    """One run: pack `data`, then commit the cache as a signed run would. Returns the sealed bytes."""
    cache = BlockCache.open(state, "shop", level)
    out = io.BytesIO()
    digest, size = pack_blocks(io.BytesIO(data), out, [key[1]], cache, workers=2)
    assert size == len(data) and digest == blake3.blake3(data).hexdigest()
    return out.getvalue(), cache, digest


def stock_open(sealed: bytes, key) -> bytes:
    age = subprocess.run([need_tool("age"), "-d", "-i", str(key[0])], input=sealed, capture_output=True, check=True)
    return subprocess.run([need_tool("zstd"), "-d", "-c"], input=age.stdout, capture_output=True, check=True).stdout


def frame_count(sealed: bytes, key, tmp_path) -> int:
    age = subprocess.run([need_tool("age"), "-d", "-i", str(key[0])], input=sealed, capture_output=True, check=True)
    (tmp_path / "s.zst").write_bytes(age.stdout)  # zstd --list reads files only
    listing = subprocess.run([need_tool("zstd"), "-l", "-v", str(tmp_path / "s.zst")], capture_output=True, text=True)
    for line in listing.stdout.splitlines():
        if line.strip().startswith("# Zstandard Frames:"):
            return int(line.split(":")[1])
    raise AssertionError(listing.stdout + listing.stderr)


def test_first_run_compresses_every_block_and_stock_tools_give_the_file_back(tmp_path, key):
    data = bytes(text_like(5 * BLOCK + 1234, 1))
    sealed, cache, _ = run_pack(data, tmp_path, key)
    assert (cache.count, cache.compressed, cache.reused) == (6, 6, 0)
    assert stock_open(sealed, key) == data
    assert frame_count(sealed, key, tmp_path) == 6
    cache.commit()
    index = json.loads((tmp_path / "shop.snapshot" / "index.json").read_text())
    assert len(index["blocks"]) == 6 and index["block"] == BLOCK
    assert (tmp_path / "shop.snapshot" / "frames.zst").stat().st_mode & 0o077 == 0


def test_next_run_compresses_only_the_changed_and_new_blocks(tmp_path, key):
    data = text_like(5 * BLOCK + 1234, 2)
    run_pack(bytes(data), tmp_path, key)[1].commit()
    data[2 * BLOCK + 77] ^= 0xFF                 # a changed page in block 2
    data += text_like(BLOCK // 2, 3)             # sales appended: block 5 grows
    sealed, cache, _ = run_pack(bytes(data), tmp_path, key)
    assert (cache.count, cache.compressed, cache.reused) == (6, 2, 4)
    assert stock_open(sealed, key) == bytes(data)
    cache.commit()
    # And the run after that, with nothing changed, compresses nothing.
    sealed, cache, _ = run_pack(bytes(data), tmp_path, key)
    assert (cache.compressed, cache.reused) == (0, 6)
    assert stock_open(sealed, key) == bytes(data)


def test_a_run_that_is_not_committed_leaves_the_kept_frames_as_they_were(tmp_path, key):
    first = bytes(text_like(3 * BLOCK, 4))
    run_pack(first, tmp_path, key)[1].commit()
    frames = tmp_path / "shop.snapshot" / "frames.zst"
    kept_size = frames.stat().st_size
    other = bytes(text_like(3 * BLOCK, 5))
    run_pack(other, tmp_path, key)  # killed before it was signed: its frames are past the recorded end
    assert frames.stat().st_size > kept_size
    sealed, cache, _ = run_pack(first, tmp_path, key)
    assert (cache.compressed, cache.reused) == (0, 3)
    assert frames.stat().st_size == kept_size  # the leftovers were cut off
    assert stock_open(sealed, key) == first


def test_a_damaged_kept_frame_is_never_used(tmp_path, key):
    data = bytes(text_like(4 * BLOCK, 6))
    _, cache, _ = run_pack(data, tmp_path, key)
    cache.commit()
    frames = tmp_path / "shop.snapshot" / "frames.zst"
    raw = bytearray(frames.read_bytes())
    raw[cache.next[1].offset + 40] ^= 0x01
    frames.write_bytes(raw)
    sealed, cache, _ = run_pack(data, tmp_path, key)
    assert (cache.compressed, cache.reused) == (1, 3)
    assert stock_open(sealed, key) == data
    cache.commit()
    assert (run_pack(data, tmp_path, key)[1].reused) == 4  # the block's new frame is kept in its place


@pytest.mark.parametrize("damage", ["index is not JSON", "index lists blocks past the file", "frames file gone",
                                    "a negative length", "a digest that is a number", "an entry too short"])
def test_a_damaged_cache_means_compressing_again(tmp_path, key, damage):
    data = bytes(text_like(3 * BLOCK, 7))
    run_pack(data, tmp_path, key)[1].commit()
    folder = tmp_path / "shop.snapshot"
    if damage == "index is not JSON":
        (folder / "index.json").write_text("{")
    elif damage == "index lists blocks past the file":
        doc = json.loads((folder / "index.json").read_text())
        doc["size"] += 10 ** 6
        doc["blocks"] = [[b[0], b[1] + 10 ** 6, b[2], b[3]] for b in doc["blocks"]]
        (folder / "index.json").write_text(json.dumps(doc))
    elif damage == "frames file gone":
        (folder / "frames.zst").unlink()
    else:
        doc = json.loads((folder / "index.json").read_text())
        entry = {"a negative length": [doc["blocks"][1][0], doc["blocks"][1][1], -5, doc["blocks"][1][3]],
                 "a digest that is a number": [7, doc["blocks"][1][1], doc["blocks"][1][2], doc["blocks"][1][3]],
                 "an entry too short": doc["blocks"][1][:3]}[damage]
        doc["blocks"][1] = entry
        (folder / "index.json").write_text(json.dumps(doc))
    sealed, cache, _ = run_pack(data, tmp_path, key)
    assert cache.reused == 0 and cache.compressed == 3
    assert stock_open(sealed, key) == data


@pytest.mark.parametrize("text", ["null", "[]", "7", '"x"', "[" * 100000 + "]" * 100000])
def test_an_index_that_is_not_an_object_drops_the_cache(tmp_path, text):
    folder = tmp_path / "shop.snapshot"
    folder.mkdir()
    (folder / "index.json").write_text(text)
    cache = BlockCache.open(tmp_path, "shop", 3)  # not AttributeError / RecursionError
    assert cache.kept == [] and cache.fresh


def test_another_level_compresses_again(tmp_path, key):
    data = bytes(text_like(2 * BLOCK, 8))
    run_pack(data, tmp_path, key, level=3)[1].commit()
    sealed, cache, _ = run_pack(data, tmp_path, key, level=5)
    assert cache.reused == 0
    assert stock_open(sealed, key) == data


def test_a_cache_that_cannot_be_written_does_not_stop_the_run(tmp_path, key):
    (tmp_path / "shop.snapshot").write_text("a file where the cache's folder should be")
    data = bytes(text_like(2 * BLOCK + 5, 9))
    sealed, cache, _ = run_pack(data, tmp_path, key)
    assert cache.broken and stock_open(sealed, key) == data
    cache.commit()  # says nothing, raises nothing
    sealed, cache, _ = run_pack(data, tmp_path, key)
    assert stock_open(sealed, key) == data


def test_stale_frames_are_dropped_by_writing_the_file_afresh(tmp_path, key, monkeypatch):
    monkeypatch.setattr(blocks, "STALE_SLACK", 0)
    frames = tmp_path / "shop.snapshot" / "frames.zst"
    sizes = []
    for seed in range(4):  # every block changes every run: the file would grow by the whole snapshot each time
        data = bytes(text_like(2 * BLOCK, 100 + seed))
        sealed, cache, _ = run_pack(data, tmp_path, key)
        cache.commit()
        assert stock_open(sealed, key) == data
        sizes.append(frames.stat().st_size)
    live = sum(k.length for k in cache.next)
    assert max(sizes) <= 3 * live and frames.stat().st_size <= 2 * live
    assert run_pack(data, tmp_path, key)[1].reused == 2  # the file written afresh is the one used


def test_evening_archive_compresses_only_what_the_days_sales_changed(tmp_path, other_disk):
    """Two archive runs with a day of sales between: the second compresses a few blocks, and stock tools
    give back a database whose BLAKE3 is the one the run recorded."""
    db = tmp_path / "shop" / "caisse.db"
    db.parent.mkdir()
    (other_disk / "usb").mkdir()
    assert run_coffre("sample-db", db, "--days", "40", "--tickets-per-day", "400", "--seed", "7").code == 0
    config, identity = tmp_path / "etc" / "coffre.toml", tmp_path / "offline" / "identity.txt"
    assert run_coffre("init", "--config", config, "--source", f"sqlite:{db}", "--to", other_disk / "usb",
                      "--i-know", "--identity-out", identity, "--store-id", "boutique").code == 0
    written_in_module_format(config)  # format 1: the frames cache this file tests is format 1's
    assert run_coffre("archive", "--config", config, "--yes").code == 0
    w = SaleWriter(db, seed=7)  # the seed the sample was built with: its till key
    for _ in range(40):
        w.commit_ticket()
    res = run_coffre("archive", "--config", config, "--yes")
    assert res.code == 0, res
    last = sorted(p for p in (other_disk / "usb" / "boutique").iterdir() if p.is_dir())[-1]
    plain = tmp_path / "restored.db"
    facts = json.loads(stock_open((last / "facts.json.zst.age").read_bytes(), (identity, None)))
    plain.write_bytes(stock_open((last / "snapshot.sqlite.zst.age").read_bytes(), (identity, None)))
    snap = facts["snapshot"]
    assert blake3.blake3(plain.read_bytes()).hexdigest() == snap["plain_blake3"]
    assert snap["blocks"]["count"] == -(-plain.stat().st_size // BLOCK) >= 3
    assert 0 < snap["blocks"]["compressed"] < snap["blocks"]["count"]
    assert snap["blocks"]["reused"] == snap["blocks"]["count"] - snap["blocks"]["compressed"]
    conn = sqlite3.connect(plain)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert conn.execute("SELECT count(*) FROM tickets").fetchone()[0] == 16040
