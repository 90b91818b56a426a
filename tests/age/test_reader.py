"""Coffre's age decryption (age/reader.py) opens what stock `age` writes and refuses what it must."""

from __future__ import annotations

import io
import os
import subprocess

import pytest
from conftest import need_tool
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from pyrage import x25519 as pyrage_x25519

from pipeline.age import CHUNK, AgeError, NoIdentity, b64, hkdf, payload_nonce
from pipeline.age import x25519
from pipeline.age.reader import MAX_HEADER, decrypt, decrypt_bytes
from pipeline.age.writer import AgeWriter, header
from pipeline.keys.age_identity import identity_secret, parse_recipient

SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 5, 1_000_003]


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    """Two identities: (secret bytes, recipient text, identity file) each."""
    out = []
    for n in range(2):
        ident = pyrage_x25519.Identity.generate()
        path = tmp_path_factory.mktemp("age") / f"id{n}.txt"
        path.write_text(str(ident) + "\n")
        out.append((identity_secret(ident), str(ident.to_public()), path))
    return out


def stock_encrypt(data: bytes, recipients: list[str]) -> bytes:
    argv = [need_tool("age")] + [a for r in recipients for a in ("-r", r)]
    return subprocess.run(argv, input=data, capture_output=True, check=True).stdout


def open_age(sealed: bytes, secrets: list[bytes], read_size: int | None = None) -> bytes:
    """The stream reader's plaintext; decrypt_bytes (a block held in memory) must give the same, or refuse in the
    same words."""
    src = io.BytesIO(sealed)
    if read_size:  # a source that hands out short reads, like a pipe
        raw = src
        src = type("Short", (), {"read": lambda self, n=-1: raw.read(min(n, read_size))})()
    out = io.BytesIO()
    try:
        decrypt(src, out, secrets)
    except AgeError as err:
        with pytest.raises(type(err)) as in_memory:
            decrypt_bytes(sealed, secrets)
        assert type(in_memory.value) is type(err) and str(in_memory.value) == str(err)
        raise
    assert bytes(decrypt_bytes(sealed, secrets)) == out.getvalue()
    return out.getvalue()


@pytest.mark.parametrize("size", SIZES)
def test_opens_what_stock_age_writes(keys, size):
    data = os.urandom(size)
    sealed = stock_encrypt(data, [keys[0][1], keys[1][1]])
    assert open_age(sealed, [keys[1][0]]) == data  # the second stanza's identity
    assert open_age(sealed, [keys[0][0]], read_size=1000) == data


@pytest.mark.parametrize("size", SIZES)
def test_opens_what_the_writer_writes(keys, size):
    data = os.urandom(size)
    out = io.BytesIO()
    w = AgeWriter(out, [parse_recipient(keys[0][1])])
    w.write(data)
    w.close()
    assert open_age(out.getvalue(), [keys[1][0], keys[0][0]]) == data


def test_another_identity_opens_nothing(keys):
    sealed = stock_encrypt(b"secret", [keys[0][1]])
    with pytest.raises(NoIdentity, match="no identity given opens"):
        open_age(sealed, [keys[1][0]])


def _flip_char(sealed: bytes, at: int) -> bytes:
    """Another base64 character at `at` (still the alphabet: only the meaning changes)."""
    other = b"B" if sealed[at:at + 1] != b"B" else b"C"
    return sealed[:at] + other + sealed[at + 1:]


def _payload_start(sealed: bytes) -> int:
    return sealed.index(b"\n", sealed.index(b"\n---") + 1) + 1 + 16


