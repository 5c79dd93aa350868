"""Chapter 3 (the network): a stage's output shape, ResNet-26 from the depth rule, the head's size;
then the learner builds the network's parts: the stem, `_make_layer` and `forward`."""

from __future__ import annotations

import torch
from torch import nn

from .blocks import randomise_bn
from .checks import as_module, expect_number, params
from .core import Exercise, Wrong, call

# ----------------------------------------------------------------------- q1: the shape after layer3


def _as_shape(answer) -> tuple:
    if isinstance(answer, str | bytes) or not hasattr(answer, "__iter__"):
        raise Wrong(f"expected a shape such as (1, 64, 40, 40), got {answer!r}.")
    try:
        return tuple(int(v) for v in answer)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"expected a shape such as (1, 64, 40, 40), got {answer!r}.") from None


def _check_layer3_shape(answer) -> str:
    shape = _as_shape(answer)
    known = {
        (1, 256, 10, 10): "256 is the width of the 3x3 convs inside layer3; a bottleneck outputs "
                          "4 times that (expansion = 4).",
        (1, 1024, 20, 20): "layer3 halves the size once more: 160 -> 80 (stem conv) -> 40 "
                           "(max-pool) -> 40 (layer1) -> 20 (layer2) -> 10 (layer3).",
        (1, 512, 20, 20): "that is the output of layer2; layer3 doubles the channels and halves "
                          "the size.",
        (1, 2048, 5, 5): "that is the output of layer4, the last stage.",
        (1024, 10, 10): "keep the batch dimension in front: the input has shape (1, 3, 160, 160).",
        (1, 1024, 14, 14): "that is the shape for a 224x224 image (the table above); this image is "
                           "160x160.",
    }
    if shape != (1, 1024, 10, 10):
        raise Wrong(known.get(shape, f"{shape} is not right; follow the size stage by stage."))
    return "(1, 1024, 10, 10): 256 * 4 channels at 1/16 of the input size."


q1 = Exercise(
    "Chapter 3, question 1 (the shape after layer3)", _check_layer3_shape,
    hints=["The shape is (N, C, H, W). Follow H and W through the stem and the stages, then C.",
           "The stem halves the size twice (conv stride 2, max-pool stride 2); layer1 keeps it; "
           "layer2, layer3 and layer4 each halve it.",
           "A stage's bottlenecks output 4 times their width: layer k (k = 1..4) has width 64 * "
           "2**(k-1)."],
    solution="layer3_shape = (1, 256 * 4, 160 // 16, 160 // 16)",
    answer="layer3_shape")

# --------------------------------------------------------------------------- q2: ResNet-26


def _family() -> dict:
    """{parameter count of a 1000-class model: message} for the near misses of ResNet-26."""
    from ..models.resnet import BasicBlock, Bottleneck, ResNet

    near = {(BasicBlock, (2, 2, 2, 2)): "that is ResNet-18: basic blocks have 2 convs, bottlenecks "
                                        "3.",
            (Bottleneck, (3, 4, 6, 3)): "that is ResNet-50: count the layers, 1 + 3 x blocks + 1 = "
                                        "26.",
            (BasicBlock, (3, 4, 6, 3)): "that is ResNet-34.",
            (BasicBlock, (3, 3, 3, 3)): "basic blocks with 12 blocks give 1 + 2 x 12 + 1 = 26 "
                                        "layers, but the exercise asks for bottlenecks."}
    counts = {}
    with torch.device("meta"):
        for (block, layers), message in near.items():
            counts[params(ResNet(block, list(layers)))] = message
    return counts


