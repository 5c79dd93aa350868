"""Chapter 3 (the network): a stage's output shape, ResNet-26 from the depth rule, the head's size;
then the learner builds the network's parts: the stem, `_make_layer` and `forward`."""

from __future__ import annotations

import itertools

import torch
from torch import nn

from ..i18n import N_, _
from .blocks import randomise_bn
from .ch3_parts import check_forward, check_make_layer
from .checks import as_module, as_number, expect_number, params
from .core import Exercise, Wrong, call, describe

# ----------------------------------------------------------------------- q1: the shape after layer3


def _as_shape(answer) -> tuple:
    if isinstance(answer, torch.Tensor) and answer.dim() >= 2:
        raise Wrong(_("you passed a tensor of shape {shape} itself; pass its shape, `out.shape`, "
                      "or write the four numbers.").format(shape=tuple(answer.shape)))
    if callable(answer) and getattr(answer, "__name__", "") in ("size", "shape"):
        raise Wrong(_("you passed the method `size` itself: call it, `out.size()`, or use "
                      "`out.shape`."))
    if isinstance(answer, str | bytes) or not hasattr(answer, "__iter__"):
        raise Wrong(_("expected a shape such as (1, 64, 40, 40), got {value}.").format(
            value=describe(answer)))
    try:
        values = list(itertools.islice(iter(answer), 9))
    except Exception:  # noqa: BLE001 - whatever iterating the learner's object raises
        raise Wrong(_("expected a shape such as (1, 64, 40, 40), got {value}.").format(
            value=describe(answer))) from None
    if len(values) > 8:
        raise Wrong(_("expected a shape such as (1, 64, 40, 40): four numbers (N, C, H, W); yours "
                      "has more."))
    shape = []
    for v in values:
        try:
            number = as_number(v, _("each size in the shape"))
        except Wrong:
            raise Wrong(_("expected a shape such as (1, 64, 40, 40), got {value}.").format(
                value=describe(answer))) from None
        if not number.is_integer():
            raise Wrong(_("a size is a whole number; your shape holds {number:g} (use // for "
                          "integer division).").format(number=number))
        shape.append(int(number))
    return tuple(shape)


def _check_layer3_shape(answer) -> str:
    shape = _as_shape(answer)
    known = {
        (1, 256, 10, 10): _("256 is the width of the 3x3 convs inside layer3; a bottleneck "
                            "outputs 4 times that (expansion = 4)."),
        (1, 1024, 20, 20): _("layer3 halves the size once more: 160 -> 80 (stem conv) -> 40 "
                             "(max-pool) -> 40 (layer1) -> 20 (layer2) -> 10 (layer3)."),
        (1, 512, 20, 20): _("that is the output of layer2; layer3 doubles the channels and halves "
                            "the size."),
        (1, 2048, 5, 5): _("that is the output of layer4, the last stage."),
        (1024, 10, 10): _("keep the batch dimension in front: the input has shape (1, 3, 160, "
                          "160)."),
        (1, 1024, 14, 14): _("that is the shape for a 224x224 image (the table above); this image "
                             "is 160x160."),
        (1, 10, 10, 1024): _("PyTorch orders a batch (N, C, H, W): the channels come before the "
                             "height and width (channels-last is TensorFlow's order)."),
        (1024, 1, 10, 10): _("the batch dimension comes first, then the channels: (N, C, H, W)."),
        (1, 1024, 5, 5): _("5 x 5 is the size after layer4; layer3 is the third stage: the stem "
                           "divides 160 by 4, layer2 and layer3 halve it once each."),
        (1, 1024, 40, 40): _("the stem already divides the size by 4 (a stride-2 conv, then a "
                             "stride-2 max-pool), before layer2 and layer3 halve it again."),
    }
    if shape != (1, 1024, 10, 10):
        if shape not in known and len(shape) == 4 and shape[2] != shape[3]:
            raise Wrong(_("{shape}: the image is square (160 x 160) and every layer treats height "
                          "and width alike, so they stay equal.").format(shape=shape))
        raise Wrong(known.get(shape) or _("{shape} is not right; follow the size stage by stage.")
                    .format(shape=shape))
    return _("(1, 1024, 10, 10): 256 * 4 channels at 1/16 of the input size.")


