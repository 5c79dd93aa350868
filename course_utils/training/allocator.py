"""Allocator tuning (opt-in): glibc's malloc keeps freed memory. Process-wide, Linux only.

Why: glibc's malloc hands every block over 32 MiB straight back to the kernel when it is freed,
and asks for fresh pages on the next allocation. A ResNet-50 step at batch 32 frees and
reallocates gigabytes of such activations, and the kernel must zero every new page again.
Keeping freed memory makes a batch-32 training step faster on the CPU (`make bench` measures
it, a fresh process per measurement; the README's speed table has one machine's numbers).
Intel's and AMD's tuning guides swap in jemalloc or tcmalloc with LD_PRELOAD, which a notebook
cannot do once started; glibc's own mallopt() gets the same effect at run time.

Off by default, because it is not the package's to change: it acts on the whole process (every
thread and library in it, like torch.set_num_threads), and part of it cannot be undone. Ask for
it with `fit(..., speed=speed_for(device, tune_allocator=True))` or the command's
`--tune-allocator`; `fit` then switches it on for its duration only (the `memory_reuse`
context). Nothing else in the package calls this module.

What it changes, and for how long:
- on (`reuse_freed_memory(True)`): no block is mmap'ed (M_MMAP_MAX 0) and the heap is never
  trimmed (M_TRIM_THRESHOLD -1): freed memory stays for the next step, and the process keeps
  its peak size until reuse is switched off;
- off (`reuse_freed_memory(False)`): fixed thresholds at the values glibc's own self-adjusting
  ones reach with large tensors (blocks from 32 MiB on are mmap'ed, the heap is trimmed above
  64 MiB free), and the free memory goes back to the system now (malloc_trim);
- for ever after the first call: glibc's self-adjustment of those thresholds stays off for the
  rest of the process; mallopt cannot switch it back on.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import platform

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD, _M_MMAP_MAX = -1, -3, -4
_memory_reuse = False


@functools.lru_cache(maxsize=1)
def _glibc():
    """The C library, when it is 64-bit glibc (Linux); None elsewhere (macOS, Windows, musl)."""
    if (platform.system() != "Linux" or platform.libc_ver()[0] != "glibc"
            or ctypes.sizeof(ctypes.c_void_p) != 8):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    libc.mallopt.argtypes, libc.mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    libc.malloc_trim.argtypes, libc.malloc_trim.restype = [ctypes.c_size_t], ctypes.c_int
    return libc


def can_reuse_memory() -> bool:
    """True where `reuse_freed_memory` works: Linux with glibc."""
    return _glibc() is not None


def memory_reuse_enabled() -> bool:
    """Whether this process currently keeps freed memory for reuse (see `reuse_freed_memory`)."""
    return _memory_reuse


def reuse_freed_memory(enable: bool = True) -> bool:
    """Keep freed memory in the process for reuse (True) or give it back again (False).

    Process-wide, like torch.set_num_threads. On: no block is mmap'ed, freed memory stays for
    the next step (the process keeps its peak size until switched off). Off: fixed thresholds
    at the values glibc's own self-adjusting ones reach with large tensors (blocks from 32 MiB
    on are mmap'ed, the heap is trimmed above 64 MiB free), and the free memory goes back to
    the system now. glibc's self-adjustment stays off for the rest of the process once either
    has been called: mallopt cannot switch it back on. Returns whether reuse is now on; where it
    is unsupported (not 64-bit glibc) nothing changes and the answer is False.
    """
    global _memory_reuse
    libc = _glibc()
    if libc is None:
        return False
    _memory_reuse = enable  # first: a Ctrl-C between the calls must not leave it unrecorded
    if enable:
        ok = libc.mallopt(_M_MMAP_MAX, 0) and libc.mallopt(_M_TRIM_THRESHOLD, -1)  # -1: never
    else:
        ok = (libc.mallopt(_M_MMAP_MAX, 65536) and libc.mallopt(_M_MMAP_THRESHOLD, 32 * 2**20)
              and libc.mallopt(_M_TRIM_THRESHOLD, 64 * 2**20))
        libc.malloc_trim(0)
    if not ok:
        raise OSError(f"glibc's mallopt refused the memory-reuse settings (enable={enable})")
    return enable


@contextlib.contextmanager
def memory_reuse(enable: bool):
    """`reuse_freed_memory(enable)` for the duration of a with-block, then the previous state."""
    before = _memory_reuse
    changed = enable != before
    try:
        if changed:
            reuse_freed_memory(enable)
        yield
    finally:
        if changed:
            reuse_freed_memory(before)
