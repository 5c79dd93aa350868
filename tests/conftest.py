"""Shared test set-up."""

from __future__ import annotations

import os
from collections import OrderedDict

import pytest
import torch
from torch import nn

# The tests read English messages unless they set COURSE_LANG themselves (tests/test_i18n.py): a
# maintainer's own COURSE_LANG=zh must not fail them.
os.environ.pop("COURSE_LANG", None)


@pytest.fixture(autouse=True)
def one_thread():
    """Tests use tiny tensors, which run fastest on one thread; on a busy 2-core machine two
    threads spin-wait on each other (measured 20-50x slower). One thread also makes CPU
    results bit-identical from run to run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(params=["fp32", "bf16"])
def precision(request, monkeypatch) -> str:
    """Run a test twice, training in fp32 and in bf16 autocast (COURSE_PRECISION, which
    `speed_for` honours), on any CPU: a CPU without native bf16 emulates it, slowly, so the
    tests that take this fixture train tiny models for a few steps. Compare with
    `training.speed.tolerance(precision, ...)`, never with a constant tuned on one machine."""
    monkeypatch.setenv("COURSE_PRECISION", request.param)
    return request.param


def tiny_net(num_classes: int = 4, width: int = 8, seed: int | None = None) -> nn.Module:
    """Two convolutions with BatchNorm and a linear head called `fc`, like a ResNet's; seeded
    when `seed` is given (otherwise it draws from the global generator, as the caller seeded)."""
    if seed is not None:
        torch.manual_seed(seed)
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, width, 3, padding=1, bias=False), bn1=nn.BatchNorm2d(width),
        relu1=nn.ReLU(), conv2=nn.Conv2d(width, 16, 3, stride=2, padding=1, bias=False),
        bn2=nn.BatchNorm2d(16), relu2=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1),
        flat=nn.Flatten(), fc=nn.Linear(16, num_classes),
    ))


def write_photo(path, size, seed: int, kind: int = 0):
    """A photo-like JPEG (smooth gradient, a blob, sensor noise) of an odd `size`."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    w, h = size
    yy, xx = np.mgrid[0:h, 0:w] / max(w, h)
    base = rng.uniform(40, 200, 3) + 60 * (xx if kind == 0 else yy)[..., None]
    cy, cx, r = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w, 0.25 * min(w, h)
    blob = ((np.mgrid[0:h, 0:w][0] - cy) ** 2 + (np.mgrid[0:h, 0:w][1] - cx) ** 2) < r * r
    base[blob] = rng.uniform(0, 255, 3)
    pixels = (base + rng.normal(0, 6, base.shape)).clip(0, 255).astype(np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels, "RGB").save(path, quality=85)
    return path


def make_photo_folder(root, splits: dict[str, int], classes=("ants", "bees")):
    """A folder of photo-like JPEGs of odd sizes: {"train": 10, "val": 4} makes the pre-split
    layout root/train/<class>/..., {"": 6} a flat one root/<class>/...; counts per class."""
    sizes = [(37, 53), (91, 61), (64, 47), (120, 77), (55, 99)]
    n = 0
    for split, count in splits.items():
        for label, name in enumerate(classes):
            for i in range(count):
                write_photo(root / split / name / f"{name}_{i:03d}.jpg", sizes[n % len(sizes)],
                            seed=n, kind=label)
                n += 1
    return root


@pytest.fixture
def photo_folder():
    """make_photo_folder, for tests that build their own folders under tmp_path."""
    return make_photo_folder


def pytest_terminal_summary(terminalreporter, config) -> None:
    """Remember why browser tests were skipped (for want of Chromium), to say it last."""
    config._browser_skips = sorted({
        str(report.longrepr[2]).removeprefix("Skipped: ")
        for report in terminalreporter.stats.get("skipped", [])
        if isinstance(report.longrepr, tuple)
        and "BROWSER TESTS SKIPPED" in str(report.longrepr[2])})


def pytest_unconfigure(config) -> None:
    """The last lines of the run, loud: the JupyterLab walkthrough was not checked at all."""
    reasons = getattr(config, "_browser_skips", None)
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reasons and reporter is not None:
        reporter.write_sep("!", "THE JUPYTERLAB BROWSER TESTS DID NOT RUN", red=True, bold=True)
        for reason in reasons:
            reporter.write_line(reason, red=True, bold=True)
        reporter.write_sep("!", "", red=True, bold=True)
