"""Chapter 6 (why residuals work): the depth of a CIFAR ResNet, the option-A shortcut, what the
option-B shortcuts would cost."""

from __future__ import annotations

import torch
from torch import nn

from ..i18n import N_, _
from .checks import as_number, expect_number, package_functions, refuse, tensor_answer
from .core import Exercise, LearnerError, Wrong, call, safe_str

# -------------------------------------------------------------------------- q1: how deep is n = 12?


def _check_depth(answer) -> str:
    what = _("the depth of the CIFAR network with n = 12")
    value = as_number(answer, what)
    if value not in (74, 26, 98, 110, 14, 72, 73, 24, 38, 76) and value > 8 and (
            value - 2) % 6 == 0:
        raise Wrong(_("{depth:g} = 6n + 2 is the depth for n = {n:g} (the notebook's networks "
                      "have other n); here n = 12.").format(depth=value, n=(value - 2) / 6))
    expect_number(answer, 74, what, {
        72: _("6n counts the convolutions inside the blocks; add the first conv and the final fc "
              "layer."),
        73: _("count both the first conv and the final fully connected layer: 6n + 2."),
        24: _("each block has two 3x3 convs, and there are three stages of n blocks: 6n + 2."),
        38: _("each block has two 3x3 convs, and there are three stages of n blocks: 6n + 2."),
        76: _("the option-A shortcuts have no weights, and BatchNorm layers are not counted: 6n + "
              "2."),
        26: _("each of the three stages has n blocks: 3 x 12 blocks of 2 convs, then the first "
              "conv and fc: 6n + 2."),
        98: _("a CIFAR ResNet has three stages (16, 32, 64 channels), not ImageNet's four: 6n + "
              "2."),
        110: _("CIFAR blocks are basic blocks with 2 convs, not bottlenecks with 3 (and 110 is the "
               "depth for n = 18): 6n + 2."),
        14: _("n counts the blocks of each stage: three stages of 12 blocks, 2 convs each, then "
              "the first conv and fc: 6n + 2."),
    })
    return _("6 x 12 + 2 = 74 layers with weights: ResNet-74.")


q1 = Exercise(
    N_("Chapter 6, question 1 (how deep is n = 12?)"), _check_depth,
    hints=[N_("Count the layers with weights on the main path: convolutions and the fully "
              "connected layer."),
           N_("Three stages of n blocks, two 3x3 convs per block; then add what sits before the "
              "first stage and after the last.")],
    solution="depth_n12 = 6 * 12 + 2",
    answer="depth_n12")

# ------------------------------------------------------------------------ q2: the option-A shortcut


def _check_shortcut_a(shortcut_a) -> str:
    if not callable(shortcut_a):
        raise Wrong(_("shortcut_a should be a function of (x, out_channels)."))
    forbid = package_functions({"ShortcutA": refuse("shortcut_a", "ShortcutA")},
                               ("course_utils.models.cifar",))
    x = torch.randn(2, 16, 8, 8, generator=torch.Generator().manual_seed(0))
    got = tensor_answer(call(shortcut_a, x.clone(), 32, forbid=forbid), "shortcut_a")
    if got.shape[1:2] == (32,) and got.shape[2:] == (8, 8):
        raise Wrong(_("the channels are right but the size is not halved: take every second "
                      "pixel, x[:, :, ::2, ::2]."))
    if got.shape != (2, 32, 4, 4):
        if got.dim() == 4 and got.shape[0] != 2:
            raise Wrong(_("for x of shape (2, 16, 8, 8) and 32 channels expect (2, 32, 4, 4); got "
                          "{shape}: the zeros go along dim 1, the channels.").format(
                              shape=tuple(got.shape)))
        raise Wrong(_("for x of shape (2, 16, 8, 8) and 32 channels expect (2, 32, 4, 4); got "
                      "{shape}.").format(shape=tuple(got.shape)))
    if got.dtype != x.dtype:
        raise Wrong(_("your shortcut returns {dtype} for a {input} input (new zeros of another "
                      "dtype change the whole tensor when joined): make them with "
                      "x.new_zeros(...) or dtype=x.dtype.").format(dtype=got.dtype,
                                                                   input=x.dtype))
    sub = x[:, :, ::2, ::2]
    if torch.allclose(got[:, :16], nn.functional.avg_pool2d(x, 2), atol=1e-6):
        raise Wrong(_("you average 2x2 blocks; option A simply takes every second pixel."))
    if torch.allclose(got[:, :16], nn.functional.max_pool2d(x, 2), atol=1e-6):
        raise Wrong(_("you take the largest of each 2x2 block; option A simply takes every second "
                      "pixel."))
    if torch.allclose(got[:, :16], x[:, :, 1::2, 1::2], atol=1e-6):
        raise Wrong(_("you take the pixels at odd positions (1::2); option A keeps the pixel where "
                      "a stride-2 conv's window is centred, x[:, :, ::2, ::2], starting at 0."))
    zeros = torch.zeros_like(sub)
    accepted = (torch.cat([sub, zeros], dim=1), torch.cat([zeros, sub], dim=1),
                nn.functional.pad(sub, (0, 0, 0, 0, 8, 8)))
    if not any(torch.allclose(got, want) for want in accepted):
        raise Wrong(_("the new channels must be zeros and the old ones the subsampled input "
                      "x[:, :, ::2, ::2]; nothing learned, nothing mixed."))
    odd = torch.randn(1, 8, 7, 7, generator=torch.Generator().manual_seed(1))
    try:
        raw = call(shortcut_a, odd.clone(), 40, forbid=forbid)
    except LearnerError as wrapped:
        raise Wrong(_("for one image of shape (1, 8, 7, 7) and 40 channels your function raised "
                      "{error}: {text}. Take the sizes from x (x.shape[0] for the batch) rather "
                      "than fixed numbers.").format(error=type(wrapped.__cause__).__name__,
                                                    text=safe_str(wrapped.__cause__))) from None
    other = tensor_answer(raw, "shortcut_a")
    if other.shape != (1, 40, 4, 4):
        if other.shape[:2] == (1, 40):
            raise Wrong(_("for x of shape (1, 8, 7, 7) and 40 channels expect (1, 40, 4, 4), as a "
                          "stride-2 conv gives; got {shape}: an odd size keeps its last pixel, "
                          "x[:, :, ::2, ::2] of 7 is 4.").format(shape=tuple(other.shape)))
        raise Wrong(_("for x of shape (1, 8, 7, 7) and 40 channels expect (1, 40, 4, 4), as a "
                      "stride-2 conv gives; got {shape}: use out_channels (and the input's own "
                      "channels) rather than fixed numbers.").format(shape=tuple(other.shape)))
    return _("subsample, then zero channels: no parameters, as in the paper's option A.")


