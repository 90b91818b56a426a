"""age v1 (c2sp.org/age): what the writer (pack) and the reader (unpack) share, built on `cryptography`.

Coffre encrypts and decrypts every byte of every run; pyrage does both at ~350 MB/s holding Python's
lock, cryptography's ChaCha20-Poly1305 runs at over 2 GB/s. Only X25519 recipients, the kind `coffre
init` makes, are written and read here (pyrage still opens passphrase-protected identity files). Stock
`age` is the judge of both sides (tests/age).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from pipeline.i18n import _

VERSION_LINE = b"age-encryption.org/v1"
CHUNK = 64 * 1024  # plaintext bytes per payload chunk
TAG = 16  # Poly1305 tag after each chunk
NONCE = 16  # the payload's nonce, after the header
FILE_KEY = 16


class AgeError(ValueError):
    """The bytes are not an age file this reader can open: damaged, truncated, forged, or not age."""


class NoIdentity(AgeError):
    """No identity given opens any of the file's recipient stanzas."""


def hkdf(ikm: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(SHA256(), 32, salt=salt, info=info).derive(ikm)


def header_mac(file_key: bytes, head: bytes) -> bytes:
    """HMAC-SHA-256 of the header up to and including its final `---`."""
    return hmac.new(hkdf(file_key, b"", b"header"), head, hashlib.sha256).digest()


def b64(data: bytes) -> bytes:
    """age's base64: standard alphabet, no padding."""
    return base64.b64encode(data).rstrip(b"=")


def unb64(text: bytes) -> bytes:
    """Strict decoding: no padding, only the alphabet, and canonical (it encodes back to itself)."""
    if b"=" in text or len(text) % 4 == 1:
        raise AgeError(_("malformed base64 in the header"))
    try:
        data = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        raise AgeError(_("malformed base64 in the header")) from None
    if b64(data) != text:
        raise AgeError(_("non-canonical base64 in the header"))
    return data


def payload_nonce(counter: int, last: bool) -> bytes:
    return counter.to_bytes(11, "big") + (b"\x01" if last else b"\x00")
