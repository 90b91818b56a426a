"""Coffre's age reader (pipeline/age/reader.py) against every C2SP/CCTV age test vector.

The vectors are third-party data, copied unchanged in fixtures/vectors/cctv-age (see
fixtures/vectors/README.md). Each file is a small `key: value` header, a blank line, then an
age file (zlib-compressed when `compressed: zlib`).

Coffre reads X25519 recipients only: no ASCII armor, no scrypt (passphrase) stanza, no
post-quantum (mlkem768x25519) stanza. The vectors that need one of those are counted apart, by
kind, and must be refused cleanly (AgeError, nothing released). Every other vector must give
exactly the verdict its `expect:` line states, told apart from the reader's error:

    success          the whole plaintext, whose SHA-256 is `payload:`
    no match         NoIdentity
    HMAC failure     AgeError "the header's MAC does not match", nothing released
    header failure   any other AgeError before the payload, nothing released
    payload failure  AgeError about the payload; what was released before it is checked too
"""

from __future__ import annotations

import hashlib
import io
import zlib
from collections import Counter
from dataclasses import dataclass

import pytest
from conftest import REPO
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pipeline.age import CHUNK, NONCE, TAG, AgeError, NoIdentity, hkdf, payload_nonce
from pipeline.age.reader import decrypt, decrypt_bytes
from pipeline.keys.age_identity import identity_secret

TESTDATA = REPO / "fixtures" / "vectors" / "cctv-age" / "testdata"
KEYS = {"expect", "payload", "identity", "passphrase", "armored", "compressed", "file key", "comment"}
PQ_PREFIX = "AGE-SECRET-KEY-PQ-"

# How many vectors of each kind and verdict: a vector that vanishes, or moves, fails the count.
KINDS = {"x25519": 68, "armor": 33, "scrypt": 25, "post-quantum": 17}
X25519_VERDICTS = {"success": 14, "header failure": 32, "payload failure": 18, "no match": 3, "HMAC failure": 1}

# The reader's messages, by the stage that refuses (the reader has one error type and NoIdentity).
HMAC_MESSAGE = "the header's MAC does not match"
PAYLOAD_MESSAGES = ("of the payload does not authenticate", "the payload is truncated")

# Payload failures where Coffre's reader stops at an earlier chunk than age's reference reader.
# The reference reads without looking ahead, so it opens a full chunk as a middle chunk, or else
# as the last one, releases it, and fails on what follows. Coffre looks one byte past each chunk:
# a full chunk at the end of the file must be the last, one with data after it must not be; a
# chunk sealed otherwise is refused before release. Both refuse the file; Coffre releases a
# prefix of the reference's plaintext (checked below), never other bytes. {vector: (Coffre, reference)}
EARLIER_STOP = {
    "stream_no_final_full": (0, CHUNK),
    "stream_no_final_two_chunks_full": (CHUNK, 2 * CHUNK),
    "stream_trailing_garbage_long": (0, CHUNK),
    "stream_trailing_garbage_short": (0, CHUNK),
    "stream_two_final_chunks": (0, CHUNK),
    "stream_two_final_chunks_full": (0, CHUNK),
    "stream_two_final_chunks_second": (CHUNK, 2 * CHUNK),
}


@dataclass
class Vector:
    name: str
    fields: dict[str, list[str]]
    age: bytes

    def one(self, key: str) -> str | None:
        values = self.fields.get(key, [])
        assert len(values) <= 1, f"{self.name}: {key} given {len(values)} times"
        return values[0] if values else None

    @property
    def kind(self) -> str:
        if self.one("armored") == "yes":
            return "armor"
        if "passphrase" in self.fields:
            return "scrypt"
        idents = self.fields.get("identity", [])
        if any(i.startswith(PQ_PREFIX) for i in idents) and not any(not i.startswith(PQ_PREFIX) for i in idents):
            return "post-quantum"
        # hybrid_x25519_arg gives an X25519 identity beside a hybrid one: its X25519 stanza carries a
        # hybrid share, a header failure Coffre's X25519 reading must find, so it is checked here.
        return "x25519"

    @property
    def x25519_secrets(self) -> list[bytes]:
        return [identity_secret(i) for i in self.fields.get("identity", []) if not i.startswith(PQ_PREFIX)]


def load(name: str) -> Vector:
    raw = (TESTDATA / name).read_bytes()
    head, age = raw.split(b"\n\n", 1)
    fields: dict[str, list[str]] = {}
    for line in head.decode("utf-8").split("\n"):
        key, value = line.split(": ", 1)
        fields.setdefault(key, []).append(value)
    vec = Vector(name, fields, age)
    compressed = vec.one("compressed")
    if compressed is not None:
        assert compressed == "zlib", f"{name}: compressed: {compressed}"
        vec.age = zlib.decompress(age)
    return vec


NAMES = sorted(p.name for p in TESTDATA.iterdir())
BY_KIND = {kind: [n for n in NAMES if load(n).kind == kind] for kind in KINDS}


class Short:
    """A source that hands out short, odd-sized reads, like a pipe."""

    def __init__(self, data: bytes, size: int):
        self.raw, self.size = io.BytesIO(data), size

    def read(self, n: int = -1) -> bytes:
        return self.raw.read(min(n, self.size) if n >= 0 else self.size)


