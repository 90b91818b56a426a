"""Corruption at scale: over a thousand seeded mutations (byte flips, truncations, block swaps) of every file of one
archived run, each checked by the real verifier; clean copies never raise a false alarm."""

from __future__ import annotations

import random
from collections import Counter

import minisign
import pytest

from pipeline.destinations.local import LocalDestination
from pipeline.verify.copy import VerifyOptions, verify_run

from .helpers import archived_once, expect_fixed, no_traceback, two_copy_store

# These tests hold format 1's data files (one age file per data file in the run folder) to what they must be:
# format 1 is still read, and written when archive.store_format = 1 (tests/store/ holds format 2 to the same).
STORE_FORMAT = 1

SEED = 286
MUTATIONS = 1400  # spread evenly over every file of the run
CLEAN_RUNS = 100
CLI_MUTATIONS = 30
SIGNATURE = "MANIFEST.b3.minisig"


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    with two_copy_store(tmp_path_factory.mktemp("corruption"), days=2, tickets_per_day=50, seed=3) as store:
        yield store, archived_once(store).name


def mutate(rng: random.Random, data: bytes) -> tuple[str, bytes]:
    """One seeded mutation that really changes the bytes: a byte flip, a truncation or a swap of two blocks."""
    kind = rng.choices(["flip", "truncate", "swap"], weights=[2, 1, 1])[0]
    if kind == "truncate":
        n = rng.randrange(len(data))
        return f"truncated to {n} of {len(data)} bytes", data[:n]
    if kind == "swap" and len(data) >= 2:
        for _ in range(20):
            k = rng.randint(1, min(4096, len(data) // 2))
            a = rng.randrange(0, len(data) - 2 * k + 1)
            b = rng.randrange(a + k, len(data) - k + 1)
            out = data[:a] + data[b:b + k] + data[a + k:b] + data[a:a + k] + data[b + k:]
            if out != data:
                return f"blocks of {k} bytes at {a} and {b} swapped", out
    off = rng.randrange(len(data))
    out = bytearray(data)
    out[off] ^= rng.randrange(1, 256)
    return f"byte {off} flipped", bytes(out)


def same_signature(a: bytes, b: bytes) -> bool:
    """True when two signature files differ only where minisign authenticates nothing (the untrusted comment,
    unused base64 bits, the final newline): the signed content is the same."""
    try:
        return minisign.Signature.from_bytes(a) == minisign.Signature.from_bytes(b)
    except Exception:
        return False


class Mutations:
    """Seeded mutations of every file of copy A's run, each undone after it was checked."""

    def __init__(self, store, run_id: str, seed: int):
        self.store, self.run_id = store, run_id
        self.folder = store.run_dir(store.destinations[0], run_id)
        self.originals = {p.name: p.read_bytes() for p in sorted(self.folder.iterdir())}
        self.rng = random.Random(seed)

    def __iter__(self):
        names = list(self.originals)
        i = 0
        while True:
            name = names[i % len(names)]
            i += 1
            how, data = mutate(self.rng, self.originals[name])
            unauthenticated = name == SIGNATURE and same_signature(data, self.originals[name])
            path = self.folder / name
            path.write_bytes(data)
            try:
                yield name, how, unauthenticated
            finally:
                path.write_bytes(self.originals[name])


def check(dest, store, run_id) -> tuple[list, object]:
    problems: list = []
    rep = verify_run(dest, store.store_id, run_id, VerifyOptions(store.pinned_key), problems)
    return problems, rep


def test_every_mutation_of_every_file_is_detected(one_run, figures):
    store, run_id = one_run
    dest = LocalDestination(str(store.destinations[0]))
    tried, detected, per_file, unauth = 0, 0, Counter(), Counter()
    missed, escaped = [], []
    for name, how, unauthenticated in Mutations(store, run_id, SEED):
        if tried + sum(unauth.values()) >= MUTATIONS:
            break
        try:
            problems, rep = check(dest, store, run_id)
        except Exception as err:  # noqa: BLE001 - any exception escaping the verifier is the failure looked for
            escaped.append(f"{name} {how}: {type(err).__name__}: {err}")
            continue
        found = bool(problems) and not rep.ok
        if unauthenticated:
            unauth["detected" if found else "undetected"] += 1
            continue
        tried += 1
        per_file[name] += 1
        named = any(p.file == name or name in p.message for p in problems)
        if found and named:
            detected += 1
        else:
            missed.append(f"{name} {how}: {[p.sentence() for p in problems]}")
    figures(f"corruption: {detected}/{tried} mutations of signed content detected by verify_run, across "
            f"{len(per_file)} files ({', '.join(f'{n}: {c}' for n, c in sorted(per_file.items()))}); "
            f"{len(escaped)} exceptions escaped")
    figures(f"corruption: {sum(unauth.values())} further mutations touched only the signature file's unauthenticated "
            f"bytes: {unauth['detected']} detected, {unauth['undetected']} not")
    assert not escaped, escaped[:5]
    assert not missed, missed[:5]
    assert tried >= 1000 and detected == tried
    assert set(per_file) == {p.name for p in store.run_dir(store.destinations[0], run_id).iterdir()}
    assert min(per_file.values()) >= 100


def test_clean_copies_raise_no_false_alarm(one_run, figures):
    store, run_id = one_run
    alarms = 0
    for i in range(CLEAN_RUNS):
        dest = LocalDestination(str(store.destinations[i % 2]))
        problems, rep = check(dest, store, run_id)
        alarms += bool(problems) or not rep.ok or not rep.complete or rep.manifest is None
    figures(f"corruption: {alarms} false alarms in {CLEAN_RUNS} verifications of clean copies")
    assert alarms == 0


def test_mutations_through_the_cli_exit_1_without_traceback(one_run, figures):
    store, run_id = one_run
    done = 0
    for name, how, unauthenticated in Mutations(store, run_id, SEED + 1):
        if done >= CLI_MUTATIONS:
            break
        if unauthenticated:
            continue
        res = store.coffre("verify", "--from", store.destinations[0], "--from", store.destinations[1])
        no_traceback(res)
        assert res.code == 1, (name, how, res)
        assert name in res.err and run_id in res.err, (name, how, res)
        assert f"{store.destinations[1]}: intact" in res.err, (name, how, res)
        done += 1
    figures(f"corruption: {done}/{CLI_MUTATIONS} mutations through `coffre verify` gave exit 1, naming the file")
    assert done == CLI_MUTATIONS


@pytest.mark.parametrize("edit", [
    pytest.param(lambda s: s.replace(b"signature from coffre", b"signature from c0ffre", 1), id="comment-letter"),
    pytest.param(lambda s: s.rstrip(b"\n"), id="final-newline-dropped"),
    pytest.param(lambda s: s.replace(b"signature from coffre", b"signature from coffre " + b"X" * 900, 1),
                 id="smuggled-text-in-comment"),
])
def test_signature_file_changed_outside_its_signed_part_is_detected(one_run, edit):
    store, run_id = one_run
    sig = store.run_dir(store.destinations[0], run_id) / SIGNATURE
    original = sig.read_bytes()
    forged = edit(original)
    assert forged != original and same_signature(forged, original)
    sig.write_bytes(forged)
    try:
        problems, rep = check(LocalDestination(str(store.destinations[0])), store, run_id)
    finally:
        sig.write_bytes(original)
    expect_fixed(problems and not rep.ok, "the altered signature file went unnoticed")
