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
