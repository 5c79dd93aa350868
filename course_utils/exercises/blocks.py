"""The behaviour check that compares a learner's block with the reference blocks (references.py).

The learner's block gets the reference's weights and random
BatchNorm statistics, and must give the same outputs in train and eval mode, and the same gradient.
"""

from __future__ import annotations

import torch
from torch import nn

from ..i18n import N_, _
from ..models.resnet import randomise_batch_norm as randomise_bn
from .checks import as_module
from .core import LearnerError, Wrong, call, safe_str
from .references import BLOCK_MISTAKES


def batch_norm_settings(mine: nn.Module) -> None:
    """Name a BatchNorm setting that differs from PyTorch's defaults, which torchvision uses."""
    for name, m in call(mine.named_modules):
        if not isinstance(m, nn.modules.batchnorm._BatchNorm):
            continue
        label = name if any(c.isalpha() for c in name) else (
            _("your BatchNorm (layer {name})").format(name=name) if name else _("your BatchNorm"))
        momentum, eps = m.momentum, m.eps
        if not m.track_running_stats:
            raise Wrong(_("{label} has track_running_stats=False: it keeps no running averages, "
                          "so in eval mode it still normalises with each batch's own statistics "
                          "(a prediction would depend on the other images of its batch). Keep the "
                          "default.").format(label=label))
        if momentum != 0.1:
            if isinstance(momentum, int | float) and momentum > 0.5:
                raise Wrong(_("{label} has momentum={momentum}, the Keras meaning (keep "
                              "{momentum:.0%} of the old average). In PyTorch momentum is the "
                              "weight of the *new* batch, so {momentum} almost replaces the "
                              "running averages at every batch: Keras's 0.99 is PyTorch's 0.01. "
                              "Leave PyTorch's default, 0.1.").format(label=label,
                                                                      momentum=momentum))
            raise Wrong(_("{label} has momentum={momentum!r}; torchvision's blocks keep PyTorch's "
                          "default, 0.1 (the weight of each new batch in the running averages).")
                        .format(label=label, momentum=momentum))
        if eps == 1e-3:
            raise Wrong(_("{label} has eps={eps!r} (Keras uses 1e-3); PyTorch and torchvision use "
                          "1e-5, and the outputs differ with another eps.").format(label=label,
                                                                                  eps=eps))
        if eps != 1e-5:
            raise Wrong(_("{label} has eps={eps!r}; PyTorch and torchvision use 1e-5, and the "
                          "outputs differ with another eps.").format(label=label, eps=eps))


