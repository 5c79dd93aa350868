"""Exercises with automatic feedback: `ch2.q1.check(answer)`, `ch2.q1.hint()`, `ch2.q1.solution()`.

A check has three outcomes, as on Kaggle Learn: correct; not attempted yet (the answer is still
`None`, or the function still raises NotImplementedError); or wrong, with a message that names the
mistake. Checks test behaviour (shapes, parameter counts, outputs with shared weights, gradients,
train/eval behaviour), never source text, and never raise into the notebook.
"""

from __future__ import annotations

import math
import textwrap
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

import torch
from torch import nn

CORRECT, NOT_ATTEMPTED, WRONG = "correct", "not attempted", "wrong"


class Wrong(Exception):
    """Raised inside a checker to report a named mistake in the learner's words."""


class NotAttempted(Exception):
    """Raised inside a checker when the learner has not written an answer yet."""


@dataclass
class Result:
    """What a check found; shows as one coloured line in a notebook."""

    outcome: str
    message: str

    def __bool__(self) -> bool:
        return self.outcome == CORRECT

    def __repr__(self) -> str:
        return f"{_ICONS[self.outcome]} {self.message}"

    def _repr_html_(self) -> str:
        colour = {CORRECT: "#1a7f37", NOT_ATTEMPTED: "#9a6700", WRONG: "#cf222e"}[self.outcome]
        from html import escape

        return f'<span style="color:{colour}">{escape(repr(self))}</span>'

    def show(self) -> None:
        """Show the verdict once: coloured HTML under IPython/Jupyter, a plain line elsewhere."""
        self._shown = True
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # IPython is optional for the checks themselves
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            display({"text/plain": repr(self), "text/html": self._repr_html_()}, raw=True)
        else:
            print(repr(self))

    def _ipython_display_(self) -> None:
        # `check(...)` has shown the verdict already; a cell ending in it must not show it twice.
        if not getattr(self, "_shown", False):
            self.show()


_ICONS = {CORRECT: "Correct:", NOT_ATTEMPTED: "Not attempted yet:", WRONG: "Incorrect:"}


class Exercise:
    """One question: `check(answer)`, `hint()` and `solution()`."""

    def __init__(self, name: str, checker: Callable[..., str], hint: str, solution: str,
                 answer: str) -> None:
        self.name = name
        self.answer = answer  # the name the learner's cell defines (used by the tests)
        self._checker = checker
        self._hint = hint
        self._solution = solution

    def check(self, *answer, **named) -> Result:
        """Check the answer, show the verdict and return it (truthy when correct).

        Never raises, except on Ctrl-C, so an autograder can `assert ch1.q1.check(answer)`.
        """
        result = self._run(*answer, **named)
        result.show()
        return result

    def _run(self, *answer, **named) -> Result:
        if named:  # check(answer=14): accept one answer by any name, explain anything else
            if answer or len(named) > 1:
                return Result(WRONG, f"{self.name}: pass your answer alone, as in "
                                     f"`check({self.answer})`.")
            answer = tuple(named.values())
        if not answer or all(a is None or a is Ellipsis for a in answer):
            return Result(NOT_ATTEMPTED, f"{self.name}: fill in your answer, then run this cell again.")
        try:
            message = self._checker(*answer)
            return Result(CORRECT, message or "well done.")
        except (NotAttempted, NotImplementedError):
            return Result(NOT_ATTEMPTED, f"{self.name}: replace `raise NotImplementedError` with "
                                         "your code, then run this cell again.")
        except Wrong as mistake:
            return Result(WRONG, str(mistake))
        except RecursionError:
            return Result(WRONG, "your code calls itself without end (RecursionError).")
        except KeyboardInterrupt:
            raise  # the learner asked to stop
        except BaseException as error:  # the learner's code may raise anything, even SystemExit
            where = _learner_frame(error)
            return Result(WRONG, f"your code raised {type(error).__name__}: {error}{where}")

    def hint(self) -> None:
        """Print a hint."""
        print(f"Hint: {textwrap.dedent(self._hint).strip()}")

    def solution(self) -> None:
        """Print the reference solution."""
        print(f"Solution:\n{textwrap.dedent(self._solution).strip()}")

    def __repr__(self) -> str:
        return f"<exercise {self.name}: .check(...), .hint(), .solution()>"


def _learner_frame(error: BaseException) -> str:
    """' (in your cell, line N)' for the innermost frame outside this package and torch."""
    frames = traceback.extract_tb(error.__traceback__)
    for frame in reversed(frames):
        if "course_utils" not in frame.filename and "site-packages" not in frame.filename:
            return f" (in your code, line {frame.lineno}: {frame.line})" if frame.line else ""
    return ""


def _expect_number(answer, expected: float, what: str, known: dict | None = None,
                   rel: float = 0.0) -> None:
    try:
        value = float(answer)
    except (TypeError, ValueError):
        raise Wrong(f"expected a number for {what}, got {type(answer).__name__} {answer!r}.") from None
    if math.isclose(value, expected, rel_tol=rel, abs_tol=1e-9):
        return
    for wrong_value, message in (known or {}).items():
        if math.isclose(value, wrong_value, rel_tol=rel, abs_tol=1e-9):
            raise Wrong(message)
    raise Wrong(f"{what}: {answer!r} is not right; try `.hint()`.")


