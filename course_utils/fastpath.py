"""The fast path: mixed precision, channels-last and memory reuse, each only where it is faster.

`fit(..., fast=None)` takes `fast_path(device)`, the choice for this hardware; pass a FastPath to
choose yourself: `fast_path(device, amp=False)` is that choice without mixed precision,
`FastPath()` plain fp32 with nothing else.

Training may run in bf16 (where the hardware has it); validation and test always run in fp32
(`FastPath.for_evaluation`), so the numbers a learner compares are the same on every CPU. The
environment variable COURSE_PRECISION (fp32 or bf16) forces the training precision on any
machine, e.g. to test the bf16 path on a CPU that only emulates it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
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
PRECISION_ENV = "COURSE_PRECISION"  # auto (the default), fp32 or bf16
_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def forced_precision() -> torch.dtype | None | str:
    """What COURSE_PRECISION asks for: None (fp32) or torch.bfloat16, or "auto" when unset."""
    value = os.environ.get(PRECISION_ENV, "").strip().lower()
    if value in ("", "auto"):
        return "auto"
    if value not in _PRECISIONS:
        raise ValueError(f"{PRECISION_ENV}={value!r} is not understood; use fp32, bf16 or auto "
                         "(the fastest precision this hardware has)")
    return _PRECISIONS[value]


def precision_name(amp_dtype: torch.dtype | None) -> str:
    """"fp32", "bf16" or "fp16": the precision a step runs in under autocast `amp_dtype`."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[amp_dtype]


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

    def for_evaluation(self) -> FastPath:
        """How validation, test and prediction run: in fp32 (autocast off) whatever training
        used, with the same memory format. Evaluation is cheap next to training, and its
        numbers are then the same on every machine, whether or not its CPU has native bf16."""
        return dataclasses.replace(self, amp_dtype=None, reuse_memory=False)

    def describe(self) -> str:
        amp = str(self.amp_dtype).replace("torch.", "") if self.amp_dtype else "off (fp32)"
        return (f"autocast {amp}, channels-last {'on' if self.channels_last else 'off'}, "
                f"memory reuse {'on' if self.reuse_memory else 'off'}")


def fast_path(device: torch.device, amp: bool = True, channels_last: bool = True,
              reuse_memory: bool = True) -> FastPath:
    """Pick autocast dtype, memory format and allocator for `device`; never a slower one there.

    COURSE_PRECISION=fp32 or bf16 overrides the autocast choice (bf16 even where it is emulated:
    slow, but it lets any machine test the bf16 path); amp=False always means fp32.
    """
    device = torch.device(device)
    # Only the CPU's own allocator matters for a CPU model; a GPU's has its own cache.
    reuse = reuse_memory and device.type == "cpu" and can_reuse_memory()
    forced = forced_precision()
    if forced != "auto":
        return FastPath(forced if amp else None, channels_last and device.type != "mps", reuse)
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