def run_reader(src, secrets: list[bytes]) -> tuple[str, AgeError | None, bytes]:
    """(verdict in the vectors' words, the error, the plaintext released to the sink)."""
    out = io.BytesIO()
    try:
        decrypt(src, out, secrets)
    except NoIdentity as err:
        return "no match", err, out.getvalue()
    except AgeError as err:
        text = str(err)
        if HMAC_MESSAGE in text:
            return "HMAC failure", err, out.getvalue()
        if any(m in text for m in PAYLOAD_MESSAGES):
            return "payload failure", err, out.getvalue()
        return "header failure", err, out.getvalue()
    return "success", None, out.getvalue()


def reference_release(vec: Vector) -> bytes:
    """What age's reference reader releases before a payload failure, rebuilt from the vector's own
    `file key:`: chunk after chunk, a full one opened as a middle chunk or else as the last, a short
    one only as the last, up to the first that opens neither way or the last one."""
    head_end = vec.age.index(b"\n", vec.age.index(b"\n---") + 1) + 1
    nonce, rest = vec.age[head_end:head_end + NONCE], vec.age[head_end + NONCE:]
    aead = ChaCha20Poly1305(hkdf(bytes.fromhex(vec.one("file key")), nonce, b"payload"))
    out, counter = bytearray(), 0
    while rest:
        sealed, rest = rest[:CHUNK + TAG], rest[CHUNK + TAG:]
        for last in ((False, True) if len(sealed) == CHUNK + TAG else (True,)):
            try:
                out += aead.decrypt(payload_nonce(counter, last), sealed, None)
                break
            except InvalidTag:
                continue
        else:
            break
        if last:
            break
        counter += 1
    return bytes(out)


def test_every_vector_is_counted():
    assert len(NAMES) == 143
    vectors = [load(n) for n in NAMES]
    for vec in vectors:
        assert set(vec.fields) <= KEYS, f"{vec.name}: unknown keys {set(vec.fields) - KEYS}"
        assert len(vec.fields["expect"]) == 1
    assert Counter(v.kind for v in vectors) == KINDS
    assert Counter(v.one("expect") for v in vectors if v.kind == "x25519") == X25519_VERDICTS
    assert set(EARLIER_STOP) <= set(BY_KIND["x25519"])


@pytest.mark.parametrize("name", BY_KIND["x25519"])
def test_x25519_vector(name):
    vec = load(name)
    expect, payload = vec.one("expect"), vec.one("payload")
    secrets = vec.x25519_secrets
    verdict, err, released = run_reader(io.BytesIO(vec.age), secrets)
    assert verdict == expect, f"{name}: expected {expect}, the reader gave {verdict} ({err!r})"
    if expect == "success":
        assert hashlib.sha256(released).hexdigest() == payload
    elif expect == "payload failure":
        reference = reference_release(vec)
        assert hashlib.sha256(reference).hexdigest() == payload  # the rebuilt reference is the vector's
        assert reference.startswith(released), f"{name}: released bytes the reference does not"
        if name in EARLIER_STOP:
            assert (len(released), len(reference)) == EARLIER_STOP[name]
        else:
            assert released == reference
    else:
        assert released == b"", f"{name}: plaintext released before a {expect}"
    # The same verdict and the same bytes when the file arrives in short reads, as from a pipe.
    again = run_reader(Short(vec.age, 7919), secrets)
    assert (again[0], again[2]) == (verdict, released)


@pytest.mark.parametrize("name", BY_KIND["x25519"])
def test_x25519_vector_held_in_memory(name):
    """decrypt_bytes (a block read whole, as verify --deep opens them) gives the stream reader's verdict in the same
    words, the same plaintext on success, and nothing at all on a failure, even one after good chunks."""
    vec = load(name)
    verdict, err, released = run_reader(io.BytesIO(vec.age), vec.x25519_secrets)
    try:
        got = decrypt_bytes(vec.age, vec.x25519_secrets)
    except AgeError as mine:
        assert verdict != "success", f"{name}: refused in memory ({mine}), read as a stream"
        assert type(mine) is type(err) and str(mine) == str(err)
        return
    assert verdict == "success", f"{name}: opened in memory, refused as a stream ({err})"
    assert bytes(got) == released and hashlib.sha256(got).hexdigest() == vec.one("payload")


REASONS = {
    "armor": "ASCII armor: Coffre reads and writes binary age only",
    "scrypt": "scrypt (passphrase) stanzas: Coffre's archives are encrypted to X25519 recipients only",
    "post-quantum": "mlkem768x25519 stanzas: Coffre reads X25519 recipients only",
}


@pytest.mark.parametrize("name", [n for kind in ("armor", "scrypt", "post-quantum") for n in BY_KIND[kind]])
def test_unsupported_vector_is_refused_cleanly(name):
    """Out of Coffre's reach (REASONS), whatever `expect:` says: refused with the reader's own error,
    never a crash, never plaintext."""
    vec = load(name)
    assert vec.kind in REASONS
    out = io.BytesIO()
    with pytest.raises(AgeError):
        decrypt(io.BytesIO(vec.age), out, vec.x25519_secrets)
    assert out.getvalue() == b""
    with pytest.raises(AgeError):
        decrypt_bytes(vec.age, vec.x25519_secrets)
