"""glibc malloc settings for a long-running image service.

glibc raises its mmap threshold dynamically after large blocks are freed, so later image-sized
buffers (decoded photos, resized copies) come from the heap, fragment it and are never returned
to the OS: RSS climbs for minutes under load. A fixed threshold stops that: blocks over it get
their own mapping, released on free. Capping the arenas bounds the per-thread heaps.

The threshold must not be small, though: a mapping costs page faults on every use, and the face
detector allocates its multi-megabyte feature maps on every call. Measured here (Xeon, 2 cores,
yunet on the 512x512 astronaut, median of 40 calls): glibc defaults 28.5 ms; threshold 128 KB
38.0 ms; threshold 8 MB with a 32 MB trim threshold 23.8 ms (the heap keeps its warm pages instead
of returning and re-faulting them). Photos bigger than 8 MB decoded (over ~2.8 megapixels in RGB)
still get their own mappings and go back to the OS when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
from typing import Any

log = logging.getLogger(__name__)

M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8

MMAP_THRESHOLD = 8 * 1024 * 1024
TRIM_THRESHOLD = 32 * 1024 * 1024


def tune_allocator(mmap_threshold: int = MMAP_THRESHOLD, trim_threshold: int = TRIM_THRESHOLD,
                   arena_max: int = 2) -> bool:
    """Apply the settings if the C library is glibc; False (and nothing changed) elsewhere."""
    mallopt = _glibc("mallopt")
    if mallopt is None:
        return False
    ok = (bool(mallopt(M_MMAP_THRESHOLD, mmap_threshold)) and bool(mallopt(M_TRIM_THRESHOLD, trim_threshold))
          and bool(mallopt(M_ARENA_MAX, arena_max)))
    log.debug("glibc malloc: mmap threshold %d, trim threshold %d, arenas %d (%s)", mmap_threshold,
              trim_threshold, arena_max, ok)
    return ok


def release_free_memory() -> bool:
    """Give the heap's free pages back to the OS (glibc malloc_trim), e.g. after loading a model: onnxruntime's
    parse of a 42 MB ONNX file leaves ~75 MB free but held (measured: a VGG session 127 MB PSS, 50 MB after)."""
    trim = _glibc("malloc_trim")
    return trim is not None and bool(trim(0))


def _glibc(function: str) -> Any:
    """A glibc malloc function, or None where the C library is not glibc."""
    try:
        return getattr(ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6"), function)
    except (OSError, AttributeError):
        return None
