"""Chapter 2 (residual blocks): a bottleneck's parameters, a basic block, a bottleneck."""

from __future__ import annotations

from ..i18n import N_, _
from .blocks import check_block
from .checks import expect_number
from .core import Exercise
from .references import RefBasic, RefBottleneck

# ------------------------------------------------------------------------ q1: bottleneck parameters


def _check_bottleneck_params(answer) -> str:
    expect_number(answer, 75_008, _("the parameters of layer1's first bottleneck"), {
        73_728: _("you counted the convolutions but left out BatchNorm: each BN has 2 parameters "
                  "per channel (a scale and a shift)."),
        58_112: _("you left out the projection shortcut: this block turns 64 channels into 256, "
                  "so its shortcut is a 1x1 conv (64 x 256) plus a BN (2 x 256)."),
        76_288: _("BatchNorm's running mean and variance are buffers, not parameters: count 2 per "
                  "channel, not 4."),
        75_648: _("ResNet's convolutions have no bias (bias=False): the BN that follows adds its "
                  "own shift."),
        69_632: _("the 3x3 conv has 64 x 64 x 3 x 3 weights; check the kernel size of each "
                  "conv."),
        58_880: _("you left out the projection's 1x1 conv (64 x 256 weights) but kept its BN."),
        206_080: _("the projection is a 1x1 conv: 64 x 256 weights, not 64 x 256 x 3 x 3."),
        74_624: _("bn3 and the projection's BN normalise 256 channels: 2 x 256 parameters each, "
                  "not 2 x 64."),
        45_440: _("the block ends with 4 x 64 = 256 channels (expansion 4): conv3 is 64 -> 256, "
                  "and the shortcut then needs a projection."),
        76_292: _("that counts the state dict, which also holds BatchNorm's buffers (running mean "
                  "and variance, num_batches_tracked); count the parameters only."),
        70_400: _("that is a later block of layer1 (256 channels in, no projection); the first "
                  "block takes the stem's 64 channels."),
        74_368: _("a BatchNorm has 2 parameters per channel (a scale and a shift), not 1."),
    })
    return _("conv1 4,096 + bn1 128 + conv2 36,864 + bn2 128 + conv3 16,384 + bn3 512 + "
             "projection 16,384 + 512 = 75,008.")


q1 = Exercise(
    N_("Chapter 2, question 1 (bottleneck parameters)"), _check_bottleneck_params,
    hints=[N_("A k x k conv from c_in to c_out channels without bias has c_in * c_out * k * k "
              "weights; a BatchNorm over c channels has 2 * c parameters (its running mean and "
              "variance are buffers, not parameters)."),
           N_("List the layers: 1x1 conv 64 -> 64, 3x3 conv 64 -> 64, 1x1 conv 64 -> 256, a BN "
              "after each. Does the shortcut of this block need layers of its own?"),
           N_("Does the shortcut change the shape (section 4's rule: a stride other than 1, or "
              "other channels)? Then it is a projection: count its conv and its BN like the "
              "others.")],
    solution="""
    bottleneck_params = (64 * 64 + 2 * 64            # conv1 1x1, bn1
                         + 64 * 64 * 9 + 2 * 64      # conv2 3x3, bn2
                         + 64 * 256 + 2 * 256        # conv3 1x1, bn3
                         + 64 * 256 + 2 * 256)       # downsample: 1x1 conv, bn""",
    answer="bottleneck_params")

# --------------------------------------------------------------------------- q2: a basic block

_BASIC_NAMES = N_("conv1, bn1, conv2, bn2 and downsample")
# Channels change at stride 1, stride at equal channels, both, neither: each branch of the rule.
_BASIC_CONFIGS = [(16, 16, 1), (16, 32, 2), (16, 16, 2), (16, 32, 1)]


def _check_basic(block) -> str:
    return check_block(block, RefBasic, _BASIC_CONFIGS, {
        "stride_on_conv2": N_("the stride belongs on the first 3x3 conv (conv1), not on "
                              "conv2.")},
        _BASIC_NAMES)


