"""Pretrained weights into the course's ResNet: a torchvision-format state dict, or ImageNet's.

    report = load_pretrained(model, "runs/ch8/source_backbone.pth")   # a file you have
    report = load_pretrained(model, "imagenet")                        # torchvision's own file
    print(report)

Chapter 3 proved that the course's ResNets use torchvision's names and shapes, so the files
torchvision publishes (and any `torch.save(model.state_dict(), path)` of a course or torchvision
ResNet) load into them. Every backbone tensor must match by name and shape; the classification
head `fc` is never loaded: it stays the model's own, randomly initialised, with one output per
class of *your* data. timm's ResNets use torchvision's names too, so their state dicts load.

"imagenet" never downloads by itself: it looks for torchvision's own file name (e.g.
resnet50-11ad3fa6.pth) in torchvision's cache folder, `torch.hub.get_dir()/checkpoints`
(`$TORCH_HOME/hub/checkpoints`, by default ~/.cache/torch/hub/checkpoints), and fails at once,
naming the file and the folder, when it is not there; `download=True` (the command's
`--download-weights`) lets torchvision download it. There is no fallback to random weights.

`open_pretrained` finds, reads and checks a file without changing the model (the training command
opens its --pretrained file before it reads any data); weight_files.py reads a file safely and
says what it holds. Self-contained on purpose: torch, torchvision's weight tables and the model,
nothing of the course's training or checkpoint code.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from ..i18n import _
from .architectures import unwrap_model
from .weight_files import (
    HEAD,
    PretrainedError,
    check_match,
    identify_architecture,
    read_state_dict,
    resnet_depth,
)

__all__ = ["DOWNLOAD_FLAG", "PretrainedError", "PretrainedReport", "PretrainedWeights",
           "identify_architecture", "imagenet_file_names", "imagenet_folder", "load_pretrained",
           "open_pretrained"]

DOWNLOAD_FLAG = "--download-weights"  # the command-line flag that allows a download
IMAGENET = "imagenet"  # the word that asks for torchvision's ImageNet file
# torchvision's weight tables, per depth; the first name in each is torchvision's DEFAULT.
_WEIGHTS_ENUMS = {18: "ResNet18_Weights", 34: "ResNet34_Weights", 50: "ResNet50_Weights",
                  101: "ResNet101_Weights", 152: "ResNet152_Weights"}


@dataclass(frozen=True)
class PretrainedWeights:
    """A weights file found, read and checked against a network: what `load_pretrained` copies.

    `open_pretrained` makes one; the training command opens its --pretrained file this way
    before it reads any data, so a missing or wrong file fails in seconds, not after minutes.
    """

    path: Path  # the file read
    architecture: str  # what the file holds, e.g. "ResNet-50"
    imagenet: str | None  # torchvision's name of the weights (e.g. "IMAGENET1K_V2") if "imagenet"
    state: dict[str, Tensor] = field(repr=False, compare=False)

    @property
    def origin(self) -> str:
        """Where the weights came from, in the words a checkpoint records: the file's name, or
        "imagenet (torchvision file resnet50-11ad3fa6.pth, IMAGENET1K_V2)"."""
        if self.imagenet is None:
            return self.path.name
        return f"{IMAGENET} (torchvision file {self.path.name}, {self.imagenet})"


@dataclass(frozen=True)
class PretrainedReport:
    """What `load_pretrained` did: what was loaded from where, and what was replaced."""

    source: str  # the file read
    architecture: str  # what the file holds, e.g. "ResNet-50"
    loaded: int  # backbone tensors copied from the file
    values: int  # numbers in them (parameters and BatchNorm statistics)
    head_outputs: int  # outputs of the model's new head
    file_head_outputs: int | None  # outputs of the file's head (1000 for ImageNet), None if none
    not_in_file: tuple[str, ...] = ()  # BatchNorm step counters an old file lacks (never used)
    origin: str = ""  # PretrainedWeights.origin: what a checkpoint records

    def __str__(self) -> str:
        head = (f"the file's head ({self.file_head_outputs} outputs) was left out"
                if self.file_head_outputs is not None else "the file has no head")
        return (f"loaded {self.loaded} backbone tensors ({self.values:,} values) of a "
                f"{self.architecture} from {Path(self.source).name}; {head}: {HEAD} is new, "
                f"{self.head_outputs} outputs, randomly initialised")


# --------------------------------------------------------------------------- ImageNet's files


def imagenet_folder() -> Path:
    """torchvision's cache folder for weight files: torch.hub.get_dir()/checkpoints."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def _imagenet_weights(depth: int) -> list:
    """torchvision's ImageNet weights for ResNet-`depth`, its DEFAULT first."""
    from torchvision import models

    enum = getattr(models, _WEIGHTS_ENUMS[depth])
    return sorted(enum, key=lambda w: w is not enum.DEFAULT)