DAMAGES = {
    "a flipped payload byte": lambda s, p: s[:p + 100] + bytes([s[p + 100] ^ 1]) + s[p + 101:],
    "the final chunk dropped": lambda s, p: s[:p + 2 * (CHUNK + 16)],
    "cut inside a chunk": lambda s, p: s[:p + CHUNK + 16 + 500],
    "cut inside the tag": lambda s, p: s[:-3],
    "a byte appended": lambda s, p: s + b"\0",
    "a whole chunk appended": lambda s, p: s + s[p:p + CHUNK + 16],
    "two chunks swapped": lambda s, p: s[:p] + s[p + CHUNK + 16:p + 2 * (CHUNK + 16)] + s[p:p + CHUNK + 16]
                                       + s[p + 2 * (CHUNK + 16):],
    "the payload nonce changed": lambda s, p: s[:p - 1] + bytes([s[p - 1] ^ 1]) + s[p:],
    "the MAC changed": lambda s, p: _flip_char(s, s.index(b"\n--- ") + 5),
    "a stanza's share changed": lambda s, p: _flip_char(s, s.index(b"-> X25519 ") + 10),
    "a stanza's body changed": lambda s, p: _flip_char(s, s.index(b"\n", s.index(b"-> X25519 ")) + 3),
    "the payload cut to its nonce": lambda s, p: s[:p],
    "the nonce cut short": lambda s, p: s[:p - 5],
    "the header cut": lambda s, p: s[:20],
    "not age at all": lambda s, p: b"SQLite format 3\0" + s[16:],
    "an empty file": lambda s, p: b"",
}


@pytest.mark.parametrize("damage", sorted(DAMAGES))
def test_damage_is_refused_as_stock_age_refuses_it(keys, damage):
    data = os.urandom(3 * CHUNK + 100)
    sealed = stock_encrypt(data, [keys[0][1]])
    bad = DAMAGES[damage](sealed, _payload_start(sealed))
    assert bad != sealed
    stock = subprocess.run([need_tool("age"), "-d", "-i", str(keys[0][2])], input=bad, capture_output=True)
    assert stock.returncode != 0  # the judge agrees this must fail
    with pytest.raises(AgeError):
        open_age(bad, [keys[0][0]])


def test_an_empty_final_chunk_after_a_full_one_is_refused(keys):
    """The format allows an empty final chunk only for an empty file: a writer that adds one is wrong."""
    file_key, nonce = os.urandom(16), os.urandom(16)
    stanza = x25519.wrap(file_key, parse_recipient(keys[0][1]))
    aead = ChaCha20Poly1305(hkdf(file_key, nonce, b"payload"))
    plain = os.urandom(CHUNK)
    sealed = header(file_key, [stanza]) + nonce + aead.encrypt(payload_nonce(0, False), plain, None) \
        + aead.encrypt(payload_nonce(1, True), b"", None)
    stock = subprocess.run([need_tool("age"), "-d", "-i", str(keys[0][2])], input=sealed, capture_output=True)
    assert stock.returncode != 0
    with pytest.raises(AgeError, match="truncated"):
        open_age(sealed, [keys[0][0]])


def test_a_header_without_end_is_refused_before_it_fills_memory(keys):
    endless = b"age-encryption.org/v1\n-> X25519 " + b"A" * (2 * MAX_HEADER)
    with pytest.raises(AgeError, match="header"):
        open_age(endless, [keys[0][0]])


@pytest.mark.parametrize("stanza", [
    b"-> X25519\nAAAA\n",                               # no share
    b"-> X25519 AAAA extra\nAAAA\n",                    # two arguments
    b"-> X25519 " + b64(b"\0" * 31) + b"\n" + b64(b"\0" * 32) + b"\n",  # a 31-byte share
    b"-> X25519 " + b64(b"\0" * 32) + b"\n" + b64(b"\0" * 32) + b"\n",  # the all-zero (low-order) share
    b"-> X25519 " + b64(bytes(range(1, 33)))[:-1] + b"=\n" + b64(b"\0" * 32) + b"\n",  # padding
])
def test_malformed_x25519_stanzas_are_refused(keys, stanza):
    head = b"age-encryption.org/v1\n" + stanza + b"--- " + b64(b"\0" * 32) + b"\n"
    with pytest.raises(AgeError):
        open_age(head + os.urandom(100), [keys[0][0]])


