"""pipeline/heap.py: once set, the buffers of blocks are reused rather than mapped afresh and faulted in each time."""

from __future__ import annotations

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
