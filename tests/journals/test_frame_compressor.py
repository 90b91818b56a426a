"""The journals' frame compressor keeps its tables small at any level (two are open at once in the process that
exports an evening), and its frames still carry their checksum and open with the stock zstd."""

from __future__ import annotations

import subprocess

import zstandard

from conftest import need_tool

from pipeline.journals.cache import compressor


def _journal_like(rows: int) -> bytes:
    """CSV-like text with the randomness of signatures in it, as the journals are."""
    import base64
    import random
    rng = random.Random(18)
    return "".join(f'"CAISSE-0{n % 3}";{n};"sale";"{base64.b64encode(rng.randbytes(64)).decode()}";{rng.randint(1, 9999)}\r\n'
                   for n in range(rows)).encode()


def test_frames_of_every_level_have_a_small_window_and_open_with_stock_zstd(tmp_path):
    zstd = need_tool("zstd")
    data = _journal_like(60_000)  # about 8 MB: a busy evening's frame
    sizes = {}
    for level in (1, 3, 9, 19):
        cctx = compressor(level)
        frame = cctx.compress(data)
        params = zstandard.get_frame_parameters(frame)
        assert params.has_checksum and params.window_size <= 2 << 20, (level, params.window_size)
        assert cctx.memory_size() < 8 << 20, (level, cctx.memory_size())
        path = tmp_path / f"f{level}.zst"
        path.write_bytes(frame)
        assert subprocess.run([zstd, "-dc", str(path)], capture_output=True, check=True).stdout == data
        sizes[level] = len(frame)
    assert sizes[9] < sizes[3]  # the evening's level still pays for itself