def test_other_stanza_kinds_are_skipped(keys):
    """A stanza of a kind Coffre does not know (a plugin's) is ignored; the X25519 one after it opens the file."""
    file_key, recipient = os.urandom(16), parse_recipient(keys[0][1])
    other = x25519.stanza_lines([b"example.com/enigma", b"arg"], os.urandom(48))
    out = io.BytesIO()
    w = AgeWriter(out, [], file_key=file_key, stanzas=[other, x25519.wrap(file_key, recipient)])
    w.write(b"coffre")
    w.close()
    assert open_age(out.getvalue(), [keys[0][0]]) == b"coffre"
    assert b"\n\n" in out.getvalue().split(b"---")[0]  # a 48-byte body ends with an empty line, as specified


def test_the_specs_identity_opens_a_file_made_for_its_recipient():
    secret = X25519PrivateKey.from_private_bytes(b"\x42" * 32)
    recipient = "age1zvkyg2lqzraa2lnjvqej32nkuu0ues2s82hzrye869xeexvn73equnujwj"
    sealed = stock_encrypt(b"hello", [recipient])
    assert open_age(sealed, [secret.private_bytes_raw()]) == b"hello"


def test_a_remembered_header_still_refuses_a_changed_mac_another_identity_and_a_damaged_payload(keys):
    from pipeline.age.writer import SharedHeader

    secret, recipient, _path = keys[0]
    shared = SharedHeader([parse_recipient(recipient)])

    def seal(data: bytes) -> bytes:
        out = io.BytesIO()
        w = AgeWriter(out, [], shared=shared)
        w.write(data)
        w.close()
        return out.getvalue()

    first, second = seal(b"a" * 5000), seal(b"b" * 7000)
    assert open_age(first, [secret]) == b"a" * 5000  # the header's file key is now remembered
    assert open_age(second, [secret]) == b"b" * 7000
    mac_at = first.index(b"\n--- ") + 5
    forged = bytearray(second)
    forged[mac_at] ^= 1 if forged[mac_at] != ord("A") else 2
    with pytest.raises(AgeError):
        open_age(bytes(forged), [secret])
    with pytest.raises(NoIdentity):
        open_age(second, [keys[1][0]])
    damaged = bytearray(second)
    damaged[-20] ^= 1
    with pytest.raises(AgeError):
        open_age(bytes(damaged), [secret])
    assert open_age(second, [keys[1][0], secret]) == b"b" * 7000


@pytest.mark.parametrize("cut", ["the header", "the nonce", "a chunk", "nothing"])
def test_decrypt_bytes_lets_go_of_the_callers_buffer_however_it_ends(keys, cut):
    """The caller's bytearray can be resized afterwards: no view of it outlives the call, failed or not."""
    sealed = stock_encrypt(os.urandom(CHUNK + 10), [keys[0][1]])
    start = _payload_start(sealed)
    data = bytearray({"the header": sealed[:20], "the nonce": sealed[:start - 5], "a chunk": sealed[:start + 100],
                      "nothing": sealed}[cut])
    try:
        decrypt_bytes(data, [keys[0][0]])
    except AgeError:
        assert cut != "nothing"
        data.extend(b"more")  # while the error is handled (its traceback alive): BufferError if a view were held
    data.clear()


def test_decrypt_bytes_reads_any_buffer_as_its_bytes(keys):
    sealed = stock_encrypt(b"coffre" * 1000, [keys[0][1]])
    import array
    words = array.array("B", sealed)
    assert bytes(decrypt_bytes(memoryview(words), [keys[0][0]])) == b"coffre" * 1000
    assert bytes(decrypt_bytes(memoryview(sealed)[0:], [keys[0][0]])) == b"coffre" * 1000
