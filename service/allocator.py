"""glibc malloc settings for a long-running image service.

glibc raises its mmap threshold dynamically after large blocks are freed, so later image-sized
buffers (decoded photos, resized copies) come from the heap, fragment it and are never returned
to the OS: RSS climbs for minutes under load. Fixing the threshold keeps every buffer over 128 KB
in its own mapping, released on free; capping the arenas bounds per-thread heaps.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

M_MMAP_THRESHOLD = -3  # mallopt parameter numbers from glibc's malloc.h
M_ARENA_MAX = -8


def tune_allocator(mmap_threshold: int = 128 * 1024, arena_max: int = 2) -> bool:
    """Apply the settings if the C library is glibc; False (and nothing changed) elsewhere."""
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_ARENA_MAX, arena_max))
    log.debug("glibc malloc: mmap threshold %d, arenas %d (%s)", mmap_threshold, arena_max, ok)
    return ok