q1 = Exercise(
    N_("Chapter 3, question 1 (the shape after layer3)"), _check_layer3_shape,
    hints=[N_("The shape is (N, C, H, W). Follow H and W through the stem and the stages, then "
              "C."),
           N_("The stem halves the size twice (conv stride 2, max-pool stride 2); layer1 keeps it; "
              "layer2, layer3 and layer4 each halve it."),
           N_("Section 2's table follows a 224x224 image through the same layers: read off how "
              "many times smaller than the input layer3's map is, and how many channels it has.")],
    solution="layer3_shape = (1, 256 * 4, 160 // 16, 160 // 16)",
    answer="layer3_shape")

# --------------------------------------------------------------------------- q2: ResNet-26


def _family() -> dict:
    """{parameter count of a 1000-class model: message} for the near misses of ResNet-26."""
    from ..models.resnet import BasicBlock, Bottleneck, ResNet

    near = {(BasicBlock, (2, 2, 2, 2)): _("that is ResNet-18: basic blocks have 2 convs, "
                                          "bottlenecks 3."),
            (Bottleneck, (3, 4, 6, 3)): _("that is ResNet-50: count the layers, 1 + 3 x blocks + "
                                          "1 = 26."),
            (BasicBlock, (3, 4, 6, 3)): _("that is ResNet-34: basic blocks have 2 convs, and 16 "
                                          "blocks give 1 + 2 x 16 + 1 = 34 layers."),
            (BasicBlock, (3, 3, 3, 3)): _("basic blocks with 12 blocks give 1 + 2 x 12 + 1 = 26 "
                                          "layers, but the exercise asks for bottlenecks."),
            (Bottleneck, (3, 3, 3, 3)): _("12 bottlenecks give 1 + 3 x 12 + 1 = 38 layers: the 3 "
                                          "convs of a bottleneck all count."),
            (Bottleneck, (1, 1, 1, 1)): _("4 bottlenecks give 1 + 3 x 4 + 1 = 14 layers; 26 needs "
                                          "8 of them.")}
    counts = {}
    with torch.device("meta"):
        for (block, layers), message in near.items():
            counts[params(ResNet(block, list(layers)))] = message
    return counts


def _uneven_stages(model: nn.Module) -> None:
    """Eight bottlenecks spread unevenly also make 26 layers: say so, rather than "not right"."""
    stages = [getattr(model, f"layer{i}", None) for i in range(1, 5)]
    if not all(isinstance(stage, nn.Sequential) for stage in stages):
        return
    counts = [len(stage) for stage in stages]
    kinds = {type(block).__name__ for stage in stages for block in stage}
    if kinds == {"Bottleneck"} and sum(counts) == 8:
        raise Wrong(_("8 bottlenecks do make 1 + 3 x 8 + 1 = 26 layers, but yours are spread "
                      "{counts}; ResNet-26 puts the same number in each stage: [2, 2, 2, 2].")
                    .format(counts=counts))


def _check_resnet26(my_resnet26) -> str:
    from ..models.resnet import Bottleneck, ResNet

    if not callable(my_resnet26):
        raise Wrong(_("my_resnet26 should be a function of num_classes that returns the "
                      "model."))
    with torch.device("meta"):  # counting needs only shapes: no memory, no initialisation
        model = as_module(my_resnet26, 1000)
    if type(model).__module__.startswith("torchvision"):
        raise Wrong(_("use the course's ResNet class (from course_utils.models.resnet), as the "
                      "exercise asks."))
    with torch.device("meta"):
        expected = params(ResNet(Bottleneck, [2, 2, 2, 2]))
    count = params(model)
    if count != expected:
        _uneven_stages(model)
        raise Wrong(_family().get(count) or _(
            "your model has {count:,} parameters; ResNet-26 has {expected:,}. Which block has 3 "
            "convs, and how many blocks per stage give 26 layers?").format(count=count,
                                                                          expected=expected))
    small = as_module(my_resnet26, 7)
    with torch.device("meta"):
        expected_small = params(ResNet(Bottleneck, [2, 2, 2, 2], num_classes=7))
    if params(small) != expected_small:
        raise Wrong(_("my_resnet26(7) has {count:,} parameters, {expected:,} expected: pass "
                      "num_classes on to the model, so that fc has one output per class.").format(
                          count=params(small), expected=expected_small))
    # the reference takes the learner's weights: no second initialisation
    with torch.device("meta"):
        reference = ResNet(Bottleneck, [2, 2, 2, 2], num_classes=7)
    reference = reference.to_empty(device="cpu")
    try:
        reference.load_state_dict(call(small.state_dict))
    except RuntimeError as error:
        raise Wrong(_("the right number of parameters, but your layers do not match the "
                      "reference's names and shapes: {error}").format(error=str(error)[:300])
                    ) from None
    randomise_bn(reference, seed=3)
    call(small.load_state_dict, reference.state_dict())
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    small.eval()
    reference.eval()
    with torch.no_grad():
        got, want = call(small, x), reference(x)
    if not isinstance(got, torch.Tensor) or got.shape != (1, 7):
        raise Wrong(_("my_resnet26(7) outputs {value}; expected shape (1, 7).").format(
            value=getattr(got, "shape", got)))
    if not torch.allclose(got, want, atol=1e-4, rtol=1e-3):
        raise Wrong(_("the weights load, but the outputs differ from the reference ResNet-26."))
    return _("bottlenecks [2, 2, 2, 2]: 1 + 8 x 3 + 1 = 26 layers with weights.")