def _params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _as_module(obj, *args, **kwargs) -> nn.Module:
    """Build the learner's module from a class or factory, with clear errors."""
    if isinstance(obj, nn.Module):
        return obj
    if not callable(obj):
        raise Wrong(f"expected a class or function that builds an nn.Module, got {type(obj).__name__}.")
    module = obj(*args, **kwargs)
    if not isinstance(module, nn.Module):
        raise Wrong(f"calling it gave a {type(module).__name__}, not an nn.Module.")
    if _params(module) == 0:
        raise NotAttempted
    return module


def _compare_outputs(mine: nn.Module, reference: nn.Module, x: torch.Tensor,
                     variants: dict[str, nn.Module], what: str) -> None:
    """Learner's and reference module share weights; compare in train and eval mode."""
    for mode in ("eval", "train"):
        for m in (mine, reference, *variants.values()):
            m.train(mode == "train")
        with torch.no_grad():
            got = mine(x.clone())
            want = reference(x.clone())
            if not isinstance(got, torch.Tensor):
                raise Wrong(f"forward returned {type(got).__name__}, not a tensor.")
            if got.shape != want.shape:
                raise Wrong(f"{what} output shape is {tuple(got.shape)}; expected {tuple(want.shape)} "
                            f"for an input of shape {tuple(x.shape)}.")
            if torch.allclose(got, want, atol=1e-5, rtol=1e-4):
                continue
            for message, variant in variants.items():
                if torch.allclose(got, variant(x.clone()), atol=1e-5, rtol=1e-4):
                    raise Wrong(message)
            raise Wrong(f"{what} gives other numbers than the reference with the same weights "
                        f"(in {mode} mode; largest difference {(got - want).abs().max():.3g}). "
                        "Check the order: conv, BN, ReLU, ..., add the shortcut, then ReLU.")


def _load_weights(mine: nn.Module, reference: nn.Module, names_hint: str) -> None:
    """Give the reference the learner's weights; explain missing or extra layers."""
    ours, theirs = reference.state_dict(), mine.state_dict()
    missing = [k for k in ours if k not in theirs]
    extra = [k for k in theirs if k not in ours]
    if any(k.startswith("downsample.1") for k in missing) and not any(
            k.startswith("downsample.0") for k in missing):
        raise Wrong("your projection shortcut has no BatchNorm: use "
                    "nn.Sequential(conv1x1, nn.BatchNorm2d(...)) as `downsample`.")
    if any(k.startswith("downsample") for k in missing):
        raise Wrong("no projection shortcut, but the channels or the size change here: add "
                    "`downsample` (1x1 conv with the stride, then BatchNorm).")
    if any(k.startswith("downsample") for k in extra):
        raise Wrong("you add a projection shortcut where the shapes already match: use the identity "
                    "(`downsample = None`) when stride is 1 and the channels do not change.")
    if missing or extra:
        raise Wrong(f"the layers are not named as asked ({names_hint}); "
                    f"missing {missing[:4]}, unexpected {extra[:4]}.")
    for key, value in theirs.items():
        if value.shape != ours[key].shape:
            raise Wrong(f"{key} has shape {tuple(value.shape)}; expected {tuple(ours[key].shape)}.")
    reference.load_state_dict(theirs)


def _randomise_bn(module: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affine values, so that a wrong order shows in the output."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


# =========================================================================== reference pieces
# Written out here (not imported) so that each wrong variant can be built with the same names and
# weights as the learner's module; tests prove the references equal torchvision's blocks.


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, bias=False)


def _projection(cin: int, cout: int, stride: int) -> nn.Sequential | None:
    if stride == 1 and cin == cout:
        return None
    return nn.Sequential(_conv(cin, cout, 1, stride), nn.BatchNorm2d(cout))


class _RefBasic(nn.Module):
    """torchvision's BasicBlock, with switches for typical mistakes."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, mistake: str = "") -> None:
        super().__init__()
        s1, s2 = (1, stride) if mistake == "stride_on_conv2" else (stride, 1)
        self.conv1, self.bn1 = _conv(inplanes, planes, 3, s1), nn.BatchNorm2d(planes)
        self.conv2, self.bn2 = _conv(planes, planes, 3, s2), nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.downsample = _projection(inplanes, planes, stride)
        self.mistake = mistake

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return _finish(out, identity, self.relu, self.mistake)


class _RefBottleneck(nn.Module):
    """torchvision's Bottleneck (v1.5: stride on the 3x3), with switches for typical mistakes."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, mistake: str = "") -> None:
        super().__init__()
        width, out = planes, planes * self.expansion
        s1, s2 = (stride, 1) if mistake == "stride_on_1x1" else (1, stride)
        self.conv1, self.bn1 = _conv(inplanes, width, 1, s1), nn.BatchNorm2d(width)
        self.conv2, self.bn2 = _conv(width, width, 3, s2), nn.BatchNorm2d(width)
        self.conv3, self.bn3 = _conv(width, out, 1), nn.BatchNorm2d(out)
        self.relu = nn.ReLU()
        self.downsample = _projection(inplanes, out, stride)
        self.mistake = mistake

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return _finish(out, identity, self.relu, self.mistake)


def _finish(out, identity, relu, mistake: str) -> torch.Tensor:
    if mistake == "relu_before_add":
        return relu(out) + identity
    if mistake == "no_final_relu":
        return out + identity
    if mistake == "no_shortcut":
        return relu(out)
    if mistake == "double_relu":
        return relu(relu(out) + identity)
    return relu(out + identity)


