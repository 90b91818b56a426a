"""Checks a MANIFEST.b3 signature against the pinned public key, never the one that travels with a run."""

from __future__ import annotations

import minisign

from pipeline.i18n import _
from pipeline.manifest.format import SIGNATURE_COMMENT


class SignatureInvalid(ValueError):
    pass


def verify(pinned_public_key_b64: str, data: bytes, signature: bytes, signed: str = "MANIFEST.b3") -> str:
    """Returns the signature's trusted comment; raises SignatureInvalid with one sentence."""
    try:
        pk = minisign.PublicKey.from_base64(pinned_public_key_b64)
    except Exception:
        raise SignatureInvalid(_("the pinned public key in the configuration is malformed"))
    try:
        sig = minisign.Signature.from_bytes(signature)
    except Exception:
        raise SignatureInvalid(_("the signature file is malformed"))
    # minisign authenticates neither the untrusted comment nor the encoding: the file must be exactly what Coffre
    # writes, so that no byte of the run can change (or carry anything) unnoticed.
    if sig.untrusted_comment != SIGNATURE_COMMENT or bytes(sig) + b"\n" != signature:
        raise SignatureInvalid(_("the signature file was altered outside its signed part"))
    try:
        pk.verify(data, sig)
    except minisign.VerifyError as err:
        if "key identifiers" in str(err):
            raise SignatureInvalid(_("the signature was made by another key than the pinned one"))
        raise SignatureInvalid(_("the signature does not match {file}").format(file=signed))
    except Exception:
        raise SignatureInvalid(_("the signature cannot be checked"))
    return sig.trusted_comment
