"""verify.py's Ed25519 (pipeline/auditor/verify_script.py) against the 914 C2SP/CCTV edge-case vectors.

The vectors (fixtures/vectors/cctv-ed25519, third-party, copied unchanged) have small-order and
non-canonical A and R points, with flags saying what each exercises. verify.py's stated position
(ed25519_verify's docstring) is RFC 8032 with the cofactorless equation: A must decode (y < p,
no x = -0), S < L, and encode([S]B - [k]A) == R, so a non-canonical R never matches.

`cryptography` (OpenSSL, ref10 behaviour) takes the same position except on one point: it does
not check that A is canonically encoded. So:

  (a) ours (ed25519_verify) agrees with cryptography on every vector without a non_canonical_*
      flag; on non_canonical_A and non_canonical_R it rejects, as RFC 8032 5.1.3 / 5.1.7 require,
      and the vectors where that makes it differ (cryptography accepts) are counted;
  (b) Ed25519Keys([pub], pure=True).verify_many agrees with ed25519_verify on every vector (it used to
      raise TypeError on a non-canonical A);
  (c) totals per verdict, so a vector that goes missing fails the test.

Ed25519Keys([pub]) without pure= uses cryptography when it is installed, as here, but only for keys
that are canonical encodings: a non-canonical key verifies nothing in either engine, so verify.py
gives the RFC 8032 verdict on every vector whether or not `cryptography` is installed (it used to
accept the 36 non_canonical_A vectors OpenSSL accepts).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import REPO
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

SCRIPT = REPO / "pipeline" / "auditor" / "verify_script.py"
VECTORS = json.loads((REPO / "fixtures" / "vectors" / "cctv-ed25519" / "ed25519vectors.json").read_text())
NON_CANONICAL = {"non_canonical_A", "non_canonical_R"}

# (c) how many vectors each side accepts; the rest (of 914) it rejects.
TOTAL = 914
CRYPTOGRAPHY_ACCEPTS = 208
OURS_ACCEPTS = 172
# (a) the only vectors where ours and cryptography differ: non_canonical_A that OpenSSL accepts.
DIFFER_NON_CANONICAL_A = 36
# Per flag: vectors carrying it, and how many each side accepts.
FLAGS = {  # flag: (vectors, cryptography accepts, ours accepts)
    "low_order_A": (526, 122, 86),
    "low_order_R": (586, 99, 86),
    "low_order_component_A": (774, 195, 168),
    "low_order_component_R": (665, 159, 140),
    "low_order_residue": (583, 0, 0),  # both use the cofactorless equation
    "non_canonical_A": (226, 36, 0),
    "non_canonical_R": (316, 0, 0),  # OpenSSL also compares R's bytes
    "reencoded_k": (146, 10, 0),  # only with non_canonical_A: OpenSSL hashes A's bytes as given
    None: (1, 1, 1),  # vector 305, no flags: an ordinary signature
}


def flags(vec) -> set[str]:
    return set(vec["flags"] or [])


def vid(vec) -> str:
    return f"v{vec['number']:03d}-" + "+".join(sorted(flags(vec))) if vec["flags"] else f"v{vec['number']:03d}"


def parts(vec) -> tuple[bytes, bytes, bytes]:
    return bytes.fromhex(vec["key"]), bytes.fromhex(vec["sig"]), vec["msg"].encode("utf-8")


def cryptography_verdict(vec) -> bool:
    pub, sig, msg = parts(vec)
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
    except Exception:  # noqa: BLE001 - a key it refuses or a signature that does not verify: rejected
        return False
    return True


@pytest.fixture(scope="module")
def verdicts(vs):
    """number -> {"cryptography", "ours", "default", "default_engine"}: computed once (one Ed25519Keys per key)."""
    default_keys = {}
    out = {}
    for vec in VECTORS:
        pub, sig, msg = parts(vec)
        if pub not in default_keys:
            default_keys[pub] = vs.Ed25519Keys([pub])
        keys = default_keys[pub]
        out[vec["number"]] = {
            "cryptography": cryptography_verdict(vec),
            "ours": vs.ed25519_verify(pub, sig, msg),
            "default": keys.verify_many([(msg, sig)]) == [True],
            "default_engine": keys.engine,
        }
    return out


@pytest.fixture(scope="module")
def pure_keys(vs):
    """One Ed25519Keys(pure=True) per public key (its table is built once, on first use)."""
    made = {}

    def get(pub: bytes):
        if pub not in made:
            made[pub] = vs.Ed25519Keys([pub], pure=True)
        return made[pub]
    return get


def test_totals(verdicts):
    assert [v["number"] for v in VECTORS] == list(range(TOTAL))
    assert len(verdicts) == TOTAL
    assert Counter(v["cryptography"] for v in verdicts.values()) == {True: CRYPTOGRAPHY_ACCEPTS,
                                                                      False: TOTAL - CRYPTOGRAPHY_ACCEPTS}
    assert Counter(v["ours"] for v in verdicts.values()) == {True: OURS_ACCEPTS, False: TOTAL - OURS_ACCEPTS}
    per_flag = {}
    for vec in VECTORS:
        v = verdicts[vec["number"]]
        for flag in flags(vec) or {None}:
            n, c, o = per_flag.get(flag, (0, 0, 0))
            per_flag[flag] = (n + 1, c + v["cryptography"], o + v["ours"])
    assert per_flag == FLAGS
    assert len(NON_CANONICAL_KEYS) == 6


def test_ours_differs_from_cryptography_only_on_non_canonical_a(verdicts):
    differ = [vec for vec in VECTORS if verdicts[vec["number"]]["ours"] != verdicts[vec["number"]]["cryptography"]]
    assert len(differ) == DIFFER_NON_CANONICAL_A
    for vec in differ:
        v = verdicts[vec["number"]]
        assert "non_canonical_A" in flags(vec) and "non_canonical_R" not in flags(vec), vid(vec)
        assert v["cryptography"] and not v["ours"], vid(vec)


@pytest.mark.parametrize("vec", VECTORS, ids=vid)
def test_ours_against_cryptography(vec, verdicts):
    """(a) RFC 8032 decides the non-canonical encodings; elsewhere both positions coincide."""
    v = verdicts[vec["number"]]
    if flags(vec) & NON_CANONICAL:
        assert v["ours"] is False, "RFC 8032 rejects a non-canonical A or R"
    else:
        assert v["ours"] == v["cryptography"]


@pytest.mark.parametrize("vec", [vec for vec in VECTORS if "non_canonical_A" not in flags(vec)], ids=vid)
def test_pure_batch_agrees_with_the_function(vec, verdicts, pure_keys):
    """(b) Ed25519Keys([pub], pure=True).verify_many, verify.py's path without `cryptography`, is ed25519_verify."""
    pub, sig, msg = parts(vec)
    assert pure_keys(pub).verify_many([(msg, sig)]) == [verdicts[vec["number"]]["ours"]]


