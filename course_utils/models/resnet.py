"""The ResNet family (18/34/50/101/152), written to be read next to the paper and torchvision.

Names of every parameter and buffer equal torchvision's `torchvision.models.resnet`, so a state
dict moves between the two with `strict=True`. The knobs the course never teaches (groups,
dilation, norm_layer) are left out; `stride_on` adds the paper's original "v1" block.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

STRIDE_PLACES = ("3x3", "1x1")


def conv3x3(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1, no bias (the BatchNorm after it has one)."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=1, bias=False)


def conv1x1(in_planes: int, out_planes: int, stride: int = 1) -> nn.Conv2d:
    """1x1 convolution, no bias: mixes channels, or downsamples when stride is 2."""
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions plus a shortcut (ResNet-18/34's 基本块)."""

    expansion: int = 1

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_on: str = "3x3",
    ) -> None:
        super().__init__()
        # Both convolutions are 3x3, so v1 and v1.5 are the same block: `stride_on` is accepted
        # only so that `_make_layer` can build either block type the same way.
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        """F(x) + shortcut(x), then ReLU."""
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)
        return out


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3, 1x1 expand (x4) plus a shortcut (ResNet-50/101/152's 瓶颈块)."""

    expansion: int = 4

    def __init__(
        self,
        inplanes: int,
        planes: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        stride_on: str = "3x3",
    ) -> None:
        super().__init__()
        if stride_on not in STRIDE_PLACES:
            raise ValueError(f"stride_on={stride_on!r}; expected one of {STRIDE_PLACES}")
        # v1 (the paper, the lesson's conv_block) strides the first 1x1 conv, which simply skips
        # three of every four pixels; v1.5 (torchvision) strides the 3x3, which sees them all.
        # Same weights and names either way, so both load the same state dict.
        stride_1x1, stride_3x3 = (stride, 1) if stride_on == "1x1" else (1, stride)
        self.conv1 = conv1x1(inplanes, planes, stride_1x1)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride_3x3)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = conv1x1(planes, planes * self.expansion)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: Tensor) -> Tensor:
        """F(x) + shortcut(x), then ReLU."""
        identity = x

        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)

        out = self.conv2(out)
        out = self.bn2(out)
        out = self.relu(out)

        out = self.conv3(out)
        out = self.bn3(out)

        if self.downsample is not None:
            identity = self.downsample(x)

        out += identity
        out = self.relu(out)
        return out


Block = type[BasicBlock] | type[Bottleneck]


class ResNet(nn.Module):
    """Stem, four stages of residual blocks, global average pool and a linear head."""

    def __init__(
        self,
        block: Block,
        layers: list[int],
        num_classes: int = 1000,
        zero_init_residual: bool = False,
        stride_on: str = "3x3",
    ) -> None:
        super().__init__()
        if len(layers) != 4:
            raise ValueError(f"layers={layers!r}; expected four block counts, e.g. [3, 4, 6, 3]")
        if stride_on not in STRIDE_PLACES:
            raise ValueError(f"stride_on={stride_on!r}; expected one of {STRIDE_PLACES}")
        self.stride_on = stride_on
        self.inplanes = 64  # channels entering the next stage; _make_layer updates it

        # Stem: 224 -> 112 (conv) -> 56 (max-pool); cheap, large receptive field early on.
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        # Each later stage halves height and width and doubles the width, keeping the cost per
        # stage roughly constant.
        self.layer1 = self._make_layer(block, 64, layers[0])
        self.layer2 = self._make_layer(block, 128, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 256, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 512, layers[3], stride=2)
        # Adaptive pooling is what lets any input size >= 32 reach the same 1x1 head.
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * block.expansion, num_classes)

        # torchvision's initialisation: He-normal on the output side keeps the backward signal's
        # scale; BN starts as the identity. (Linear keeps PyTorch's default, as in torchvision.)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

        # Zeroing the last BN's scale makes every residual branch output 0 at the start, so each
        # block begins as the identity (Goyal et al. 2017, +0.2-0.3% top-1).
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, Bottleneck):
                    nn.init.constant_(m.bn3.weight, 0)
                elif isinstance(m, BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def _make_layer(self, block: Block, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        """One stage: a first block that may change the shape, then `blocks - 1` identity blocks."""
        downsample = None
        # A projection shortcut only where x and F(x) differ in shape (the lesson's conv_block);
        # everywhere else the shortcut is the free identity (the lesson's identity_block).
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                conv1x1(self.inplanes, planes * block.expansion, stride),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, stride_on=self.stride_on)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes, stride_on=self.stride_on))
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        """Images (N, 3, H, W) -> class scores (N, num_classes)."""
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)

        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)

        x = self.avgpool(x)
        x = torch.flatten(x, 1)
        x = self.fc(x)
        return x


# The paper's Table 1: depth -> (block type, blocks per stage).
RESNET_CONFIGS: dict[int, tuple[Block, list[int]]] = {
    18: (BasicBlock, [2, 2, 2, 2]),
    34: (BasicBlock, [3, 4, 6, 3]),
    50: (Bottleneck, [3, 4, 6, 3]),
    101: (Bottleneck, [3, 4, 23, 3]),
    152: (Bottleneck, [3, 8, 36, 3]),
}


def build_resnet(depth: int, num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-`depth` (18, 34, 50, 101 or 152); kwargs: zero_init_residual, stride_on."""
    if depth not in RESNET_CONFIGS:
        raise ValueError(f"depth={depth!r}; expected one of {sorted(RESNET_CONFIGS)}")
    block, layers = RESNET_CONFIGS[depth]
    return ResNet(block, layers, num_classes=num_classes, **kwargs)


# torchvision's builders, one per row of the table.


def resnet18(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-18: basic blocks, [2, 2, 2, 2]; kwargs as for build_resnet."""
    return build_resnet(18, num_classes, **kwargs)


def resnet34(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-34: basic blocks, [3, 4, 6, 3]; kwargs as for build_resnet."""
    return build_resnet(34, num_classes, **kwargs)


def resnet50(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-50: bottleneck blocks, [3, 4, 6, 3]; kwargs as for build_resnet."""
    return build_resnet(50, num_classes, **kwargs)


def resnet101(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-101: bottleneck blocks, [3, 4, 23, 3]; kwargs as for build_resnet."""
    return build_resnet(101, num_classes, **kwargs)


def resnet152(num_classes: int = 1000, **kwargs) -> ResNet:
    """ResNet-152: bottleneck blocks, [3, 8, 36, 3]; kwargs as for build_resnet."""
    return build_resnet(152, num_classes, **kwargs)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameter values (buffers such as BN running statistics are not counted).

    The package's one parameter counter: chapters 2 and 3 call it `n_params`, chapter 6
    `count_params`.
    """
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


@torch.no_grad()
def randomise_batch_norm(model: nn.Module, seed: int = 0) -> None:
    """Give every BatchNorm (1d or 2d) non-trivial running statistics and affine values (seeded).

    A fresh BN is the identity in eval mode (mean 0, variance 1, scale 1, shift 0), so two
    models that wire their BNs differently would still agree; after this they do not. Tests
    and the exercise checks use it to compare a model with a reference.
    """
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=gen) + 0.5)
            m.weight.copy_(torch.rand(n, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(n, generator=gen) * 0.1)
