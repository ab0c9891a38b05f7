"""Process memory tuning that must happen before threads start.

glibc gives each thread that allocates its own malloc arena (up to 8 per core). The embedding
model runs in worker threads, so each of them grew an arena that kept its freed memory: the
serving process sat at 362 MiB with the model loaded, 260 MiB with two arenas, at the same
speed (docs/benchmarks.md). Imports nothing internal.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

M_ARENA_MAX = -8  # from glibc's malloc.h
DEFAULT_ARENAS = 2


def limit_malloc_arenas(arenas: int = DEFAULT_ARENAS) -> bool:
    """Cap glibc malloc arenas for this process and the processes it starts.

    An explicit MALLOC_ARENA_MAX in the environment wins. Returns whether the cap applies
    (False off glibc, where nothing needs doing).
    """
    wanted = int(os.environ.setdefault("MALLOC_ARENA_MAX", str(arenas)))
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    mallopt = getattr(ctypes.CDLL(name), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(M_ARENA_MAX, wanted))
