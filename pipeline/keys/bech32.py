"""Bech32 (BIP 173, without its length limit), the text form of age keys: decoding with the checksum checked."""

from __future__ import annotations

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class Bech32Error(ValueError):
    pass


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i, g in enumerate(_GENERATOR):
            if (top >> i) & 1:
                chk ^= g
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _to_bytes(values: list[int]) -> bytes:
    acc = bits = 0
    out = bytearray()
    for v in values:
        acc = (acc << 5) | v
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append(acc >> bits)
        acc &= (1 << bits) - 1
    if bits >= 5 or acc:
        # Leftover bits must be fewer than one group and all zero: any other text is not canonical.
        raise Bech32Error("non-canonical padding")
    return bytes(out)


def decode(text: str) -> tuple[str, bytes]:
    """(human-readable part in lower case, data bytes); Bech32Error when the text is not valid Bech32."""
    if not text.isascii():  # str.lower() would turn a Kelvin sign into a 'k'
        raise Bech32Error("not ASCII")
    if text.lower() != text and text.upper() != text:
        raise Bech32Error("mixed case")
    text = text.lower()
    sep = text.rfind("1")
    if sep < 1 or len(text) - sep - 1 < 6:
        raise Bech32Error("no separator or too short")
    hrp, rest = text[:sep], text[sep + 1:]
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise Bech32Error("bad prefix character")
    try:
        values = [CHARSET.index(c) for c in rest]
    except ValueError:
        raise Bech32Error("bad data character") from None
    if _polymod(_hrp_expand(hrp) + values) != 1:
        raise Bech32Error("bad checksum")
    return hrp, _to_bytes(values[:-6])

