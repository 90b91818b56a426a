"""The age X25519 recipient stanza (age-encryption.org/v1): the file key wrapped for one recipient."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

INFO = b"age-encryption.org/v1/X25519"


def b64(data: bytes) -> bytes:
    """age's base64: standard alphabet, no padding."""
    return base64.b64encode(data).rstrip(b"=")


def stanza_lines(args: list[bytes], body: bytes) -> bytes:
    """`-> args` then the body in base64 lines of 64 columns, the last one always shorter (maybe empty)."""
    text = b64(body)
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    if not lines or len(lines[-1]) == 64:
        lines.append(b"")
    return b"-> " + b" ".join(args) + b"\n" + b"".join(line + b"\n" for line in lines)


def wrap(file_key: bytes, recipient: bytes, ephemeral_secret: bytes | None = None) -> bytes:
    """The stanza for `recipient` (its 32-byte public key). `ephemeral_secret` is for test vectors only:
    a run always draws a fresh one, as the format requires."""
    eph = X25519PrivateKey.from_private_bytes(ephemeral_secret) if ephemeral_secret else X25519PrivateKey.generate()
    share = eph.public_key().public_bytes_raw()
    # cryptography refuses a low-order recipient point (an all-zero shared secret) with ValueError.
    shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient))
    wrap_key = HKDF(SHA256(), 32, salt=share + recipient, info=INFO).derive(shared)
    body = ChaCha20Poly1305(wrap_key).encrypt(b"\0" * 12, file_key, None)
    return stanza_lines([b"X25519", b64(share)], body)
