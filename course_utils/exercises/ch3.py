"""Chapter 3 (the network): a stage's output shape, ResNet-26 from the depth rule, the head's size;
then the learner builds the network's parts: the stem, `_make_layer` and `forward`."""

from __future__ import annotations

import torch

from .blocks import randomise_bn
from .checks import as_module, expect_number, params
from .core import Exercise, Wrong, call

# --------------------------------------------------------------------------- q1: the shape after layer3


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
        (1, 512, 20, 20): "that is the output of layer2; layer3 doubles the channels and halves the size.",
        (1, 2048, 5, 5): "that is the output of layer4, the last stage.",
        (1024, 10, 10): "keep the batch dimension in front: the input has shape (1, 3, 160, 160).",
        (1, 1024, 14, 14): "that is the shape for a 224x224 image (the table above); this image is 160x160.",
    }
    if shape != (1, 1024, 10, 10):
        raise Wrong(known.get(shape, f"{shape} is not right; follow the size stage by stage."))
    return "(1, 1024, 10, 10): 256 * 4 channels at 1/16 of the input size."


q1 = Exercise(
    "Chapter 3, question 1 (the shape after layer3)", _check_layer3_shape,
    hints=["The shape is (N, C, H, W). Follow H and W through the stem and the stages, then C.",
           "The stem halves the size twice (conv stride 2, max-pool stride 2); layer1 keeps it; layer2, "
           "layer3 and layer4 each halve it.",
           "A stage's bottlenecks output 4 times their width: layer k (k = 1..4) has width 64 * 2**(k-1)."],
    solution="layer3_shape = (1, 256 * 4, 160 // 16, 160 // 16)",
    answer="layer3_shape")

# --------------------------------------------------------------------------- q2: ResNet-26


def _family() -> dict:
    """{parameter count of a 1000-class model: message} for the near misses of ResNet-26."""
    from ..models import BasicBlock, Bottleneck, ResNet

    near = {(BasicBlock, (2, 2, 2, 2)): "that is ResNet-18: basic blocks have 2 convs, bottlenecks 3.",
            (Bottleneck, (3, 4, 6, 3)): "that is ResNet-50: count the layers, 1 + 3 x blocks + 1 = 26.",
            (BasicBlock, (3, 4, 6, 3)): "that is ResNet-34.",
            (BasicBlock, (3, 3, 3, 3)): "basic blocks with 12 blocks give 1 + 2 x 12 + 1 = 26 layers, "
                                        "but the exercise asks for bottlenecks."}
    counts = {}
    with torch.device("meta"):
        for (block, layers), message in near.items():
            counts[params(ResNet(block, list(layers)))] = message
    return counts


def _check_resnet26(my_resnet26) -> str:
    from ..models import Bottleneck, ResNet

    if not callable(my_resnet26):
        raise Wrong("my_resnet26 should be a function of num_classes that returns the model.")
    with torch.device("meta"):  # counting needs only shapes: no memory, no initialisation
        model = as_module(my_resnet26, 1000)
    if type(model).__module__.startswith("torchvision"):
        raise Wrong("use the course's ResNet class (from course_utils.models), as the exercise asks.")
    with torch.device("meta"):
        expected = params(ResNet(Bottleneck, [2, 2, 2, 2]))
    count = params(model)
    if count != expected:
        raise Wrong(_family().get(count, f"your model has {count:,} parameters; ResNet-26 has "
                                         f"{expected:,}. Which block has 3 convs, and how many blocks "
                                         "per stage give 26 layers?"))
    small = as_module(my_resnet26, 7)
    with torch.device("meta"):
        expected_small = params(ResNet(Bottleneck, [2, 2, 2, 2], num_classes=7))
    if params(small) != expected_small:
        raise Wrong(f"my_resnet26(7) has {params(small):,} parameters, {expected_small:,} expected: "
                    "pass num_classes on to the model, so that fc has one output per class.")
    reference = ResNet(Bottleneck, [2, 2, 2, 2], num_classes=7)
    randomise_bn(reference, seed=3)
    try:
        call(small.load_state_dict, reference.state_dict())
    except Exception as error:  # noqa: BLE001 - any refusal of the weights is the learner's layout
        raise Wrong(f"the right number of parameters, but the reference's weights do not load: "
                    f"{error.__cause__ or error}") from None
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
           "With bottlenecks, 1 + 3 x blocks + 1 = 26 gives the number of blocks; spread them evenly "
           "over the four stages.",
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