def imagenet_file_names(depth: int) -> list[str]:
    """torchvision's own file names for ResNet-`depth` (e.g. resnet50-11ad3fa6.pth), the DEFAULT
    weights' first."""
    return [w.url.rsplit("/", 1)[-1] for w in _imagenet_weights(depth)]


def _imagenet_path(depth: int, architecture: str, download: bool) -> tuple[Path, str]:
    """torchvision's file for ResNet-`depth` in its cache (downloaded only if asked), and the
    name of its weights; or an error naming the file, the folder and the flag."""
    weights = _imagenet_weights(depth)
    names = imagenet_file_names(depth)
    folder = imagenet_folder()
    for w, name in zip(weights, names, strict=True):
        if (folder / name).is_file():
            return folder / name, w.name
    if download:
        return _download(weights[0], folder / names[0]), weights[0].name
    others = "".join(_("; its {weights} file {file} is accepted too").format(weights=w.name,
                                                                             file=name)
                     for w, name in zip(weights[1:], names[1:], strict=True))
    raise PretrainedError(_(
        "ImageNet weights for a {architecture} are not on this machine, and nothing is downloaded "
        "unless you ask. Expected {file} (torchvision's {weights}{others}) in the folder "
        "{folder!r}. Either put the file there (download {url} on a machine with a network), or "
        "pass {flag} (load_pretrained(..., download=True)) to let torchvision download it. "
        "Nothing was loaded.").format(architecture=architecture, file=names[0],
                                      weights=weights[0].name, others=others, folder=str(folder),
                                      url=weights[0].url, flag=DOWNLOAD_FLAG))


def _download(weights, target: Path) -> Path:
    """torchvision's download of `weights` into its cache, checked against the hash in the name."""
    from torch.hub import HASH_REGEX, download_url_to_file

    target.parent.mkdir(parents=True, exist_ok=True)
    match = HASH_REGEX.search(target.name)
    try:
        download_url_to_file(weights.url, str(target), match.group(1) if match else None,
                             progress=True)
    except Exception as error:  # no network, a proxy, a bad hash: say so and what to do
        raise PretrainedError(_(
            "could not download {url} ({type}: {error}); download it on a machine with a network "
            "and put it in {folder!r}").format(url=weights.url, type=type(error).__name__,
                                              error=error, folder=str(target.parent))) from None
    return target


# --------------------------------------------------------------------------- loading


def _target(model: nn.Module) -> tuple[nn.Module, nn.Linear]:
    target = unwrap_model(model)
    head = getattr(target, HEAD, None)
    if not isinstance(head, nn.Linear):
        raise PretrainedError(_("load_pretrained expects a ResNet whose head is a Linear layer "
                                "named {head!r}; got a {type} without one").format(
                                    head=HEAD, type=type(target).__name__))
    return target, head


