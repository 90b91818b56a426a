"""age encryption as a stream writer: the header, then the payload in 64 KiB chunks."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from pipeline.age import CHUNK, VERSION_LINE, b64, header_mac, hkdf, payload_nonce
from pipeline.age import x25519


def header(file_key: bytes, stanzas: list[bytes]) -> bytes:
    head = VERSION_LINE + b"\n" + b"".join(stanzas) + b"---"
    return head + b" " + b64(header_mac(file_key, head)) + b"\n"


class AgeWriter:
    """write() plain bytes, close() once: `sink` receives the age file. One chunk is held back until the
    next write or close, because the last chunk's nonce differs (and only it may be short)."""

    def __init__(self, sink, recipients: list[bytes], *, file_key: bytes | None = None, nonce: bytes | None = None,
                 stanzas: list[bytes] | None = None):
        # file_key, nonce and stanzas are for test vectors only; a run always draws fresh ones.
        if not recipients and not stanzas:
            raise ValueError("age encryption needs at least one recipient")
        file_key = file_key or os.urandom(16)
        nonce = nonce or os.urandom(16)
        self._sink = sink
        sink.write(header(file_key, stanzas or [x25519.wrap(file_key, r) for r in recipients]) + nonce)
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
