"""Tells the C allocator to keep the buffers of blocks and batches for reuse rather than map and unmap each one."""

from __future__ import annotations

import ctypes

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
# Coffre's large buffers are a block's (most of 256 KiB to 1 MiB, 8 MiB at most) and its stages' batches. Left to its
# own rules, glibc went on mapping such buffers on their own and unmapping them once freed, or giving the freed top of
# its heap back, so each block read and decrypted cost fresh zeroed pages: a deep verify of a supermarket's 627 MB of blocks
# took 80,000 to 320,000 page faults and up to 1.4 s of system time, against 7,500 and 0.3 s with these. Larger values
# (16 MiB, 32 MiB kept) bought nothing more there and cost an evening's archive 13 MB of resident memory; these cost
# none (measured: 73-76 MB against 72-73 MB).
MMAP_FROM = 4 << 20
KEEP_FREE = 4 << 20  # the free memory an arena keeps at its top before giving it back


def keep_buffers() -> bool:
    """True once set; False where the C library has no mallopt (not glibc): nothing changes there."""
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_FROM)) and bool(mallopt(M_TRIM_THRESHOLD, KEEP_FREE))