def _check_resnet26(my_resnet26) -> str:
    from ..models.resnet import Bottleneck, ResNet

    if not callable(my_resnet26):
        raise Wrong("my_resnet26 should be a function of num_classes that returns the model.")
    with torch.device("meta"):  # counting needs only shapes: no memory, no initialisation
        model = as_module(my_resnet26, 1000)
    if type(model).__module__.startswith("torchvision"):
        raise Wrong("use the course's ResNet class (from course_utils.models.resnet), as the "
                    "exercise asks.")
    with torch.device("meta"):
        expected = params(ResNet(Bottleneck, [2, 2, 2, 2]))
    count = params(model)
    if count != expected:
        raise Wrong(_family().get(count, f"your model has {count:,} parameters; ResNet-26 has "
                                         f"{expected:,}. Which block has 3 convs, and how many "
                                         "blocks per stage give 26 layers?"))
    small = as_module(my_resnet26, 7)
    with torch.device("meta"):
        expected_small = params(ResNet(Bottleneck, [2, 2, 2, 2], num_classes=7))
    if params(small) != expected_small:
        raise Wrong(f"my_resnet26(7) has {params(small):,} parameters, {expected_small:,} "
                    "expected: pass num_classes on to the model, so that fc has one output per "
                    "class.")
    # the reference takes the learner's weights: no second initialisation
    with torch.device("meta"):
        reference = ResNet(Bottleneck, [2, 2, 2, 2], num_classes=7)
    reference = reference.to_empty(device="cpu")
    try:
        reference.load_state_dict(call(small.state_dict))
    except RuntimeError as error:
        raise Wrong(f"the right number of parameters, but your layers do not match the reference's "
                    f"names and shapes: {str(error)[:300]}") from None
    randomise_bn(reference, seed=3)
    call(small.load_state_dict, reference.state_dict())
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    small.eval()
    reference.eval()
    with torch.no_grad():
        got, want = call(small, x), reference(x)
    if not isinstance(got, torch.Tensor) or got.shape != (1, 7):
        raise Wrong(f"my_resnet26(7) outputs {getattr(got, 'shape', got)}; expected shape (1, 7).")
    if not torch.allclose(got, want, atol=1e-4, rtol=1e-3):
        raise Wrong("the weights load, but the outputs differ from the reference ResNet-26.")
    return "bottlenecks [2, 2, 2, 2]: 1 + 8 x 3 + 1 = 26 layers with weights."


q2 = Exercise(
    "Chapter 3, question 2 (ResNet-26 from the depth rule)", _check_resnet26,
    hints=["The number in the name counts layers with weights on the main path: the stem conv, the "
           "convs of every block, and fc. Which block type has 3 convs?",
           "With bottlenecks, 1 + 3 x blocks + 1 = 26 gives the number of blocks; spread them "
           "evenly over the four stages.",
           "The course's ResNet class takes the block type and a list of four block counts, as in "
           "RESNET_CONFIGS."],
    solution="""
    def my_resnet26(num_classes):
        return ResNet(Bottleneck, [2, 2, 2, 2], num_classes=num_classes)""",
    answer="my_resnet26")

# --------------------------------------------------------------------------- q3: the classifier


def _check_fc_params(answer) -> str:
    expect_number(answer, 8_196, "the parameters of ResNet-50's last layer for 4 classes", {
        8_192: "you forgot the bias: one per class.",
        2_049_000: "that is the ImageNet head (1000 classes); here there are 4.",
        4_100: "the last stage outputs 2048 channels (512 x 4), not 1024.",
        2_052: "the last stage outputs 2048 channels (512 x 4), not 512.",
        8_200: "a bias per class, not per class plus one.",
    })
    return "2048 x 4 weights + 4 biases = 8,196."


q3 = Exercise(
    "Chapter 3, question 3 (the classifier's parameters)", _check_fc_params,
    hints=["The head is nn.Linear(in_features, num_classes). How many channels leave layer4?",
           "A Linear layer has in_features x out_features weights, plus one bias per output."],
    solution="fc_params = 2048 * 4 + 4",
    answer="fc_params")

# --------------------------------------------------------------------------- q4: the stem


def _ref_stem() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), nn.BatchNorm2d(64),
                         nn.ReLU(), nn.MaxPool2d(3, stride=2, padding=1))