q2 = Exercise(
    N_("Chapter 6, question 2 (the option-A shortcut)"), _check_shortcut_a,
    hints=[N_("Two steps: halve the height and width, then add channels. Neither step may learn "
              "anything."),
           N_("Which slicing keeps every second row and every second column? Which function joins "
              "two tensors along the channel dimension, and what shape must the zeros have?")],
    solution="""
    def shortcut_a(x, out_channels):
        x = x[:, :, ::2, ::2]
        extra = out_channels - x.shape[1]
        return torch.cat([x, x.new_zeros(x.shape[0], extra, *x.shape[2:])], dim=1)""",
    answer="shortcut_a")

# --------------------------------------------------------------------------- q3: option B's cost


def _check_option_b(answer) -> str:
    expect_number(answer, 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64,
                  _("the parameters of option-B shortcuts in ResNet-56"), {
                      0: _("0 is option A (zero padding); option B learns a 1x1 projection at "
                           "each of the two stage transitions."),
                      16 * 32 + 32 * 64: _("you counted the 1x1 convs but not their BatchNorms "
                                           "(2 parameters per channel)."),
                      16 * 32 + 4 * 32 + 32 * 64 + 4 * 64: _("BatchNorm's running mean and "
                                                             "variance are buffers: 2 parameters "
                                                             "per channel."),
                      16 * 32 + 2 * 32: _("there are two stage transitions: 16 -> 32 and 32 -> "
                                          "64."),
                      9 * (16 * 32 + 32 * 64) + 2 * 32 + 2 * 64: _("the projections are 1x1 "
                                                                  "convs (c_in x c_out weights), "
                                                                  "not 3x3."),
                      16 * 32 + 32 * 64 + 32 + 64: _("a BatchNorm has 2 parameters per channel (a "
                                                     "scale and a shift), not 1."),
                      3 * 16 + 2 * 16 + 2752: _("the first conv (3 -> 16) is not a shortcut: only "
                                                "the two stage transitions have projections."),
                      2752 + 32 + 64: _("the 1x1 convs have no bias (bias=False): the BatchNorm "
                                        "after them adds the shift."),
                      64 * 128 + 2 * 128 + 128 * 256 + 2 * 256: _("those are ImageNet widths; a "
                                                                  "CIFAR ResNet's stages have 16, "
                                                                  "32 and 64 channels."),
                  })
    return _("16 x 32 + 64 + 32 x 64 + 128 = 2,752: about 0.3 % of ResNet-56, for two learned "
             "shortcuts.")


q3 = Exercise(
    N_("Chapter 6, question 3 (what option B would cost)"), _check_option_b,
    hints=[N_("Where does a CIFAR ResNet need a shortcut that changes the shape? Count the stage "
              "transitions."),
           N_("Each projection is a 1x1 conv without bias from c_in to c_out channels (c_in x "
              "c_out weights) and a BatchNorm over c_out channels (2 parameters per channel).")],
    solution="option_b_params = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64",
    answer="option_b_params")
