"""Speed settings: how a training step runs, each choice only where it is faster.

Three settings, one `Speed` object that `fit(..., speed=...)` takes:
- **mixed precision** (`amp_dtype`): torch.autocast in bfloat16 or float16, or None for fp32;
- **channels-last** memory layout, which the fast convolution kernels of GPUs and oneDNN prefer;
- **allocator tuning** (`tune_allocator`, opt-in): glibc keeps freed memory for the next step
  while `fit` runs (process-wide, so never on by default: see allocator.py).

`fit(..., speed=None)` takes `speed_for(device)`, the choice for this hardware; pass a Speed to
choose yourself: `speed_for(device, amp=False)` is that choice without mixed precision,
`speed_for(device, tune_allocator=True)` with the allocator tuned, `Speed()` plain fp32.

Not to be confused with *fast mode* (COURSE_FAST=1, `runtime.fast_mode()`): that is the small
configuration CI runs the notebooks in, fewer and smaller images; it changes what is computed,
the speed settings only how.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

import torch

from ..runtime import cpu_has_native_bf16
from .allocator import can_reuse_memory

AMP_DTYPES = (None, torch.bfloat16, torch.float16)


@dataclass(frozen=True)
class Speed:
    """How `fit` runs a step: autocast dtype, memory layout, allocator. Speed() is plain fp32.

    `speed_for(device)` makes the one that is fastest on this hardware; a Speed you make
    yourself is honoured as given (even bf16 on a CPU that emulates it: slow, but correct),
    except the allocator tuning, which only exists with glibc (see allocator.py).
    """

    amp_dtype: torch.dtype | None = None  # autocast dtype, or None for plain fp32
    channels_last: bool = False
    tune_allocator: bool = False  # keep freed memory for the next step (CPU, glibc; opt-in)

    def checked(self) -> Speed:
        """This Speed, or a clear error for a value fit cannot use; no tuning without glibc."""
        if self.amp_dtype not in AMP_DTYPES:
            raise ValueError(f"Speed(amp_dtype={self.amp_dtype!r}); expected one of "
                             f"{[str(d) for d in AMP_DTYPES]}")
        for name in ("channels_last", "tune_allocator"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"Speed({name}={getattr(self, name)!r}); expected True or False")
        if self.tune_allocator and not can_reuse_memory():
            return Speed(self.amp_dtype, self.channels_last, False)
        return self

    def describe(self) -> str:
        amp = str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off (fp32)"
        return (f"autocast {amp}, channels-last {'on' if self.channels_last else 'off'}, "
                f"allocator tuning {'on' if self.tune_allocator else 'off'}")


def speed_for(device: torch.device | str, amp: bool = True, channels_last: bool = True,
              tune_allocator: bool = False) -> Speed:
    """The speed settings for `device`: never a slower choice there; the allocator only if asked."""
    device = torch.device(device)
    # Only the CPU's own allocator matters for a CPU model; a GPU's has its own cache.
    tune = tune_allocator and device.type == "cpu" and can_reuse_memory()
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return Speed(dtype if amp else None, channels_last, tune)
    if device.type == "cpu" and cpu_has_native_bf16():
        return Speed(torch.bfloat16 if amp else None, channels_last, tune)
    # CPUs without native bf16 emulate it (far slower than fp32), so they stay in fp32;
    # channels-last still helps oneDNN's convolutions there (`make bench` measures by how much).
    return Speed(None, channels_last and device.type == "cpu", tune)


def autocast(device: torch.device | str, amp_dtype: torch.dtype | None):
    """torch.autocast for `device` in `amp_dtype`, or a do-nothing context when it is None."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=amp_dtype)
