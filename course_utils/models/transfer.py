"""Feature extraction and fine-tuning (chapter 8): the backbone and the head, and freezing.

A ResNet is a *backbone* (the stem and the four stages, everything that turns an image into 512
or 2048 features) and a *head*, `fc`, one linear layer from those features to the class scores.
Transfer learning keeps a backbone that learned on another task and gives it a new head:

- **feature extraction**: `freeze_backbone(model)`; only the head trains;
- **fine-tuning**: everything trains, the backbone with a smaller learning rate than the head
  (training/recipes.py: `Recipe.build(..., backbone_lr_scale=0.01)` puts the two in separate
  parameter groups, using `backbone_and_head` below).

Freezing needs two things, because a BatchNorm layer changes in two ways. Its scale and shift are
parameters, which `requires_grad_(False)` stops the optimiser from changing. Its running mean and
variance are buffers, which every forward pass in training mode updates (and in training mode it
normalises with the batch's own statistics, not the backbone's). `fit` and every training loop call
`model.train()`, which would switch the frozen BatchNorms back to that. So `freeze_backbone` also
registers a forward pre-hook on each part of the backbone that puts it back in eval mode right
before it runs: whatever `model.train()` did, the frozen backbone computes with, and keeps, the
statistics it was pretrained with. `unfreeze_backbone` removes the hooks.
"""

from __future__ import annotations

from collections.abc import Iterator

from torch import nn

from ..i18n import _
from .architectures import unwrap_model

__all__ = ["HEAD", "backbone_and_head", "backbone_is_frozen", "freeze_backbone",
           "unfreeze_backbone"]

HEAD = "fc"  # the head of every course ResNet, chapter 6's CIFAR nets and torchvision's ResNets


def _parts(model: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """The backbone's top-level parts (conv1, bn1, relu, maxpool, layer1 ... layer4, avgpool)."""
    plain = unwrap_model(model)
    if not isinstance(getattr(plain, HEAD, None), nn.Linear):
        raise ValueError(_("expected a ResNet whose head is a Linear layer named {head!r}; got a "
                           "{type} without one").format(head=HEAD, type=type(plain).__name__))
    for name, child in plain.named_children():
        if name != HEAD:
            yield name, child


def backbone_and_head(model: nn.Module) -> tuple[list[nn.Parameter], list[nn.Parameter]]:
    """The model's parameters that still train, in two lists: the backbone's and the head's."""
    plain = unwrap_model(model)
    backbone = [p for _, part in _parts(plain) for p in part.parameters() if p.requires_grad]
    head = [p for p in getattr(plain, HEAD).parameters() if p.requires_grad]
    return backbone, head


def _stay_in_eval(module: nn.Module, inputs) -> None:
    """Forward pre-hook of a frozen part: back to eval mode before it runs (BatchNorm then uses
    and keeps its running statistics), whatever `model.train()` set."""
    module.eval()


def _hooked(part: nn.Module) -> bool:
    return any(hook is _stay_in_eval for hook in part._forward_pre_hooks.values())


def freeze_backbone(model: nn.Module) -> int:
    """Feature extraction: only the head trains. Returns the number of values frozen.

    Every backbone parameter gets requires_grad=False (the optimiser leaves it alone, and
    backward stops at the head), and every part of the backbone stays in eval mode, even after
    `model.train()` (see the module's doc): its BatchNorm layers normalise with, and never
    update, their pretrained running statistics. Freezing twice changes nothing.
    """
    frozen = 0
    for _name, part in _parts(model):
        for param in part.parameters():
            param.requires_grad_(False)
            frozen += param.numel()
        part.eval()
        if not _hooked(part):
            part.register_forward_pre_hook(_stay_in_eval)
    return frozen


def unfreeze_backbone(model: nn.Module) -> None:
    """Undo `freeze_backbone`: the backbone trains again and follows `model.train()` / `eval()`."""
    for _name, part in _parts(model):
        for param in part.parameters():
            param.requires_grad_(True)
        for key in [k for k, hook in part._forward_pre_hooks.items() if hook is _stay_in_eval]:
            del part._forward_pre_hooks[key]
        part.train(unwrap_model(model).training)


def backbone_is_frozen(model: nn.Module) -> bool:
    """True when `freeze_backbone` froze the model (and nothing unfroze it since)."""
    parts = [part for _, part in _parts(model)]
    return all(_hooked(part) for part in parts) and not any(
        p.requires_grad for part in parts for p in part.parameters())
