"""Every network the course trains, by name: chapter 3's ImageNet ResNets, chapter 6's CIFAR ones.

The training command's `--arch` and a checkpoint's `arch` use these names, so
`model_from_checkpoint(path, ARCHITECTURES[checkpoint["arch"]])` rebuilds any course model.
"""

from __future__ import annotations

import functools

from torch import nn

from ..i18n import _
from . import resnet
from .cifar import cifar_net

ARCHITECTURES = {
    "resnet18": resnet.resnet18, "resnet34": resnet.resnet34, "resnet50": resnet.resnet50,
    "resnet101": resnet.resnet101, "resnet152": resnet.resnet152,
    "resnet20": functools.partial(cifar_net, 20, True),
    "resnet32": functools.partial(cifar_net, 32, True),
    "resnet56": functools.partial(cifar_net, 56, True),
}
CIFAR_ARCHITECTURES = ("resnet20", "resnet32", "resnet56")


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside the wrappers that rename its weights: DistributedDataParallel and
    DataParallel hold it as `.module` (keys `module.conv1.weight`), torch.compile as `._orig_mod`.

    Checkpoints store the plain names, so a file from a DDP run loads into a plain model and back;
    pretrained weights and freezing reach the same plain model.
    """
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif isinstance(getattr(model, "_orig_mod", None), nn.Module):
            model = model._orig_mod
        else:
            return model


def depth(name: str) -> int:
    """The depth in an architecture's name: 50 for "resnet50" (the order --help lists them in)."""
    return int(name.removeprefix("resnet"))


def build_model(arch: str, num_classes: int) -> nn.Module:
    """A fresh network; chapter 3's ResNets start each residual block as the identity (chapter
    4's `zero_init_residual=True`)."""
    if arch not in ARCHITECTURES:
        raise ValueError(_("arch={arch!r}; expected one of {choices}").format(
            arch=arch, choices=sorted(ARCHITECTURES, key=depth)))
    if arch in CIFAR_ARCHITECTURES:
        return ARCHITECTURES[arch](num_classes=num_classes)
    return ARCHITECTURES[arch](num_classes=num_classes, zero_init_residual=True)
