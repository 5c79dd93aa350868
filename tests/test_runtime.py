"""Runtime helpers (fast-mode switch, device choice, seeding, the device line) and the speed
settings chosen from the hardware, with the opt-in allocator tuning."""

from __future__ import annotations

import os
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
import torchvision

from course_utils import runtime
from course_utils.training import allocator, speed


@pytest.mark.parametrize(("value", "expected"), [("", False), ("0", False), ("no", False),
                                                 ("1", True), ("true", True), ("YES", True)])
def test_fast_mode_reads_one_variable(monkeypatch, value, expected) -> None:
    monkeypatch.setenv(runtime.FAST_ENV, value)
    assert runtime.fast_mode() is expected


def test_fast_mode_rejects_nonsense(monkeypatch) -> None:
    monkeypatch.setenv(runtime.FAST_ENV, "maybe")
    with pytest.raises(ValueError, match="COURSE_FAST='maybe'"):
        runtime.fast_mode()


def test_pick_device(monkeypatch) -> None:
    monkeypatch.delenv("COURSE_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else (
        "mps" if torch.backends.mps.is_available() else "cpu")
    assert runtime.pick_device().type == expected
    assert runtime.pick_device("cpu").type == "cpu"
    monkeypatch.setenv("COURSE_DEVICE", "cpu")
    assert runtime.pick_device().type == "cpu"
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="no CUDA GPU"):
            runtime.pick_device("cuda")


def test_seed_everything_repeats_every_generator() -> None:
    def draw():
        g = runtime.seed_everything(123)
        return (random.random(), np.random.rand(), torch.rand(1).item(),
                torch.rand(1, generator=g).item())

    assert draw() == draw()


def test_speed_settings_never_pick_emulated_bf16(monkeypatch) -> None:
    monkeypatch.delenv("COURSE_PRECISION", raising=False)
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    path = speed.speed_for(torch.device("cpu"))
    assert path.amp_dtype is None and path.channels_last
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert speed.speed_for(torch.device("cpu")).amp_dtype == torch.bfloat16
    off = speed.speed_for(torch.device("cpu"), amp=False, channels_last=False)
    assert off.amp_dtype is None and not off.channels_last
    assert speed.speed_for(torch.device("mps")).amp_dtype is None


def test_course_precision_forces_the_training_precision_on_any_cpu(monkeypatch) -> None:
    for native in (False, True):
        monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda native=native: native)
        monkeypatch.setenv("COURSE_PRECISION", "bf16")
        assert speed.speed_for(torch.device("cpu")).amp_dtype == torch.bfloat16
        assert speed.speed_for(torch.device("cpu"), amp=False).amp_dtype is None
        monkeypatch.setenv("COURSE_PRECISION", "FP32 ")
        assert speed.speed_for(torch.device("cpu")).amp_dtype is None
        monkeypatch.setenv("COURSE_PRECISION", "auto")
        assert speed.speed_for(torch.device("cpu")).amp_dtype == (
            torch.bfloat16 if native else None)
    monkeypatch.setenv("COURSE_PRECISION", "half")
    with pytest.raises(ValueError, match="COURSE_PRECISION='half' is not understood; use fp32, "
                                         "bf16 or auto"):
        speed.speed_for(torch.device("cpu"))


def test_the_device_line_says_when_the_precision_is_forced(monkeypatch) -> None:
    monkeypatch.setenv("COURSE_PRECISION", "bf16")
    assert "training precision: bf16 | " in runtime.describe_runtime(torch.device("cpu"))
    assert " | forced by COURSE_PRECISION=bf16 | " in runtime.describe_runtime(torch.device("cpu"))
    monkeypatch.delenv("COURSE_PRECISION")
    assert "COURSE_PRECISION" not in runtime.describe_runtime(torch.device("cpu"))
    expected = "bf16" if runtime.cpu_has_native_bf16() else "fp32"
    assert f"training precision: {expected} | " in runtime.describe_runtime(torch.device("cpu"))


def test_evaluation_runs_in_fp32_whatever_training_runs_in() -> None:
    train = speed.Speed(torch.bfloat16, channels_last=True, tune_allocator=True)
    assert train.for_evaluation() == speed.Speed(None, channels_last=True)
    assert speed.Speed(torch.float16).for_evaluation().amp_dtype is None


