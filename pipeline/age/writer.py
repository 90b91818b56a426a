"""age encryption as a stream writer: the header, then the payload in 64 KiB chunks."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pipeline.age import CHUNK, VERSION_LINE, b64, header_mac, hkdf, payload_nonce
from pipeline.age import x25519


def header(file_key: bytes, stanzas: list[bytes]) -> bytes:
    head = VERSION_LINE + b"\n" + b"".join(stanzas) + b"---"
    return head + b" " + b64(header_mac(file_key, head)) + b"\n"


class SharedHeader:
    """One header (file key and stanzas, drawn once) for many age files, each with its own random payload nonce.

    A run writes hundreds of blocks; a header each would cost every block one X25519 to write and one to read. The
    file key never encrypts anything itself: each file's payload key is HKDF(file key, that file's 16 random nonce
    bytes), as independent of the others' as under fresh file keys. What the files share, their header, tells whoever
    reads a copy only that one run wrote them, which that run's block lists say anyway."""

    def __init__(self, recipients: list[bytes]):
        if not recipients:
            raise ValueError("age encryption needs at least one recipient")
        self.file_key = os.urandom(16)
        self.bytes = header(self.file_key, [x25519.wrap(self.file_key, r) for r in recipients])


class AgeWriter:
    """write() plain bytes, close() once: `sink` receives the age file. One chunk is held back until the
    next write or close, because the last chunk's nonce differs (and only it may be short)."""

    def __init__(self, sink, recipients: list[bytes], *, file_key: bytes | None = None, nonce: bytes | None = None,
                 stanzas: list[bytes] | None = None, shared: SharedHeader | None = None):
        # file_key, nonce and stanzas are for test vectors only; a run always draws fresh ones.
        if not recipients and not stanzas and not shared:
            raise ValueError("age encryption needs at least one recipient")
        nonce = nonce or os.urandom(16)
        self._sink = sink
        if shared is not None:
            file_key, head = shared.file_key, shared.bytes
        else:
            file_key = file_key or os.urandom(16)
            head = header(file_key, stanzas or [x25519.wrap(file_key, r) for r in recipients])
        sink.write(head + nonce)
        self._aead = ChaCha20Poly1305(hkdf(file_key, nonce, b"payload"))
        self._counter = 0
        self._pending = bytearray()
        self._closed = False

    def _seal(self, chunk, last: bool) -> None:
        self._sink.write(self._aead.encrypt(payload_nonce(self._counter, last), chunk, None))
        self._counter += 1

    def write(self, data) -> int:
        if self._closed:
            raise ValueError("write to a closed age stream")
        n = len(data)
        if self._pending:
            # Top the held-back chunk up first, then seal it if more follows.
            take = CHUNK - len(self._pending)
            self._pending += data[:take]
            data = memoryview(data)[take:]
            if not data:
                return n
            self._seal(self._pending, last=False)
            self._pending = bytearray()
        view = memoryview(data)
        whole = (len(view) - 1) // CHUNK * CHUNK  # at least one byte stays back: it may be the end
        for at in range(0, whole, CHUNK):
            self._seal(view[at:at + CHUNK], last=False)
        self._pending = bytearray(view[whole:])
        return n

    def close(self) -> None:
        """Seals the final chunk (empty only when nothing at all was written)."""
        if not self._closed:
            self._closed = True
            self._seal(bytes(self._pending), last=True)
            self._pending = bytearray()

    def flush(self) -> None:
        pass

    def writable(self) -> bool:
        return True
