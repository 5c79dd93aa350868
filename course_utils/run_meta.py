"""What a checkpoint needs besides its weights: the run's metadata, plain values only.

The architecture's name, the class names in the order of the model's outputs, the image size
and the normalisation: without them nobody can use the weights for prediction (the lesson's
`torch.save(best_model.state_dict(), PATH)` kept none of them). The data knows them
(`CourseData.run_meta`), the checkpoint stores them (`training/checkpoints.py`), prediction reads
them back: vocabulary that data, training and evaluation share, so it sits below all three.

Every value is plain (str, int, float, bool, None, lists, dicts), which is exactly what
`torch.load(..., weights_only=True)` accepts: loading a checkpoint never runs code.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

import torch

from .i18n import _

# What a run must say about itself (RunMeta), and what the checkpoint records by itself.
META_FIELDS = ("arch", "class_names", "image_size", "mean", "std")
RECORDED = ("format", "num_classes", "epoch", "metrics", "saved_at", "torch_version",
            "state_dict", "optimizer", "path")


def plain(value, where: str):
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
        return [plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise TypeError(_("checkpoint metadata {where} has the key {key!r}; keys must "
                                  "be strings").format(where=where, key=key))
            out[key] = plain(v, f"{where}.{key}")
        return out
    raise TypeError(_(
        "checkpoint metadata {where} is a {type} ({value!r:.60}); only str, int, float, bool, "
        "None, lists and dicts are stored, so the file loads with weights_only=True").format(
            where=where, type=type(value).__name__, value=value))


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
            raise ValueError(_("arch={arch!r}; expected the model's name, e.g. 'resnet50'")
                             .format(arch=self.arch))
        if isinstance(self.class_names, str):
            raise ValueError(_("class_names={names!r} is one string; expected a list of names, "
                               "one per output of the model").format(names=self.class_names))
        names = tuple(str(name) for name in self.class_names)
        if not names or len(set(names)) != len(names):
            raise ValueError(_("class_names {names}: expected distinct names, one per output")
                             .format(names=list(names)))
        if (isinstance(self.image_size, bool) or not isinstance(self.image_size, numbers.Integral)
                or self.image_size < 1):
            raise ValueError(_("image_size={size!r}; expected a positive whole number of pixels")
                             .format(size=self.image_size))
        mean, std = _floats(self.mean, "mean"), _floats(self.std, "std")
        if len(mean) != len(std):
            raise ValueError(_("mean {mean} and std {std} must have one value per channel").format(
                mean=list(mean), std=list(std)))
        if any(not s > 0 for s in std):
            raise ValueError(_("std {std}: every value must be positive (it divides)").format(
                std=list(std)))
        clash = sorted(set(self.extra) & (set(META_FIELDS) | set(RECORDED)))
        if clash:
            raise TypeError(_("run metadata may not use the reserved names {names}: the "
                              "checkpoint records those itself").format(names=clash))
        put("class_names", names)
        put("image_size", int(self.image_size))
        put("mean", mean)
        put("std", std)
        put("extra", plain(dict(self.extra), "extra"))  # now, not after the first epoch

    @classmethod
    def of(cls, meta: Mapping, where: str | None = None) -> RunMeta:
        """A RunMeta from a dict with the five fields (the rest goes to `extra`); `where` names
        the caller in the error (e.g. "fit(checkpoint_path=...)"), "the run" without it."""
        if isinstance(meta, RunMeta):
            return meta
        missing = [k for k in META_FIELDS if k not in meta]
        if missing:
            message = (_("the run needs meta with {fields}; missing {missing}") if where is None
                       else _("{where} needs meta with {fields}; missing {missing}"))
            raise ValueError(message.format(where=where, fields=list(META_FIELDS),
                                            missing=missing))
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
        raise ValueError(_("{name}={values!r}; expected one number per channel").format(
            name=name, values=values)) from None
    if not out:
        raise ValueError(_("{name} is empty; expected one number per channel").format(name=name))
    return out