NON_CANONICAL_KEYS = sorted({vec["key"] for vec in VECTORS if "non_canonical_A" in flags(vec)})


@pytest.mark.parametrize("key", NON_CANONICAL_KEYS)
def test_pure_batch_rejects_a_non_canonical_key(key, vs, verdicts):
    """(b) on the 226 non_canonical_A vectors (6 keys): ed25519_verify rejects all; the pure batch must too."""
    vecs = [vec for vec in VECTORS if vec["key"] == key]
    assert all(verdicts[vec["number"]]["ours"] is False for vec in vecs)
    items = [(parts(vec)[2], parts(vec)[1]) for vec in vecs]
    keys = vs.Ed25519Keys([bytes.fromhex(key)], pure=True)
    assert keys.verify_many(items) == [False] * len(items)


def test_pure_batch_agrees_with_the_function_on_a_batch(vs, verdicts):
    """The same, each canonical key's vectors verified in one verify_many call (one shared inversion)."""
    by_key = {}
    for vec in VECTORS:
        if "non_canonical_A" not in flags(vec):
            by_key.setdefault(vec["key"], []).append(vec)
    assert sum(map(len, by_key.values())) == TOTAL - FLAGS["non_canonical_A"][0]
    for key, vecs in by_key.items():
        items = [(parts(v)[2], parts(v)[1]) for v in vecs]
        got = vs.Ed25519Keys([bytes.fromhex(key)], pure=True).verify_many(items)
        assert got == [verdicts[v["number"]]["ours"] for v in vecs], key


def test_default_keys_agree_with_the_pure_python(verdicts):
    """Ed25519Keys([pub]) with `cryptography` installed uses OpenSSL, yet gives the pure Python's (RFC 8032) verdict
    on every vector: a non-canonical key is refused before OpenSSL sees it."""
    assert {v["default_engine"] for v in verdicts.values()} == {"cryptography (OpenSSL)"}
    for vec in VECTORS:
        v = verdicts[vec["number"]]
        assert v["default"] == v["ours"], vid(vec)
        if "non_canonical_A" not in flags(vec):
            assert v["default"] == v["cryptography"], vid(vec)