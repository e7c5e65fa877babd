"""How the process hands freed memory back to the system.

glibc's malloc serves a large allocation (a column of a million agents is 8 MB) from its
heap once the same size has been freed before: its mmap threshold rises to the largest
block freed, up to 32 MB. A night of many agents builds and drops hundreds of such
columns, and the heap keeps them: about 1 GB of a 3.6 GB peak at a million agents was
memory freed but not returned. A fixed threshold (which also stops the rise) maps every
block of at least :data:`MMAP_THRESHOLD` on its own and unmaps it when freed. Arrays of a
usual desk (a few thousand agents, batches of events) stay below it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys

log = logging.getLogger("insiderwatch.allocator")

#: blocks of this size and more are mapped on their own and returned when freed
MMAP_THRESHOLD = 4 * 1024 * 1024
_M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc malloc.h)


def return_large_blocks(threshold: int = MMAP_THRESHOLD) -> bool:
    """Set glibc's mmap threshold (Linux with glibc only; elsewhere nothing happens).
    Returns whether it was set."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt to speak of)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, threshold))
    log.debug("glibc mmap threshold %s to %d bytes", "set" if done else "not set", threshold)
    return done
