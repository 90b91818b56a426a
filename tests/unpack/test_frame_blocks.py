"""A snapshot's blocks unpacked on every core give the bytes, hashes and sizes of the one-stream reader, in the blocks'
order; a block that is not exactly one zstd frame of a declared, bounded size is damage, refused before it is
decompressed; the recorded plain size still bounds the whole."""

from __future__ import annotations

import io
import os

import pytest
import zstandard
from pyrage import x25519

from pipeline.keys.age_identity import parse_recipient
from pipeline.pack.shared import encrypt
from pipeline.unpack.frame_blocks import MAX_PLAIN_BLOCK, unpack_frame_blocks
from pipeline.unpack.stream import Limits, UnpackError, unpack_parts

KEY = x25519.Identity.generate()
RECIPIENTS = [parse_recipient(str(KEY.to_public()))]


def parts_of(blocks: list[bytes]):
    return [(lambda b=b: io.BytesIO(b), None, len(b)) for b in blocks]


def sealed(frames: list[bytes]) -> list[bytes]:
    return [encrypt(f, RECIPIENTS) for f in frames]


def frames_of(plain: list[bytes]) -> list[bytes]:
    return [zstandard.ZstdCompressor(level=3).compress(p) for p in plain]


def limits(blocks, plain: int) -> Limits:
    return Limits(stored=sum(map(len, blocks)), plain=plain)


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_blocks_unpacked_apart_give_what_one_stream_gives_in_order(workers):
    plain = [os.urandom(1000) + bytes([i]) * (1 + i * 997 % 50_000) for i in range(60)]
    blocks = sealed(frames_of(plain))
    out = io.BytesIO()
    got = unpack_frame_blocks(parts_of(blocks), [KEY], out, limits=limits(blocks, sum(map(len, plain))),
                              whole="the list's", workers=workers)
    assert out.getvalue() == b"".join(plain)
    want = unpack_parts(parts_of(blocks), [KEY], io.BytesIO(), limits=limits(blocks, sum(map(len, plain))))
    assert (got.plain_blake3, got.plain_size, got.zst_blake3, got.zst_size, got.stored_size) == \
        (want.plain_blake3, want.plain_size, want.zst_blake3, want.zst_size, want.stored_size)
    assert got.stored_blake3 == "the list's"


def test_decrypting_without_decompressing_hashes_the_stream_of_any_blocks():
    stream = zstandard.ZstdCompressor(level=3).compress(os.urandom(300_000))
    cut = [stream[i:i + 50_000] for i in range(0, len(stream), 50_000)]  # not frame-aligned: never decompressed
    blocks = sealed(cut)
    got = unpack_frame_blocks(parts_of(blocks), [KEY], None, decompress=False, limits=limits(blocks, None),
                              whole="w", workers=2)
    want = unpack_parts(parts_of(blocks), [KEY], None, decompress=False, limits=limits(blocks, None))
    assert (got.zst_blake3, got.zst_size, got.plain_blake3) == (want.zst_blake3, len(stream), None)


@pytest.mark.parametrize("frame, said", [
    (b"".join(frames_of([b"a" * 1000, b"b" * 1000])), "not one whole zstd frame"),
    (frames_of([b"a" * 1000])[0] + b"junk", "not one whole zstd frame"),
    (zstandard.ZstdCompressor(level=3, write_content_size=False).compress(b"a" * 1000), "does not say a size"),
    (zstandard.ZstdCompressor(level=1).compress(bytes(MAX_PLAIN_BLOCK + 1)), "does not say a size"),
    (frames_of([b"a" * 100_000])[0][:-9], "not one whole zstd frame"),
    (b"not zstd at all", "damaged"),
])
def test_a_block_that_is_not_one_bounded_frame_is_damage(frame, said):
    blocks = sealed(frames_of([b"x" * 5000]) + [frame])
    with pytest.raises(UnpackError) as err:
        unpack_frame_blocks(parts_of(blocks), [KEY], io.BytesIO(), limits=limits(blocks, 1 << 30), whole="w")
    assert said in str(err.value)


def test_the_recorded_plain_size_bounds_the_whole_file():
    plain = [b"p" * 200_000] * 3
    blocks = sealed(frames_of(plain))
    out = io.BytesIO()
    with pytest.raises(UnpackError) as err:
        unpack_frame_blocks(parts_of(blocks), [KEY], out, limits=limits(blocks, 450_000), whole="w")
    assert "450000" in str(err.value) and out.tell() <= 450_000


def test_a_block_for_another_recipient_says_what_age_says():
    other = parse_recipient(str(x25519.Identity.generate().to_public()))
    blocks = [encrypt(frames_of([b"a" * 10])[0], [other])]
    with pytest.raises(UnpackError):
        unpack_frame_blocks(parts_of(blocks), [KEY], io.BytesIO(), limits=limits(blocks, 100), whole="w")
