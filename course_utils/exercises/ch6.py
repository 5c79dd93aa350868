"""Chapter 6 (why residuals work): the depth of a CIFAR ResNet, the option-A shortcut, what the
option-B shortcuts would cost."""

from __future__ import annotations

import torch
from torch import nn

from .checks import expect_number, package_functions, refuse, tensor_answer
from .core import Exercise, Wrong, call

# -------------------------------------------------------------------------- q1: how deep is n = 12?


def _check_depth(answer) -> str:
    expect_number(answer, 74, "the depth of the CIFAR network with n = 12", {
        72: "6n counts the convolutions inside the blocks; add the first conv and the final fc "
            "layer.",
        73: "count both the first conv and the final fully connected layer: 6n + 2.",
        24: "each block has two 3x3 convs, and there are three stages of n blocks: 6n + 2.",
        38: "each block has two 3x3 convs, and there are three stages of n blocks: 6n + 2.",
        76: "the option-A shortcuts have no weights, and BatchNorm layers are not counted: 6n + 2.",
    })
    return "6 x 12 + 2 = 74 layers with weights: ResNet-74."


q1 = Exercise(
    "Chapter 6, question 1 (how deep is n = 12?)", _check_depth,
    hints=["Count the layers with weights on the main path: convolutions and the fully connected "
           "layer.",
           "Three stages of n blocks, two 3x3 convs per block; then add what sits before the first "
           "stage and after the last."],
    solution="depth_n12 = 6 * 12 + 2",
    answer="depth_n12")

# ------------------------------------------------------------------------ q2: the option-A shortcut


def _check_shortcut_a(shortcut_a) -> str:
    if not callable(shortcut_a):
        raise Wrong("shortcut_a should be a function of (x, out_channels).")
    forbid = package_functions({"ShortcutA": refuse("shortcut_a", "the course's ShortcutA")},
                               ("course_utils.models.cifar",))
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    got = tensor_answer(call(shortcut_a, x.clone(), 32, forbid=forbid), "shortcut_a")
    if got.shape[1:2] == (32,) and got.shape[2:] == (8, 8):
        raise Wrong("the channels are right but the size is not halved: take every second pixel, "
                    "x[:, :, ::2, ::2].")
    if got.shape != (2, 32, 4, 4):
        raise Wrong("for x of shape (2, 16, 8, 8) and 32 channels expect (2, 32, 4, 4); got "
                    f"{tuple(got.shape)}.")
    sub = x[:, :, ::2, ::2]
    if torch.allclose(got[:, :16], nn.functional.avg_pool2d(x, 2), atol=1e-6):
        raise Wrong("you average 2x2 blocks; option A simply takes every second pixel.")
    if torch.allclose(got[:, :16], nn.functional.max_pool2d(x, 2), atol=1e-6):
        raise Wrong("you take the largest of each 2x2 block; option A simply takes every second "
                    "pixel.")
    want = torch.cat([sub, torch.zeros_like(sub)], dim=1)
    want_split = nn.functional.pad(sub, (0, 0, 0, 0, 8, 8))
    if not (torch.allclose(got, want) or torch.allclose(got, want_split)):
        raise Wrong("the new channels must be zeros and the old ones the subsampled input "
                    "x[:, :, ::2, ::2]; nothing learned, nothing mixed.")
    other = tensor_answer(call(shortcut_a, torch.ones(1, 8, 6, 6), 40, forbid=forbid), "shortcut_a")
    if other.shape != (1, 40, 3, 3):
        raise Wrong("use out_channels (and the input's own channels) rather than fixed numbers: "
                    "for (1, 8, 6, 6) and 40 channels expect (1, 40, 3, 3); got "
                    f"{tuple(other.shape)}.")
    return "subsample, then zero channels: no parameters, as in the paper's option A."


q2 = Exercise(
    "Chapter 6, question 2 (the option-A shortcut)", _check_shortcut_a,
    hints=["Two steps: halve the height and width, then add channels. Neither step may learn "
           "anything.",
           "Slicing with a step halves the size: x[:, :, ::2, ::2]. The new channels are zeros of "
           "the right shape, joined to the old ones along dim 1."],
    solution="""
    def shortcut_a(x, out_channels):
        x = x[:, :, ::2, ::2]
        extra = out_channels - x.shape[1]
        return torch.cat([x, x.new_zeros(x.shape[0], extra, *x.shape[2:])], dim=1)""",
    answer="shortcut_a")

# --------------------------------------------------------------------------- q3: option B's cost


def _check_option_b(answer) -> str:
    expect_number(answer, 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64,
                  "the parameters of option-B shortcuts in ResNet-56", {
                      0: "0 is option A (zero padding); option B learns a 1x1 projection at each "
                         "of the two stage transitions.",
                      16 * 32 + 32 * 64: "you counted the 1x1 convs but not their BatchNorms (2 "
                                         "parameters per channel).",
                      16 * 32 + 4 * 32 + 32 * 64 + 4 * 64: "BatchNorm's running mean and variance "
                                                           "are buffers: 2 parameters per channel.",
                      16 * 32 + 2 * 32: "there are two stage transitions: 16 -> 32 and 32 -> 64.",
                  })
    return ("16 x 32 + 64 + 32 x 64 + 128 = 2,752: about 0.3 % of ResNet-56, for two learned "
            "shortcuts.")


q3 = Exercise(
    "Chapter 6, question 3 (what option B would cost)", _check_option_b,
    hints=["Where does a CIFAR ResNet need a shortcut that changes the shape? Count the stage "
           "transitions.",
           "Each projection is a 1x1 conv without bias from c_in to c_out channels (c_in x c_out "
           "weights) and a BatchNorm over c_out channels (2 parameters per channel)."],
    solution="option_b_params = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64",
    answer="option_b_params")
