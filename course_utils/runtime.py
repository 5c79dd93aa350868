"""Where the code runs: device choice, seeding, the fast-mode switch, the device line.

The ground floor of the package: of course_utils it imports only i18n.py (its messages) and
_moved.py. It knows the hardware (cores, native bf16) and the environment's switches: COURSE_FAST
(fast mode: the small configuration the tests run), COURSE_DEVICE and COURSE_PRECISION (fp32 or
bf16 forces the precision training runs in). The precision this hardware trains fastest in,
`amp_dtype_for`, is the one `training/speed.py` puts in the speed settings that `fit` runs with;
the device line names it, so a stored notebook output says which precision produced it.
"""

from __future__ import annotations

import os
import platform
import random

import numpy as np
import torch

from ._moved import module_getattr
from .i18n import _

__getattr__ = module_getattr(__name__)  # names that moved away keep working, with a warning

# The one switch that makes every notebook small enough for CI (set by `make test`).
FAST_ENV = "COURSE_FAST"
PRECISION_ENV = "COURSE_PRECISION"  # auto (the default), fp32 or bf16
_PRECISIONS = {"fp32": None, "bf16": torch.bfloat16}


def fast_mode() -> bool:
    """True when the environment variable COURSE_FAST asks for the small, quick configuration."""
    value = os.environ.get(FAST_ENV, "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    raise ValueError(_("{variable}={value!r} is not understood; use 1 (fast) or 0 (real "
                       "configuration)").format(variable=FAST_ENV, value=value))


def pick_device(prefer: str | None = None) -> torch.device:
    """CUDA, then Apple MPS, then CPU; `prefer` (e.g. "cpu") or COURSE_DEVICE overrides."""
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    if prefer:
        device = torch.device(prefer)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise RuntimeError(_("device {device!r} was asked for, but torch sees no CUDA GPU")
                               .format(device=prefer))
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise RuntimeError(_("device {device!r} was asked for, but MPS is not available")
                               .format(device=prefer))
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


def forced_precision() -> torch.dtype | None | str:
    """What COURSE_PRECISION asks for: None (fp32) or torch.bfloat16, or "auto" when unset."""
    value = os.environ.get(PRECISION_ENV, "").strip().lower()
    if value in ("", "auto"):
        return "auto"
    if value not in _PRECISIONS:
        raise ValueError(_("{variable}={value!r} is not understood; use fp32, bf16 or auto (the "
                           "fastest precision this hardware has)").format(variable=PRECISION_ENV,
                                                                          value=value))
    return _PRECISIONS[value]


def precision_name(amp_dtype: torch.dtype | None) -> str:
    """"fp32", "bf16" or "fp16": the precision a step runs in under autocast `amp_dtype`."""
    return {None: "fp32", torch.bfloat16: "bf16", torch.float16: "fp16"}[amp_dtype]


def amp_dtype_for(device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype training is fastest in on `device` (None: fp32), or what
    COURSE_PRECISION forces (bf16 even where it is emulated: slow, but any machine can test it).

    A GPU: bfloat16 where it supports it, otherwise float16. A CPU: bfloat16 only with native
    bf16 instructions; without them torch emulates it, many times slower than fp32.
    """
    device = torch.device(device)
    forced = forced_precision()
    if forced != "auto":
        return forced
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and cpu_has_native_bf16():
        return torch.bfloat16
    return None


def usable_cores() -> int:
    """The CPU cores this process may run on (a container or `taskset` may allow fewer than
    exist)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_runtime(device: torch.device) -> str:
    """One line: device, threads, versions, bf16 support, the precision training runs in (and
    whether COURSE_PRECISION forced it), loader workers."""
    import torchvision

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
        f" | training precision: {precision_name(amp_dtype_for(device))}{_forced()}"
        f" | loader workers: {default_num_workers(device)}"
    )


def _forced() -> str:
    value = os.environ.get(PRECISION_ENV, "").strip().lower()
    return f" | forced by {PRECISION_ENV}={value}" if value not in ("", "auto") else ""


def default_num_workers(device: torch.device | str | None = None, processes: int = 1) -> int:
    """Loader worker processes: up to 4 beside a GPU; on the CPU, none unless cores are plenty.

    What a loader does per image decides it. It does not decode: checking the data decoded
    every image once, at the training size, in threads (data/decoded.py), and the loader reads
    that copy (0.05 ms) and augments it (about 0.3 ms at 40 px), while a ResNet-50 training step
    on a 2-core CPU takes 15 ms or more per image. A worker process would save that 2 % and take
    a core from PyTorch's compute threads, which then wait on each other (`python -m
    benchmarks.phone_photos` measures both, docs/performance.md has one machine's numbers); on
    macOS and Windows it also costs a second or more to start (spawn). On a CPU with more than 4
    cores the step is faster and a quarter of the cores (at most 4) go to workers; beside a GPU,
    which trains thousands of images per second, one process cannot augment enough.
    The rule does not depend on a timing taken at run time: the number of workers changes the
    random stream of the augmentation, so the same run must get the same number every time.
    `processes`: how many training processes share this machine (data-parallel training,
    chapter 7); each gets its share of the cores.
    """
    cores = max(1, usable_cores() // max(1, processes))
    if device is not None and torch.device(device).type in ("cuda", "mps"):
        return max(0, min(4, cores - 1))
    if processes > 1:
        return 0  # each process's threads already use its share of the cores
    return 0 if cores <= 4 else min(4, cores // 4)


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
