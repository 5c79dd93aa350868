"""Checkpoints: weights plus the plain facts needed to use them again, written so nothing is lost.

A course checkpoint is a dict of tensors and plain Python values (str, int, float, bool, None,
lists, dicts). That is exactly what `torch.load(..., weights_only=True)` accepts, so loading
one can never run code hidden in the file (a plain `torch.load` unpickles arbitrary objects).
The lesson's `torch.save(best_model.state_dict(), PATH)` kept the weights but not the class
names, image size or normalisation (`RunMeta`, in run_meta.py); without them nobody can use the
file for prediction.

One format for every use: `fit` writes the best epoch (best.pth); the training command also
writes the last epoch with the optimizer's state (last.pth, `save_checkpoint(...,
optimizer=optimizer)`), which is what `--resume` continues from. `load_checkpoint` reads both.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from ..files import atomic_write
from ..i18n import _
from ..models.architectures import unwrap_model
from ..run_meta import RunMeta, plain

FORMAT = "course_utils.checkpoint/1"  # bump when the layout changes (new keys do not count)
# Written by `python -m course_utils.train --resume` before issue 28 (last.pth): the same
# metadata and weights plus the optimizer, without metrics; still read, as a checkpoint.
OLD_RESUME_FORMAT = "course_utils.resume/1"


class CheckpointError(ValueError):
    """A checkpoint that is not a course checkpoint, or that does not fit the model."""


def classifier_key(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Name of the last 2-D weight in a state dict: the classifier head (`fc.weight` in a
    ResNet)."""
    keys = [k for k, v in state_dict.items() if k.endswith("weight") and v.dim() == 2]
    if not keys:
        raise CheckpointError(_("the model has no linear layer, so its number of outputs is "
                                "unknown"))
    return keys[-1]


def check_head(model: nn.Module, class_names: list[str]) -> None:
    """Raise CheckpointError unless the model's classifier has one output per class name."""
    state = unwrap_model(model).state_dict()
    key = classifier_key(state)
    outputs = state[key].shape[0]
    if outputs != len(class_names):
        raise CheckpointError(_(
            "the model has {outputs} outputs ({key} is {shape}) but there are {count} class names "
            "({names}); build it with num_classes={count}").format(
                outputs=outputs, key=key, shape=list(state[key].shape), count=len(class_names),
                names=list(class_names)))


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    arch: str,
    class_names: list[str],
    image_size: int,
    mean: tuple[float, ...] | list[float],
    std: tuple[float, ...] | list[float],
    epoch: int | None = None,
    metrics: Mapping | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    **extra,
) -> Path:
    """Write the model's weights and plain metadata to `path` atomically; returns the path.

    The metadata are a RunMeta's fields (`save_checkpoint(path, model, **run_meta)` works), plus
    the epoch and its metrics; the rest is recorded here. With `optimizer`, its state too (the
    moments of Adam, the learning rate of each group): what resuming a run needs.
    """
    meta = RunMeta(arch, class_names, image_size, mean, std, extra)
    check_head(model, list(meta.class_names))
    payload = {
        "format": FORMAT,
        "arch": meta.arch,
        "class_names": list(meta.class_names),
        "num_classes": len(meta.class_names),
        "image_size": meta.image_size,
        "mean": list(meta.mean),
        "std": list(meta.std),
        "epoch": None if epoch is None else int(epoch),
        "metrics": plain(dict(metrics or {}), "metrics"),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__.split("+")[0],
        **meta.extra,
    }
    # CPU and contiguous, so the file loads on any machine whatever device or memory format
    # (channels-last) the model was trained with.
    payload["state_dict"] = {k: v.detach().to("cpu").contiguous()
                             for k, v in unwrap_model(model).state_dict().items()}
    if optimizer is not None:
        payload["optimizer"] = optimizer.state_dict()
    return atomic_write(path, lambda f: torch.save(payload, f))


