"""The age X25519 recipient stanza: the file key wrapped for one recipient, and unwrapped by its identity."""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pipeline.age import FILE_KEY, AgeError, b64, hkdf, unb64
from pipeline.i18n import _

TYPE = b"X25519"
INFO = b"age-encryption.org/v1/X25519"


def stanza_lines(args: list[bytes], body: bytes) -> bytes:
    """`-> args` then the body in base64 lines of 64 columns, the last one always shorter (maybe empty)."""
    text = b64(body)
    lines = [text[i:i + 64] for i in range(0, len(text), 64)]
    if not lines or len(lines[-1]) == 64:
        lines.append(b"")
    return b"-> " + b" ".join(args) + b"\n" + b"".join(line + b"\n" for line in lines)


def _wrap_key(shared: bytes, share: bytes, recipient: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(hkdf(shared, share + recipient, INFO))


def wrap(file_key: bytes, recipient: bytes, ephemeral_secret: bytes | None = None) -> bytes:
    """The stanza for `recipient` (its 32-byte public key). `ephemeral_secret` is for test vectors only:
    a run always draws a fresh one, as the format requires."""
    eph = X25519PrivateKey.from_private_bytes(ephemeral_secret) if ephemeral_secret else X25519PrivateKey.generate()
    share = eph.public_key().public_bytes_raw()
    # cryptography refuses a low-order recipient point (an all-zero shared secret) with ValueError.
    shared = eph.exchange(X25519PublicKey.from_public_bytes(recipient))
    body = _wrap_key(shared, share, recipient).encrypt(b"\0" * 12, file_key, None)
    return stanza_lines([TYPE, b64(share)], body)


def unwrap(args: list[bytes], body: bytes, identities: list[bytes]) -> bytes | None:
    """The file key if one of `identities` (32-byte secrets) opens this X25519 stanza, else None."""
    if len(args) != 2:
        raise AgeError(_("an X25519 stanza without exactly one argument"))
    share = unb64(args[1])
    if len(share) != 32 or len(body) != FILE_KEY + 16:
        raise AgeError(_("an X25519 stanza of the wrong size"))
    for secret in identities:
        ident, public = _identity(secret)
        try:
            shared = ident.exchange(X25519PublicKey.from_public_bytes(share))
        except ValueError:  # a low-order share gives the all-zero secret: the format says abort
            raise AgeError(_("an X25519 stanza with a low-order share")) from None
        try:
            return _wrap_key(shared, share, public).decrypt(b"\0" * 12, body, None)
        except InvalidTag:
            continue
    return None


@lru_cache(maxsize=8)
def _identity(secret: bytes) -> tuple[X25519PrivateKey, bytes]:
    """The key and its public bytes, made once: a format 2 file is hundreds of age files, one per block."""
    ident = X25519PrivateKey.from_private_bytes(secret)
    return ident, ident.public_key().public_bytes_raw()
