"""Speed settings: how a training step runs, each choice only where it is faster.

Three settings, one `Speed` object that `fit(..., speed=...)` takes:
- **mixed precision** (`amp_dtype`): torch.autocast in bfloat16 or float16, or None for fp32;
- **channels-last** memory layout, which the fast convolution kernels of GPUs and oneDNN prefer;
- **allocator tuning** (`tune_allocator`, opt-in): glibc keeps freed memory for the next step
  while `fit` runs (process-wide, so never on by default: see allocator.py).

`fit(..., speed=None)` takes `speed_for(device)`, the choice for this hardware; pass a Speed to
choose yourself: `speed_for(device, amp=False)` is that choice without mixed precision,
`speed_for(device, tune_allocator=True)` with the allocator tuned, `Speed()` plain fp32.

Training may run in bf16 (where the hardware has it); validation and test always run in fp32
(`Speed.for_evaluation`), so the numbers a learner compares are the same on every CPU. The
environment variable COURSE_PRECISION (fp32 or bf16) forces the training precision on any
machine, e.g. to test the bf16 path on a CPU that only emulates it (`runtime.amp_dtype_for`).

Not to be confused with *fast mode* (COURSE_FAST=1, `runtime.fast_mode()`): that is the small
configuration CI runs the notebooks in, fewer and smaller images; it changes what is computed,
the speed settings only how.
"""

from __future__ import annotations

import contextlib
import dataclasses
from dataclasses import dataclass

import torch

from ..runtime import amp_dtype_for, precision_name
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

    def for_evaluation(self) -> Speed:
        """How validation, test and prediction run: in fp32 (autocast off) whatever training
        used, with the same memory format. Evaluation is cheap next to training, and its
        numbers are then the same on every machine, whether or not its CPU has native bf16."""
        return dataclasses.replace(self, amp_dtype=None, tune_allocator=False)

    def describe(self) -> str:
        amp = str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off (fp32)"
        return (f"autocast {amp}, channels-last {'on' if self.channels_last else 'off'}, "
                f"allocator tuning {'on' if self.tune_allocator else 'off'}")


def speed_for(device: torch.device | str, amp: bool = True, channels_last: bool = True,
              tune_allocator: bool = False) -> Speed:
    """The speed settings for `device`: never a slower choice there; the allocator only if asked.

    Mixed precision in `runtime.amp_dtype_for(device)` (COURSE_PRECISION may force it; amp=False
    always means fp32); channels-last on a GPU and on a CPU, where oneDNN's convolutions gain
    from it (`make bench` measures by how much), not on Apple's MPS.
    """
    device = torch.device(device)
    # Only the CPU's own allocator matters for a CPU model; a GPU's has its own cache.
    tune = tune_allocator and device.type == "cpu" and can_reuse_memory()
    layout = channels_last and device.type in ("cuda", "cpu")
    return Speed(amp_dtype_for(device) if amp else None, layout, tune)


# How closely a number computed in one precision agrees with the same number computed in
# another, relative. bf16 keeps 8 significant bits (one rounding: 2**-8, about 4e-3), fp16 11;
# fp32 results still differ in their last digits with the order of additions (threads, batch
# sizes, processes), hence 1e-5 rather than fp32's 1e-7.
_RELATIVE = {"fp32": 1e-5, "bf16": 2**-8, "fp16": 2**-11}


def tolerance(*precisions: str | torch.dtype | None) -> float:
    """The relative tolerance for comparing results computed in these precisions (the coarsest
    decides): `tolerance("fp32")` for two fp32 results, `tolerance("bf16", "fp32")` for a bf16
    result against an fp32 one. Autocast dtypes work too (None is fp32)."""
    names = [p if isinstance(p, str) else precision_name(p) for p in precisions or ("fp32",)]
    unknown = [name for name in names if name not in _RELATIVE]
    if unknown:
        raise ValueError(f"precision {unknown[0]!r}; expected one of {sorted(_RELATIVE)}")
    return max(_RELATIVE[name] for name in names)


def autocast(device: torch.device | str, amp_dtype: torch.dtype | None):
    """torch.autocast for `device` in `amp_dtype`, or a do-nothing context when it is None."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=amp_dtype)
