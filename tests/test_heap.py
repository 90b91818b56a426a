"""pipeline/heap.py: once set, the buffers of blocks are reused rather than mapped afresh and faulted in each time."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

# Blocks of the sizes a copy holds (a few hundred bytes to 1 MiB) read and decrypted whole, round after round, as a
# deep verify opens them: the minor page faults it costs.
PROBE = """
import io, os, resource, sys
from pipeline import heap
how, folder = sys.argv[1:]
if how == "keep":
    assert heap.keep_buffers()
if how == "deep verify":
    from pipeline.unpack.block_contents import OpenedBlocks
    OpenedBlocks([])
from pyrage import x25519
from pipeline.age.reader import decrypt_bytes
from pipeline.age.writer import AgeWriter
from pipeline.keys.age_identity import identity_secret, parse_recipient
ident = x25519.Identity.generate()
for n, size in enumerate([300, 200 << 10, 1 << 20, 700 << 10] * 10):
    out = io.BytesIO()
    w = AgeWriter(out, [parse_recipient(str(ident.to_public()))])
    w.write(os.urandom(size))
    w.close()
    with open(os.path.join(folder, str(n)), "wb") as f:
        f.write(out.getvalue())
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for rounds in range(5):
    for n in range(40):
        with open(os.path.join(folder, str(n)), "rb") as f:
            data = f.read()
        plain = decrypt_bytes(data, [identity_secret(ident)])
        del data, plain
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(how: str, folder) -> int:
    folder.mkdir()
    out = subprocess.run([sys.executable, "-c", PROBE, how, str(folder)], capture_output=True, text=True, check=True)
    return int(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_block_buffers_are_reused_not_faulted_in_each_time(tmp_path):
    plain, kept = _faults("plain", tmp_path / "plain"), _faults("keep", tmp_path / "keep")
    assert plain > 5000  # measured: 24,000 (each buffer over 128 KiB mapped afresh and faulted in)
    assert kept < plain / 10  # measured: 350


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_a_deep_verify_sets_it(tmp_path):
    """The blocks' opener (unpack/block_contents.py) asks for it: only the deep verify, whose buffers it measured."""
    assert _faults("deep verify", tmp_path / "deep") < _faults("plain", tmp_path / "plain") / 10


@pytest.mark.parametrize("platform", ["win32", "linux"])
def test_without_mallopt_nothing_changes(monkeypatch, platform):
    """Not Linux, or no C library to ask (Windows: ctypes.CDLL(None) raises TypeError): False, and the verify goes
    on."""
    from pipeline import heap
    monkeypatch.setattr(heap.sys, "platform", platform)
    monkeypatch.setattr(heap.ctypes, "CDLL", lambda name: (_ for _ in ()).throw(TypeError("not a library")))
    assert heap.keep_buffers() is False
    assert heap.one_arena() is False


# Six threads alive at once, each taking memory from the C allocator (objects over Python's small-object limit), then
# glibc's own account of its arenas (malloc_stats writes one "Arena N:" paragraph each to stderr).
ARENAS = """
import ctypes, sys, threading
from pipeline import heap
if sys.argv[1] == "one":
    assert heap.one_arena()
if sys.argv[1] == "archive":
    from pipeline import archive
    try:
        archive.run_archive(None, [])
    except Exception:
        pass  # refused at once (no destination): what it set before is what is looked at
together = threading.Barrier(6)
def work():
    together.wait()
    held = [bytes(2000) for _ in range(200)]
    together.wait()
threads = [threading.Thread(target=work) for _ in range(6)]
for t in threads:
    t.start()
for t in threads:
    t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(how: str) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}  # some machines set it for every program
    out = subprocess.run([sys.executable, "-c", ARENAS, how], capture_output=True, text=True, check=True, env=env)
    return sum(1 for line in out.stderr.splitlines() if line.startswith("Arena "))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_one_arena_for_every_thread():
    assert _arenas("plain") >= 4  # measured: 7, an arena for each thread but the first
    assert _arenas("one") == 1


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mallopt is glibc's")
def test_an_archive_asks_for_one_arena_before_anything():
    assert _arenas("archive") == 1
