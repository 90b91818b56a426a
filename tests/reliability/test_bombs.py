"""Hostile copies: a data file of copy A swapped for a zstd bomb (gigabytes out of a few kilobytes), encrypted with the
stock `age` to the recipient manifest.json names. verify --deep names it, restore and the drill take copy B, each in
bounded memory, never writing a file past the sizes recorded at archive time; a restore target too small ends in
one sentence, nothing left behind."""

from __future__ import annotations

import io
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import zstandard

from conftest import need_tool

from .helpers import archived_once, one_sentence_error, pristine, replace_data_file, tmpfs, two_copy_store

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1

SNAPSHOT, JOURNALS, FACTS = "snapshot.sqlite.zst.age", "journals.tar.zst.age", "facts.json.zst.age"
BLOCK = 128 << 10  # the most plain bytes one zstd block stands for
GIB = 1 << 30
PEAK_MB = 150
AS_CAP = 2 * GIB  # the child's address space: the code before the fix ends in MemoryError, not in the machine's swap
TIMEOUT = 120

# --- bombs ------------------------------------------------------------------------------------------------------


def rle_frame(plain: int, window_log: int = 17) -> bytes:
    """A zstd frame of `plain` zero bytes made of RLE blocks, 4 bytes per 128 KiB, with the window it declares."""
    blocks = max(1, plain // BLOCK)
    head = (0xFD2FB528).to_bytes(4, "little") + bytes([0x00, (window_log - 10) << 3])
    block = ((BLOCK << 3) | (1 << 1)).to_bytes(3, "little") + b"\0"
    last = ((BLOCK << 3) | (1 << 1) | 1).to_bytes(3, "little") + b"\0"
    return head + block * (blocks - 1) + last


def skippable(size: int) -> bytes:
    """A zstd skippable frame of exactly `size` bytes (8 at least): padding every zstd reader passes over."""
    return (0x184D2A50).to_bytes(4, "little") + (size - 8).to_bytes(4, "little") + bytes(size - 8)


def stock_age(data: bytes, recipient: str) -> bytes:
    return subprocess.run([need_tool("age"), "-r", recipient], input=data, capture_output=True, check=True).stdout


def bomb_of_size(size: int, recipient: str, plain: int, window_log: int = 17) -> tuple[bytes, int]:
    """An age file of exactly `size` bytes (the file it replaces: manifest.json's size still holds) whose zstd stream
    expands to `plain` bytes, or as much as fits; returns it and what it expands to."""
    # age: header and nonce, then each 64 KiB chunk of plaintext followed by its 16-byte tag (one chunk at least).
    before_payload = len(stock_age(b"", recipient)) - 16
    room = size - before_payload
    chunks = max(1, -(-room // (65536 + 16)))
    zst_len = room - 16 * chunks
    blocks = min(max(1, plain // BLOCK), (zst_len - 6 - 8) // 4)
    frame = rle_frame(blocks * BLOCK, window_log)
    data = stock_age(frame + skippable(zst_len - len(frame)), recipient)
    assert len(data) == size, (len(data), size)
    return data, blocks * BLOCK


# --- the store ----------------------------------------------------------------------------------------------------


@dataclass
class Shop:
    store: object
    run: Path  # the run folder on copy A
    recipient: str
    recorded: dict  # kind -> plain size recorded (facts.json: its real size)

    def fsize(self, journals: bool = False) -> int:
        """The largest file a command may write: the largest plain size recorded of the files it writes out."""
        return max(self.recorded.values()) if journals else max(self.recorded["snapshot"], self.recorded["facts"])


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    with two_copy_store(tmp_path_factory.mktemp("bombs"), days=8, tickets_per_day=80, seed=31) as store:
        run = archived_once(store)
        out = store.base / "healthy"
        res = store.coffre("restore", *store.identity_args(), "--out", out, "--journals", "--from", store.destinations[1])
        assert res.code == 0, res
        facts = json.loads((out / "facts.json").read_text())
        recorded = {"snapshot": facts["snapshot"]["plain_size"], "journals": facts["journals"]["plain_size"],
                    "facts": (out / "facts.json").stat().st_size}
        recipient = json.loads((run / "manifest.json").read_text())["recipients"][0]
        yield Shop(store, run, recipient, recorded)


# --- a child process, measured --------------------------------------------------------------------------------


@dataclass
class Measured:
    code: int
    out: str
    err: str
    peak_mb: float
    seconds: float

    def __repr__(self):
        return f"<exit {self.code}, {self.peak_mb:.0f} MB, {self.seconds:.1f} s\nstdout:\n{self.out}\nstderr:\n{self.err}>"


# `python -m pipeline`, which writes its own peak RSS (VmHWM) to $COFFRE_TEST_HWM as it ends. wait4's ru_maxrss
# would not do: Linux keeps in it the memory of the process forked before exec, i.e. this test process's, which grows
# as the suite runs (131-150 MB in a full run, where the command alone peaks at about 50 MB).
_HWM_MAIN = """
import atexit, os, runpy
def _hwm():
    with open("/proc/self/status") as status, open(os.environ["COFFRE_TEST_HWM"], "w") as out:
        out.write(next(line.split()[1] for line in status if line.startswith("VmHWM:")))
atexit.register(_hwm)
runpy.run_module("pipeline", run_name="__main__", alter_sys=True)
"""


def measured(store, *args, fsize: int) -> Measured:
    """`coffre ARGS` in its own process with RLIMIT_FSIZE=fsize (a write past it fails with EFBIG: Python ignores
    SIGXFSZ) and RLIMIT_AS=AS_CAP, killed after TIMEOUT; its peak RSS as it says it (else wait4's, which is larger)."""

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_AS, (AS_CAP, AS_CAP))

    argv = [sys.executable, "-c", _HWM_MAIN, args[0], "--config", str(store.config), *map(str, args[1:])]
    hwm = Path(tempfile.mkdtemp(prefix="coffre-hwm-")) / "kb"
    env = dict(os.environ, **store.env(), COFFRE_TEST_HWM=str(hwm))
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:  # files: nothing to drain while waiting
        started = time.monotonic()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env, preexec_fn=limit)
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > TIMEOUT:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.02)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        try:
            peak_kb = int(hwm.read_text())
        except (OSError, ValueError):  # killed, or ended without its atexit
            peak_kb = usage.ru_maxrss
        finally:
            shutil.rmtree(hwm.parent, ignore_errors=True)
        return Measured(proc.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"),
                        peak_kb / 1024, time.monotonic() - started)


# --- the hostile-copy suite -------------------------------------------------------------------------------------

KIND = {SNAPSHOT: "snapshot", JOURNALS: "journals", FACTS: "facts"}
CASES = [(name, variant) for name in (SNAPSHOT, JOURNALS, FACTS) for variant in ("bomb", "wide-window", "re-signed")]
CASES += [(SNAPSHOT, "older-facts"), (JOURNALS, "older-facts")]


def as_older_run(shop: Shop, kind: str) -> None:
    """Copy A's facts.json rewritten with no plain_size (nor zst_size) for `kind`, the manifest re-signed (a stolen
    signing key): nothing would bound that file's plain bytes, and no Coffre run ever wrote such facts, so the file
    is refused without being decompressed."""
    store = shop.store
    stored = (shop.run / FACTS).read_bytes()
    age, zstd = need_tool("age"), need_tool("zstd")
    plain = subprocess.run([age, "-d", "-i", store.identity], input=stored, capture_output=True, check=True).stdout
    facts = json.loads(subprocess.run([zstd, "-d", "-c"], input=plain, capture_output=True, check=True).stdout)
    facts[kind].pop("plain_size")
    facts[kind].pop("zst_size", None)
    packed = subprocess.run([zstd, "-c"], input=json.dumps(facts).encode(), capture_output=True, check=True).stdout
    replace_data_file(store, shop.run, FACTS, stock_age(packed, shop.recipient))


def plant(shop: Shop, name: str, variant: str) -> str:
    """Puts the bomb in place of `name` on copy A; returns what it is, for the figures."""
    path = shop.run / name
    if variant == "re-signed":  # a stolen signing key: every list agrees with the bomb, only the facts' sizes hold
        frame = rle_frame(4 * GIB)
        replace_data_file(shop.store, shop.run, name, stock_age(frame + skippable(8), shop.recipient))
        return f"{4 * GIB >> 20} MiB in {path.stat().st_size} bytes, manifest re-signed"
    if variant == "older-facts":
        as_older_run(shop, KIND[name])
    window_log = 27 if variant == "wide-window" else 17  # 2^27: the most libzstd allows unless told otherwise
    data, plain = bomb_of_size(path.stat().st_size, shop.recipient, 4 * GIB, window_log)
    path.write_bytes(data)
    return (f"{plain >> 20} MiB in {len(data)} bytes, window 2^{window_log}, manifest untouched"
            + (", facts without its plain size" if variant == "older-facts" else ""))


def stopped_because(variant: str) -> str:
    """Why copy A is passed over: the limit met first."""
    return {"wide-window": "asks for a window", "older-facts": "records no plain size"}.get(
        variant, "decompresses to more than")


def problem_lines(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if name in line]


@pytest.mark.parametrize("name, variant", CASES)
def test_a_bomb_copy_beside_a_healthy_one(shop, name, variant, figures, tmp_path):
    store, a, b = shop.store, str(shop.store.destinations[0]), str(shop.store.destinations[1])
    ids = store.identity_args()
    with pristine(shop.run):
        what = plant(shop, name, variant)

        deep = measured(store, "verify", "--deep", *ids, fsize=shop.fsize())
        assert deep.code == 1, deep
        named = [line for line in problem_lines(deep.err, name) if a in line]
        assert named and all(b not in line for line in problem_lines(deep.err, name)), deep
        assert "Traceback" not in deep.err and "internal error" not in deep.err, deep

        out = tmp_path / "restored"
        extra = ["--journals"] if name == JOURNALS else []  # a plain restore only authenticates the journals
        restored = measured(store, "restore", *ids, "--out", out, *extra, fsize=shop.fsize(bool(extra)))
        assert restored.code == 0, restored
        assert f"from {b}" in restored.err, restored
        passed_over = [line for line in problem_lines(restored.err, name) if a in line and "trying the next" in line]
        assert passed_over and stopped_because(variant) in passed_over[0], restored
        assert (out / "snapshot.sqlite").stat().st_size == shop.recorded["snapshot"]
        assert (out / "facts.json").stat().st_size == shop.recorded["facts"]
        assert not [p for p in out.rglob("*") if p.name.startswith(".coffre-partial")], restored

        drilled = measured(store, "drill", *ids, fsize=shop.fsize())
        assert drilled.code == 1, drilled
        fail = [line for line in drilled.err.splitlines() if line.startswith(f"FAIL {a}:")]
        assert fail and name in fail[0] and stopped_because(variant) in fail[0], drilled
        assert any(line.startswith(f"PASS {b}:") for line in drilled.err.splitlines()), drilled
        assert not list(store.scratch.iterdir()), "the drill left its scratch behind"

    for command, m, cap in (("verify --deep", deep, shop.fsize()), ("restore", restored, shop.fsize(bool(extra))),
                            ("drill", drilled, shop.fsize())):
        assert m.peak_mb < PEAK_MB, (command, m)
        figures(f"bomb {KIND[name]} ({what}): {command} peak RSS {m.peak_mb:.0f} MB, {m.seconds:.1f} s, "
                f"files capped at {cap} bytes")


def test_a_restore_target_too_small_ends_in_one_sentence_and_leaves_nothing(shop, tmp_path, figures):
    """ENOSPC while writing the database: each copy is tried, its partial files removed, and the end is exit 3 with
    one sentence saying the restore target is full; nothing is published."""
    store = shop.store
    with tmpfs(tmp_path / "small", f"{shop.recorded['snapshot'] // 2 // 1024}k") as small:
        out = small / "restored"
        res = store.coffre("restore", *store.identity_args(), "--out", out)
        line = one_sentence_error(res, 3, str(out), "is full")
        tried = [x for x in res.err.splitlines() if "trying the next one" in x]
        assert len(tried) == 2 and all("no space left on the device" in x for x in tried), res
        left = [os.path.join(d, f) for d, _, files in os.walk(small) for f in files]
        assert left == [], left
    figures(f"restore into a tmpfs of half the database: exit 3, {line!r}")


# --- the stream itself, in process ------------------------------------------------------------------------------


class Recorder:
    """An `out` that counts what it is given and the largest single write."""

    def __init__(self):
        self.size = 0
        self.largest = 0

    def write(self, data) -> int:
        self.size += len(data)
        self.largest = max(self.largest, len(data))
        return len(data)


@pytest.fixture(scope="module")
def age_key(tmp_path_factory):
    from pipeline.keys.age_identity import load_identities

    path = tmp_path_factory.mktemp("key") / "identity.txt"
    subprocess.run([need_tool("age-keygen"), "-o", path], capture_output=True, check=True)
    recipient = subprocess.run([need_tool("age-keygen"), "-y", path], capture_output=True, text=True,
                               check=True).stdout.strip()
    return load_identities(path), recipient


def test_no_zstd_call_gives_more_than_a_fixed_amount_and_none_passes_the_recorded_size(age_key, figures):
    from pipeline.unpack.stream import PLAIN_READ, Limits, UnpackError, unpack

    ids, recipient = age_key
    stored = stock_age(rle_frame(4 * GIB), recipient)
    out = Recorder()
    started = time.monotonic()
    with pytest.raises(UnpackError, match=f"decompresses to more than the {10 << 20} bytes recorded at archive time"):
        unpack(io.BytesIO(stored), ids, out, limits=Limits(len(stored), plain=10 << 20))
    seconds = time.monotonic() - started
    assert out.size <= 10 << 20 and out.largest <= PLAIN_READ
    assert seconds < 5
    whole = Recorder()  # no size recorded: everything passes, still in calls of a fixed size
    got = unpack(io.BytesIO(stock_age(rle_frame(GIB), recipient)), ids, whole, limits=Limits(1 << 20))
    assert got.plain_size == whole.size == GIB and whole.largest <= PLAIN_READ
    figures(f"4 GiB bomb in {len(stored)} bytes, recorded size 10 MiB: stopped after {out.size} bytes in {seconds:.2f} s")


@pytest.mark.parametrize("window_log", [27, 31])
def test_a_frame_asking_for_a_huge_window_is_refused(age_key, window_log):
    from pipeline.unpack.stream import Limits, UnpackError, unpack

    ids, recipient = age_key
    stored = stock_age(rle_frame(4 * BLOCK, window_log), recipient)
    with pytest.raises(UnpackError, match=f"asks for a window of {1 << (window_log - 20)} MiB"):
        unpack(io.BytesIO(stored), ids, Recorder(), limits=Limits(len(stored), plain=1 << 20))


def test_frames_are_followed_to_their_end(age_key):
    """The stream reader ends quietly inside a frame: the frame walk says so. Several frames, skippable frames and
    the largest window Coffre writes (level 19) pass; a file longer than manifest.json says, or a zstd stream longer
    than the facts record, does not."""
    from pipeline.unpack.stream import Limits, UnpackError, unpack

    ids, recipient = age_key
    plain = bytes(range(256)) * 40000
    level19 = zstandard.ZstdCompressor(level=19, threads=-1, write_checksum=True)
    stream = io.BytesIO()
    with level19.stream_writer(stream, closefd=False) as w:
        w.write(plain)
    zst = stream.getvalue()
    assert zstandard.get_frame_parameters(zst).window_size == 8 << 20
    good = zst + skippable(20) + zstandard.ZstdCompressor(level=3).compress(b"tail")
    stored = stock_age(good, recipient)
    got = unpack(io.BytesIO(stored), ids, Recorder(), limits=Limits(len(stored), len(good), len(plain) + 4))
    assert got.plain_size == len(plain) + 4
    for cut in (zst[:-3], zst + zst[:40], zst + skippable(20)[:10]):
        cut_stored = stock_age(cut, recipient)
        with pytest.raises(UnpackError, match="truncated"):
            unpack(io.BytesIO(cut_stored), ids, Recorder(), limits=Limits(len(cut_stored), plain=len(plain) * 2))
    with pytest.raises(UnpackError, match=f"longer than the {len(stored) - 1} bytes manifest.json records"):
        unpack(io.BytesIO(stored), ids, Recorder(), limits=Limits(len(stored) - 1))
    with pytest.raises(UnpackError, match=f"more than the {len(good) - 1} bytes of zstd stream recorded"):
        unpack(io.BytesIO(stored), ids, None, decompress=False, limits=Limits(len(stored), len(good) - 1))


def test_facts_bombs_in_every_run_of_several_copies_keep_verify_deep_within_bounds(tmp_path, figures):
    """Three copies out of four hold, in every run, a facts.json that declares the widest window Coffre accepts and
    expands past the most any facts.json holds: deep verify names each one, and its memory stays under the cap
    however many runs and copies there are (each facts.json was once held whole in memory, copy by copy)."""
    with two_copy_store(tmp_path, days=1, tickets_per_day=20, seed=33) as store:
        a, b = store.destinations
        c, d = a.with_name("copy-C"), a.with_name("copy-D")
        c.mkdir()
        d.mkdir()
        copies = [a, b, c, d]
        to = [x for dest in copies for x in ("--to", dest)]
        for _ in range(4):
            res = store.coffre("archive", "--yes", *to)
            assert res.code == 0, res
        recipient = json.loads((store.run_dirs(a)[0] / "manifest.json").read_text())["recipients"][0]
        planted = 0
        for dest in (a, b, c):
            for run in store.run_dirs(dest):
                path = run / FACTS
                data, _ = bomb_of_size(path.stat().st_size, recipient, 64 << 20, window_log=24)
                path.write_bytes(data)
                planted += 1
        fsize = max(p.stat().st_size for p in store.run_dirs(d)[0].iterdir())
        deep = measured(store, "verify", "--deep", *store.identity_args(), *[x for dest in copies for x in ("--from", dest)],
                        fsize=fsize)
        assert deep.code == 1, deep
        for dest in (a, b, c):
            assert any(str(dest) in line and FACTS in line for line in deep.err.splitlines()), deep
        assert not any(str(d) in line and FACTS in line for line in deep.err.splitlines()), deep
        assert deep.peak_mb < PEAK_MB, deep
    figures(f"{planted} facts bombs (window 2^24) in 3 of 4 copies: verify --deep peak RSS {deep.peak_mb:.0f} MB, "
            f"{deep.seconds:.1f} s")
