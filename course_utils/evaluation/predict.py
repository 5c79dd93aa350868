"""Prediction: one image file (or PIL image) in, the top-k classes with probabilities out.

The transforms come from the checkpoint's own metadata (image size, mean, std) and are the
very ones used for evaluation (`data.transforms.eval_transforms`), so a photo is prepared exactly
as the test images were: a file is decoded at the checkpoint's image size as the test loader
decodes it (`load_rgb(path, size)`: JPEG draft mode, so a 100-megapixel phone photo loads). Any
image mode (grayscale, RGBA, palette, CMYK, 16-bit) becomes RGB first, turned upright by its EXIF
orientation as in training, and a file that cannot be drafted and is above PIL's pixel limit is
refused with its name (`data.images.open_image`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from PIL import Image
from torch import nn

from ..data.images import load_rgb, to_rgb
from ..data.transforms import eval_transforms
from ..i18n import _


def _meta(meta) -> tuple[list[str], int, list[float], list[float]]:
    """(class_names, image_size, mean, std) from a checkpoint dict or such a 4-tuple."""
    if isinstance(meta, Mapping):
        missing = [k for k in ("class_names", "image_size", "mean", "std") if k not in meta]
        if missing:
            raise ValueError(_("the metadata lacks {missing}; pass the dict from "
                               "load_checkpoint() or a tuple (class_names, image_size, mean, "
                               "std)").format(missing=missing))
        return (list(meta["class_names"]), int(meta["image_size"]), list(meta["mean"]),
                list(meta["std"]))
    if isinstance(meta, Sequence) and len(meta) == 4:
        names, size, mean, std = meta
        return list(names), int(size), list(mean), list(std)
    raise TypeError(_("meta is a {type}; expected the dict from load_checkpoint() or a tuple "
                      "(class_names, image_size, mean, std)").format(type=type(meta).__name__))


def prepare_image(image: str | os.PathLike | Image.Image, meta) -> torch.Tensor:
    """An image file or PIL image as the normalised (3, H, W) tensor the model expects."""
    _names, size, mean, std = _meta(meta)
    if isinstance(image, Image.Image):
        picture = to_rgb(image)
    else:
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", str(image)):
            raise ValueError(_("{address!r} is a web address; predict reads a local file or a "
                               "PIL image. Download it first, e.g. urllib.request.urlretrieve("
                               "url, 'photo.jpg'), then predict(model, 'photo.jpg', ...)").format(
                                   address=str(image)))
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(_("no image file at {path!r} (absolute: {absolute!r})")
                                    .format(path=str(path), absolute=str(path.absolute())))
        picture = load_rgb(path, size)
    return eval_transforms(size, mean, std)(picture)


def predict(
    model: nn.Module,
    image: str | os.PathLike | Image.Image,
    meta,
    *,
    topk: int = 3,
    device: torch.device | str | None = None,
) -> list[tuple[str, float]]:
    """The `topk` most likely classes for one image as [(class name, probability), ...]."""
    names = _meta(meta)[0]
    if device is None:
        device = next(model.parameters()).device
    batch = prepare_image(image, meta).unsqueeze(0).to(device)
    was_training = model.training
    model.eval()  # one image: BatchNorm must use its running statistics, not this batch's
    try:
        with torch.inference_mode():
            logits = model(batch)
    finally:
        model.train(was_training)
    if logits.shape[-1] != len(names):
        raise ValueError(_("the model has {outputs} outputs but the metadata names {count} "
                           "classes ({names}); use the model that checkpoint belongs to").format(
                               outputs=logits.shape[-1], count=len(names), names=names))
    probs = logits.float().softmax(-1)[0].cpu()
    values, indices = probs.topk(min(topk, len(names)))
    return [(names[i], p) for p, i in zip(values.tolist(), indices.tolist(), strict=True)]
