"""A till's Ed25519 public key, as the journals' checks verify its records: libsodium first, OpenSSL's verdict after.

A first run verifies every signed record of the till once (155,000 for a year of two registers), and that is most of
its time. libsodium (through PyNaCl) verifies one in half the time OpenSSL (through `cryptography`) takes on the same
machine, and lets go of Python's lock as OpenSSL does (bench/README.md). The two do not accept the same signatures:
libsodium also refuses keys and signature points of small order, which no till makes but a forger can. A record
libsodium refuses is therefore verified again by OpenSSL, and its verdict is the one kept. What the checks accept is
then exactly what they accepted with OpenSSL alone (tests/journals/test_till_key.py runs both on the C2SP/CCTV
edge-case vectors), while a good record, nearly every one, costs libsodium's time only.
"""

from __future__ import annotations

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError


class TillKey:
    """One till public key (32 bytes); ValueError when OpenSSL cannot read it as an Ed25519 key."""

    def __init__(self, raw: bytes):
        self.openssl = Ed25519PublicKey.from_public_bytes(raw)
        self.raw = bytes(raw)

    def verify(self, signature: bytes, data: bytes) -> bool:
        return verify_any([self], signature, data)

    def _sodium(self, signed: bytes) -> bool:
        try:
            crypto_sign_open(signed, self.raw)
            return True
        except CryptoError:  # refused, or a key libsodium does not take (small order)
            return False

    def _openssl(self, signature: bytes, data: bytes) -> bool:
        try:
            self.openssl.verify(signature, data)
            return True
        except InvalidSignature:
            return False


def verify_any(keys: list[TillKey], signature: bytes, data: bytes) -> bool:
    """Whether one of the till's keys verifies `signature` over `data`. libsodium is asked about every key before
    OpenSSL is asked about any: a till that changed keys signs its newer records with its second key, and those then
    cost two libsodium calls, not a libsodium and an OpenSSL call before the second key is tried."""
    if len(signature) != 64:
        return False  # neither library takes another length; libsodium would read the message's bytes as one
    signed = signature + data
    return any(k._sodium(signed) for k in keys) or any(k._openssl(signature, data) for k in keys)
