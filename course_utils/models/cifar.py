"""The paper's CIFAR networks (He et al. 2016, sec. 4.2): plain and residual, 6n+2 layers.

A 3x3 conv with 16 filters, then three stages of n blocks at 16, 32 and 64 channels
(feature maps 32, 16 and 8 pixels wide for a 32x32 input), global average pooling and a
fully connected layer. Each block is two 3x3 convs, so the depth is 6n + 2: n = 3, 5, 9
give the paper's 20, 32 and 56 layers. `cifar_net(depth, residual=False)` is the plain
net, `residual=True` the ResNet; both have exactly the same layers and parameters.
Chapter 6 trains them with the paper's protocol, by steps on tensors: training/steps.py.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

STAGE_WIDTHS = (16, 32, 64)


class ShortcutA(nn.Module):
    """The paper's option A: identity, or at a stage change stride-2 subsampling plus zero channels.

    We use it (as the paper does for CIFAR) because it has no parameters: the residual net
    then has exactly the plain net's layers and parameter count, so any difference in how
    they train comes from the shortcuts alone. A 1x1 projection (option B) would add weights.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.stride = stride
        self.extra = out_channels - in_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        if self.extra:
            # F.pad pads the last dimensions first: (W, W, H, H, C_front, C_back).
            x = F.pad(x, (0, 0, 0, 0, self.extra // 2, self.extra - self.extra // 2))
        return x


class PlainBlock(nn.Module):
    """Two 3x3 conv-BN layers with ReLUs; the first may halve the size and change the width."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        """F(x): conv-BN-ReLU-conv-BN, what both block kinds compute before the last ReLU."""
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual_branch(x))


class ResidualBlock(PlainBlock):
    """The same two layers plus the shortcut: relu(F(x) + x). The only difference from PlainBlock.

    Not resnet.BasicBlock: its shortcut is the parameter-free option A (ShortcutA), where
    resnet.BasicBlock projects with a 1x1 conv at a stage change (option B), as torchvision does.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1):
        super().__init__(in_channels, out_channels, stride)
        self.shortcut = ShortcutA(in_channels, out_channels, stride)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.residual_branch(x) + self.shortcut(x))


class CifarNet(nn.Module):
    """Stem conv, three stages of `n` blocks (16/32/64 channels), average pool, fc."""

    def __init__(self, n: int, residual: bool, num_classes: int = 10):
        super().__init__()
        block = ResidualBlock if residual else PlainBlock
        self.depth = 6 * n + 2
        self.residual = residual
        self.conv1 = nn.Conv2d(3, STAGE_WIDTHS[0], 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(STAGE_WIDTHS[0])
        self.layer1 = self._make_stage(block, STAGE_WIDTHS[0], STAGE_WIDTHS[0], n, stride=1)
        self.layer2 = self._make_stage(block, STAGE_WIDTHS[0], STAGE_WIDTHS[1], n, stride=2)
        self.layer3 = self._make_stage(block, STAGE_WIDTHS[1], STAGE_WIDTHS[2], n, stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(STAGE_WIDTHS[2], num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                # He et al. 2015 ("Kaiming") init, the one the paper uses: keeps the variance of
                # activations constant through ReLU layers at the start of training.
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    @staticmethod
    def _make_stage(block, in_channels: int, out_channels: int, n: int,
                    stride: int) -> nn.Sequential:
        layers = [block(in_channels, out_channels, stride)]
        layers += [block(out_channels, out_channels) for _ in range(n - 1)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def cifar_net(depth: int, residual: bool, num_classes: int = 10) -> CifarNet:
    """The paper's 6n+2-layer CIFAR net: plain (`residual=False`) or ResNet; depth 20, 32, 56..."""
    if depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth {depth} is not 6n+2 with n >= 1; use e.g. 20, 32, 44, 56 or 110")
    return CifarNet((depth - 2) // 6, residual, num_classes)


def cifar_param_count(depth: int, num_classes: int = 10) -> int:
    """Parameters of a 6n+2 CIFAR net by hand (convs have no bias; each BN has 2 per channel)."""
    n = (depth - 2) // 6
    w1, w2, w3 = STAGE_WIDTHS
    convs = 3 * w1 * 9
    convs += 2 * n * w1 * w1 * 9  # stage 1: every conv is 16 -> 16
    convs += (w1 * w2 + (2 * n - 1) * w2 * w2) * 9  # stage 2: the first conv widens 16 -> 32
    convs += (w2 * w3 + (2 * n - 1) * w3 * w3) * 9
    batchnorms = 2 * (w1 + 2 * n * (w1 + w2 + w3))
    return convs + batchnorms + w3 * num_classes + num_classes