_BLOCK_MISTAKES = {
    "relu_before_add": "your block adds the shortcut after the final ReLU: add the shortcut to the "
                       "BN output first, then apply ReLU to the sum.",
    "double_relu": "your block applies ReLU to the residual branch before adding the shortcut; "
                   "the last BN output goes into the addition without a ReLU.",
    "no_final_relu": "your block has no ReLU after the addition: return relu(out + identity).",
    "no_shortcut": "your block never adds the shortcut: it is a plain block. "
                   "Add `identity` (x, or downsample(x)) before the last ReLU.",
}


def _check_block(learner, reference_cls, configs, extra_mistakes: dict[str, str], names: str) -> str:
    for inplanes, planes, stride in configs:
        mine = _as_module(learner, inplanes, planes, stride)
        reference = reference_cls(inplanes, planes, stride)
        _load_weights(mine, reference, names)
        _randomise_bn(reference, seed=inplanes + stride)
        mine.load_state_dict(reference.state_dict())
        variants = {}
        for mistake, message in {**_BLOCK_MISTAKES, **extra_mistakes}.items():
            variant = reference_cls(inplanes, planes, stride, mistake=mistake)
            variant.load_state_dict(reference.state_dict())
            variants[message] = variant
        x = torch.randn(2, inplanes, 8, 8, generator=torch.Generator().manual_seed(1))
        what = f"{type(mine).__name__}({inplanes}, {planes}, stride={stride})"
        try:
            _compare_outputs(mine, reference, x, variants, what)
        except RuntimeError as error:
            if "size of tensor" in str(error) or "must match" in str(error):
                raise Wrong(f"{what}: the shortcut and the branch have different shapes when added "
                            f"({error}). When the stride is not 1 or the channels change, the shortcut "
                            "needs a projection: downsample = 1x1 conv with the stride + BatchNorm.") from None
            raise
        # Gradients must reach the input through both paths, as in the reference.
        xs = [x.clone().requires_grad_() for _ in range(2)]
        mine.train()
        reference.train()
        mine(xs[0]).square().sum().backward()
        reference(xs[1]).square().sum().backward()
        if not torch.allclose(xs[0].grad, xs[1].grad, atol=1e-4, rtol=1e-3):
            raise Wrong(f"{what}: the output matches, but the gradient reaching the input does not; "
                        "avoid in-place tricks that cut the graph (e.g. `.data` or `.detach()`).")
    return "your block matches torchvision's, in train and eval mode, forward and backward."


# =========================================================================== chapter 1: data


def _textured_image(seed: int = 0):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8), "RGB")


def _check_train_transform(make_train_transform) -> str:
    from PIL import Image

    from .data import IMAGENET_MEAN

    if not callable(make_train_transform):
        raise Wrong("make_train_transform should be a function of the image size.")
    transform = make_train_transform(40)
    if transform is None:
        raise NotAttempted
    out = transform(_textured_image())
    if isinstance(out, Image.Image):
        raise Wrong("your transform returns a PIL image; end it with ToTensor() and Normalize(...).")
    if not isinstance(out, torch.Tensor):
        raise Wrong(f"your transform returns a {type(out).__name__}; expected a tensor.")
    if tuple(out.shape) != (3, 40, 40):
        raise Wrong(f"make_train_transform(40) gives a tensor of shape {tuple(out.shape)}; expected "
                    "(3, 40, 40): the size argument must set the output size, square.")
    grey = Image.new("RGB", (60, 50), tuple(round(255 * m) for m in IMAGENET_MEAN))
    flat = transform(grey)
    if flat.abs().max() > 0.05:
        raise Wrong("an image of the ImageNet mean colour should become all zeros, but yours "
                    f"averages {flat.mean():.2f}: did you forget Normalize(IMAGENET_MEAN, IMAGENET_STD)?")
    torch.manual_seed(0)
    outs = [transform(_textured_image()) for _ in range(6)]
    if all(torch.equal(outs[0], o) for o in outs[1:]):
        raise Wrong("your transform gives the same tensor every time; a training transform should "
                    "augment (e.g. RandomResizedCrop and RandomHorizontalFlip).")
    return "a random crop and flip, a tensor of the right size, normalised."


def _check_batches(answer) -> str:
    if isinstance(answer, float) and not answer.is_integer():
        raise Wrong("a number of batches is a whole number: a partial batch is still one batch.")
    _expect_number(answer, 14, "batches per epoch", {
        13: "you rounded down: the last batch holds the remaining 8 images, and the DataLoader "
            "keeps it (unless drop_last=True).",
        424: "that is the number of images; a batch holds 32 of them.",
    })
    return "ceil(424 / 32) = 14 batches; the last one has 8 images."


def _check_loaders(make_loaders) -> str:
    from torch.utils.data import RandomSampler, SequentialSampler, TensorDataset

    train = TensorDataset(torch.arange(10.0), torch.zeros(10, dtype=torch.long))
    test = TensorDataset(torch.arange(6.0), torch.zeros(6, dtype=torch.long))
    result = make_loaders(train, test, 4)
    if result is None:
        raise NotAttempted
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise Wrong("make_loaders should return two loaders: (train_loader, test_loader).")
    train_loader, test_loader = result
    if getattr(train_loader, "dataset", None) is test and getattr(test_loader, "dataset", None) is train:
        raise Wrong("the two loaders are swapped: return (train_loader, test_loader).")
    for name, loader, data in (("train", train_loader, train), ("test", test_loader, test)):
        if getattr(loader, "dataset", None) is not data:
            raise Wrong(f"the {name} loader does not read the {name} set.")
        if loader.batch_size != 4:
            raise Wrong(f"the {name} loader's batch size is {loader.batch_size}; use the batch_size argument.")
    if isinstance(test_loader.sampler, RandomSampler):
        raise Wrong("your test loader shuffles (the lesson's mistake): the order cannot change the "
                    "accuracy, so keep shuffle=False for evaluation.")
    if not isinstance(train_loader.sampler, RandomSampler):
        raise Wrong("your training loader does not shuffle: every epoch would see the batches in the "
                    "same order. Pass shuffle=True.")
    assert isinstance(test_loader.sampler, SequentialSampler)
    return "only the training loader shuffles."