def _check_stem(my_stem) -> str:
    from .blocks import compare_outputs, randomise_bn

    if not callable(my_stem):
        raise Wrong("my_stem should be a function (or class) that builds the stem.")
    mine = as_module(my_stem)
    convs = [m for m in mine.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in mine.modules() if isinstance(m, nn.BatchNorm2d)]
    if len(convs) != 1:
        raise Wrong(f"the stem has exactly one convolution; yours has {len(convs)}.")
    if not norms:
        raise Wrong("your stem has no BatchNorm: conv, BN, ReLU, max-pool.")
    if convs[0].bias is not None:
        raise Wrong("the stem's conv has a bias: use bias=False, the BatchNorm after it adds its "
                    "own shift.")
    if convs[0].weight.shape != (64, 3, 7, 7):
        raise Wrong(f"the stem's conv has weights of shape {tuple(convs[0].weight.shape)}; "
                    "expected a 7x7 conv from 3 to 64 channels, (64, 3, 7, 7).")
    reference = _ref_stem()
    randomise_bn(reference, seed=5)
    with torch.no_grad():
        convs[0].weight.copy_(reference[0].weight)
        for bn in norms[:1]:
            if bn.num_features != 64 or not bn.affine:
                raise Wrong("the stem's BatchNorm normalises the conv's 64 channels: "
                            "nn.BatchNorm2d(64).")
            bn.load_state_dict(reference[1].state_dict())
    conv, bn, relu, pool = reference
    variants = {
        "the stem has no ReLU after its BatchNorm.": nn.Sequential(conv, bn, pool),
        "the stem normalises after the ReLU; the order is conv, BN, ReLU, max-pool.":
            nn.Sequential(conv, relu, bn, pool),
        "the stem pools with a max-pool (nn.MaxPool2d(3, stride=2, padding=1)), not an average.":
            nn.Sequential(conv, bn, relu, nn.AvgPool2d(3, stride=2, padding=1)),
    }
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    what = "your stem"
    with torch.no_grad():
        got = call(mine.eval(), x.clone())
    if isinstance(got, torch.Tensor) and got.shape != (2, 64, 16, 16):
        raise Wrong(f"for images of shape (2, 3, 64, 64) your stem outputs {tuple(got.shape)}; "
                    "expected (2, 64, 16, 16): the conv (stride 2, padding 3) and the max-pool "
                    "(3x3, stride 2, padding 1) each halve the size.")
    compare_outputs(mine, reference, x, variants, what, "The order is conv, BN, ReLU, max-pool.")
    return "7x7 conv stride 2, BN, ReLU, 3x3 max-pool stride 2: 64 -> 16 pixels, as torchvision's."


