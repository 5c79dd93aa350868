"""Runtime helpers: fast-mode switch, device choice, seeding, the hardware-dependent fast path."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
import torchvision

from course_utils import runtime


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
        return random.random(), np.random.rand(), torch.rand(1).item(), torch.rand(1, generator=g).item()

    assert draw() == draw()


def test_fast_path_never_picks_emulated_bf16(monkeypatch) -> None:
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: False)
    path = runtime.fast_path(torch.device("cpu"))
    assert path.amp_dtype is None and path.channels_last
    monkeypatch.setattr(runtime, "cpu_has_native_bf16", lambda: True)
    assert runtime.fast_path(torch.device("cpu")).amp_dtype == torch.bfloat16
    off = runtime.fast_path(torch.device("cpu"), amp=False, channels_last=False)
    assert off.amp_dtype is None and not off.channels_last
    assert runtime.fast_path(torch.device("mps")).amp_dtype is None


def test_setup_prints_one_loud_line(capsys) -> None:
    device = runtime.setup("cpu", seed=1)
    out = capsys.readouterr().out.splitlines()
    assert device.type == "cpu" and len(out) == 3 and out[0] == out[2] and set(out[0]) == {"="}
    line = out[1]
    assert line.startswith("device: cpu") and torch.__version__ in line
    assert torchvision.__version__ in line and "native bf16: " in line and "fast path:" in line