def open_pretrained(source: str | os.PathLike, model: nn.Module, *,
                    download: bool = False) -> PretrainedWeights:
    """Find, read and check the weights `source` names for `model`, without changing it.

    `source`: a path to a torchvision-format state dict (torch.save(model.state_dict(), path),
    or one of torchvision's ImageNet files such as resnet50-11ad3fa6.pth), or "imagenet":
    torchvision's file for the model's architecture from its cache folder (see the module
    doc); `download=True` lets torchvision download it when it is not there. Any model of the
    same architecture will do (the head is never read), so a caller can check a file before it
    knows the number of classes. Raises a PretrainedError that says what is wrong.
    """
    target, _head = _target(model)
    current = target.state_dict()
    built = identify_architecture(current) or type(target).__name__
    imagenet = None
    if isinstance(source, str) and source.strip().lower() == IMAGENET:
        depth = resnet_depth(built)
        if depth not in _WEIGHTS_ENUMS:
            known = ", ".join(f"ResNet-{d}" for d in _WEIGHTS_ENUMS)
            raise PretrainedError(_("torchvision has no ImageNet weights for {built}; it has "
                                    "them for {known}").format(built=built, known=known))
        path, imagenet = _imagenet_path(depth, built, download)
    else:
        if download:
            raise PretrainedError(_("download=True applies to source='imagenet' only, not to a "
                                    "file ({path!r})").format(path=str(source)))
        path = Path(source).expanduser()
        if not path.is_file():
            message = (_("pretrained weights {path!r} is a folder, not a file{absolute}; "
                         "expected a .pth file written by torch.save(model.state_dict(), path)")
                       if path.is_dir() else
                       _("pretrained weights {path!r} does not exist{absolute}; expected a .pth "
                         "file written by torch.save(model.state_dict(), path)"))
            absolute = (_(" (absolute: {path!r})").format(path=str(path.absolute()))
                        if not path.is_absolute() else "")
            raise PretrainedError(message.format(path=str(path), absolute=absolute))
    saved = read_state_dict(path)
    check_match(saved, current, path, built)
    return PretrainedWeights(path=path, architecture=identify_architecture(saved) or built,
                             imagenet=imagenet, state=saved)


def load_pretrained(model: nn.Module, source: str | os.PathLike | PretrainedWeights, *,
                    download: bool = False) -> PretrainedReport:
    """Copy a pretrained backbone into `model`; its head `fc` stays new. Returns a report.

    `source`: what `open_pretrained` takes (a file, or "imagenet"), or what it returned.
    Every backbone tensor of the model must be in the file under the same name with the same
    shape, and the file may hold nothing else but a head; otherwise a PretrainedError says
    what the file is (another ResNet, another library's names, a full checkpoint, a damaged or
    non-PyTorch file) and nothing is changed. The file is read with weights_only=True.
    """
    target, head = _target(model)
    if isinstance(source, PretrainedWeights):
        if download:
            raise PretrainedError(_("download=True applies to source='imagenet' only, not to "
                                    "weights already opened"))
        weights = source
        current = target.state_dict()
        check_match(weights.state, current, weights.path,
                    identify_architecture(current) or type(target).__name__)
    else:
        weights = open_pretrained(source, model, download=download)
        current = target.state_dict()
    saved = weights.state
    backbone = [k for k in current if not k.startswith(HEAD + ".")]
    not_in_file = tuple(k for k in backbone if k not in saved)  # num_batches_tracked only
    with torch.no_grad():
        for key in backbone:
            if key in saved:
                current[key].copy_(saved[key])  # state_dict() shares storage with the model
    file_head = saved.get(f"{HEAD}.weight")
    return PretrainedReport(
        source=str(weights.path), architecture=weights.architecture,
        loaded=len(backbone) - len(not_in_file),
        values=sum(current[k].numel() for k in backbone if k in saved),
        head_outputs=head.out_features,
        file_head_outputs=int(file_head.shape[0]) if isinstance(file_head, Tensor) else None,
        not_in_file=not_in_file, origin=weights.origin)
