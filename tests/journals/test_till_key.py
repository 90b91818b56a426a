"""The journals' Ed25519 check (pipeline/journals/till_key.py) on the 914 C2SP/CCTV edge-case vectors.

libsodium refuses more than OpenSSL does (keys and points of small order), and the checks must keep OpenSSL's verdict:
a record that libsodium refuses is verified again by OpenSSL. So TillKey must agree with `cryptography` on every
vector, while libsodium alone must not (else the second opinion would be untested).
"""

from __future__ import annotations

import json
from collections import Counter

import pytest
from conftest import REPO
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

from pipeline.journals.till_key import TillKey

VECTORS = json.loads((REPO / "fixtures" / "vectors" / "cctv-ed25519" / "ed25519vectors.json").read_text())


def parts(vec) -> tuple[bytes, bytes, bytes]:
    return bytes.fromhex(vec["key"]), bytes.fromhex(vec["sig"]), vec["msg"].encode("utf-8")


def openssl_verdict(pub: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(pub).verify(sig, msg)
    except Exception:  # noqa: BLE001 - a key it refuses or a signature that does not verify: rejected
        return False
    return True


def sodium_verdict(pub: bytes, sig: bytes, msg: bytes) -> bool:
    try:
        crypto_sign_open(sig + msg, pub)
    except CryptoError:
        return False
    return True


def till_verdict(pub: bytes, sig: bytes, msg: bytes) -> bool | None:
    """None when the key is not one (TillKey refuses it, and load_public_keys then leaves it out)."""
    try:
        key = TillKey(pub)
    except ValueError:
        return None
    return key.verify(sig, msg)


@pytest.fixture(scope="module")
def verdicts():
    return [(vec, openssl_verdict(*parts(vec)), sodium_verdict(*parts(vec)), till_verdict(*parts(vec)))
            for vec in VECTORS]


def test_every_vector_gets_openssls_verdict(verdicts):
    assert len(verdicts) == 914
    differ = [vec["number"] for vec, openssl, _sodium, till in verdicts if bool(till) != openssl]
    assert differ == []


def test_libsodium_alone_refuses_what_openssl_accepts_so_the_second_opinion_is_needed(verdicts):
    tally = Counter((openssl, sodium) for _vec, openssl, sodium, _till in verdicts)
    assert tally[(False, True)] == 0  # libsodium never accepts what OpenSSL refuses: its "yes" alone is enough
    assert tally[(True, True)] == 43
    assert tally[(True, False)] == 165  # small-order keys and points, mostly: OpenSSL's "yes" comes from the retry
    refused_by_sodium = Counter(f for vec, openssl, sodium, _till in verdicts if openssl and not sodium
                                for f in vec["flags"] or [])
    assert refused_by_sodium["low_order_A"] == 122 and refused_by_sodium["non_canonical_A"] == 36


def test_a_good_signature_verifies_and_any_flipped_bit_does_not():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    private = Ed25519PrivateKey.generate()
    key = TillKey(private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    data = "550:100:6,1000:0:0,2000:0:0,106,2026-12-04T10:00:00Z,R1,1,sale".encode()
    sig = private.sign(data)
    assert key.verify(sig, data)
    for i in (0, 31, 32, 63):
        bad = bytearray(sig)
        bad[i] ^= 1
        assert not key.verify(bytes(bad), data)
    assert not key.verify(sig, data + b" ")
    assert not key.verify(sig[:63], data)  # a short signature is refused, never read into the message
    assert not key.verify(sig + data[:1], data[1:])


def test_with_two_keys_every_vector_still_gets_openssls_verdict_whichever_key_comes_first(verdicts):
    """A till that changed keys: the vector's key beside another, in either order (libsodium asks every key first)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from pipeline.journals.till_key import verify_any
    other = TillKey(Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    differ = []
    for vec, openssl, _sodium, till in verdicts:
        if till is None:
            continue  # a key OpenSSL cannot read is left out by load_public_keys
        pub, sig, msg = parts(vec)
        key = TillKey(pub)
        if verify_any([other, key], sig, msg) != openssl or verify_any([key, other], sig, msg) != openssl:
            differ.append(vec["number"])
    assert differ == []


def test_a_record_signed_with_the_second_key_verifies_and_one_signed_with_neither_does_not():
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
    from pipeline.journals.till_key import verify_any
    first, second, stranger = (Ed25519PrivateKey.generate() for _ in range(3))
    keys = [TillKey(k.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)) for k in (first, second)]
    data = "ticket 7".encode()
    assert verify_any(keys, second.sign(data), data)
    assert verify_any(keys, first.sign(data), data)
    assert not verify_any(keys, stranger.sign(data), data)
    assert not verify_any([], first.sign(data), data)