ch1 = SimpleNamespace(
    q1=Exercise(
        "Chapter 1, question 1 (a training transform)", _check_train_transform,
        hint="""Compose four steps: T.RandomResizedCrop(size, scale=(0.5, 1.0)),
        T.RandomHorizontalFlip(), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD).""",
        solution="""
        def make_train_transform(size):
            return T.Compose([
                T.RandomResizedCrop(size, scale=(0.5, 1.0)),
                T.RandomHorizontalFlip(),
                T.ToTensor(),
                T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
            ])""",
        answer="make_train_transform"),
    q2=Exercise(
        "Chapter 1, question 2 (batches per epoch)", _check_batches,
        hint="Divide the number of images by the batch size. What happens to the images left over?",
        solution="batches_per_epoch = math.ceil(424 / 32)  # 14: 13 full batches and one of 8",
        answer="batches_per_epoch"),
    q3=Exercise(
        "Chapter 1, question 3 (loaders)", _check_loaders,
        hint="DataLoader(dataset, batch_size=..., shuffle=...): which of the two should shuffle?",
        solution="""
        def make_loaders(train_set, test_set, batch_size):
            train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
            test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False)
            return train_loader, test_loader""",
        answer="make_loaders"),
)


# =========================================================================== chapter 2: blocks


def _check_bottleneck_params(answer) -> str:
    _expect_number(answer, 75_008, "the parameters of layer1's first bottleneck", {
        73_728: "you counted the convolutions but left out BatchNorm: each BN has 2 parameters per "
                "channel (a scale and a shift).",
        58_112: "you left out the projection shortcut: this block turns 64 channels into 256, so "
                "its shortcut is a 1x1 conv (64 x 256) plus a BN (2 x 256).",
        76_288: "BatchNorm's running mean and variance are buffers, not parameters: count 2 per "
                "channel, not 4.",
        75_648: "ResNet's convolutions have no bias (bias=False): the BN that follows adds its own shift.",
        69_632: "the 3x3 conv has 64 x 64 x 3 x 3 weights; check the kernel size of each conv.",
    })
    return ("conv1 4,096 + bn1 128 + conv2 36,864 + bn2 128 + conv3 16,384 + bn3 512 + "
            "projection 16,384 + 512 = 75,008.")


_BASIC_NAMES = "conv1, bn1, conv2, bn2 and downsample"
_BOTTLENECK_NAMES = "conv1, bn1, conv2, bn2, conv3, bn3 and downsample"

