"""Signs MANIFEST.b3 in minisign's prehashed format, the one `minisign -V` checks by default."""

from __future__ import annotations

import minisign

from pipeline.manifest.format import SIGNATURE_COMMENT


def sign(secret_key: minisign.SecretKey, data: bytes, trusted_comment: str) -> bytes:
    sig = secret_key.sign(data, prehash=True, untrusted_comment=SIGNATURE_COMMENT, trusted_comment=trusted_comment)
    return bytes(sig) + b"\n"
