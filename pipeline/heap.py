"""Tells the C allocator how to hold memory: block buffers kept for reuse (a deep verify), one arena (an archive)."""

from __future__ import annotations

import ctypes
import sys

# glibc's mallopt parameters (malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
# A deep verify opens each block whole: a buffer of its stored bytes, one of its plaintext, one of its content (most of
# 256 KiB to 1 MiB, of many sizes). Left to its own rules, glibc went on mapping such buffers on their own and
# unmapping them once freed, or giving the freed top of its heap back, so each block cost fresh zeroed pages: a deep
# verify of a supermarket's 627 MB of blocks took 80,000 to 320,000 page faults and up to 1.4 s of system time, against
# 7,500 and 0.3 s with these. Only the deep verify asks for them (unpack/block_contents.py): setting a bar turns off
# glibc's own, which keeps the archive's 4 MiB reads (snapshot/pages.py, journals/cache.py) on its heap; set for every
# command, it doubled an archive's page faults and cost an evening 4 MB (the review of f42dae4).
MMAP_FROM = 4 << 20
KEEP_FREE = 4 << 20  # the free memory an arena keeps at its top before giving it back


def _mallopt():
    """glibc's mallopt, or None where the C library has none (not Linux's glibc)."""
    if not sys.platform.startswith("linux"):
        return None  # (on Windows, CDLL(None) is not even a library)
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError, TypeError):
        return None
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return mallopt


def keep_buffers() -> bool:
    """True once set; False where the C library has no mallopt: nothing changes there."""
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_MMAP_THRESHOLD, MMAP_FROM)) and bool(
        mallopt(M_TRIM_THRESHOLD, KEEP_FREE))


def one_arena() -> bool:
    """Every thread's memory from one arena; True once set, False where the C library has no mallopt.

    glibc gives each new thread that allocates an arena of its own (or one a finished thread left), up to eight per
    core, and each arena keeps what its threads freed for them alone. An archive runs a dozen threads at once (the snapshot placed, its pages
    proved, the kept journals read, the checks, the signature workers, each copy's writer): one arena held a
    supermarket's evening at 85 MB against 92 to 100 MB, a 1-year sample's at 68 to 73 MB against 74 to 78, and its
    first run at 79 against 89 MB, in the same time (the first run 16.1 to 16.7 s against 16.3 to 16.4 s): the
    threads' own work is in C libraries that release Python's lock and take few allocations each."""
    mallopt = _mallopt()
    return mallopt is not None and bool(mallopt(M_ARENA_MAX, 1))