def layout_difference(mine: nn.Module, reference: nn.Module) -> str | None:
    """A conv or pooling of the learner's module whose stride, padding or kernel differs from the
    reference's layer of the same name, in words; None when they agree."""
    theirs = dict(call(mine.named_modules))
    for name, ours in reference.named_modules():
        if not isinstance(ours, nn.Conv2d | nn.MaxPool2d) or name not in theirs:
            continue
        other = theirs[name]
        if type(other) is not type(ours):
            continue
        label = _("the projection's 1x1 conv") if "downsample" in name else name

        def pair(v):
            return tuple(v) if isinstance(v, tuple | list) else (v, v)
        if pair(other.kernel_size) != pair(ours.kernel_size):
            (kh, kw), (wh, ww) = pair(other.kernel_size), pair(ours.kernel_size)
            return _("{label} has a {kh}x{kw} kernel; expected {wh}x{ww}.").format(
                label=label, kh=kh, kw=kw, wh=wh, ww=ww)
        if pair(other.stride) != pair(ours.stride):
            theirs_stride, our_stride = pair(other.stride)[0], pair(ours.stride)[0]
            if "downsample" in name:
                return _("{label} has stride {stride}; the shortcut and the branch have different "
                         "shapes when added: the projection takes the block's stride ({expected}) "
                         "too.").format(label=label, stride=theirs_stride, expected=our_stride)
            if our_stride == 1:
                return _("{name} has stride {stride}, but only one conv of the block takes the "
                         "stride; this one keeps stride 1.").format(name=name,
                                                                    stride=theirs_stride)
            return _("{name} has stride {stride}; it is the conv that takes the block's stride "
                     "(here {expected}): pass stride=stride.").format(
                         name=name, stride=theirs_stride, expected=our_stride)
        if pair(other.padding) != pair(ours.padding):
            k = pair(ours.kernel_size)[0]
            return _("{name} has padding={padding}: a {k}x{k} conv keeps the size with "
                     "padding={half}.").format(name=name, padding=pair(other.padding)[0], k=k,
                                                half=k // 2)
    return None


def check_running_stats(mine: nn.Module, reference: nn.Module, x: torch.Tensor, what: str) -> None:
    """One training-mode forward from the same state must update BatchNorm's running averages as
    the reference does (a momentum or a BatchNorm run twice shows here, not in the outputs)."""
    state = {k: v.clone() for k, v in reference.state_dict().items()}
    call(mine.load_state_dict, state)
    reference.load_state_dict(state)
    mine.train()
    reference.train()
    with torch.no_grad():
        call(mine, x.clone())
        reference(x.clone())
    theirs = call(mine.state_dict)
    for key, ours in reference.state_dict().items():
        if key.endswith(("running_mean", "running_var")) and not torch.allclose(
                theirs[key].float(), ours.float(), atol=1e-5, rtol=1e-4):
            batch_norm_settings(mine)
            raise Wrong(_("{what}: after one training-mode forward its BatchNorm running "
                          "averages ({key}) differ from the reference's: each BatchNorm runs once "
                          "per forward, with PyTorch's default settings.").format(what=what,
                                                                                  key=key))


def load_weights(mine: nn.Module, reference: nn.Module, names_hint: str) -> None:
    """Give the learner's module the reference's weights; explain missing or extra layers."""
    ours, theirs = reference.state_dict(), call(mine.state_dict)
    missing = [k for k in ours if k not in theirs]
    extra = [k for k in theirs if k not in ours]
    conv_bias = [k for k in extra if k.endswith(".bias") and k[:-5] + ".weight" in ours
                 and ours[k[:-5] + ".weight"].dim() == 4]
    if conv_bias:
        raise Wrong(_("your convolutions have a bias ({key}): use bias=False, the BatchNorm that "
                      "follows adds its own shift (and would cancel the bias anyway).").format(
                          key=conv_bias[0]))
    if any(k.endswith(("running_mean", "running_var")) for k in missing):
        batch_norm_settings(mine)
    for key, value in theirs.items():
        if key in ours and not key.startswith("downsample") and value.shape != ours[key].shape:
            raise Wrong(_shape_message(key, tuple(value.shape), tuple(ours[key].shape)))
    if (any(k.startswith("downsample") for k in missing)
            and any(k.startswith("downsample") for k in extra)):
        raise Wrong(_("your shortcut's layers differ from what was asked: expected {expected}, "
                      "got {got}.").format(
                          expected=[k for k in ours if k.startswith("downsample")],
                          got=[k for k in theirs if k.startswith("downsample")]))
    if any(k.startswith("downsample.1") for k in missing) and not any(
            k.startswith("downsample.0") for k in missing):
        raise Wrong(_("your projection shortcut has no BatchNorm: use "
                      "nn.Sequential(conv1x1, nn.BatchNorm2d(...)) as `downsample`."))
    if any(k.startswith("downsample") for k in missing):
        raise Wrong(_("no projection shortcut, but the channels or the size change here: add "
                      "`downsample` (1x1 conv with the stride, then BatchNorm)."))
    if any(k.startswith("downsample") for k in extra):
        if hasattr(reference, "conv3"):
            raise Wrong(_("you add a projection shortcut where the shapes already match: use the "
                          "identity (`downsample = None`) when stride is 1 and the channels do "
                          "not change (compare inplanes with planes * 4, the channels a "
                          "bottleneck outputs, not with planes)."))
        raise Wrong(_("you add a projection shortcut where the shapes already match: use the "
                      "identity (`downsample = None`) when stride is 1 and the channels do not "
                      "change."))
    if any(k.endswith(("weight", "bias")) and k.split(".")[-2].startswith("bn")
           for k in missing) and not extra:
        raise Wrong(_("a BatchNorm has no weight and bias: keep affine=True (the default)."))
    if missing or extra:
        raise Wrong(_("the layers are not named as asked ({names}); missing {missing}, "
                      "unexpected {extra}.").format(names=names_hint, missing=missing[:4],
                                                    extra=extra[:4]))
    for key, value in theirs.items():
        if value.shape != ours[key].shape:
            raise Wrong(_shape_message(key, tuple(value.shape), tuple(ours[key].shape)))
    call(mine.load_state_dict, ours)


def _shape_message(key: str, got: tuple, want: tuple) -> str:
    if len(got) == 4 and got[2:] != want[2:]:
        if key.startswith("downsample"):
            return _("{key} has shape {got}; expected {want}: the projection is a 1x1 conv.")\
                .format(key=key, got=got, want=want)
        return _("{key} has shape {got}; expected {want}: check the kernel size of that layer "
                 "({kh}x{kw}).").format(key=key, got=got, want=want, kh=want[2], kw=want[3])
    if got and want and got[0] * 4 == want[0]:
        return _("{key} has shape {got}; expected {want}: the last layers output planes * "
                 "expansion channels: 4 times the width for a bottleneck.").format(
                     key=key, got=got, want=want)
    return _("{key} has shape {got}; expected {want}: check the kernel size and the channels of "
             "that layer.").format(key=key, got=got, want=want)


def _matches(got: torch.Tensor, module: nn.Module, x: torch.Tensor) -> bool:
    try:
        other = module(x.clone())
    except RuntimeError:  # a variant that cannot run with these shapes
        return False
    return other.shape == got.shape and torch.allclose(got, other, atol=1e-5, rtol=1e-4)


def compare_outputs(mine: nn.Module, reference: nn.Module, x: torch.Tensor,
                    variants: dict[str, nn.Module], what: str, order_hint: str,
                    accepted: tuple[nn.Module, ...] = ()) -> nn.Module:
    """Learner's and reference module share weights; compare in eval and train mode.

    Returns the reference that matched: the reference itself, or one of the `accepted` variants
    (another correct answer the exercise's wording allows).
    """
    for candidate in (reference, *accepted):
        try:
            _compare(mine, candidate, x, variants, what, order_hint)
            return candidate
        except Wrong:
            if candidate is (accepted[-1] if accepted else reference):
                raise
    return reference


def _compare(mine, reference, x, variants, what, order_hint) -> None:
    for mode in ("eval", "train"):
        for m in (mine, reference, *variants.values()):
            m.train(mode == "train")
        with torch.no_grad():
            got = call(mine, x.clone())
            want = reference(x.clone())
        if got is None:
            raise Wrong(_("forward returned NoneType, not a tensor: did you forget `return`?"))
        if not isinstance(got, torch.Tensor):
            raise Wrong(_("forward returned {type}, not a tensor.").format(
                type=type(got).__name__))
        if got.shape != want.shape:
            raise _ShapeMismatch(_("{what} output shape is {got}; expected {want} for an input of "
                                   "shape {input}.").format(what=what, got=tuple(got.shape),
                                                            want=tuple(want.shape),
                                                            input=tuple(x.shape)))
        if torch.allclose(got, want, atol=1e-5, rtol=1e-4):
            continue
        with torch.no_grad():
            for message, variant in variants.items():
                if _matches(got, variant, x):
                    raise Wrong(message)
        batch_norm_settings(mine)
        difference = float((got - want).abs().max())
        if mode == "eval":
            raise Wrong(_("{what} gives other numbers than the reference with the same weights (in "
                          "eval mode; largest difference {difference:.3g}). {hint}").format(
                              what=what, difference=difference, hint=order_hint))
        raise Wrong(_("{what} gives other numbers than the reference with the same weights (in "
                      "train mode; largest difference {difference:.3g}). {hint}").format(
                          what=what, difference=difference, hint=order_hint))


class _ShapeMismatch(Wrong):
    """The learner's module gives an output of another shape than the reference's."""


def check_gradient(mine: nn.Module, reference: nn.Module, x: torch.Tensor, what: str) -> None:
    """Gradients must reach the input through both paths, as in the reference."""
    xs = [x.clone().requires_grad_() for _copy in range(2)]
    mine.train()
    reference.train()
    out = call(mine, xs[0])
    call(out.square().sum().backward)
    reference(xs[1]).square().sum().backward()
    if xs[0].grad is None or not torch.allclose(xs[0].grad, xs[1].grad, atol=1e-4, rtol=1e-3):
        raise Wrong(_("{what}: the output matches, but the gradient reaching the input does "
                      "not; avoid tricks that cut the graph (e.g. `.data` or `.detach()`).")
                    .format(what=what))


def refuse_library_block(mine: nn.Module) -> None:
    module = type(mine).__module__
    if module.startswith(("torchvision", "course_utils")):
        raise Wrong(_("you handed in {name} from {module}: the exercise is to write the block "
                      "yourself.").format(name=type(mine).__name__, module=module))


def check_block(learner, reference_cls, configs, extra_mistakes: dict[str, str], names: str,
                order_hint: str = N_("Check the order: conv, BN, ReLU, ..., add the shortcut, "
                                     "then ReLU."),
                mistakes: dict[str, str] | None = None, accepted: tuple[str, ...] = (),
                projection: str = N_("downsample = 1x1 conv with the stride + BatchNorm"),
                done: str = N_("your block matches torchvision's, in train and eval mode, forward "
                               "and backward.")) -> str:
    """Build the learner's block for each (inplanes, planes, stride) and compare with the reference.

    The configurations must change the channels at stride 1, the stride at equal channels, and
    both together, so that a projection rule testing only one of them cannot pass. The texts
    (`names`, `order_hint`, `projection`, `done` and the mistakes' messages) are messages marked
    with `N_`, translated here.
    """
    names, order_hint, projection, done = _(names), _(order_hint), _(projection), _(done)
    messages = {mistake: _(message) for mistake, message in {
        **(BLOCK_MISTAKES if mistakes is None else mistakes), **extra_mistakes}.items()}
    for inplanes, planes, stride in configs:
        mine = as_module(learner, inplanes, planes, stride)
        refuse_library_block(mine)
        reference = reference_cls(inplanes, planes, stride)
        randomise_bn(reference, seed=inplanes + 7 * planes + stride)
        load_weights(mine, reference, names)
        variants = {}
        for mistake, message in messages.items():
            variant = reference_cls(inplanes, planes, stride, mistake=mistake)
            variant.load_state_dict(reference.state_dict())
            variants[message] = variant
        others = []
        for name in accepted:
            other = reference_cls(inplanes, planes, stride, mistake=name)
            other.load_state_dict(reference.state_dict())
            others.append(other)
        x = torch.randn(2, inplanes, 8, 8, generator=torch.Generator().manual_seed(1))
        what = f"{type(mine).__name__}({inplanes}, {planes}, stride={stride})"
        try:
            reference = compare_outputs(mine, reference, x, variants, what, order_hint,
                                        tuple(others))
        except LearnerError as wrapped:
            error = safe_str(wrapped.__cause__)
            if "size of tensor" in error or "must match" in error:
                layout = layout_difference(mine, reference)
                if layout:
                    raise Wrong(_("{what}: {problem}").format(what=what, problem=layout)) from None
                raise Wrong(_("{what}: the shortcut and the branch have different shapes when "
                              "added ({error}). When the stride is not 1 or the channels change, "
                              "the shortcut needs a projection: {projection}.").format(
                                  what=what, error=error, projection=projection)) from None
            raise
        except _ShapeMismatch:
            layout = layout_difference(mine, reference)
            if layout:
                raise Wrong(_("{what}: {problem}").format(what=what, problem=layout)) from None
            raise
        check_gradient(mine, reference, x, what)
        check_running_stats(mine, reference, x, what)
        batch_norm_settings(mine)
    return done
