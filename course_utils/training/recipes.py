"""Training recipes: the lesson's, and the ladder of measured changes that chapter 4 climbs.

A recipe is everything about training except the model and the data: the optimiser and its
learning rate, the schedule, the loss, weight decay and the training augmentation. Chapter 4
trains the same ResNet-50 on the same seeded split with each rung of `LADDER`, one change at
a time, and `make bench` measures the lesson's recipe against the course's (`COURSE`).
`Recipe.build` turns one into what `fit` takes: the optimizer, the scheduler and the loss.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from ..data.transforms import AUGMENTATIONS
from ..models.transfer import backbone_and_head


def decay_groups(model: nn.Module | Iterable[nn.Parameter], weight_decay: float) -> list[dict]:
    """Optimizer parameter groups: weight decay on the conv and linear weights only.

    Decay pulls weights towards zero to keep them small; BatchNorm's scale and shift and the
    biases have nothing to gain from it (He et al. 2019, "Bag of Tricks", no bias decay).
    Parameters that do not train (a frozen backbone's) are left out.
    """
    decay, no_decay = [], []
    for param in (model.parameters() if isinstance(model, nn.Module) else model):
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def transfer_groups(model: nn.Module, lr: float, backbone_lr_scale: float, weight_decay: float,
                    decay_norm_and_bias: bool = False) -> list[dict]:
    """Parameter groups for fine-tuning: the head at `lr`, the backbone at `lr` x
    `backbone_lr_scale` (models/transfer.py says which is which), each split by `decay_groups`
    unless `decay_norm_and_bias`. The head's groups come first, so `optimizer.param_groups[0]`
    (the rate `fit` prints) is the head's. Frozen parameters and empty groups are left out."""
    if not (math.isfinite(backbone_lr_scale) and backbone_lr_scale > 0):
        raise ValueError(f"backbone_lr_scale={backbone_lr_scale}; expected a number > 0 (to keep "
                         "the backbone as it is, freeze it: models.transfer.freeze_backbone)")
    backbone, head = backbone_and_head(model)
    groups = []
    for params, rate, part in ((head, lr, "head"), (backbone, lr * backbone_lr_scale, "backbone")):
        parts = ([{"params": params, "weight_decay": weight_decay}] if decay_norm_and_bias
                 else decay_groups(params, weight_decay))
        groups += [dict(group, lr=rate, name=part) for group in parts if group["params"]]
    return groups


@dataclass(frozen=True)
class Recipe:
    """One way to train: AdamW at `lr`, optionally one-cycle, smoothing, decay, augmentation."""

    name: str
    lr: float = 1e-4
    one_cycle: bool = False  # warm up from lr/25 over `warmup` of the steps, then anneal to ~0
    # (OneCycleLR also cycles Adam's beta1 from 0.95 down to 0.85 and back, as Smith's policy does)
    warmup: float = 0.25
    label_smoothing: float = 0.0
    weight_decay: float = 0.01  # AdamW's default, applied to every parameter
    decay_norm_and_bias: bool = True  # False: decay only conv/linear weights (decay_groups)
    # "crop": random crops (the ImageNet habit); "flip-shift": data.train_transforms
    augment: str = "crop"

    def __post_init__(self) -> None:
        if self.augment not in AUGMENTATIONS:
            raise ValueError(f"augment={self.augment!r}; expected one of {AUGMENTATIONS}")
        if not 0 <= self.label_smoothing < 1:
            raise ValueError(f"label_smoothing={self.label_smoothing}; expected 0 <= value < 1")
        if not (math.isfinite(self.lr) and self.lr > 0) or not 0 < self.warmup < 1:
            raise ValueError(f"lr={self.lr}, warmup={self.warmup}; expected lr > 0, 0 < warmup < 1")
        if not self.weight_decay >= 0:
            raise ValueError(f"weight_decay={self.weight_decay}; expected a value >= 0")

    def build(self, model: nn.Module, epochs: int, steps_per_epoch: int, *,
              backbone_lr_scale: float | None = None):
        """(optimizer, scheduler or None, loss_fn) for `fit`, for a run of `epochs` epochs.

        `backbone_lr_scale` (fine-tuning, chapter 8): the backbone learns at `lr` x this, the
        head at `lr` (`transfer_groups`); the one-cycle schedule scales both alike. Parameters
        that do not train (a frozen backbone) are left out of the optimiser.
        """
        if backbone_lr_scale is not None:
            params = transfer_groups(model, self.lr, backbone_lr_scale, self.weight_decay,
                                     self.decay_norm_and_bias)
        elif self.decay_norm_and_bias:
            params = [p for p in model.parameters() if p.requires_grad]
        else:
            params = decay_groups(model, self.weight_decay)
        optimizer = torch.optim.AdamW(params, lr=self.lr, weight_decay=self.weight_decay)
        scheduler = None
        if self.one_cycle:
            total = epochs * steps_per_epoch
            if total < 3:
                raise ValueError(f"a one-cycle schedule needs at least 3 optimiser steps, got "
                                 f"{epochs} epoch(s) x {steps_per_epoch} batch(es); train longer "
                                 f"or on more images")
            # OneCycleLR divides by zero unless the warm-up spans at least 2 steps (tiny runs)
            peaks = [group["lr"] for group in optimizer.param_groups]  # one per group
            scheduler = torch.optim.lr_scheduler.OneCycleLR(
                optimizer, max_lr=peaks, epochs=epochs, steps_per_epoch=steps_per_epoch,
                pct_start=max(self.warmup, 2 / total))
        return optimizer, scheduler, nn.CrossEntropyLoss(label_smoothing=self.label_smoothing)

    def describe(self) -> str:
        """One line: the settings that matter, in the words chapter 4 uses."""
        schedule = (f"one-cycle (warm-up {self.warmup:.0%}, beta1 cycled)" if self.one_cycle
                    else "constant")
        decay = "all parameters" if self.decay_norm_and_bias else "weights only"
        return (f"AdamW lr {self.lr:g}, {schedule}, label smoothing {self.label_smoothing:g}, "
                f"weight decay {self.weight_decay:g} on {decay}, augmentation {self.augment}")


# The lesson: AdamW(lr=1e-4) with its defaults, plain cross-entropy, no schedule; random crops
# stand in for the augmentation it did not have (the ImageNet habit).
LESSON = Recipe("the lesson: AdamW 1e-4")


def _climb(start: Recipe, *changes: dict) -> tuple[Recipe, ...]:
    """The rungs: `start`, then each change applied to the rung before it."""
    rungs = [start]
    for change in changes:
        rungs.append(dataclasses.replace(rungs[-1], **change))
    return tuple(rungs)


# Each rung adds one change to the one before it; the last is the course's recipe.
LADDER = _climb(
    LESSON,
    {"name": "+ lr 2e-3, one-cycle warm-up", "lr": 2e-3, "one_cycle": True},
    {"name": "+ flips and shifts, not crops", "augment": "flip-shift"},
    {"name": "+ label smoothing 0.1", "label_smoothing": 0.1},
    {"name": "+ weight decay 0.05, weights only", "weight_decay": 0.05,
     "decay_norm_and_bias": False},
)
COURSE = dataclasses.replace(LADDER[-1], name="the course")


def ladder_table(runs: Mapping[str, Sequence[Mapping]]) -> str:
    """A Markdown table of runs ({name: history}): best and last validation accuracy, the last
    validation loss and training accuracy, and the training time."""
    lines = ["| rung | best val acc | last val acc | last val loss | last train acc | minutes |",
             "| --- | --- | --- | --- | --- | --- |"]
    for name, history in runs.items():
        if not history:
            raise ValueError(f"run {name!r} has no finished epoch")
        best = max(r["val_acc"] for r in history)
        last = history[-1]
        minutes = sum(r["seconds"] for r in history) / 60
        lines.append(f"| {name} | {best:.1%} | {last['val_acc']:.1%} | {last['val_loss']:.3f} | "
                     f"{last['train_acc']:.1%} | {minutes:.1f} |")
    return "\n".join(lines)
