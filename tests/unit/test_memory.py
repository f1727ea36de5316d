"""The programs' malloc arena cap (payoutengine.memory), checked in a fresh interpreter:
glibc's own report (``malloc_info``) counts the arenas after eight threads each allocated."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

#: eight threads each allocate (past pymalloc's small-object limit, so glibc's malloc serves
#: them) and wait for the others, so no thread can reuse another's arena by finishing first;
#: then glibc's report is written to the file named by argv[2] and its heaps are counted.
PROBE = r"""
import ctypes, re, sys, threading
from payoutengine.memory import limit_malloc_arenas
if sys.argv[1] == "cap":
    assert limit_malloc_arenas()
barrier = threading.Barrier(8)
def work():
    blocks = [bytearray(4096) for _ in range(64)]
    barrier.wait()
    del blocks
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads:
    t.start()
for t in threads:
    t.join()
libc = ctypes.CDLL(None)
libc.fopen.restype = ctypes.c_void_p
libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
libc.malloc_info.argtypes = [ctypes.c_int, ctypes.c_void_p]
libc.fclose.argtypes = [ctypes.c_void_p]
fp = libc.fopen(sys.argv[2].encode(), b"w")
libc.malloc_info(0, fp)
libc.fclose(fp)
print(len(re.findall(r'<heap nr="\d+">', open(sys.argv[2]).read())))
"""


def _arenas(mode: str, tmp_path, arena_max: str | None = None) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    if arena_max is not None:
        env["MALLOC_ARENA_MAX"] = arena_max
    out = subprocess.run(
        [sys.executable, "-c", PROBE, mode, str(tmp_path / f"{mode}.xml")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return int(out.strip())


glibc = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="the cap is glibc's")


@glibc
def test_the_programs_run_with_two_malloc_arenas_whatever_their_threads(tmp_path):
    # without the cap glibc gives the threads arenas of their own: the probe sees them
    assert _arenas("default", tmp_path) > 2
    assert _arenas("cap", tmp_path) <= 2


@glibc
def test_an_operators_malloc_arena_max_is_left_as_it_is(tmp_path):
    assert _arenas("cap", tmp_path, arena_max="4") == 4
