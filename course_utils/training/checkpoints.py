"""Checkpoints: weights plus the plain facts needed to use them again, written so nothing is lost.

A course checkpoint is a dict of tensors and plain Python values (str, int, float, bool, None,
lists, dicts). That is exactly what `torch.load(..., weights_only=True)` accepts, so loading
one can never run code hidden in the file (a plain `torch.load` unpickles arbitrary objects).
The lesson's `torch.save(best_model.state_dict(), PATH)` kept the weights but not the class
names, image size or normalisation; without them nobody can use the file for prediction.
"""

from __future__ import annotations

import numbers
import os
import pickle
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
from torch import nn

from .files import atomic_write

FORMAT = "course_utils.checkpoint/1"  # bump when the layout changes
# What a run must say about itself (RunMeta), and what the checkpoint records by itself.
META_FIELDS = ("arch", "class_names", "image_size", "mean", "std")
RECORDED = ("format", "num_classes", "epoch", "metrics", "saved_at", "torch_version",
            "state_dict", "path")


class CheckpointError(ValueError):
    """A checkpoint that is not a course checkpoint, or that does not fit the model."""


def _plain(value, where: str):
    """`value` as str/int/float/bool/None/list/dict, or a TypeError naming where it sits."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, numbers.Integral):  # numpy integers too
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise TypeError(f"checkpoint metadata {where} has the key {key!r}; keys must be "
                                f"strings")
            out[key] = _plain(v, f"{where}.{key}")
        return out
    raise TypeError(
        f"checkpoint metadata {where} is a {type(value).__name__} ({value!r:.60}); only str, int, "
        "float, bool, None, lists and dicts are stored, so the file loads with weights_only=True")


def classifier_key(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Name of the last 2-D weight in a state dict: the classifier head (`fc.weight` in a
    ResNet)."""
    keys = [k for k, v in state_dict.items() if k.endswith("weight") and v.dim() == 2]
    if not keys:
        raise CheckpointError("the model has no linear layer, so its number of outputs is unknown")
    return keys[-1]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside the wrappers that rename its weights: DistributedDataParallel and
    DataParallel hold it as `.module` (keys `module.conv1.weight`), torch.compile as `._orig_mod`.

    Checkpoints store the plain names, so a file from a DDP run loads into a plain model and back.
    """
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model



def check_head(model: nn.Module, class_names: list[str], where: str = "the model") -> None:
    """Raise CheckpointError unless the model's classifier has one output per class name."""
    state = unwrap_model(model).state_dict()
    key = classifier_key(state)
    outputs = state[key].shape[0]
    if outputs != len(class_names):
        raise CheckpointError(
            f"{where} has {outputs} outputs ({key} is {list(state[key].shape)}) but there are "
            f"{len(class_names)} class names ({list(class_names)}); build it with "
            f"num_classes={len(class_names)}")


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
    **extra,
) -> Path:
    """Write the model's weights and plain metadata to `path` atomically; returns the path.

    The metadata are a RunMeta's fields (`save_checkpoint(path, model, **run_meta)` works), plus
    the epoch and its metrics; the rest is recorded here.
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
        "metrics": _plain(dict(metrics or {}), "metrics"),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__.split("+")[0],
        **meta.extra,
    }
    # CPU and contiguous, so the file loads on any machine whatever device or memory format
    # (channels-last) the model was trained with.
    payload["state_dict"] = {k: v.detach().to("cpu").contiguous()
                             for k, v in unwrap_model(model).state_dict().items()}
    return atomic_write(path, lambda f: torch.save(payload, f))


# --------------------------------------------------------------------------- what a run records


@dataclass(frozen=True)
class RunMeta(Mapping):
    """What a checkpoint needs besides its weights to be used again, checked when it is made.

    The architecture's name, the class names in the order of the model's outputs, the image
    size and the normalisation; `extra` holds other plain facts about the run (the split's seed,
    the recipe, ...). `CourseData.run_meta(arch)` makes one from the data. It is a Mapping of
    plain values, so `fit(..., meta=run_meta)`, `save_checkpoint(path, model, **run_meta)` and
    `sorted(run_meta)` work as they do with a dict.
    """

    arch: str
    class_names: tuple[str, ...]
    image_size: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    extra: Mapping = field(default_factory=dict)

    def __post_init__(self) -> None:
        put = object.__setattr__.__get__(self)  # frozen: the checked values replace the given
        if not isinstance(self.arch, str) or not self.arch:
            raise ValueError(f"arch={self.arch!r}; expected the model's name, e.g. 'resnet50'")
        if isinstance(self.class_names, str):
            raise ValueError(f"class_names={self.class_names!r} is one string; expected a list "
                             "of names, one per output of the model")
        names = tuple(str(name) for name in self.class_names)
        if not names or len(set(names)) != len(names):
            raise ValueError(f"class_names {list(names)}: expected distinct names, one per output")
        if (isinstance(self.image_size, bool) or not isinstance(self.image_size, numbers.Integral)
                or self.image_size < 1):
            raise ValueError(f"image_size={self.image_size!r}; expected a positive whole number "
                             "of pixels")
        mean, std = _floats(self.mean, "mean"), _floats(self.std, "std")
        if len(mean) != len(std):
            raise ValueError(f"mean {list(mean)} and std {list(std)} must have one value per "
                             "channel")
        if any(not s > 0 for s in std):
            raise ValueError(f"std {list(std)}: every value must be positive (it divides)")
        clash = sorted(set(self.extra) & (set(META_FIELDS) | set(RECORDED)))
        if clash:
            raise TypeError(f"run metadata may not use the reserved names {clash}: the "
                            "checkpoint records those itself")
        put("class_names", names)
        put("image_size", int(self.image_size))
        put("mean", mean)
        put("std", std)
        put("extra", _plain(dict(self.extra), "extra"))  # now, not after the first epoch

    @classmethod
    def of(cls, meta: Mapping, where: str = "the run") -> RunMeta:
        """A RunMeta from a dict with the five fields (the rest goes to `extra`)."""
        if isinstance(meta, RunMeta):
            return meta
        missing = [k for k in META_FIELDS if k not in meta]
        if missing:
            raise ValueError(f"{where} needs meta with {list(META_FIELDS)}; missing {missing}")
        return cls(*(meta[k] for k in META_FIELDS),
                   extra={k: v for k, v in meta.items() if k not in META_FIELDS})

    def as_dict(self) -> dict:
        """The plain dict that goes into the checkpoint (lists, not tuples)."""
        return {"arch": self.arch, "class_names": list(self.class_names),
                "image_size": self.image_size, "mean": list(self.mean), "std": list(self.std),
                **self.extra}

    def __getitem__(self, key: str):
        return self.as_dict()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.as_dict())

    def __len__(self) -> int:
        return len(META_FIELDS) + len(self.extra)


def _floats(values, name: str) -> tuple[float, ...]:
    try:
        out = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={values!r}; expected one number per channel") from None
    if not out:
        raise ValueError(f"{name} is empty; expected one number per channel")
    return out


# --------------------------------------------------------------------------- reading safely


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a course checkpoint with weights_only=True; clear errors for a wrong or missing file."""
    path = Path(path)
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise FileNotFoundError(
            f"no checkpoint file at {str(path)!r}{hint} (absolute: {str(path.absolute())!r}); "
            "train with fit(..., checkpoint_path=...) first, or check the path")
    _check_map_location(map_location)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(
            f"cannot load {str(path)!r} as a checkpoint with weights_only=True: "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}. It is corrupt, "
            "not a PyTorch file, or it pickles whole objects (such as a model saved with "
            "torch.save(model)); only tensors and plain values are accepted.") from error
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        if (isinstance(data, dict) and data
                and all(isinstance(v, torch.Tensor) for v in data.values())):
            raise CheckpointError(
                f"{str(path)!r} is a bare state dict (like the lesson's "
                "torch.save(model.state_dict(), PATH)), not a course checkpoint: it has no class "
                "names, image size or normalisation. Load it with model.load_state_dict("
                "torch.load(path, weights_only=True)), or re-save it with save_checkpoint(...).")
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"{str(path)!r} is not a course checkpoint (expected format {FORMAT!r}, found "
            f"{found!r}); write checkpoints with course_utils.checkpoints.save_checkpoint")
    data["path"] = str(path)  # not stored; lets later error messages name the file
    return data


