"""glibc allocator tuning for processes that run large tensors: pipeline steps and the
predictor.

With glibc's defaults every activation above the mmap threshold (128 KiB, rising to
32 MiB) is ``mmap``-ed and ``munmap``-ed again on free, so each forward and backward
pass page-faults its activations afresh. The voice demo's AASIST-L calibrate took 87.7 s
untuned (73 s of it sys time) against 47.2 s tuned, and the whole demo spent 402 s in sys
time (119 M minor page faults) before its steps tuned themselves (docs/training.md,
"Allocator").
``MALLOC_MMAP_MAX_=0`` keeps large blocks in the heap and a high trim threshold keeps
freed heap memory for the next pass. A batch step gives everything back when it exits;
a long-lived server that decodes untrusted uploads (the transformer) must not keep the
tuning, or its peak memory would never be returned.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger(__name__)

TRIM_THRESHOLD = 16 << 30  # bytes of freed heap glibc keeps before returning it to the OS
# the same tuning as environment variables, for processes started by this one
ALLOCATOR_ENV = {"MALLOC_MMAP_MAX_": "0", "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD)}

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_MAX = -4


def tune_allocator(trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Keep large activations in the glibc heap (no mmap/munmap per pass) in this process.

    Same effect as ``ALLOCATOR_ENV`` in the environment at start-up; process-wide, so only
    entry points of batch work (pipeline steps, step commands) and the predictor call it.
    Returns False (and changes nothing) where the C library is not glibc.
    """
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        log.info("allocator tuning skipped: no glibc mallopt in this process")
        return False
    ok = mallopt(_M_MMAP_MAX, 0) == 1 and mallopt(_M_TRIM_THRESHOLD, int(trim_threshold)) == 1
    log.debug("glibc allocator tuned (mmap off, trim threshold %d): %s", trim_threshold, ok)
    return ok