q4 = Exercise(
    "Chapter 3, question 4 (the stem)", _check_stem,
    hints=["Four layers, as in section 1: a convolution, a normalisation, an activation and a "
           "pooling.",
           "The conv is 7x7 from 3 to 64 channels and halves the size; the pooling is a 3x3 "
           "max-pool that halves it again. Which padding keeps the sizes exact halves?",
           "A k x k window with stride 2 halves the size exactly with padding k // 2. No bias in "
           "the conv: the BatchNorm follows."],
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


def _ref_layer(block, inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(out))
    return nn.Sequential(block(inplanes, planes, stride, downsample),
                         *[block(out, planes) for _ in range(1, blocks)])


def _layer_keys(mine: nn.Module, reference: nn.Module, blocks: int) -> None:
    ours, theirs = reference.state_dict(), call(mine.state_dict)
    missing = [k for k in ours if k not in theirs]
    extra = [k for k in theirs if k not in ours]
    if any(k.startswith("0.downsample") for k in missing):
        raise Wrong("the first block needs a projection shortcut here: whenever stride != 1 or "
                    "inplanes != planes * block.expansion, pass downsample = 1x1 conv + BN.")
    if any(k.split(".")[0] != "0" and ".downsample" in k for k in extra):
        raise Wrong("only the first block of a stage changes the shape: the others get no "
                    "downsample.")
    if any(k.startswith("0.downsample") for k in extra):
        raise Wrong("you add a projection where the shapes already match: the first block keeps "
                    "the identity shortcut when stride == 1 and inplanes == planes * "
                    "block.expansion.")
    if missing or extra:
        raise Wrong(f"the stage's layers differ from the reference's: missing {missing[:3]}, "
                    f"unexpected {extra[:3]}.")
    for key, value in theirs.items():
        if value.shape != ours[key].shape:
            raise Wrong(f"{key} has shape {tuple(value.shape)}, expected {tuple(ours[key].shape)}: "
                        "after the first block the input has planes * block.expansion channels "
                        "(update inplanes).")
    call(mine.load_state_dict, ours)


def _check_make_layer(my_make_layer) -> str:
    from ..models.resnet import BasicBlock, Bottleneck, ResNet
    from .blocks import compare_outputs, randomise_bn

    if not callable(my_make_layer):
        raise Wrong("my_make_layer should be a function of (block, inplanes, planes, blocks, "
                    "stride).")
    forbid = {ResNet._make_layer.__code__: "you call ResNet._make_layer; the exercise is to write "
                                           "it."}
    for block, inplanes, planes, blocks, stride in (
            (Bottleneck, 16, 16, 3, 1), (Bottleneck, 64, 32, 2, 2),
            (BasicBlock, 16, 16, 2, 1), (BasicBlock, 16, 32, 2, 2)):
        mine = call(my_make_layer, block, inplanes, planes, blocks, stride, forbid=forbid)
        what = f"my_make_layer({block.__name__}, {inplanes}, {planes}, {blocks}, stride={stride})"
        if mine is None:
            raise Wrong(f"{what} returned None: did you forget `return`?")
        if not isinstance(mine, nn.Sequential):
            raise Wrong(f"{what} gave a {type(mine).__name__}; return nn.Sequential(*layers).")
        if len(mine) != blocks:
            raise Wrong(f"{what} holds {len(mine)} blocks; a stage of blocks={blocks} holds "
                        f"{blocks}.")
        reference = _ref_layer(block, inplanes, planes, blocks, stride)
        randomise_bn(reference, seed=inplanes + stride)
        _layer_keys(mine, reference, blocks)
        x = torch.randn(2, inplanes, 8, 8, generator=torch.Generator().manual_seed(2))
        with torch.no_grad():
            got = call(mine.eval(), x.clone())
        want_shape = (2, planes * block.expansion, 8 // stride, 8 // stride)
        if isinstance(got, torch.Tensor) and got.shape != want_shape:
            raise Wrong(f"{what} outputs {tuple(got.shape)} for an input of {tuple(x.shape)}; "
                        f"expected {want_shape}: only the first block takes the stride.")
        compare_outputs(mine, reference, x, {}, what, "Check the blocks' arguments.")
    return "a first block that may change the shape, then blocks - 1 identity blocks."


q5 = Exercise(
    "Chapter 3, question 5 (a stage: _make_layer)", _check_make_layer,
    hints=["A stage is a list of blocks wrapped in nn.Sequential. Only the first block can change "
           "the shape; which of its arguments do that?",
           "The first block gets the stride and, when its output shape differs from its input's, "
           "a projection shortcut as `downsample`, like chapter 2's.",
           "The blocks after the first take planes * block.expansion input channels and stride 1."],
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


def _forward_variants(ref) -> dict:
    def run(skip=(), relu_first=False, softmax=False):
        def forward(x):
            x = ref.conv1(x)
            x = ref.bn1(ref.relu(x)) if relu_first else ref.relu(ref.bn1(x))
            if "maxpool" not in skip:
                x = ref.maxpool(x)
            for layer in (ref.layer1, ref.layer2, ref.layer3, ref.layer4):
                x = layer(x)
            x = ref.fc(torch.flatten(ref.avgpool(x), 1))
            return x.softmax(1) if softmax else x
        return _Fn(forward)
    return {"your forward skips the stem's max-pool.": run(skip=("maxpool",)),
            "the stem's order is conv, BN, ReLU (then max-pool).": run(relu_first=True),
            "return the raw scores (logits): CrossEntropyLoss applies the "
            "softmax itself.": run(softmax=True)}


class _Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def _check_forward(my_resnet_class) -> str:
    from ..models.resnet import BasicBlock, ResNet
    from .blocks import compare_outputs, randomise_bn
    from .core import LearnerError

    if not (isinstance(my_resnet_class, type) and issubclass(my_resnet_class, ResNet)):
        raise Wrong("pass your class MyResNet, a subclass of the course's ResNet with its own "
                    "forward.")
    forbid = {ResNet.forward.__code__: "your forward calls ResNet's own forward (super().forward); "
                                       "the exercise is to write it."}
    mine = call(my_resnet_class, BasicBlock, [1, 1, 1, 1], num_classes=5)
    reference = ResNet(BasicBlock, [1, 1, 1, 1], num_classes=5)
    randomise_bn(reference, seed=6)
    call(mine.load_state_dict, reference.state_dict())
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    try:
        call(mine.eval(), x.clone(), forbid=forbid)
        compare_outputs(mine, reference, x, _forward_variants(reference), "your forward",
                        "The order: conv1, bn1, relu, maxpool, layer1 ... layer4, avgpool, "
                        "flatten, fc.")
    except LearnerError as wrapped:
        if "cannot be multiplied" in str(wrapped.__cause__):
            raise Wrong("the features reaching fc have the wrong size: run all four stages, then "
                        "avgpool and torch.flatten(x, 1).") from None
        raise
    return "stem, four stages, pool, flatten, fc: the same scores as the reference."


q6 = Exercise(
    "Chapter 3, question 6 (the network's forward)", _check_forward,
    hints=["forward is a straight line through the layers that __init__ created, in the order of "
           "section 2's table.",
           "After layer4 the features are (N, C, h, w): pool them to (N, C, 1, 1), flatten to (N, "
           "C), then apply fc. Return the raw scores."],
    solution="""
    class MyResNet(ResNet):
        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            x = torch.flatten(self.avgpool(x), 1)
            return self.fc(x)""",
    answer="MyResNet")
