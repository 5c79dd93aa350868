"""The fast path: mixed precision, channels-last and memory reuse, each only where it is faster.

`fit(..., fast=None)` takes `fast_path(device)`, the choice for this hardware; pass a FastPath to
choose yourself: `fast_path(device, amp=False)` is that choice without mixed precision,
`FastPath()` plain fp32 with nothing else.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from .malloc_tuning import can_reuse_memory


def cpu_has_native_bf16() -> bool:
    """True when the CPU has bf16 matrix instructions (AVX512-BF16 or AMX), so bf16 is faster.

    Without them torch emulates bf16, and a ResNet-50 training step is many times *slower*
    than fp32 (the README's speed section has the measurement and `make bench` repeats it).
    """
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


AMP_DTYPES = (None, torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class FastPath:
    """How `fit` runs a step: autocast dtype, memory format, allocator. FastPath() is plain fp32.

    `fast_path(device)` makes the one that is fastest on this hardware; a FastPath you make
    yourself is honoured as given (even bf16 on a CPU that emulates it: slow, but correct),
    except memory reuse, which only exists with glibc (see malloc_tuning).
    """

    amp_dtype: torch.dtype | None = None  # autocast dtype, or None for plain fp32
    channels_last: bool = False
    reuse_memory: bool = False  # keep freed memory for the next step (CPU, glibc)

    def checked(self) -> FastPath:
        """This FastPath, or a clear error for a value fit cannot use; reuse off without glibc."""
        if self.amp_dtype not in AMP_DTYPES:
            raise ValueError(f"FastPath(amp_dtype={self.amp_dtype!r}); expected one of "
                             f"{[str(d) for d in AMP_DTYPES]}")
        for name in ("channels_last", "reuse_memory"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"FastPath({name}={getattr(self, name)!r}); expected True or "
                                 "False")
        if self.reuse_memory and not can_reuse_memory():
            return FastPath(self.amp_dtype, self.channels_last, False)
        return self

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


def autocast(device: torch.device | str, amp_dtype: torch.dtype | None):
    """torch.autocast for `device` in `amp_dtype`, or a do-nothing context when it is None."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=amp_dtype)
