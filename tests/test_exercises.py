"""Exercises: every reference solution passes, typical mistakes fail with their message,
unanswered questions say "not attempted", and no answer can make a check raise."""

from __future__ import annotations

import math
import textwrap

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms as T

from course_utils import exercises as E
from course_utils.data import IMAGENET_MEAN, IMAGENET_STD
from course_utils.exercises import CORRECT, NOT_ATTEMPTED, WRONG
from course_utils.exercises_ch7 import ch7

# Chapter 7's exercises live in their own module; the generic checks below cover them too.
CHAPTERS = {**E.CHAPTERS, 7: ch7}
ALL = [(f"ch{c}.{q}", ex) for c, chapter in CHAPTERS.items() for q, ex in vars(chapter).items()]


def solution_namespace(ex: E.Exercise) -> dict:
    """Run an exercise's reference solution as a notebook cell would and return its names."""
    from course_utils.models import BasicBlock, ResNet

    namespace = {"math": math, "torch": torch, "nn": nn, "T": T, "DataLoader": DataLoader,
                 "IMAGENET_MEAN": IMAGENET_MEAN, "IMAGENET_STD": IMAGENET_STD,
                 "ResNet": ResNet, "BasicBlock": BasicBlock, "cm_example": E.CM_EXAMPLE}
    exec(textwrap.dedent(ex._solution), namespace)
    return namespace


def test_each_chapter_has_at_least_three_exercises() -> None:
    assert sorted(CHAPTERS) == [1, 2, 3, 4, 5, 6, 7]
    assert all(len(vars(chapter)) >= 3 for chapter in CHAPTERS.values())


@pytest.mark.parametrize(("name", "ex"), ALL, ids=[n for n, _ in ALL])
def test_reference_solution_passes(name, ex, capsys) -> None:
    answer = solution_namespace(ex)[ex.answer]
    result = ex._run(answer)
    assert result.outcome == CORRECT, result.message
    ex.check(answer)
    assert capsys.readouterr().out.startswith("Correct:")


@pytest.mark.parametrize(("name", "ex"), ALL, ids=[n for n, _ in ALL])
def test_unanswered_is_not_attempted_and_hint_and_solution_print(name, ex, capsys) -> None:
    assert ex._run(None).outcome == NOT_ATTEMPTED
    ex.check(None)
    ex.hint()
    ex.solution()
    out = capsys.readouterr().out
    assert "Not attempted yet" in out and "Hint: " in out and "Solution:" in out


@pytest.mark.parametrize(("name", "ex"), ALL, ids=[n for n, _ in ALL])
def test_an_answer_by_keyword_is_checked_and_extra_arguments_are_explained(name, ex) -> None:
    answer = solution_namespace(ex)[ex.answer]
    assert ex._run(answer=answer).outcome == CORRECT  # check(answer=14) once raised TypeError
    assert ex._run(**{ex.answer: answer}).outcome == CORRECT
    for result in (ex._run(answer, answer=answer), ex._run(a=answer, b=answer)):
        assert result.outcome == WRONG and f"check({ex.answer})" in result.message


@pytest.mark.parametrize(("name", "ex"), ALL, ids=[n for n, _ in ALL])
def test_no_answer_makes_a_check_raise(name, ex) -> None:
    def explode(*args, **kwargs):
        raise ZeroDivisionError("boom")

    class Huge(nn.Module):
        def __init__(self, *args):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x.new_zeros(10**6, 1).expand(10**6, 10**6)

    def leave(*args, **kwargs):
        raise SystemExit(1)  # e.g. sys.exit() or exit() in the learner's code

    for junk in ("hello", 3.5, -1, float("nan"), [1, 2], {"a": 1}, explode, lambda *a: "text",
                 lambda *a: 42, Huge, nn.Identity, object(), leave):
        result = ex._run(junk)
        assert result.outcome in (WRONG, NOT_ATTEMPTED), (junk, result)


def _stub(*args, **kwargs):
    raise NotImplementedError


def test_ctrl_c_in_the_learners_code_still_stops_the_check() -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        E.ch2.q2.check(interrupted)


@pytest.mark.parametrize(("name", "ex"), ALL, ids=[n for n, _ in ALL])
def test_student_stub_is_not_attempted(name, ex) -> None:
    if callable(solution_namespace(ex)[ex.answer]):  # value answers start as None instead
        assert ex._run(_stub).outcome == NOT_ATTEMPTED


# --------------------------------------------------------------------------- typical mistakes


def _block(reference, mistake: str = "", edit=None):
    class Learner(reference):
        def __init__(self, inplanes, planes, stride=1):
            super().__init__(inplanes, planes, stride, mistake=mistake)
            if edit:
                edit(self)

    return Learner


def _drop_bn(block):
    if block.downsample is not None:
        block.downsample = nn.Sequential(block.downsample[0])


def _no_projection(block):
    block.downsample = None


def _projection_without_stride(block):
    if block.downsample is not None:
        block.downsample[0].stride = (1, 1)


def test_reference_blocks_equal_torchvision() -> None:
    from torchvision.models.resnet import BasicBlock, Bottleneck

    ref = E._RefBottleneck(16, 8, 2)
    tv = Bottleneck(16, 8, 2, downsample=nn.Sequential(nn.Conv2d(16, 32, 1, 2, bias=False),
                                                        nn.BatchNorm2d(32)))
    tv.load_state_dict(ref.state_dict())
    basic = E._RefBasic(8, 8, 1)
    tvb = BasicBlock(8, 8)
    tvb.load_state_dict(basic.state_dict())
    x = torch.randn(2, 16, 8, 8)
    for a, b, inp in ((ref, tv, x), (basic, tvb, x[:, :8])):
        a.eval()
        b.eval()
        assert torch.allclose(a(inp), b(inp), atol=1e-6)


