"""Process-wide tuning of glibc's malloc for the optimisation loop (Linux only).

Not applied on import: changing how a process allocates memory is the program's decision, so the
CLI (and with it the server) calls :func:`tune_malloc` at start-up; scripts may call it too.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable

_M_TRIM_THRESHOLD = -1  # mallopt parameter numbers from glibc's malloc.h
_M_MMAP_THRESHOLD = -3
# Tried in order: glibc 2.36 (Debian 12) takes 1 GiB; versions that cap the threshold at half a
# malloc heap refuse it and take 32 MiB, the cap on 64-bit systems.
MMAP_THRESHOLDS = (2**30, 32 * 2**20)
TRIM_THRESHOLD = 2**30


def tune_malloc() -> bool:
    """Let freed tensors up to 1 GiB (32 MiB on some glibc versions) be reused from the heap
    instead of returned to the kernel.

    Every optimisation step allocates and frees the same few-MB feature maps and gradients.
    glibc serves blocks above a dynamic threshold with fresh mmap'd pages and unmaps them on
    free, so each step pays for page faults and for the kernel zeroing those pages again. Fixing
    both thresholds keeps them in the heap: a 512 px step went from 0.14-0.16 s to 0.115-0.12 s
    (benchmarks/speed.py), and peak memory did not grow. The mmap threshold is set first and the
    trim threshold only if that worked: a fixed trim threshold alone also freezes the mmap
    threshold at its initial 128 kB, which made steps four times slower. At 32 MiB the feature
    maps of the 1024 px tiles of a 1536 px run were still above it (the first layer's alone is
    33.5 MB); at 1 GiB that whole run took 41 s instead of 50 s, with 2 % more peak memory
    (docs/speed.md, round 6).

    Returns True when applied; False where the C library is not glibc (nothing is changed).
    """
    mallopt = _glibc("mallopt", [ctypes.c_int, ctypes.c_int])
    if mallopt is None:
        return False
    if not any(mallopt(_M_MMAP_THRESHOLD, threshold) for threshold in MMAP_THRESHOLDS):
        return False
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD))


def _glibc(name: str, argtypes: list) -> Callable[..., int] | None:
    """A function of the process's C library, or None where it is not glibc (or not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = getattr(ctypes.CDLL(None), name)
    except (OSError, AttributeError):
        return None
    function.argtypes, function.restype = argtypes, ctypes.c_int
    return function


def release_free_memory() -> bool:
    """Return the free memory of every malloc arena to the system (glibc's malloc_trim).

    A long-lived process (the server) runs jobs of many sizes on several threads; each thread's
    arena keeps what its jobs freed, and with :func:`tune_malloc`'s high trim threshold none of
    it goes back, so RSS climbed job after job (benchmarks/server_memory.py). Trimming between
    jobs costs a few milliseconds. Returns False where the C library is not glibc.
    """
    malloc_trim = _glibc("malloc_trim", [ctypes.c_size_t])
    if malloc_trim is None:
        return False
    malloc_trim(0)
    return True


_M_ARENA_MAX = -8


def limit_arenas(count: int) -> bool:
    """Let at most ``count`` malloc arenas serve all threads (glibc's M_ARENA_MAX).

    glibc gives each thread that allocates its own arena, up to 8 per core. In the server the
    worker, the upload decoders and the preview encoders run on many threads, and each arena
    kept its own fragments of the large, differently sized images its jobs had used: over 20
    jobs of 128-256 px RSS grew by 205 MB, 172 MB with trimming alone, 48 MB with one arena
    plus trimming (benchmarks/server_memory.py, docs/reliability.md). Returns False where the
    C library is not glibc.
    """
    mallopt = _glibc("mallopt", [ctypes.c_int, ctypes.c_int])
    return mallopt is not None and bool(mallopt(_M_ARENA_MAX, count))
