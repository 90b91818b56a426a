"""Tells the C allocator to keep the buffers of blocks for reuse rather than map and unmap each one (a deep verify)."""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# A deep verify opens each block whole: a buffer of its stored bytes, one of its plaintext, one of its content (most of
# 256 KiB to 1 MiB, of many sizes). Left to its own rules, glibc went on mapping such buffers on their own and
# unmapping them once freed, or giving the freed top of its heap back, so each block cost fresh zeroed pages: a deep
# verify of a supermarket's 627 MB of blocks took 80,000 to 320,000 page faults and up to 1.4 s of system time, against
# 7,500 and 0.3 s with these. Only the deep verify asks for them (unpack/block_contents.py): setting a bar turns off
# glibc's own, which keeps the archive's 4 MiB reads (snapshot/pages.py, journals/cache.py) on its heap; set for every
# command, it doubled an archive's page faults and cost an evening 4 MB (the review of f42dae4).
MMAP_FROM = 4 << 20
KEEP_FREE = 4 << 20  # the free memory an arena keeps at its top before giving it back


def keep_buffers() -> bool:
    """True once set; False where the C library has no mallopt (not Linux's glibc): nothing changes there."""
    if not sys.platform.startswith("linux"):
        return False  # (on Windows, CDLL(None) is not even a library)
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_FROM)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_FREE))