def _check_map_location(map_location) -> None:
    """A device that does not exist here gets its own message, not "corrupt or not a file"."""
    if not isinstance(map_location, (str, torch.device)):
        return  # a dict or a function: torch checks it
    device = torch.device(map_location)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"map_location={str(map_location)!r}, but torch sees no CUDA GPU on "
                           "this machine; load with map_location='cpu' (the course's checkpoints "
                           "load on any device)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"map_location={str(map_location)!r}, but Apple's MPS is not available "
                           "here; load with map_location='cpu'")


def load_into(model: nn.Module, checkpoint: Mapping | str | os.PathLike, *,
              arch: str | None = None) -> nn.Module:
    """Copy a checkpoint's weights into `model`, or explain exactly why they do not fit."""
    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(checkpoint)
    where = f"checkpoint {checkpoint.get('path', '(in memory)')}"
    if arch is not None and arch != checkpoint["arch"]:
        raise CheckpointError(
            f"{where} holds a {checkpoint['arch']!r} but the model is a {arch!r}; build a "
            f"{checkpoint['arch']} (or use model_from_checkpoint)")
    saved = checkpoint["state_dict"]
    target = unwrap_model(model)
    current = target.state_dict()

    # The most common mistake first: the same network built for another number of classes.
    head = classifier_key(saved)
    if head in current and current[head].shape[0] != saved[head].shape[0]:
        names = checkpoint["class_names"]
        raise CheckpointError(
            f"{where} was trained for {len(names)} classes ({names}) but the model has "
            f"{current[head].shape[0]} outputs ({head} is {list(current[head].shape)}); build the "
            f"model with num_classes={len(names)}, or train a new checkpoint for your classes")

    missing = [k for k in current if k not in saved]
    unexpected = [k for k in saved if k not in current]
    reshaped = [f"{k}: checkpoint {list(saved[k].shape)} vs model {list(current[k].shape)}"
                for k in saved if k in current and saved[k].shape != current[k].shape]
    if missing or unexpected or reshaped:
        details = []
        if missing:
            details.append(f"{len(missing)} model tensors not in the checkpoint (e.g. "
                           f"{missing[:3]})")
        if unexpected:
            details.append(f"{len(unexpected)} checkpoint tensors not in the model (e.g. "
                           f"{unexpected[:3]})")
        if reshaped:
            details.append(f"{len(reshaped)} shapes differ (e.g. {reshaped[:2]})")
        raise CheckpointError(
            f"{where} holds a {checkpoint['arch']!r} whose layers do not match this model: "
            + "; ".join(details) + f". Build a {checkpoint['arch']} with "
            f"num_classes={checkpoint['num_classes']}")
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
