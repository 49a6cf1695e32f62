"""Process-wide memory-allocator settings for fast image encoding (call once, at startup).

The image encoder allocates and frees tens of megabytes of temporaries per transformer
block (a ViT-B MLP hidden layer alone is 4096 x 3072 float32 = 48 MiB). glibc serves
every request above its mmap threshold (at most 32 MiB) with a fresh ``mmap`` and hands
it back with ``munmap`` on free, and trims the heap whenever its free top exceeds the trim
threshold: the next block then faults the same memory in again, page by page, and the
kernel zeroes every page. On a 2-core laptop that is a large share of an encode.

:func:`keep_freed_memory` tells glibc to serve large requests from the heap and to keep
freed memory for reuse instead of returning it, so every encode after the first runs on
memory that is already mapped. The cost: the process keeps its peak working set (with
``sam_core``'s blockwise attention, a few hundred MiB above the weights for ViT-B) instead
of shrinking after each encode.

A process setting, not a library one: ``sam_core`` never calls this; the application
(and the benchmarks that measure "as the app runs it") call it once. Elsewhere than
Linux with glibc it does nothing and returns False.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import platform
import sys

# mallopt parameters from glibc's <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4

#: Free memory kept at the top of a heap before glibc returns it to the system (1 GiB).
TRIM_THRESHOLD_BYTES = 1 << 30

_applied = False


def keep_freed_memory() -> bool:
    """Make glibc keep large freed blocks for reuse (see the module docstring).

    Sets ``M_MMAP_MAX = 0`` (large blocks come from the heap, not from one-off mmaps)
    and ``M_TRIM_THRESHOLD`` = :data:`TRIM_THRESHOLD_BYTES`. Idempotent; returns True
    when the settings are in force, False where they do not apply (not Linux/glibc, or
    ``mallopt`` refused them).
    """
    global _applied
    if _applied:
        return True
    libc = _glibc()
    if libc is None:
        return False
    mallopt = libc.mallopt
    # mallopt returns 1 on success, 0 on error.
    _applied = bool(mallopt(M_MMAP_MAX, 0)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)
    )
    return _applied


def release_freed_memory() -> bool:
    """Give the pages of freed heap memory back to the system now (glibc's
    ``malloc_trim(0)``): a long propagation interleaves its small, long-lived per-frame
    state with large temporaries, and with :func:`keep_freed_memory` the holes between them
    would otherwise stay resident. Costs page faults on the next frame (milliseconds, a
    frame takes seconds). False where it does not apply (not Linux/glibc)."""
    libc = _glibc()
    if libc is None:
        return False
    libc.malloc_trim(0)
    return True


@functools.cache
def _glibc() -> ctypes.CDLL | None:
    """glibc with ``mallopt`` / ``malloc_trim`` typed (looked up once), or None
    elsewhere."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
        libc.mallopt.restype = ctypes.c_int
        libc.malloc_trim.argtypes = (ctypes.c_size_t,)
        libc.malloc_trim.restype = ctypes.c_int
    except (OSError, AttributeError):
        return None
    return libc
