"""A tar assembled from zstd frames (kept ones and new ones) is what stock zstd and tar read back."""

from __future__ import annotations

import subprocess

import pytest
from conftest import need_tool

from pipeline.pack.frames import FileSlice, FrameTar, Member, frame, member_of_bytes


def read_all(stream, size: int = 7000) -> bytes:
    out = bytearray()
    while chunk := stream.read(size):
        out += chunk
    return bytes(out)


def test_stock_tools_read_members_made_of_kept_and_new_frames(tmp_path):
    kept = frame(b"id;label\r\n", 3) + frame(b"1;\"a\"\r\n" * 5000, 3)
    cache = tmp_path / "tickets.csv.zst"
    cache.write_bytes(kept + b"bytes past the recorded length: a torn append")
    new = frame(b"2;\"b\"\r\n" * 3, 19)
    plain_csv = b"id;label\r\n" + b"1;\"a\"\r\n" * 5000 + b"2;\"b\"\r\n" * 3
    members = [Member("tickets.csv", len(plain_csv), [FileSlice(cache, len(kept)), new]),
               member_of_bytes("findings.json", b'{"findings": []}\n', 3),
               Member("empty.json", 0, [])]
    tar = FrameTar(members, "journals", 3, 1_700_000_000)
    compressed = read_all(tar)
    (tmp_path / "j.tar.zst").write_bytes(compressed)
    zstd, tar_tool = need_tool("zstd"), need_tool("tar")
    plain = subprocess.run([zstd, "-d", "-c", str(tmp_path / "j.tar.zst")], capture_output=True, check=True).stdout
    assert len(plain) == tar.plain_size and len(plain) % 10240 == 0
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run([tar_tool, "x", "-C", str(out)], input=plain, check=True)
    assert (out / "journals" / "tickets.csv").read_bytes() == plain_csv
    assert (out / "journals" / "findings.json").read_bytes() == b'{"findings": []}\n'
    assert (out / "journals" / "empty.json").read_bytes() == b""
    listing = subprocess.run([tar_tool, "tvf", "-"], input=plain, capture_output=True, check=True).stdout.decode()
    assert "0/0" in listing and listing.count("journals/") == 3


def test_a_kept_file_shorter_than_recorded_fails_the_stream(tmp_path):
    cache = tmp_path / "short.zst"
    cache.write_bytes(frame(b"abc", 3))
    tar = FrameTar([Member("a.csv", 3, [FileSlice(cache, 1000)])], "journals", 3, 0)
    with pytest.raises(OSError, match="shorter than recorded"):
        read_all(tar)


def test_a_member_cut_in_pieces_gives_each_piece_as_a_block_across_its_kept_and_new_frames(tmp_path):
    from pipeline.pack.shared import stretches

    kept, new = tmp_path / "t.csv.zst", tmp_path / "t.csv.zst.new"
    kept.write_bytes(bytes(range(256)) * 40 + b"past the recorded length")  # 10,240 bytes kept
    new.write_bytes(b"n" * 3000)
    close = frame(b"]", 3)
    member = Member("t.json", 1, [FileSlice(kept, 10_240), FileSlice(new, 3000), close], [6000, 6240, 1000])
    chunks = list(FrameTar([member], "journals", 3, 0).chunks())
    ends = [(len(data), end) for data, end in chunks if end is not None]
    assert ends == [(6000, True), (4240, False), (2000, True), (1000, True)]
    blocks = list(stretches(chunks))
    whole = (bytes(range(256)) * 40)[:10_240] + b"n" * 3000
    assert blocks[1:4] == [whole[:6000], whole[6000:12_240], whole[12_240:]] and len(blocks) == 5
    assert b"".join(blocks) == b"".join(data for data, _end in chunks)
    assert blocks[0].startswith(b"\x28\xb5\x2f\xfd")  # the header's frame, a block of its own
    tail = list(stretches([(b"x" * 5, None), (b"y" * 7, None)], most=4))
    assert tail == [b"xxxx", b"xyyy", b"yyyy"]


def test_pieces_that_do_not_cover_the_kept_frames_are_refused(tmp_path):
    kept = tmp_path / "t.csv.zst"
    kept.write_bytes(b"k" * 100)
    with pytest.raises(ValueError):
        list(FrameTar([Member("t.csv", 1, [FileSlice(kept, 100)], [60, 30])], "journals", 3, 0).chunks())