q2 = Exercise(
    N_("Chapter 3, question 2 (ResNet-26 from the depth rule)"), _check_resnet26,
    hints=[N_("The number in the name counts layers with weights on the main path: the stem conv, "
              "the convs of every block, and fc. Which block type has 3 convs?"),
           N_("How many blocks do 26 layers leave for the four stages, once the stem conv and fc "
              "are counted?"),
           N_("The course's ResNet class takes the block type and a list of four block counts, as "
              "in RESNET_CONFIGS.")],
    solution="""
    def my_resnet26(num_classes):
        return ResNet(Bottleneck, [2, 2, 2, 2], num_classes=num_classes)""",
    answer="my_resnet26")

# --------------------------------------------------------------------------- q3: the classifier


def _check_fc_params(answer) -> str:
    expect_number(answer, 8_196, _("the parameters of ResNet-50's last layer for 4 classes"), {
        8_192: _("you forgot the bias: one per class."),
        2_049_000: _("that is the ImageNet head (1000 classes); here there are 4."),
        4_100: _("the last stage outputs 2048 channels (512 x 4), not 1024."),
        2_052: _("the last stage outputs 2048 channels (512 x 4), not 512; and a Linear layer has "
                 "in_features x out_features weights (2048 x 4), not 2048 + 4."),
        8_200: _("a bias per class, not per class plus one."),
        8_193: _("one bias per class (4), not one for the whole layer."),
        2_048_000: _("that is the ImageNet head's weights (1000 classes); here there are 4 "
                     "classes, each with a bias too."),
        6_147: _("the network classifies 4 classes, not 3."),
        8.196: _("8.196 is a little more than 8 in Python: the dot is a decimal point. Write the "
                 "number without a thousands separator (8196, or 8_196)."),
    })
    return _("2048 x 4 weights + 4 biases = 8,196.")


q3 = Exercise(
    N_("Chapter 3, question 3 (the classifier's parameters)"), _check_fc_params,
    hints=[N_("The head is nn.Linear(in_features, num_classes). How many channels leave layer4?"),
           N_("A Linear layer has in_features x out_features weights, plus one bias per "
              "output.")],
    solution="fc_params = 2048 * 4 + 4",
    answer="fc_params")

# --------------------------------------------------------------------------- q4: the stem


def _ref_stem() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                         nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))


