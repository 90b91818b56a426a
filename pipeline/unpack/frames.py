"""Follows a zstd stream's frames as the bytes go by (headers and block sizes only, RFC 8878 §3.1): where it ends and
what window each frame asks for."""

from __future__ import annotations

ZSTD_MAGIC = 0xFD2FB528
SKIPPABLE_MAGIC = 0x184D2A50  # and the 15 values above it
DICT_ID_BYTES = (0, 1, 2, 4)
CONTENT_SIZE_BYTES = (0, 2, 4, 8)  # the first is 1 in a single-segment frame
RLE = 1
RESERVED = 3


class FrameWalk:
    """libzstd's stream reader ends quietly where its input ends, even inside a frame: this walk says whether the
    stream ended between two frames, after at least one. It never decodes a block, so it costs a few steps per
    block (128 KiB of plain at most). The window a frame asks for is kept for the caller's error message."""

    def __init__(self):
        self.head = bytearray()  # the header bytes gathered so far for `step`
        self.need = 4
        self.step = self._magic
        self.skip = 0  # content bytes to pass over
        self.frames = 0  # zstd frames seen whole (skippable frames not counted)
        self.single, self.checksum, self.dict_bytes, self.size_bytes = False, False, 0, 0  # of the frame header
        self.window = 0  # of the latest frame header
        self.lost = False  # not a zstd stream: libzstd says why

    def feed(self, data) -> None:
        pos, end = 0, len(data)
        while pos < end and not self.lost:
            if self.skip:
                n = min(self.skip, end - pos)
                self.skip -= n
                pos += n
                continue
            take = min(self.need - len(self.head), end - pos)
            self.head += data[pos:pos + take]
            pos += take
            if len(self.head) == self.need:
                head = bytes(self.head)
                self.head.clear()
                self.step(head)

    @property
    def complete(self) -> bool:
        return not self.lost and self.frames > 0 and self.step == self._magic and not self.head and not self.skip

    def _expect(self, n: int, step) -> None:
        self.need, self.step = n, step

    def _magic(self, head: bytes) -> None:
        magic = int.from_bytes(head, "little")
        if magic == ZSTD_MAGIC:
            self._expect(1, self._descriptor)
        elif magic & ~0xF == SKIPPABLE_MAGIC:
            self._expect(4, self._skippable)
        else:
            self.lost = True

    def _skippable(self, head: bytes) -> None:
        self.skip = int.from_bytes(head, "little")
        self._expect(4, self._magic)

    def _descriptor(self, head: bytes) -> None:
        fhd = head[0]
        self.single = bool(fhd & 0x20)
        self.checksum = bool(fhd & 0x04)
        self.dict_bytes = DICT_ID_BYTES[fhd & 3]
        self.size_bytes = CONTENT_SIZE_BYTES[fhd >> 6] or (1 if self.single else 0)
        self._expect((0 if self.single else 1) + self.dict_bytes + self.size_bytes, self._rest)  # 1 at least

    def _rest(self, head: bytes) -> None:
        if self.single:  # the window is the whole content, whose size ends the header
            size = int.from_bytes(head[self.dict_bytes:], "little")
            self.window = size + 256 if self.size_bytes == 2 else size
        else:
            exponent, mantissa = head[0] >> 3, head[0] & 7
            base = 1 << (10 + exponent)
            self.window = base + (base >> 3) * mantissa
        self._expect(3, self._block)

    def _block(self, head: bytes) -> None:
        value = int.from_bytes(head, "little")
        kind = (value >> 1) & 3
        if kind == RESERVED:
            self.lost = True
            return
        self.skip = 1 if kind == RLE else value >> 3
        if not value & 1:
            self._expect(3, self._block)
        elif self.checksum:
            self._expect(4, self._end)
        else:
            self._end(b"")

    def _end(self, head: bytes) -> None:
        self.frames += 1
        self._expect(4, self._magic)
