"""Process-wide memory setting of the engine's programs.

glibc's ``malloc`` gives every new thread an arena of its own, up to eight per core, and an
arena keeps the memory freed into it. The admin daemon runs a dozen threads (scheduler
workers, runpayouts senders, the tracker, the metrics server) that each parse node answers of
a few hundred kilobytes: with an arena each, its resident memory crept up with the length of a
round — 90 MB at 10,000 recipients, 175 MB at 1,000,000 in ``scripts/bench scale`` — although
its Python objects stayed the same size. Two arenas hold it flat without slowing the payouts.

An operator who set ``MALLOC_ARENA_MAX`` keeps their value; other C libraries are left alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["MALLOC_ARENAS", "limit_malloc_arenas"]

#: arenas the programs run with.
MALLOC_ARENAS = 2
#: glibc's mallopt parameter number for the arena limit (malloc.h).
_M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Caps glibc's malloc arenas for the threads started from now on; call it before
    starting any. True when the cap is in force (set here or by ``MALLOC_ARENA_MAX``)."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(_M_ARENA_MAX, arenas))
