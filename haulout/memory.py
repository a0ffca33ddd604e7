"""Keep a service's resident memory close to what it really holds.

glibc's malloc raises its mmap threshold after large blocks are freed, so later blob-sized
buffers come from the heap and stay resident after they are freed; with many threads it also
keeps one arena per thread. A relayer that handles 32 MiB buffers on a thread pool then grows
its RSS read after read. Fixing the threshold at 1 MiB (large buffers are mmapped, so freeing
them returns the memory) and capping arenas at 2 keeps RSS flat. Elsewhere (non-glibc) this
does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8


def tune_malloc(mmap_threshold: int = 1 << 20, arenas: int = 2) -> bool:
    """Apply the settings above; returns False where glibc's `mallopt` is not available."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = mallopt(M_MMAP_THRESHOLD, mmap_threshold) == 1
    ok &= mallopt(M_TRIM_THRESHOLD, 2 * mmap_threshold) == 1
    ok &= mallopt(M_ARENA_MAX, arenas) == 1
    return bool(ok)
