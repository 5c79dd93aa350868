"""The training command's transfer learning: `--pretrained`, `--freeze-backbone`,
`--backbone-lr-scale`, `--download-weights` (chapter 8).

`TransferPlan.from_args` opens the weights file (models/pretrained.py) *before* the command reads
any data, so a missing ImageNet file or a file for another network fails in seconds with one
message; `apply` loads the backbone into the model and freezes it if asked; `meta` is what the
checkpoint records about it. The same functions serve chapter 8's notebook: `load_pretrained`,
`freeze_backbone` and `Recipe.build(..., backbone_lr_scale=...)`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

from torch import nn

from ..i18n import _
from ..models.architectures import build_model
from ..models.pretrained import DOWNLOAD_FLAG, PretrainedWeights, load_pretrained, open_pretrained
from ..models.resnet import count_parameters
from ..models.transfer import freeze_backbone

# Chapter 8 measured the backbone's learning rate on its generated shapes (a ResNet-18 pretrained
# on 8 other shapes, fine-tuned on 10 images per class of the 4 embedded ones, 3 seeds, 40 steps
# of the course's recipe): x 0.01 reached 89.7 % test accuracy, x 0.1 84.6 %, x 1 (no scaling)
# 66.8 %. A starting point for other data, not a law: check it on your validation curve.
DEFAULT_BACKBONE_LR_SCALE = 0.01


def add_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "transfer learning (chapter 8)",
        "start from pretrained weights instead of random ones; the head is always new, one "
        "output per class of --data")
    group.add_argument("--pretrained", metavar="PATH|imagenet",
                       help="a torchvision-format state dict (torch.save(model.state_dict(), "
                            "PATH)) for --arch, or 'imagenet': torchvision's own file for --arch "
                            "from its cache folder ($TORCH_HOME/hub/checkpoints); nothing is "
                            f"downloaded unless you pass {DOWNLOAD_FLAG}. A missing or "
                            "unsuitable file stops the command before any data is read")
    group.add_argument(DOWNLOAD_FLAG, action="store_true",
                       help="with --pretrained imagenet: let torchvision download its file when "
                            "it is not in the cache (needs a network)")
    group.add_argument("--freeze-backbone", action="store_true",
                       help="feature extraction: train only the new head; the backbone's weights "
                            "and its BatchNorm statistics stay exactly as pretrained (its layers "
                            "stay in eval mode while the head trains)")
    group.add_argument("--backbone-lr-scale", type=float, metavar="S",
                       help="fine-tuning: the backbone learns at --lr x S, the head at --lr "
                            f"(default with --pretrained: {DEFAULT_BACKBONE_LR_SCALE:g}, the best "
                            "of 1, 0.1 and 0.01 in chapter 8's measurement on the generated "
                            "shapes)")


def check_arguments(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse flags that would do nothing, before anything runs."""
    if args.pretrained is None:
        given = [flag for flag, value in ((DOWNLOAD_FLAG, args.download_weights),
                                          ("--freeze-backbone", args.freeze_backbone),
                                          ("--backbone-lr-scale", args.backbone_lr_scale))
                 if value not in (None, False)]
        if given:
            parser.error(_("{flags} only apply to pretrained weights: add --pretrained PATH (or "
                           "--pretrained imagenet)").format(flags=", ".join(given)))
        return
    if args.download_weights and args.pretrained.strip().lower() != "imagenet":
        parser.error(_("{flag} applies to --pretrained imagenet only; {path!r} is a file").format(
            flag=DOWNLOAD_FLAG, path=args.pretrained))
    if args.backbone_lr_scale is not None:
        if args.freeze_backbone:
            parser.error(_("--backbone-lr-scale and --freeze-backbone exclude each other: a "
                           "frozen backbone does not learn at any rate"))
        if not args.backbone_lr_scale > 0:
            parser.error(_("--backbone-lr-scale {value}: expected a number > 0 (to keep the "
                           "backbone as it is, use --freeze-backbone)").format(
                               value=args.backbone_lr_scale))


@dataclass(frozen=True)
class TransferPlan:
    """The weights a run starts from, opened and checked, and how the backbone trains."""

    weights: PretrainedWeights
    frozen: bool
    backbone_lr_scale: float | None  # None when frozen

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TransferPlan | None:
        """None without --pretrained; otherwise the file, found, read and checked against
        --arch (any number of classes will do: the head is never read)."""
        if args.pretrained is None:
            return None
        weights = open_pretrained(args.pretrained, build_model(args.arch, 2),
                                  download=args.download_weights)
        scale = None if args.freeze_backbone else (
            args.backbone_lr_scale if args.backbone_lr_scale is not None
            else DEFAULT_BACKBONE_LR_SCALE)
        return cls(weights, args.freeze_backbone, scale)

    def apply(self, model: nn.Module, say: Callable[[str], None], *, load: bool = True) -> None:
        """Load the backbone into `model` (not when resuming: `load=False`) and freeze it if
        asked; say what was done."""
        if load:
            say(f"pretrained: {load_pretrained(model, self.weights)}")
        if self.frozen:
            frozen = freeze_backbone(model)
            say(f"feature extraction: the backbone is frozen ({frozen:,} values, and its "
                f"BatchNorm statistics, stay as loaded); {count_parameters(model, True):,} "
                "values of the head train")
        else:
            say(f"fine-tuning: every layer trains, the backbone at the learning rate x "
                f"{self.backbone_lr_scale:g}, the new head at the full rate")

    def meta(self) -> dict:
        """What the checkpoint records: where the weights came from, and how they trained."""
        return {"pretrained": self.weights.origin, "frozen_backbone": self.frozen,
                "backbone_lr_scale": self.backbone_lr_scale}


def resume_mismatch(plan: TransferPlan | None, state: dict) -> str | None:
    """None if the run saved in `state` (last.pth) started as `plan` says (both from random
    weights, or from the same file, frozen or not alike), else what it did, in words."""
    found = (state.get("pretrained"), state.get("frozen_backbone", False),
             state.get("backbone_lr_scale"))
    wanted = (None, False, None) if plan is None else (
        plan.weights.origin, plan.frozen, plan.backbone_lr_scale)
    if found == wanted:
        return None
    if found[0] is None:
        return _("it was trained from random weights: resume it without --pretrained")
    if found[1]:
        return _("it was trained from {origin} with the backbone frozen: resume it with the same "
                 "--pretrained and --freeze-backbone / --backbone-lr-scale").format(
                     origin=found[0])
    return _("it was trained from {origin} with the backbone at the learning rate x {scale:g}: "
             "resume it with the same --pretrained and --freeze-backbone / "
             "--backbone-lr-scale").format(origin=found[0], scale=found[2])