def test_tolerance_follows_the_coarsest_precision() -> None:
    assert speed.tolerance("fp32") == speed.tolerance(None) == 1e-5
    assert speed.tolerance("bf16", "fp32") == speed.tolerance(torch.bfloat16) == 2**-8
    assert speed.tolerance("fp16", "fp32") == 2**-11
    assert speed.tolerance("fp32", "bf16") > speed.tolerance("fp32", "fp16")
    with pytest.raises(ValueError, match="precision 'int8'; expected one of"):
        speed.tolerance("int8")


def test_allocator_tuning_is_opt_in_and_a_cpu_choice():
    assert not speed.speed_for(torch.device("cpu")).tune_allocator  # the default touches nothing
    asked = speed.speed_for(torch.device("cpu"), tune_allocator=True)
    assert asked.tune_allocator == allocator.can_reuse_memory()
    # the GPU has its own cache
    assert not speed.speed_for(torch.device("cuda"), tune_allocator=True).tune_allocator
    assert "allocator tuning off" in speed.speed_for(torch.device("cpu")).describe()
    assert speed.Speed() == speed.Speed(None, False, False)  # plain fp32, nothing else


# Runs in a fresh interpreter: the allocator's state is process-wide and has a memory.
PAGE_FAULTS = """
import resource, sys, torch
from course_utils.training import allocator
if sys.argv[1] == "reuse":
    assert allocator.reuse_freed_memory(True) and allocator.memory_reuse_enabled()
for _ in range(20):  # settle: glibc needs up to ~10 rounds here before it reuses a block
    torch.ones(16 * 2**20)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(4):
    torch.ones(16 * 2**20)  # 64 MiB: allocated, filled, freed
print((resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 4)
"""


@pytest.mark.skipif(not allocator.can_reuse_memory(), reason="memory reuse needs glibc (Linux)")
def test_reuse_freed_memory_stops_page_faults():
    # glibc maps a block of 64 MiB fresh from the kernel every time: one fault per 4 KiB page
    # (16384). With reuse on, the freed block is used again and the kernel is not asked.
    def faults(mode: str) -> float:
        run = subprocess.run([sys.executable, "-c", PAGE_FAULTS, mode], capture_output=True,
                             text=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        return float(run.stdout)

    reused, fresh = faults("reuse"), faults("glibc")
    # (with transparent huge pages, 64 MiB is only ~32 faults: hence a ratio, not a count)
    assert reused < 100 and fresh > 10 * max(reused, 1), (reused, fresh)


def test_memory_reuse_context_restores_the_previous_state():
    calls = []
    assert not allocator.memory_reuse_enabled()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(allocator, "reuse_freed_memory", lambda enable=True: calls.append(enable))
        with allocator.memory_reuse(True):
            pass
        with allocator.memory_reuse(False):  # already off: nothing to change
            pass
    assert calls == [True, False]


def test_memory_reuse_is_a_no_op_without_glibc(monkeypatch):
    monkeypatch.setattr(allocator, "_glibc", lambda: None)
    assert not allocator.can_reuse_memory()
    assert allocator.reuse_freed_memory(True) is False
    assert not allocator.memory_reuse_enabled()
    assert not speed.speed_for(torch.device("cpu"), tune_allocator=True).tune_allocator


def test_setup_prints_every_fact_in_lines_that_fit_the_notebook(capsys) -> None:
    device = runtime.setup("cpu", seed=1)
    out = capsys.readouterr().out.splitlines()
    assert device.type == "cpu" and len(out) >= 3 and out[0] == out[-1] and set(out[0]) == {"="}
    assert all(len(line) <= runtime.DEVICE_LINE_WIDTH for line in out), out
    # every fact of the one-line description, in order, none cut in two
    assert " | ".join(out[1:-1]).split(" | ") == runtime.describe_runtime(device).split(" | ")
    text = " | ".join(out[1:-1])
    assert out[1].startswith("device: cpu") and torch.__version__ in text
    assert torchvision.__version__ in text and "native bf16: " in text
    assert "loader workers: " in text


def test_fold_facts_breaks_between_facts_only() -> None:
    assert runtime.fold_facts("a | bb | ccc", width=6) == ["a | bb", "ccc"]
    assert runtime.fold_facts("a | bb | ccc", width=9) == ["a | bb", "ccc"]
    assert runtime.fold_facts("a | bb | ccc", width=12) == ["a | bb | ccc"]
    assert runtime.fold_facts("a very long fact | x", width=5) == ["a very long fact", "x"]
