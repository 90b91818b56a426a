"""The age X25519 identity: made by init, read back (with its passphrase, if any) to decrypt."""

from __future__ import annotations

import os
from pathlib import Path

import pyrage
from pyrage import x25519

from pipeline.errors import UsageError
from pipeline.i18n import _
from pipeline.keys import bech32
from pipeline.keys.files import write_new_secret
from pipeline.system_errors import error_words

AGE_HEADER = b"age-encryption.org/v1\n"


def generate() -> tuple[str, str]:
    """Returns (identity text, recipient) for a fresh key pair."""
    ident = x25519.Identity.generate()
    return str(ident), str(ident.to_public())


def write_identity(path: Path, identity: str, recipient: str, passphrase: str | None) -> None:
    """Writes the identity file; with a passphrase, in age's own passphrase format (`age -d -i` asks)."""
    text = f"# created by coffre init\n# public key: {recipient}\n{identity}\n".encode()
    if passphrase:
        text = pyrage.passphrase.encrypt(text, passphrase)
    write_new_secret(path, text)


def is_passphrase_protected(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(len(AGE_HEADER)) == AGE_HEADER


def load_identities(path: str | os.PathLike, passphrase: str | None = None) -> list[x25519.Identity]:
    """Reads an identity file; a protected one needs `passphrase`. Errors name the file, never the secret."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise UsageError(_("The identity file {path} cannot be read: {reason}.").format(path=path,
                                                                                         reason=error_words(err)))
    if raw.startswith(AGE_HEADER):
        if passphrase is None:
            raise UsageError(_("The identity file {path} is protected by a passphrase; give it with --passphrase-env "
                               "VAR.").format(path=path))
        try:
            raw = pyrage.passphrase.decrypt(raw, passphrase)
        except pyrage.DecryptError:
            raise UsageError(_("The passphrase does not open the identity file {path}.").format(path=path))
    idents = []
    for line in raw.decode("utf-8", "replace").splitlines():
        line = line.strip()
        if line.startswith("AGE-SECRET-KEY-"):
            try:
                idents.append(x25519.Identity.from_str(line))
            except pyrage.IdentityError:
                raise UsageError(_("The identity file {path} holds a malformed age key.").format(path=path))
    if not idents:
        raise UsageError(_("The identity file {path} holds no age identity (AGE-SECRET-KEY-…).").format(path=path))
    return idents


def parse_recipient(text: str) -> bytes:
    """The 32-byte X25519 public key of an `age1…` recipient."""
    try:
        hrp, key = bech32.decode(text.strip())
    except bech32.Bech32Error:
        hrp, key = "", b""
    if hrp != "age" or len(key) != 32:
        raise UsageError(_("{text} is not a valid age X25519 recipient.").format(text=repr(text)))
    return key


def identity_secret(identity) -> bytes:
    """The 32-byte X25519 secret of an identity (pyrage's, as load_identities returns them)."""
    hrp, secret = bech32.decode(str(identity))
    if hrp != "age-secret-key-" or len(secret) != 32:
        raise UsageError(_("An age identity is malformed."))
    return secret
