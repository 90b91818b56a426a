"""The run-signing key: Ed25519 in minisign format, so stock `minisign -V` checks every run."""

from __future__ import annotations

from pathlib import Path

import minisign

from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.keys.files import write_new_public, write_new_secret
from pipeline.system_errors import error_words


def generate(secret_path: Path, public_path: Path, store_id: str) -> str:
    """Writes both key files and returns the public key's base64 line, to be pinned in the config."""
    pair = minisign.KeyPair.generate()
    # Unencrypted on purpose: the archive runs unattended at closing time. It can only sign, never decrypt.
    pair.secret_key.untrusted_comment = f"coffre signing secret key for store {store_id}"
    pair.public_key.untrusted_comment = f"coffre signing public key for store {store_id}"
    write_new_secret(secret_path, bytes(pair.secret_key) + b"\n")
    write_new_public(public_path, bytes(pair.public_key) + b"\n")
    return pair.public_key.to_base64().decode()


def load_secret(path: Path) -> minisign.SecretKey:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise UsageError(_("The signing key {path} cannot be read: {reason}.").format(path=path,
                                                                                      reason=error_words(err)))
    try:
        key = minisign.SecretKey.from_bytes(data)
    except (minisign.Error, ValueError):
        raise UsageError(_("The signing key {path} is not a minisign secret key.").format(path=path))
    if key.is_encrypted():
        raise UsageError(_("The signing key {path} is password-protected; Coffre needs an unattended key.").format(
            path=path))
    return key



def ed25519_private(secret_key: minisign.SecretKey):
    """The same Ed25519 key as a `cryptography` object, to make plain signatures OpenSSL checks.

    py-minisign exposes no accessor for the raw key; minisign stores the 32-byte seed first
    (followed by the public key in keys made by the C tool), so the first 32 bytes are the seed.
    """
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.from_private_bytes(bytes(secret_key._keynum_sk.secret_key)[:32])


def raw_secret(secret_key: minisign.SecretKey) -> bytes:
    """The Ed25519 seed, from which keyed secrets of the store are derived (never written anywhere)."""
    return bytes(secret_key._keynum_sk.secret_key)[:32]


def public_pem(public_key_b64: str) -> bytes:
    """The pinned minisign public key as a PEM SubjectPublicKeyInfo, for `openssl pkeyutl -verify`."""
    import base64

    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = base64.b64decode(public_key_b64)[10:42]  # 2 bytes algorithm, 8 bytes key id, 32 bytes key
    return Ed25519PublicKey.from_public_bytes(raw).public_bytes(serialization.Encoding.PEM,
                                                                serialization.PublicFormat.SubjectPublicKeyInfo)


def raw_fingerprint(raw: bytes) -> str:
    """SHA-256 of a raw 32-byte Ed25519 key, in groups of four hex digits: what a cover letter prints for an
    inspector to compare, by eye or with `openssl pkey -pubin -outform DER | tail -c 32 | sha256sum`."""
    import hashlib

    digest = hashlib.sha256(raw).hexdigest()
    return " ".join(digest[i:i + 4] for i in range(0, 64, 4))


def fingerprint(public_key_b64: str) -> str:
    """The fingerprint of a minisign public key (2 bytes algorithm, 8 bytes key id, then the raw key)."""
    import base64

    return raw_fingerprint(base64.b64decode(public_key_b64)[10:42])
