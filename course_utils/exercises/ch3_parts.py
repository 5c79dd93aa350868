"""Chapter 3's checks of the network's parts the learner builds last: a stage (`_make_layer`,
question 5) and the network's `forward` (question 6). ch3.py declares the questions."""

from __future__ import annotations

import torch
from torch import nn

from ..i18n import N_, _
from .core import LearnerError, Wrong, call, describe, returned_none, safe_str


def _ref_layer(block, inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    out = planes * block.expansion
    downsample = None
    if stride != 1 or inplanes != out:
        downsample = nn.Sequential(nn.Conv2d(inplanes, out, 1, stride=stride, bias=False),
                                   nn.BatchNorm2d(out))
    return nn.Sequential(block(inplanes, planes, stride, downsample),
                         *[block(out, planes) for _ in range(1, blocks)])


def _layer_keys(mine: nn.Module, reference: nn.Module, block, planes: int) -> None:
    expansion, block_name = block.expansion, block.__name__
    ours, theirs = reference.state_dict(), call(mine.state_dict)
    missing = [k for k in ours if k not in theirs]
    extra = [k for k in theirs if k not in ours]
    projection = theirs.get("0.downsample.0.weight")
    if (isinstance(projection, torch.Tensor) and projection.dim() == 4 and expansion != 4
            and projection.shape[0] == 4 * planes):
        raise Wrong(_("your projection outputs 4 x planes = {channels} channels, but {block}'s "
                      "expansion is {expansion}: use block.expansion, not 4, so the stage works "
                      "for both block types.").format(channels=4 * planes, block=block_name,
                                                      expansion=expansion))
    if any(k.startswith("0.downsample.1") for k in missing) and not any(
            k.startswith("0.downsample.0") for k in missing):
        raise Wrong(_("your projection shortcut has no BatchNorm: downsample = nn.Sequential(1x1 "
                      "conv, nn.BatchNorm2d(planes * block.expansion))."))
    if any(k.startswith("0.downsample") for k in missing):
        raise Wrong(_("the first block needs a projection shortcut here: whenever stride != 1 or "
                      "inplanes != planes * block.expansion, pass downsample = 1x1 conv + BN."))
    if any(k.split(".")[0] != "0" and ".downsample" in k for k in extra):
        raise Wrong(_("only the first block of a stage changes the shape: the others get no "
                      "downsample."))
    if any(k.startswith("0.downsample") for k in extra):
        raise Wrong(_("you add a projection where the shapes already match: the first block keeps "
                      "the identity shortcut when stride == 1 and inplanes == planes * "
                      "block.expansion."))
    if missing or extra:
        raise Wrong(_("the stage's layers differ from the reference's: missing {missing}, "
                      "unexpected {extra}.").format(missing=missing[:3], extra=extra[:3]))
    for key, value in theirs.items():
        if value.shape != ours[key].shape:
            raise Wrong(_("{key} has shape {got}, expected {want}: after the first block the input "
                          "has planes * block.expansion channels (update inplanes).").format(
                              key=key, got=tuple(value.shape), want=tuple(ours[key].shape)))
    call(mine.load_state_dict, ours)


def check_make_layer(my_make_layer) -> str:
    from ..models.resnet import BasicBlock, Bottleneck, ResNet
    from .blocks import compare_outputs, layout_difference, randomise_bn

    if not callable(my_make_layer):
        raise Wrong(_("my_make_layer should be a function of (block, inplanes, planes, blocks, "
                      "stride)."))
    forbid = {ResNet._make_layer.__code__: _("you call ResNet._make_layer; the exercise is to "
                                             "write it.")}
    for block, inplanes, planes, blocks, stride in (
            (Bottleneck, 16, 16, 3, 1), (Bottleneck, 64, 32, 2, 2),
            (BasicBlock, 16, 16, 2, 1), (BasicBlock, 16, 32, 2, 2)):
        mine = call(my_make_layer, block, inplanes, planes, blocks, stride, forbid=forbid)
        what = f"my_make_layer({block.__name__}, {inplanes}, {planes}, {blocks}, stride={stride})"
        if mine is None:
            raise returned_none(what)
        if not isinstance(mine, nn.Sequential):
            raise Wrong(_("{what} gave a {type}; return nn.Sequential(*layers).").format(
                what=what, type=type(mine).__name__))
        if len(mine) != blocks:
            raise Wrong(_("{what} holds {count} blocks; a stage of blocks={blocks} holds "
                          "{blocks}.").format(what=what, count=len(mine), blocks=blocks))
        if len({id(b) for b in mine}) < len(mine):
            raise Wrong(_("{what} holds the same block object more than once: `[block(...)] * n` "
                          "repeats one block (and its weights) n times. Build each block anew, in "
                          "a loop.").format(what=what))
        reference = _ref_layer(block, inplanes, planes, blocks, stride)
        randomise_bn(reference, seed=inplanes + stride)
        _layer_keys(mine, reference, block, planes)
        x = torch.randn(2, inplanes, 8, 8, generator=torch.Generator().manual_seed(2))
        try:
            with torch.no_grad():
                got = call(mine.eval(), x.clone())
        except LearnerError:
            layout = layout_difference(mine, reference)
            if layout:
                raise Wrong(_("{what}: {problem}").format(what=what, problem=layout)) from None
            raise
        want_shape = (2, planes * block.expansion, 8 // stride, 8 // stride)
        if isinstance(got, torch.Tensor) and got.shape != want_shape:
            raise Wrong(_("{what} outputs {got} for an input of {input}; expected {want}: only the "
                          "first block takes the stride.").format(
                              what=what, got=tuple(got.shape), input=tuple(x.shape),
                              want=want_shape))
        compare_outputs(mine, reference, x, {}, what, _("Check the blocks' arguments."))
    return _("a first block that may change the shape, then blocks - 1 identity blocks.")



def _forward_variants(ref) -> dict:
    def run(skip=(), relu_first=False, softmax=False, relu_last=False):
        def forward(x):
            x = ref.conv1(x)
            x = ref.bn1(ref.relu(x)) if relu_first else ref.relu(ref.bn1(x))
            if "maxpool" not in skip:
                x = ref.maxpool(x)
            for name in ("layer1", "layer2", "layer3", "layer4"):
                if name not in skip:
                    x = getattr(ref, name)(x)
            x = ref.fc(torch.flatten(ref.avgpool(x), 1))
            return x.softmax(1) if softmax else ref.relu(x) if relu_last else x
        return _Fn(forward)
    return {_("your forward skips the stem's max-pool."): run(skip=("maxpool",)),
            _("the stem's order is conv, BN, ReLU (then max-pool)."): run(relu_first=True),
            _("return the raw scores (logits): CrossEntropyLoss applies the softmax itself."):
                run(softmax=True),
            _("your forward skips layer1: run all four stages, layer1 to layer4."):
                run(skip=("layer1",)),
            _("return fc's raw scores, with no ReLU after fc: scores (logits) may be negative, "
              "and CrossEntropyLoss needs them as they are."): run(relu_last=True)}


class _Fn(nn.Module):
    def __init__(self, fn) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


_ORDER = N_("The order: conv1, bn1, relu, maxpool, layer1 ... layer4, avgpool, flatten, fc.")
_FLATTEN = N_("your forward flattens the batch dimension too (torch.flatten(x), x.view(-1) or "
              ".squeeze() on a batch of one): keep it, with torch.flatten(x, 1).")


def _forward_error(wrapped, mine, x) -> Wrong | None:
    """Name what a learner's forward that raised got wrong; None to report the error itself."""
    text = safe_str(wrapped.__cause__)
    if "Output size is too small" in text or "pad should be" in text:
        return Wrong(_("a fixed pooling window (such as avg_pool2d(x, 7)) only fits 224-pixel "
                       "images: use self.avgpool, an adaptive pool that averages whatever size "
                       "reaches it."))
    if "channels, but got" in text:
        return Wrong(_("a stage received the wrong number of channels: run the stages in order, "
                       "layer1, layer2, layer3, layer4."))
    if "cannot be multiplied" in text:
        with torch.no_grad():
            try:
                one = call(mine.eval(), x[:1].clone())
            except LearnerError:
                one = None
        if isinstance(one, torch.Tensor) and one.dim() == 1:
            return Wrong(_(_FLATTEN))
        return Wrong(_("the features reaching fc have the wrong size: run all four stages, then "
                       "avgpool and torch.flatten(x, 1)."))
    return None


def _network(my_resnet_class, block, classes: int, seed: int):
    from ..models.resnet import ResNet
    from .blocks import randomise_bn

    mine = call(my_resnet_class, block, [1, 1, 1, 1], num_classes=classes)
    if not isinstance(mine, nn.Module):
        raise Wrong(_("MyResNet(...) gave {value}, not a model.").format(value=describe(mine, 40)))
    reference = ResNet(block, [1, 1, 1, 1], num_classes=classes)
    randomise_bn(reference, seed=seed)
    call(mine.load_state_dict, reference.state_dict())
    return mine, reference


def check_forward(my_resnet_class) -> str:
    from ..models.resnet import BasicBlock, Bottleneck, ResNet
    from .blocks import compare_outputs

    if not (isinstance(my_resnet_class, type) and issubclass(my_resnet_class, ResNet)):
        raise Wrong(_("pass your class MyResNet, a subclass of the course's ResNet with its own "
                      "forward."))
    forbid = {ResNet.forward.__code__: _("your forward calls ResNet's own forward "
                                         "(super().forward); the exercise is to write it.")}
    mine, reference = _network(my_resnet_class, BasicBlock, 5, seed=6)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    try:
        call(mine.eval(), x.clone(), forbid=forbid)
        compare_outputs(mine, reference, x, _forward_variants(reference), _("your forward"),
                        _(_ORDER))
    except LearnerError as wrapped:
        named = _forward_error(wrapped, mine, x)
        if named:
            raise named from None
        raise
    with torch.no_grad():
        one = call(mine.eval(), x[:1].clone())
    if not isinstance(one, torch.Tensor) or one.shape != (1, 5):
        shape = tuple(one.shape) if isinstance(one, torch.Tensor) else describe(one, 40)
        raise Wrong(_("for a batch of one image your forward returns {shape}; expected (1, 5). "
                      "{flatten}").format(shape=shape, flatten=_(_FLATTEN)))
    mine.train()
    call(mine.zero_grad)
    out = call(mine, x.clone())
    if not out.requires_grad:
        raise Wrong(_("your forward's output carries no gradient (torch.no_grad() or .detach() "
                      "inside forward): training could not learn through it."))
    call(out.square().sum().backward)
    if mine.conv1.weight.grad is None or not bool(mine.conv1.weight.grad.abs().sum() > 0):
        raise Wrong(_("the gradient does not reach the first layers: do not detach or use .data "
                      "inside forward."))
    big, big_reference = _network(my_resnet_class, Bottleneck, 3, seed=7)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    try:
        compare_outputs(big, big_reference, x, {}, _("your forward, on a ResNet of bottlenecks"),
                        _(_ORDER))
    except LearnerError as wrapped:
        if "cannot be multiplied" in safe_str(wrapped.__cause__):
            raise Wrong(_("your forward works with basic blocks (512 features reach fc) but not "
                          "with bottlenecks (2048): do not fix the number of features; "
                          "torch.flatten(x, 1) keeps whatever reaches it.")) from None
        raise
    return _("stem, four stages, pool, flatten, fc: the same scores as the reference.")