def _check_stem(my_stem) -> str:
    from .blocks import batch_norm_settings, compare_outputs, randomise_bn

    if not callable(my_stem):
        raise Wrong(_("my_stem should be a function (or class) that builds the stem."))
    mine = as_module(my_stem)
    convs = [m for m in mine.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in mine.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != 1:
        raise Wrong(_("the stem has exactly one convolution; yours has {count}.").format(
            count=len(convs)))
    if not norms:
        raise Wrong(_("your stem has no BatchNorm: conv, BN, ReLU, max-pool."))
    if convs[0].bias is not None:
        raise Wrong(_("the stem's conv has a bias: use bias=False, the BatchNorm after it adds "
                      "its own shift."))
    if convs[0].weight.shape != (64, 3, 7, 7):
        raise Wrong(_("the stem's conv has weights of shape {shape}; expected a 7x7 conv from 3 "
                      "to 64 channels, (64, 3, 7, 7).").format(
                          shape=tuple(convs[0].weight.shape)))
    reference = _ref_stem()
    randomise_bn(reference, seed=5)
    with torch.no_grad():
        convs[0].weight.copy_(reference[0].weight)
        for bn in norms[:1]:
            if bn.num_features != 64 or not bn.affine:
                raise Wrong(_("the stem's BatchNorm normalises the conv's 64 channels: "
                              "nn.BatchNorm2d(64)."))
            bn.load_state_dict(reference[1].state_dict())
    conv, bn, relu, pool = reference
    variants = {
        _("the stem has no ReLU after its BatchNorm."): nn.Sequential(conv, bn, pool),
        _("the stem normalises after the ReLU; the order is conv, BN, ReLU, max-pool."):
            nn.Sequential(conv, relu, bn, pool),
        _("the stem pools with a max-pool (nn.MaxPool2d(3, stride=2, padding=1)), not an "
          "average."): nn.Sequential(conv, bn, relu, nn.AvgPool2d(3, stride=2, padding=1)),
        _("the stem's max-pool has a 3x3 window (nn.MaxPool2d(3, stride=2, padding=1)), not "
          "2x2."): nn.Sequential(conv, bn, relu, nn.MaxPool2d(2, stride=2)),
    }
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    what = _("your stem")
    with torch.no_grad():
        got = call(mine.eval(), x.clone())
    if isinstance(got, torch.Tensor) and got.shape != (2, 64, 16, 16):
        raise Wrong(_("for images of shape (2, 3, 64, 64) your stem outputs {shape}; expected (2, "
                      "64, 16, 16): the conv (stride 2, padding 3) and the max-pool (3x3, stride "
                      "2, padding 1) each halve the size.").format(shape=tuple(got.shape)))
    compare_outputs(mine, reference, x, variants, what,
                    _("The order is conv, BN, ReLU, max-pool."))
    batch_norm_settings(mine)
    return _("7x7 conv stride 2, BN, ReLU, 3x3 max-pool stride 2: 64 -> 16 pixels, as "
             "torchvision's.")


q4 = Exercise(
    N_("Chapter 3, question 4 (the stem)"), _check_stem,
    hints=[N_("Four layers, as in section 1: a convolution, a normalisation, an activation and a "
              "pooling."),
           N_("The conv is 7x7 from 3 to 64 channels and halves the size; the pooling is a 3x3 "
              "max-pool that halves it again. Which padding keeps the sizes exact halves?"),
           N_("A k x k window with stride 2 halves the size exactly with padding k // 2. No bias "
              "in the conv: the BatchNorm follows.")],
    solution="""
    def my_stem():
        return nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )""",
    answer="my_stem")

# --------------------------------------------------------------------------- q5: _make_layer


q5 = Exercise(
    N_("Chapter 3, question 5 (a stage: _make_layer)"), check_make_layer,
    hints=[N_("A stage is a list of blocks wrapped in nn.Sequential. Only the first block can "
              "change the shape; which of its arguments do that?"),
           N_("The first block gets the stride and, when its output shape differs from its "
              "input's, a projection shortcut as `downsample` (chapter 2, section 4's rule)."),
           N_("The blocks after the first take planes * block.expansion input channels and stride "
              "1.")],
    solution="""
    def my_make_layer(block, inplanes, planes, blocks, stride=1):
        out_channels = planes * block.expansion
        downsample = None
        if stride != 1 or inplanes != out_channels:
            downsample = nn.Sequential(
                nn.Conv2d(inplanes, out_channels, 1, stride=stride, bias=False),
                nn.BatchNorm2d(out_channels))
        layers = [block(inplanes, planes, stride, downsample)]
        for _ in range(1, blocks):
            layers.append(block(out_channels, planes))
        return nn.Sequential(*layers)""",
    answer="my_make_layer")

# --------------------------------------------------------------------------- q6: forward


q6 = Exercise(
    N_("Chapter 3, question 6 (the network's forward)"), check_forward,
    hints=[N_("forward is a straight line through the layers that __init__ created, in the order "
              "of section 2's table."),
           N_("After layer4 the features are (N, C, h, w): pool them to (N, C, 1, 1), flatten to "
              "(N, C), then apply fc. Return the raw scores.")],
    solution="""
    class MyResNet(ResNet):
        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            x = torch.flatten(self.avgpool(x), 1)
            return self.fc(x)""",
    answer="MyResNet")