BLOCK_MISTAKES = [
    (E.ch2.q2, _block(E._RefBasic, "relu_before_add"), "adds the shortcut after the final ReLU"),
    (E.ch2.q2, _block(E._RefBasic, "no_final_relu"), "no ReLU after the addition"),
    (E.ch2.q2, _block(E._RefBasic, "no_shortcut"), "never adds the shortcut"),
    (E.ch2.q2, _block(E._RefBasic, "double_relu"), "ReLU to the residual branch before adding"),
    (E.ch2.q2, _block(E._RefBasic, "stride_on_conv2"), "stride belongs on the first 3x3 conv"),
    (E.ch2.q2, _block(E._RefBasic, edit=_drop_bn), "projection shortcut has no BatchNorm"),
    (E.ch2.q2, _block(E._RefBasic, edit=_no_projection), "no projection shortcut"),
    (E.ch2.q2, _block(E._RefBasic, edit=_projection_without_stride), "different shapes when added"),
    (E.ch2.q3, _block(E._RefBottleneck, "stride_on_1x1"), "stride on the first 1x1 conv"),
    (E.ch2.q3, _block(E._RefBottleneck, "relu_before_add"), "after the final ReLU"),
    (E.ch2.q3, _block(E._RefBottleneck, edit=_drop_bn), "no BatchNorm"),
    (E.ch2.q3, _block(E._RefBottleneck, edit=_no_projection), "no projection shortcut"),
]


@pytest.mark.parametrize(("ex", "answer", "message"), BLOCK_MISTAKES,
                         ids=[m for _, _, m in BLOCK_MISTAKES])
def test_block_mistakes_are_named(ex, answer, message) -> None:
    result = ex._run(answer)
    assert result.outcome == WRONG and message in result.message, result.message


def test_projection_everywhere_is_named() -> None:
    def always_project(block):
        if block.downsample is None:
            c = block.conv1.in_channels
            block.downsample = nn.Sequential(nn.Conv2d(c, c, 1, bias=False), nn.BatchNorm2d(c))

    result = E.ch2.q2._run(_block(E._RefBasic, edit=always_project))
    assert result.outcome == WRONG and "shapes already match" in result.message


def _train_loop(zero_grad=True, set_train=True, per_batch_mean=False, percent=False):
    def my_train_one_epoch(model, loader, optimizer, loss_fn, device):
        acc, loss = E._reference_train(model, loader, optimizer, loss_fn, zero_grad=zero_grad,
                                       set_train=set_train, per_batch_mean=per_batch_mean)
        return (acc * 100 if percent else acc), loss

    return my_train_one_epoch


def _eval_loop(set_eval=True, no_grad=True):
    def my_evaluate(model, loader, loss_fn, device):
        if set_eval:
            model.eval()
        with torch.set_grad_enabled(not no_grad):
            xs, ys = zip(*loader, strict=True)
            logits = model(torch.cat(xs))
            y = torch.cat(ys)
            return (logits.argmax(1) == y).float().mean().item(), loss_fn(logits, y).item()

    return my_evaluate


OTHER_MISTAKES = [
    (E.ch4.q1, _train_loop(zero_grad=False), "never reset the gradients"),
    (E.ch4.q1, _train_loop(set_train=False), "call model.train()"),
    (E.ch4.q1, _train_loop(per_batch_mean=True), "mean of the batch means"),
    (E.ch4.q1, _train_loop(percent=True), "fraction between 0 and 1"),
    (E.ch4.q2, _eval_loop(set_eval=False), "call model.eval() first"),
    (E.ch4.q2, _eval_loop(no_grad=False), "inference_mode"),
    (E.ch4.q3, 1.7 / 3, "mean of the three batch means"),
    (E.ch5.q1, lambda t, p, n: E._check_confusion.__globals__["torch"].zeros(n, n).index_put_(
        (p, t), torch.ones(len(t)), accumulate=True), "transposed"),
    (E.ch5.q2, 21 / 25, "that is the precision"),
    (E.ch5.q3, lambda model, x: model(x).argmax(1), "training mode"),
    (E.ch1.q1, lambda s: T.Compose([T.Resize((s, s)), T.ToTensor(),
                                    T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]), "same tensor every time"),
    (E.ch1.q1, lambda s: T.Compose([T.RandomResizedCrop(s), T.ToTensor()]), "forget Normalize"),
    (E.ch1.q2, 13, "rounded down"),
    (E.ch1.q3, lambda a, b, n: (DataLoader(a, n, shuffle=True), DataLoader(b, n, shuffle=True)),
     "test loader shuffles"),
    (E.ch2.q1, 73_728, "left out BatchNorm"),
    (E.ch2.q1, 58_112, "left out the projection shortcut"),
    (E.ch3.q1, (1, 256, 14, 14), "expansion = 4"),
    (E.ch3.q2, lambda n: torchvision.models.resnet18(num_classes=n), "that is ResNet-18"),
    (E.ch3.q3, 8_192, "forgot the bias"),
    (E.ch6.q1, 54, "add the first conv and the final fc layer"),
    (E.ch6.q2, lambda x, c: torch.nn.functional.pad(x, (0, 0, 0, 0, 0, c - x.shape[1])),
     "size is not halved"),
    (E.ch6.q3, 16 * 32 + 32 * 64, "option B"),
]


@pytest.mark.parametrize(("ex", "answer", "message"), OTHER_MISTAKES,
                         ids=[m for _, _, m in OTHER_MISTAKES])
def test_other_mistakes_are_named(ex, answer, message) -> None:
    result = ex._run(answer)
    assert result.outcome == WRONG and message in result.message, result.message
