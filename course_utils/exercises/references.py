"""Reference residual blocks, each typical learner mistake built in as a variant.

The references are written out here (not imported from torchvision) so that each mistake can be a
variant with the same names and weights as the learner's module; the tests prove that the
references equal torchvision's blocks. blocks.py compares a learner's block with them.
"""

from __future__ import annotations

import torch
from torch import nn

from ..i18n import N_


def conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


def projection(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))


class RefBasic(nn.Module):
    """torchvision's BasicBlock, with switches for typical mistakes."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, mistake: str = "") -> None:
        super().__init__()
        s1, s2 = (1, stride) if mistake == "stride_on_conv2" else (stride, 1)
        self.conv1, self.bn1 = conv(inplanes, planes, 3, s1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = conv(planes, planes, 3, s2), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = projection(inplanes, planes, stride)
        self.mistake = mistake

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return finish(out, identity, self.relu, self.mistake)


class RefBottleneck(nn.Module):
    """torchvision's Bottleneck (v1.5: stride on the 3x3), with switches for typical mistakes."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, mistake: str = "") -> None:
        super().__init__()
        width, out = planes, planes * self.expansion
        s1, s2 = (stride, 1) if mistake == "stride_on_1x1" else (1, stride)
        self.conv1, self.bn1 = conv(inplanes, width, 1, s1), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = conv(width, width, 3, s2), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = conv(width, out, 1), nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample = projection(inplanes, out, stride)
        self.mistake = mistake

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return finish(out, identity, self.relu, self.mistake)


class RefPreAct(nn.Module):
    """A pre-activation (v2) basic block (He et al. 2016, "Identity Mappings in Deep Residual
    Networks"): BN -> ReLU -> conv twice, the shortcut added last, no ReLU after the sum. The
    projection reads the pre-activated input (the authors' code); reading x is accepted too."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, mistake: str = "") -> None:
        super().__init__()
        s1, s2 = (1, stride) if mistake == "stride_on_conv2" else (stride, 1)
        self.bn1, self.conv1 = nn.BatchNorm2d(inplanes), conv(inplanes, planes, 3, s1)
        self.bn2, self.conv2 = nn.BatchNorm2d(planes), conv(planes, planes, 3, s2)
        self.relu = nn.ReLU()
        self.downsample = (conv(inplanes, planes, 1, stride) if stride != 1 or inplanes != planes
                           else None)
        self.mistake = mistake

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.mistake
        # the v1 order with the same layers (only runs at equal channels)
        if m == "post_activation":
            out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(out + (x if self.downsample is None else self.downsample(x)))
        pre = self.bn1(x) if m == "no_first_relu" else self.relu(self.bn1(x))
        if self.downsample is None:
            identity = pre if m == "shortcut_from_pre" else x
        else:
            identity = self.downsample(x if m == "projection_on_x" else pre)
        out = self.conv1(pre)
        out = self.conv2(self.relu(self.bn2(out)) if m != "no_second_relu" else self.bn2(out))
        if m == "relu_after_add":
            return self.relu(out + identity)
        if m == "no_shortcut":
            return out
        return out + identity


# {mistake: message}; the messages are translated where they are shown (check_block)
PREACT_MISTAKES = {
    "relu_after_add": N_("a pre-activation block has no ReLU after the addition: return out + "
                         "identity, so the shortcut carries x unchanged from block to block."),
    "no_shortcut": N_("your block never adds the shortcut: add `identity` (x, or downsample(...)) "
                      "at the end."),
    "shortcut_from_pre": N_("the identity shortcut must carry x itself, not relu(bn1(x)): only the "
                            "residual branch is pre-activated."),
    "no_second_relu": N_("the second conv also gets BN then ReLU before it: "
                         "conv2(relu(bn2(out)))."),
    "post_activation": N_("that is the original (v1) order, conv -> BN -> ReLU; v2 puts BN and "
                          "ReLU before each conv and nothing after the addition."),
    "no_first_relu": N_("the first conv also gets BN then ReLU before it: conv1(relu(bn1(x)))."),
    "stride_on_conv2": N_("the stride belongs on the first 3x3 conv (conv1), as in the basic "
                          "block, not on conv2."),
}


def finish(out, identity, relu, mistake: str) -> torch.Tensor:
    if mistake == "relu_before_add":
        return relu(out) + identity
    if mistake == "no_final_relu":
        return out + identity
    if mistake == "no_shortcut":
        return relu(out)
    if mistake == "double_relu":
        return relu(relu(out) + identity)
    return relu(out + identity)


BLOCK_MISTAKES = {
    "relu_before_add": N_("your block adds the shortcut after the final ReLU: add the shortcut to "
                          "the BN output first, then apply ReLU to the sum."),
    "double_relu": N_("your block applies ReLU to the residual branch before adding the shortcut; "
                      "the last BN output goes into the addition without a ReLU."),
    "no_final_relu": N_("your block has no ReLU after the addition: return relu(out + identity)."),
    "no_shortcut": N_("your block never adds the shortcut: it is a plain block. Add `identity` (x, "
                      "or downsample(x)) before the last ReLU."),
}