# --------------------------------------------------------------------------- reading safely


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a course checkpoint with weights_only=True; clear errors for a wrong or missing file."""
    path = Path(path)
    if not path.is_file():
        message = (_("no checkpoint file at {path!r} (it is a folder) (absolute: {absolute!r}); "
                     "train with fit(..., checkpoint_path=...) first, or check the path")
                   if path.is_dir() else
                   _("no checkpoint file at {path!r} (absolute: {absolute!r}); train with "
                     "fit(..., checkpoint_path=...) first, or check the path"))
        raise FileNotFoundError(message.format(path=str(path), absolute=str(path.absolute())))
    _check_map_location(map_location)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(_(
            "cannot load {path!r} as a checkpoint with weights_only=True: {error}. It is corrupt, "
            "not a PyTorch file, or it pickles whole objects (such as a model saved with "
            "torch.save(model)); only tensors and plain values are accepted.").format(
                path=str(path),
                error=str(error).splitlines()[0] if str(error) else type(error).__name__)
        ) from error
    if isinstance(data, dict) and data.get("format") == OLD_RESUME_FORMAT:
        data = {**data, "format": FORMAT, "metrics": {}}  # an older command's last.pth
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        if (isinstance(data, dict) and data
                and all(isinstance(v, torch.Tensor) for v in data.values())):
            raise CheckpointError(_(
                "{path!r} is a bare state dict (like the lesson's torch.save(model.state_dict(), "
                "PATH)), not a course checkpoint: it has no class names, image size or "
                "normalisation. Load it with model.load_state_dict(torch.load(path, "
                "weights_only=True)), or re-save it with save_checkpoint(...).").format(
                    path=str(path)))
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(_(
            "{path!r} is not a course checkpoint (expected format {expected!r}, found {found!r}); "
            "write checkpoints with course_utils.training.checkpoints.save_checkpoint").format(
                path=str(path), expected=FORMAT, found=found))
    data["path"] = str(path)  # not stored; lets later error messages name the file
    return data


def _check_map_location(map_location) -> None:
    """A device that does not exist here gets its own message, not "corrupt or not a file"."""
    if not isinstance(map_location, (str, torch.device)):
        return  # a dict or a function: torch checks it
    device = torch.device(map_location)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(_("map_location={device!r}, but torch sees no CUDA GPU on this "
                             "machine; load with map_location='cpu' (the course's checkpoints "
                             "load on any device)").format(device=str(map_location)))
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(_("map_location={device!r}, but Apple's MPS is not available here; "
                             "load with map_location='cpu'").format(device=str(map_location)))


def load_into(model: nn.Module, checkpoint: Mapping | str | os.PathLike, *,
              arch: str | None = None) -> nn.Module:
    """Copy a checkpoint's weights into `model`, or explain exactly why they do not fit."""
    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(checkpoint)
    where = checkpoint.get("path", _("(in memory)"))
    if arch is not None and arch != checkpoint["arch"]:
        raise CheckpointError(_(
            "checkpoint {path} holds a {saved!r} but the model is a {arch!r}; build a {saved} (or "
            "use model_from_checkpoint)").format(path=where, saved=checkpoint["arch"], arch=arch))
    saved = checkpoint["state_dict"]
    target = unwrap_model(model)
    current = target.state_dict()

    # The most common mistake first: the same network built for another number of classes.
    head = classifier_key(saved)
    if head in current and current[head].shape[0] != saved[head].shape[0]:
        names = checkpoint["class_names"]
        raise CheckpointError(_(
            "checkpoint {path} was trained for {count} classes ({names}) but the model has "
            "{outputs} outputs ({key} is {shape}); build the model with num_classes={count}, or "
            "train a new checkpoint for your classes").format(
                path=where, count=len(names), names=names, outputs=current[head].shape[0],
                key=head, shape=list(current[head].shape)))

    missing = [k for k in current if k not in saved]
    unexpected = [k for k in saved if k not in current]
    reshaped = [_("{key}: checkpoint {saved_shape} vs model {model_shape}").format(
                    key=k, saved_shape=list(saved[k].shape), model_shape=list(current[k].shape))
                for k in saved if k in current and saved[k].shape != current[k].shape]
    if missing or unexpected or reshaped:
        details = []
        if missing:
            details.append(_("{count} model tensors not in the checkpoint (e.g. {keys})").format(
                count=len(missing), keys=missing[:3]))
        if unexpected:
            details.append(_("{count} checkpoint tensors not in the model (e.g. {keys})").format(
                count=len(unexpected), keys=unexpected[:3]))
        if reshaped:
            details.append(_("{count} shapes differ (e.g. {shapes})").format(
                count=len(reshaped), shapes=reshaped[:2]))
        raise CheckpointError(_(
            "checkpoint {path} holds a {saved!r} whose layers do not match this model: {details}. "
            "Build a {saved} with num_classes={count}").format(
                path=where, saved=checkpoint["arch"], details=_("; ").join(details),
                count=checkpoint["num_classes"]))
    target.load_state_dict(saved, strict=True)
    return model


def model_from_checkpoint(
    checkpoint: Mapping | str | os.PathLike,
    builder: Callable[..., nn.Module],
    device: str | torch.device = "cpu",
) -> nn.Module:
    """A fresh model from `builder(num_classes=...)` with the checkpoint's weights, in eval mode.

    Example: `model_from_checkpoint("runs/best.pth", models.resnet50)`.
    """
    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(checkpoint)
    model = builder(num_classes=checkpoint["num_classes"])
    load_into(model, checkpoint)
    return model.to(device).eval()
