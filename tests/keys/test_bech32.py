"""age keys' Bech32 text: the spec's example keys, pyrage's keys, and text that must be refused."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from pyrage import x25519

from pipeline.errors import UsageError
from pipeline.keys.age_identity import parse_recipient
from pipeline.keys.bech32 import Bech32Error, decode

SPEC_IDENTITY = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
SPEC_RECIPIENT = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"


def test_the_specs_example_keys():
    hrp, secret = decode(SPEC_IDENTITY)
    assert (hrp, secret) == ("age-secret-key-", b"\x42" * 32)
    public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
    assert parse_recipient(SPEC_RECIPIENT) == public


def test_keys_made_by_pyrage():
    for _ in range(20):
        ident = x25519.Identity.generate()
        _, secret = decode(str(ident))
        public = X25519PrivateKey.from_private_bytes(secret).public_key().public_bytes_raw()
        assert parse_recipient(str(ident.to_public())) == public


@pytest.mark.parametrize("text", [
    SPEC_RECIPIENT[:-1] + ("q" if SPEC_RECIPIENT[-1] != "q" else "p"),  # checksum
    SPEC_RECIPIENT[:10] + SPEC_RECIPIENT[10:].upper(),                    # mixed case
    SPEC_RECIPIENT.replace("age1", "agf1", 1),                            # other prefix, checksum breaks
    SPEC_IDENTITY,                                                        # a secret key is no recipient
    "age1" + "q" * 10,                                                    # too short for 32 bytes
    SPEC_RECIPIENT.replace("z", "b", 1),                                  # 'b' is not in the alphabet
    "",
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG",
    SPEC_RECIPIENT.upper().replace("K", "\u212a"),                          # a Kelvin sign lower-cases to 'k'
])
def test_parse_recipient_refuses(text):
    with pytest.raises(UsageError, match="not a valid age X25519 recipient"):
        parse_recipient(text)


def _with_checksum(hrp: str, values: list[int]) -> str:
    from pipeline.keys import bech32
    poly = bech32._polymod(bech32._hrp_expand(hrp) + values + [0] * 6) ^ 1
    return hrp + "1" + "".join(bech32.CHARSET[v] for v in values + [(poly >> 5 * (5 - i)) & 31 for i in range(6)])


def test_non_canonical_padding_is_refused():
    """32 bytes take 52 groups of 5 bits, the last 4 bits zero: set one of them and the checksum still holds."""
    from pipeline.keys import bech32
    values = [bech32.CHARSET.index(c) for c in SPEC_RECIPIENT[4:-6]]
    assert decode(_with_checksum("age", values))[1] == parse_recipient(SPEC_RECIPIENT)
    with pytest.raises(Bech32Error, match="padding"):
        decode(_with_checksum("age", values[:-1] + [values[-1] | 1]))
    with pytest.raises(Bech32Error, match="padding"):
        decode(_with_checksum("age", values + [0, 0]))  # a whole group too many
