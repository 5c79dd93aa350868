"""Where the code runs: device choice, seeding, the fast-mode switch and the fast path."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
import platform
import random
from dataclasses import dataclass

import numpy as np
import torch

# The one switch that makes every notebook small enough for CI (set by `make test`).
FAST_ENV = "COURSE_FAST"


def fast_mode() -> bool:
    """True when the environment variable COURSE_FAST asks for the small, quick configuration."""
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(f"{FAST_ENV}={value!r} is not understood; use 1 (fast) or 0 (real configuration)")


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; `prefer` (e.g. "cpu") or COURSE_DEVICE overrides."""
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(f"device {prefer!r} was asked for, but torch sees no CUDA GPU")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(f"device {prefer!r} was asked for, but MPS is not available")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX), so bf16 is faster.

    Without them torch emulates bf16, and a ResNet-50 training step is many times *slower*
    than fp32 (the README's speed section has the measurement and `make bench` repeats it).
    """
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --------------------------------------------------------------------------- memory reuse
# glibc's malloc hands every block over 32 MiB straight back to the kernel when it is freed,
# and asks for fresh pages on the next allocation. A ResNet-50 step at batch 32 frees and
# reallocates gigabytes of such activations, and the kernel must zero every new page again.
# Keeping freed memory makes a batch-32 training step faster (`make bench` measures it, a fresh
# process per measurement; the README's speed table has one machine's numbers). Intel's and AMD's tuning guides swap in jemalloc or tcmalloc
# with LD_PRELOAD, which a notebook cannot do once started; glibc's own mallopt() gets the
# same effect at run time: serve everything from the heap, and stop trimming it.
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


# --------------------------------------------------------------------------- the fast path


@dataclass(frozen=True)
class FastPath:
    """The speed choices made once from the hardware; each can be switched off."""

    amp_dtype: torch.dtype | None  # autocast dtype, or None for plain fp32
    channels_last: bool
    reuse_memory: bool = False  # keep freed memory for the next step (CPU, glibc)

    def describe(self) -> str:
        amp = str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off (fp32)"
        return (f"autocast {amp}, channels-last {'on' if self.channels_last else 'off'}, "
                f"memory reuse {'on' if self.reuse_memory else 'off'}")


def fast_path(device: torch.device, amp: bool = True, channels_last: bool = True,
              reuse_memory: bool = True) -> FastPath:
    """Pick autocast dtype, memory format and allocator for `device`; never a slower one there."""
    device = torch.device(device)
    # Only the CPU's own allocator matters for a CPU model; a GPU's has its own cache.
    reuse = reuse_memory and device.type == "cpu" and can_reuse_memory()
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return FastPath(dtype if amp else None, channels_last, reuse)
    if device.type == "cpu" and cpu_has_native_bf16():
        return FastPath(torch.bfloat16 if amp else None, channels_last, reuse)
    # CPUs without native bf16 emulate it (far slower than fp32), so they stay in fp32;
    # channels-last still helps oneDNN's convolutions there (`make bench` measures by how much).
    return FastPath(None, channels_last and device.type == "cpu", reuse)


def describe_runtime(device: torch.device) -> str:
    """One line: device, threads, versions, bf16 support, the fast path and loader workers."""
    import torchvision

    from .data import default_num_workers  # data imports this module

    device = torch.device(device)
    if device.type == "cuda":
        name = f"cuda ({torch.cuda.get_device_name(device)})"
    elif device.type == "mps":
        name = "mps (Apple GPU)"
    else:
        name = f"cpu ({_cpu_name()})"
    bf16 = cpu_has_native_bf16() if device.type == "cpu" else device.type == "cuda"
    return (
        f"device: {name} | threads: {torch.get_num_threads()} | torch {torch.__version__}"
        f" | torchvision {torchvision.__version__} | native bf16: {'yes' if bf16 else 'no'}"
        f" | fast path: {fast_path(device).describe()}"
        f" | loader workers: {default_num_workers(device)}"
    )


# JupyterLab's default notebook width wraps a printed line at about 100 characters (and a
# narrower window sooner); 80 keeps each line whole in it, in a terminal and on a projector.
DEVICE_LINE_WIDTH = 80


def fold_facts(line: str, width: int = DEVICE_LINE_WIDTH) -> list[str]:
    """Break a ' | '-separated line into lines of at most `width` characters, between facts,
    never inside one (a fact longer than `width` gets a line of its own)."""
    lines: list[str] = []
    for fact in line.split(" | "):
        if lines and len(lines[-1]) + 3 + len(fact) <= width:
            lines[-1] += " | " + fact
        else:
            lines.append(fact)
    return lines


def setup(prefer: str | None = None, seed: int | None = 0) -> torch.device:
    """Pick the device, seed everything and print the loud device banner (every fact of
    `describe_runtime`, folded to fit the notebook width); returns the device."""
    device = pick_device(prefer)
    if seed is not None:
        seed_everything(seed)
    lines = fold_facts(describe_runtime(device))
    bar = "=" * max(len(line) for line in lines)
    print("\n".join([bar, *lines, bar]))
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed python, numpy and torch; return a torch.Generator for splits and DataLoaders."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def seed_worker(worker_id: int) -> None:
    """DataLoader worker_init_fn: derive python/numpy seeds from the worker's torch seed."""
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)