q2 = Exercise(
    N_("Chapter 2, question 2 (a basic block)"), _check_basic,
    hints=[N_("Two 3x3 convs, each followed by a BN; a ReLU after the first BN; the shortcut is "
              "added before the last ReLU. Name the layers conv1, bn1, conv2, bn2, downsample."),
           N_("Which conv carries the stride? And when does x not have the shape of the branch's "
              "output, so that the shortcut needs a projection?"),
           N_("Section 4's rule: the shape changes when the stride is not 1 or the channel count "
              "changes, either one alone. What does downsample hold then, and what otherwise?")],
    solution="""
    class MyBasicBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            return self.relu(out + identity)""",  # noqa: E501
    answer="MyBasicBlock")

# --------------------------------------------------------------------------- q3: a bottleneck

_BOTTLENECK_NAMES = N_("conv1, bn1, conv2, bn2, conv3, bn3 and downsample")
# (16, 8, 1) changes the channels (16 -> 32) at stride 1, like layer1's first block (64 -> 256).
_BOTTLENECK_CONFIGS = [(16, 4, 1), (16, 8, 2), (32, 8, 1), (16, 8, 1), (32, 8, 2)]


def _check_bottleneck(block) -> str:
    return check_block(block, RefBottleneck, _BOTTLENECK_CONFIGS, {
        "stride_on_1x1": N_("you put the stride on the first 1x1 conv: that is the original "
                            "ResNet v1 (and the lesson's conv_block). torchvision's v1.5 puts it "
                            "on the 3x3 conv2, which loses less information.")},
        _BOTTLENECK_NAMES)


q3 = Exercise(
    N_("Chapter 2, question 3 (a bottleneck with a projection shortcut)"), _check_bottleneck,
    hints=[N_("Three convs: 1x1 (inplanes -> planes), 3x3 (planes -> planes), 1x1 (planes -> 4 * "
              "planes), each followed by a BN, a ReLU after the first two BNs; add the shortcut, "
              "then ReLU."),
           N_("In v1.5 the stride sits on the 3x3 conv. The output has 4 * planes channels: "
              "compare that with inplanes to decide on the shortcut."),
           N_("Section 4's rule, with 4 * planes output channels. Check it on layer1's first "
              "block: stride 1, yet it needs a projection. Why?")],
    solution="""
    class MyBottleneck(nn.Module):
        expansion = 4

        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            out_channels = planes * self.expansion
            self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv3 = nn.Conv2d(planes, out_channels, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out_channels)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or inplanes != out_channels:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, out_channels, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(out_channels))

        def forward(self, x):
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)""",
    answer="MyBottleneck")

# ----------------------------------------------------------------------- q4: a pre-activation block

_PREACT_NAMES = N_("bn1, conv1, bn2, conv2 and downsample")


def _check_preact(block) -> str:
    from .references import PREACT_MISTAKES, RefPreAct

    return check_block(
        block, RefPreAct, _BASIC_CONFIGS, {}, _PREACT_NAMES, mistakes=PREACT_MISTAKES,
        accepted=("projection_on_x",),
        order_hint=N_("A pre-activation block runs BN -> ReLU -> conv twice, then adds the "
                      "shortcut, with no ReLU after the sum."),
        projection=N_("downsample = a 1x1 conv with the stride (no BatchNorm: the next block's "
                      "bn1 normalises the sum)"),
        done=N_("BN and ReLU before each conv, a clean identity path: a v2 block, forward and "
                "backward."))


q4 = Exercise(
    N_("Chapter 2, question 4 (a pre-activation block)"), _check_preact,
    hints=[N_("Version 2 moves BN and ReLU in front of each conv: the branch is BN, ReLU, conv, "
              "BN, ReLU, conv. What is left to do after the addition?"),
           N_("Nothing: the sum goes out as it is, so x reaches the next block unchanged. bn1 "
              "therefore normalises the block's input (inplanes channels), bn2 the output of "
              "conv1."),
           N_("When the shape changes, the shortcut is a 1x1 conv with the stride applied to the "
              "pre-activated input, relu(bn1(x)); the identity shortcut carries x itself.")],
    solution="""
    class MyPreActBlock(nn.Module):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.bn1 = nn.BatchNorm2d(inplanes)
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
            self.relu = nn.ReLU()
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False)

        def forward(self, x):
            pre = self.relu(self.bn1(x))
            identity = x if self.downsample is None else self.downsample(pre)
            out = self.conv1(pre)
            out = self.conv2(self.relu(self.bn2(out)))
            return out + identity""",
    answer="MyPreActBlock")