ch2 = SimpleNamespace(
    q1=Exercise(
        "Chapter 2, question 1 (bottleneck parameters)", _check_bottleneck_params,
        hint="""A k x k conv from c_in to c_out channels without bias has c_in * c_out * k * k weights;
        a BatchNorm over c channels has 2 * c parameters. The first block of layer1 goes from 64
        to 256 channels, so it has a projection shortcut.""",
        solution="""
        bottleneck_params = (64 * 64 + 2 * 64            # conv1 1x1, bn1
                             + 64 * 64 * 9 + 2 * 64      # conv2 3x3, bn2
                             + 64 * 256 + 2 * 256        # conv3 1x1, bn3
                             + 64 * 256 + 2 * 256)       # downsample: 1x1 conv, bn""",
        answer="bottleneck_params"),
    q2=Exercise(
        "Chapter 2, question 2 (a basic block)",
        lambda block: _check_block(block, _RefBasic, [(16, 16, 1), (16, 32, 2), (16, 16, 2)],
                                   {"stride_on_conv2": "the stride belongs on the first 3x3 conv "
                                    "(conv1), not on conv2."}, _BASIC_NAMES),
        hint="""conv3x3(stride) -> BN -> ReLU -> conv3x3 -> BN, then add the shortcut and apply ReLU.
        The shortcut is x itself, or downsample(x) = 1x1 conv with the stride + BN when the stride
        is not 1 or the channel count changes. Name the layers conv1, bn1, conv2, bn2, downsample.""",
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
                return self.relu(out + identity)""",
        answer="MyBasicBlock"),
    q3=Exercise(
        "Chapter 2, question 3 (a bottleneck with a projection shortcut)",
        lambda block: _check_block(block, _RefBottleneck, [(16, 4, 1), (16, 8, 2), (32, 8, 1)],
                                   {"stride_on_1x1": "you put the stride on the first 1x1 conv: that "
                                    "is the original ResNet v1 (and the lesson's conv_block). "
                                    "torchvision's v1.5 puts it on the 3x3 conv2, which loses less "
                                    "information."}, _BOTTLENECK_NAMES),
        hint="""1x1 conv (inplanes -> planes) -> BN -> ReLU -> 3x3 conv (stride) -> BN -> ReLU ->
        1x1 conv (planes -> 4 * planes) -> BN, then add the shortcut and apply ReLU. The output has
        planes * 4 channels, so the shortcut needs a projection whenever inplanes != 4 * planes
        or the stride is not 1.""",
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
        answer="MyBottleneck"),
)


# =========================================================================== chapter 3: the network


def _as_shape(answer) -> tuple:
    try:
        return tuple(int(v) for v in answer)
    except (TypeError, ValueError):
        raise Wrong(f"expected a shape such as (1, 64, 56, 56), got {answer!r}.") from None


def _check_layer3_shape(answer) -> str:
    shape = _as_shape(answer)
    known = {
        (1, 256, 14, 14): "256 is the width of the 3x3 convs inside layer3; a bottleneck outputs "
                          "4 times that (expansion = 4).",
        (1, 1024, 28, 28): "layer3 halves the size once more: 224 -> 112 (stem conv) -> 56 "
                           "(max-pool) -> 56 (layer1) -> 28 (layer2) -> 14 (layer3).",
        (1, 512, 28, 28): "that is the output of layer2; layer3 doubles the channels and halves the size.",
        (1, 2048, 7, 7): "that is the output of layer4, the last stage.",
        (1024, 14, 14): "keep the batch dimension in front: the input has shape (1, 3, 224, 224).",
    }
    if shape != (1, 1024, 14, 14):
        raise Wrong(known.get(shape, f"{shape} is not right; the per-stage table above helps."))
    return "(1, 1024, 14, 14): 256 * 4 channels at 1/16 of the input size."


def _check_resnet34(my_resnet34) -> str:
    import torchvision

    if not callable(my_resnet34):
        raise Wrong("my_resnet34 should be a function of num_classes that returns the model.")
    model = _as_module(my_resnet34, 1000)
    count = _params(model)
    known = {11_689_512: "that is ResNet-18: ResNet-34 has [3, 4, 6, 3] basic blocks per stage.",
             25_557_032: "that is ResNet-50: ResNet-34 uses BasicBlock, not Bottleneck."}
    if count != 21_797_672:
        raise Wrong(known.get(count, f"your model has {count:,} parameters; ResNet-34 has 21,797,672. "
                                     "Use BasicBlock with [3, 4, 6, 3] blocks per stage."))
    small = _as_module(my_resnet34, 7)
    reference = torchvision.models.resnet34(num_classes=7)
    try:
        small.load_state_dict(reference.state_dict())
    except RuntimeError as error:
        raise Wrong(f"the right number of parameters, but torchvision's weights do not load: {error}") from None
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    small.eval()
    reference.eval()
    with torch.no_grad():
        got, want = small(x), reference(x)
    if got.shape != (1, 7):
        raise Wrong(f"my_resnet34(7) outputs shape {tuple(got.shape)}; expected (1, 7).")
    if not torch.allclose(got, want, atol=1e-4, rtol=1e-3):
        raise Wrong("the weights load, but the outputs differ from torchvision's resnet34.")
    return "21,797,672 parameters, and torchvision's resnet34 weights give the same outputs."


def _check_fc_params(answer) -> str:
    _expect_number(answer, 8_196, "the parameters of ResNet-50's last layer for 4 classes", {
        8_192: "you forgot the bias: one per class.",
        2_049_000: "that is the ImageNet head (1000 classes); here there are 4.",
        4_100: "the last stage outputs 2048 channels (512 x 4), not 1024.",
        2_052: "the last stage outputs 2048 channels (512 x 4), not 512.",
    })
    return "2048 x 4 weights + 4 biases = 8,196."


ch3 = SimpleNamespace(
    q1=Exercise(
        "Chapter 3, question 1 (the shape after layer3)", _check_layer3_shape,
        hint="""Follow the size: the stem halves it twice (conv stride 2, max-pool stride 2); layer1 keeps
        it; layer2, layer3 and layer4 each halve it. The channels after stage k are 64 * 2**(k-1) * 4.""",
        solution="layer3_shape = (1, 1024, 14, 14)",
        answer="layer3_shape"),
    q2=Exercise(
        "Chapter 3, question 2 (ResNet-34 from basic blocks)", _check_resnet34,
        hint="The same ResNet class and builder as ResNet-50, with BasicBlock and [3, 4, 6, 3].",
        solution="""
        def my_resnet34(num_classes):
            return ResNet(BasicBlock, [3, 4, 6, 3], num_classes=num_classes)""",
        answer="my_resnet34"),
    q3=Exercise(
        "Chapter 3, question 3 (the classifier's parameters)", _check_fc_params,
        hint="The head is nn.Linear(in_features, num_classes): weights plus one bias per class. "
             "How many channels leave layer4?",
        solution="fc_params = 2048 * 4 + 4",
        answer="fc_params"),
)


# =========================================================================== chapter 4: training


def _tiny_setup(seed: int = 0):
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(20, 6, generator=g)
    y = torch.randint(0, 3, (20,), generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False)  # last batch: 4
    return model, loader


def _reference_train(model, loader, optimizer, loss_fn, *, zero_grad=True, set_train=True,
                     step=True, per_batch_mean=False):
    if set_train:
        model.train()
    correct, total_loss, seen, batches = 0, 0.0, 0, 0
    for x, y in loader:
        pred = model(x)
        loss = loss_fn(pred, y)
        if zero_grad:
            optimizer.zero_grad()
        loss.backward()
        if step:
            optimizer.step()
        correct += (pred.argmax(1) == y).sum().item()
        total_loss += loss.item() * (1 if per_batch_mean else len(y))
        seen += len(y)
        batches += 1
    return correct / seen, total_loss / (batches if per_batch_mean else seen)


def _grad_recorder(model: nn.Module) -> list:
    """Record (training mode, grad enabled) at every forward call."""
    calls: list = []
    model.register_forward_pre_hook(lambda m, args: calls.append((m.training, torch.is_grad_enabled())))
    return calls


def _check_train_epoch(my_train_one_epoch) -> str:
    if not callable(my_train_one_epoch):
        raise Wrong("my_train_one_epoch should be a function.")
    runs = {}
    for name, options in {"reference": {}, "no_zero_grad": {"zero_grad": False},
                          "no_train": {"set_train": False}, "no_step": {"step": False}}.items():
        model, loader = _tiny_setup()
        model.eval()  # a correct loop switches to training mode itself
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        result = _reference_train(model, loader, optimizer, nn.CrossEntropyLoss(), **options)
        runs[name] = (model, result)
    model, loader = _tiny_setup()
    model.eval()
    calls = _grad_recorder(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    result = my_train_one_epoch(model, loader, optimizer, nn.CrossEntropyLoss(), torch.device("cpu"))
    if result is None:
        raise NotAttempted
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise Wrong(f"return (accuracy, mean_loss); got {result!r}.")
    acc, loss = (float(v) for v in result)
    if not calls:
        raise Wrong("your function never calls the model.")
    if not calls[0][0]:
        raise Wrong("the model ran in evaluation mode: call model.train() at the start, so "
                    "BatchNorm uses the batch statistics (and dropout is active).")
    def same_weights(other):
        return all(torch.allclose(a, b, atol=1e-6) for a, b in zip(
            model.state_dict().values(), other.state_dict().values(), strict=True))
    if same_weights(runs["no_step"][0]):
        raise Wrong("the weights did not change: call optimizer.step() after loss.backward().")
    if same_weights(runs["no_zero_grad"][0]):
        raise Wrong("you never reset the gradients: call optimizer.zero_grad() before "
                    "loss.backward(), or each step adds up the gradients of all earlier batches.")
    if not same_weights(runs["reference"][0]):
        raise Wrong("after one epoch your weights differ from the reference: one forward, "
                    "zero_grad, backward and step per batch, in that order.")
    ref_acc, ref_loss = runs["reference"][1]
    if math.isclose(acc, ref_acc * 100, rel_tol=1e-6) and ref_acc:
        raise Wrong("return the accuracy as a fraction between 0 and 1; format it as % when printing.")
    if not math.isclose(acc, ref_acc, rel_tol=1e-6, abs_tol=1e-9):
        raise Wrong(f"accuracy {acc:.4f}; expected {ref_acc:.4f}: count correct predictions "
                    "(pred.argmax(1) == y).sum() over all images and divide by the number of images.")
    _, lesson_loss = _reference_train(*_reset_for_mean(), nn.CrossEntropyLoss(), per_batch_mean=True)
    if math.isclose(loss, lesson_loss, rel_tol=1e-5):
        raise Wrong("your loss is the mean of the batch means (the lesson's way); the last batch is "
                    "smaller, so weight each batch's loss by its size and divide by the number of images.")
    if not math.isclose(loss, ref_loss, rel_tol=1e-5):
        raise Wrong(f"mean loss {loss:.5f}; expected {ref_loss:.5f} (loss.item() * batch size, "
                    "summed, divided by the number of images).")
    return "train mode, zero_grad/backward/step per batch, accuracy and a per-image mean loss."


def _reset_for_mean():
    model, loader = _tiny_setup()
    return model, loader, torch.optim.SGD(model.parameters(), lr=0.1)


def _check_evaluate(my_evaluate) -> str:
    if not callable(my_evaluate):
        raise Wrong("my_evaluate should be a function.")
    model, loader = _tiny_setup(seed=1)
    _randomise_bn_1d(model)
    model.train()  # a correct evaluate switches to evaluation mode itself
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = _grad_recorder(model)
    result = my_evaluate(model, loader, nn.CrossEntropyLoss(), torch.device("cpu"))
    if result is None:
        raise NotAttempted
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise Wrong(f"return (accuracy, mean_loss); got {result!r}.")
    acc, loss = (float(v) for v in result)
    if not calls:
        raise Wrong("your function never calls the model.")
    if calls[0][0]:
        raise Wrong("the model ran in training mode: call model.eval() first. Otherwise BatchNorm "
                    "normalises with each test batch's statistics and overwrites its running "
                    "averages with test data.")
    if calls[0][1]:
        raise Wrong("gradients were being recorded: wrap the loop in `with torch.inference_mode():` "
                    "(or torch.no_grad()); evaluation needs no graph, and building one costs memory.")
    if any(not torch.equal(before[k], v) for k, v in model.state_dict().items()):
        raise Wrong("evaluation changed the model's weights or statistics; it must only read them.")
    model.eval()
    with torch.no_grad():
        xs, ys = zip(*loader, strict=True)
        logits = model(torch.cat(xs))
        y = torch.cat(ys)
        ref_acc = (logits.argmax(1) == y).float().mean().item()
        ref_loss = nn.functional.cross_entropy(logits, y).item()
    if not math.isclose(acc, ref_acc, rel_tol=1e-6, abs_tol=1e-9):
        raise Wrong(f"accuracy {acc:.4f}; expected {ref_acc:.4f} (a fraction of all images).")
    if not math.isclose(loss, ref_loss, rel_tol=1e-4):
        raise Wrong(f"mean loss {loss:.5f}; expected {ref_loss:.5f}: weight each batch's loss by its "
                    "size and divide by the number of images.")
    return "eval mode, no graph, nothing changed, a per-image mean loss."


def _randomise_bn_1d(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.BatchNorm1d):
            m.running_mean.fill_(0.3)
            m.running_var.fill_(2.0)


def _check_mean_loss(answer) -> str:
    _expect_number(answer, 32.8 / 72, "the mean loss per image", {
        1.7 / 3: "that is the mean of the three batch means (the lesson's way): the last batch has "
                 "only 8 images, so it must count less.",
    }, rel=1e-3)
    return "(0.50 x 32 + 0.30 x 32 + 0.90 x 8) / 72 = 0.4556."


ch4 = SimpleNamespace(
    q1=Exercise(
        "Chapter 4, question 1 (one training epoch)", _check_train_epoch,
        hint="""model.train(); then for each batch: move x and y to the device, pred = model(x),
        loss = loss_fn(pred, y), optimizer.zero_grad(), loss.backward(), optimizer.step(); add
        (pred.argmax(1) == y).sum() to the correct count and loss.item() * len(y) to the loss sum.""",
        solution="""
        def my_train_one_epoch(model, loader, optimizer, loss_fn, device):
            model.train()
            correct, loss_sum, seen = 0, 0.0, 0
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                pred = model(x)
                loss = loss_fn(pred, y)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                correct += (pred.argmax(1) == y).sum().item()
                loss_sum += loss.item() * len(y)
                seen += len(y)
            return correct / seen, loss_sum / seen""",
        answer="my_train_one_epoch"),
    q2=Exercise(
        "Chapter 4, question 2 (evaluation)", _check_evaluate,
        hint="""model.eval(), then the same loop as training inside `with torch.inference_mode():`,
        without zero_grad, backward or step.""",
        solution="""
        def my_evaluate(model, loader, loss_fn, device):
            model.eval()
            correct, loss_sum, seen = 0, 0.0, 0
            with torch.inference_mode():
                for x, y in loader:
                    x, y = x.to(device), y.to(device)
                    pred = model(x)
                    correct += (pred.argmax(1) == y).sum().item()
                    loss_sum += loss_fn(pred, y).item() * len(y)
                    seen += len(y)
            return correct / seen, loss_sum / seen""",
        answer="my_evaluate"),
    q3=Exercise(
        "Chapter 4, question 3 (the mean loss of an epoch)", _check_mean_loss,
        hint="Each batch's loss is a mean over its images. Turn each back into a sum first.",
        solution="mean_loss = (0.50 * 32 + 0.30 * 32 + 0.90 * 8) / (32 + 32 + 8)",
        answer="mean_loss"),
)


# =========================================================================== chapter 5: evaluation


def _check_confusion(my_confusion_matrix) -> str:
    if not callable(my_confusion_matrix):
        raise Wrong("my_confusion_matrix should be a function.")
    y_true = torch.tensor([0, 0, 1, 2, 2, 2, 1, 0, 2])
    y_pred = torch.tensor([0, 1, 1, 2, 0, 2, 2, 0, 2])
    want = torch.zeros(3, 3, dtype=torch.long)
    for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
        want[t, p] += 1
    got = my_confusion_matrix(y_true, y_pred, 3)
    if got is None:
        raise NotAttempted
    got = torch.as_tensor(got)
    if got.shape != (3, 3):
        raise Wrong(f"for 3 classes the matrix is 3 x 3; yours has shape {tuple(got.shape)}.")
    if torch.equal(got.long(), want.T):
        raise Wrong("your matrix is transposed: rows are the true classes, columns the predictions.")
    if got.sum() != len(y_true):
        raise Wrong(f"your counts add up to {got.sum().item()}; every one of the {len(y_true)} images "
                    "should be counted exactly once.")
    if not torch.equal(got.long(), want):
        raise Wrong(f"expected\n{want.tolist()}\ngot\n{got.tolist()}\n(row = true class, column = prediction).")
    extra = my_confusion_matrix(torch.tensor([3]), torch.tensor([3]), 5)
    if torch.as_tensor(extra).shape != (5, 5):
        raise Wrong("use num_classes for the size, even when some classes never appear.")
    return "rows are true classes, columns predictions; the diagonal holds the correct ones."


_CM = [[20, 1, 0, 1], [2, 18, 1, 1], [0, 0, 21, 1], [1, 0, 3, 18]]


def _check_recall(answer) -> str:
    _expect_number(answer, 21 / 22, "the recall of 'star'", {
        21 / 25: "that is the precision (of all images predicted 'star', how many are stars); "
                 "recall divides by the row: of all true stars, how many were found.",
        21: "recall is a fraction: the correct stars divided by all true stars.",
        21 / 88: "divide by the number of true stars (the row's sum), not by all images.",
    }, rel=1e-3)
    return "21 / 22 = 0.955: 21 of the 22 true stars were found."


def _check_predict(my_predict) -> str:
    if not callable(my_predict):
        raise Wrong("my_predict should be a function.")
    model, _ = _tiny_setup(seed=2)
    _randomise_bn_1d(model)
    model.train()
    calls = _grad_recorder(model)
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(3))
    got = my_predict(model, x)
    if got is None:
        raise NotAttempted
    if not calls:
        raise Wrong("your function never calls the model.")
    if calls[0][0]:
        raise Wrong("the model ran in training mode: call model.eval() before predicting, or "
                    "BatchNorm uses this batch's statistics and the answer depends on the batch.")
    if calls[0][1]:
        raise Wrong("gradients were being recorded: predict inside `with torch.inference_mode():`.")
    with torch.no_grad():
        want = model(x).argmax(1)
    got = torch.as_tensor(got)
    if got.shape == (5, 3):
        raise Wrong("you return the scores of every class; return the index of the best one (argmax(1)).")
    if not torch.equal(got.long().flatten(), want):
        raise Wrong(f"expected class indices {want.tolist()}, got {got.tolist()}.")
    return "eval mode, no graph, one class index per image."


ch5 = SimpleNamespace(
    q1=Exercise(
        "Chapter 5, question 1 (a confusion matrix)", _check_confusion,
        hint="Start from torch.zeros(num_classes, num_classes); for each pair (t, p) add 1 at [t, p].",
        solution="""
        def my_confusion_matrix(y_true, y_pred, num_classes):
            cm = torch.zeros(num_classes, num_classes, dtype=torch.long)
            for t, p in zip(y_true.tolist(), y_pred.tolist()):
                cm[t, p] += 1
            return cm""",
        answer="my_confusion_matrix"),
    q2=Exercise(
        "Chapter 5, question 2 (recall)", _check_recall,
        hint="Recall of a class = correct predictions of it / all images that truly are it (its row).",
        solution="star_recall = cm_example[2][2] / sum(cm_example[2])  # 21 / 22",
        answer="star_recall"),
    q3=Exercise(
        "Chapter 5, question 3 (predicting)", _check_predict,
        hint="model.eval(); with torch.inference_mode(): return model(x).argmax(1)",
        solution="""
        def my_predict(model, x):
            model.eval()
            with torch.inference_mode():
                return model(x).argmax(1)""",
        answer="my_predict"),
)
CM_EXAMPLE = _CM  # the confusion matrix of chapter 5, question 2 (rows: true class)


# =========================================================================== chapter 6: depth


def _check_depth(answer) -> str:
    _expect_number(answer, 56, "the depth of the CIFAR network with n = 9", {
        54: "6n counts the convolutions inside the blocks; add the first conv and the final fc layer.",
        55: "count both the first conv and the final fully connected layer: 6n + 2.",
        18: "each block has two 3x3 convs, and there are three stages of n blocks: 6n + 2.",
    })
    return "6 x 9 + 2 = 56 layers with weights: ResNet-56."


def _check_shortcut_a(shortcut_a) -> str:
    if not callable(shortcut_a):
        raise Wrong("shortcut_a should be a function of (x, out_channels).")
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    got = shortcut_a(x, 32)
    if got is None:
        raise NotAttempted
    if not isinstance(got, torch.Tensor):
        raise Wrong(f"return a tensor, not {type(got).__name__}.")
    if got.shape[1] == 32 and got.shape[2:] == (8, 8):
        raise Wrong("the channels are right but the size is not halved: take every second pixel, "
                    "x[:, :, ::2, ::2].")
    if got.shape != (2, 32, 4, 4):
        raise Wrong(f"for x of shape (2, 16, 8, 8) and 32 channels expect (2, 32, 4, 4); got {tuple(got.shape)}.")
    sub = x[:, :, ::2, ::2]
    want = torch.cat([sub, torch.zeros_like(sub)], dim=1)
    if torch.allclose(got, want):
        return "subsample, then zero channels: no parameters, as in the paper's option A."
    want_split = nn.functional.pad(sub, (0, 0, 0, 0, 8, 8))
    if torch.allclose(got, want_split):
        return "subsample, then zero channels on both sides (as many CIFAR codes do): option A."
    if torch.allclose(got[:, :16], nn.functional.avg_pool2d(x, 2), atol=1e-6):
        raise Wrong("you average 2x2 blocks; option A simply takes every second pixel.")
    raise Wrong("the new channels must be zeros and the old ones the subsampled input; nothing learned.")


ch6 = SimpleNamespace(
    q1=Exercise(
        "Chapter 6, question 1 (how deep is n = 9?)", _check_depth,
        hint="Three stages of n blocks with two 3x3 convs each, plus the first conv and the fc layer.",
        solution="depth_n9 = 6 * 9 + 2",
        answer="depth_n9"),
    q2=Exercise(
        "Chapter 6, question 2 (the option-A shortcut)", _check_shortcut_a,
        hint="x[:, :, ::2, ::2] halves the size; torch.cat with torch.zeros_like(...) on dim=1 adds channels.",
        solution="""
        def shortcut_a(x, out_channels):
            x = x[:, :, ::2, ::2]
            extra = out_channels - x.shape[1]
            return torch.cat([x, x.new_zeros(x.shape[0], extra, *x.shape[2:])], dim=1)""",
        answer="shortcut_a"),
    q3=Exercise(
        "Chapter 6, question 3 (parameters of the shortcuts)",
        lambda answer: (_expect_number(answer, 0, "the parameters that option-A shortcuts add to ResNet-56", {
            16 * 32 + 32 * 64: "those would be 1x1 projections (option B); option A pads with zeros and "
                               "learns nothing."}) or
            "0: the plain and residual networks have exactly the same parameters."),
        hint="Subsampling and zero-padding: is there anything to learn?",
        solution="shortcut_params = 0",
        answer="shortcut_params"),
)

CHAPTERS = {1: ch1, 2: ch2, 3: ch3, 4: ch4, 5: ch5, 6: ch6}
