"""Gradient flow, measured: the norm of the loss gradient at every conv layer, first to last.

Two experiments use it: chapter 2's deep stack of blocks at initialisation, with and without
identity shortcuts (`gradient_norms_at_init`), and chapter 6's plain and residual CIFAR nets
(`conv_grad_norms` on any model and batch).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def conv_grad_norms(model: nn.Module, images: torch.Tensor, labels: torch.Tensor) -> list[float]:
    """L2 norm of the loss gradient for every conv weight, first layer to last (train mode)."""
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    model.train()
    model.zero_grad(set_to_none=True)
    F.cross_entropy(model(images), labels).backward()
    norms = [m.weight.grad.norm().item() for m in model.modules() if isinstance(m, nn.Conv2d)]
    model.zero_grad(set_to_none=True)
    with torch.no_grad():  # measuring must not move BatchNorm's running statistics
        for name, b in model.named_buffers():
            b.copy_(buffers[name])
    return norms


class _StackBlock(nn.Module):
    """conv-(BN)-ReLU-conv-(BN), with or without the identity shortcut, then ReLU."""

    def __init__(self, width: int, residual: bool, batch_norm: bool) -> None:
        super().__init__()
        self.residual = residual
        # Without BN the convolutions keep their bias, as any plain CNN would.
        self.conv1 = nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)
        self.bn1 = nn.BatchNorm2d(width) if batch_norm else nn.Identity()
        self.conv2 = nn.Conv2d(width, width, 3, padding=1, bias=not batch_norm)
        self.bn2 = nn.BatchNorm2d(width) if batch_norm else nn.Identity()
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + x if self.residual else out)


def gradient_norms_at_init(
    depth: int,
    residual: bool,
    width: int = 16,
    seed: int = 0,
    batch_norm: bool = False,
    init: str = "default",
) -> list[float]:
    """Gradient norm of every conv weight (input side first) after one backward pass at init.

    A stem conv, `depth` two-conv blocks of `width` channels, global pooling and a 10-way linear
    head; cross-entropy on one batch of 8 random 8x8 images and random labels. Convolutions
    keep their bias when there is no BN. `init="default"` keeps PyTorch's default
    initialisation (uniform, std = 1/sqrt(3 fan_in): each layer shrinks the signal);
    `init="he"` draws the conv weights as this package's ResNet does (He et al. 2015: normal,
    std = sqrt(2 / fan_out), zero biases), sized so that a ReLU layer keeps the signal's scale.
    Runs in float64 so that a vanishing gradient shows as a tiny number instead of underflowing.
    """
    if init not in ("default", "he"):
        raise ValueError(f"init must be 'default' or 'he', not {init!r}")
    # One thread: the tensors are tiny, threads only add waiting on a busy machine, and conv
    # gradients on the CPU change in the last bits with the thread count.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return _gradient_norms(depth, residual, width, seed, batch_norm, init)
    finally:
        torch.set_num_threads(threads)


def _gradient_norms(depth: int, residual: bool, width: int, seed: int, batch_norm: bool,
                    init: str) -> list[float]:
    """The body of gradient_norms_at_init, run under one thread."""
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # same weights for plain and residual: only the shortcut differs
        net = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1, bias=False),  # the stem, as models.conv3x3
            *[_StackBlock(width, residual, batch_norm) for _ in range(depth)],
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(width, 10),
        ).double()
        if init == "he":
            for m in net.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
    x = torch.randn(8, 3, 8, 8, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 10, (8,), generator=gen)
    return conv_grad_norms(net, x, y)
