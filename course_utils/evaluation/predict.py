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


def _meta(meta) -> tuple[list[str], int, list[float], list[float]]:
    """(class_names, image_size, mean, std) from a checkpoint dict or such a 4-tuple."""
    if isinstance(meta, Mapping):
        missing = [k for k in ("class_names", "image_size", "mean", "std") if k not in meta]
        if missing:
            raise ValueError(f"the metadata lacks {missing}; pass the dict from load_checkpoint() "
                             "or a tuple (class_names, image_size, mean, std)")
        return (list(meta["class_names"]), int(meta["image_size"]), list(meta["mean"]),
                list(meta["std"]))
    if isinstance(meta, Sequence) and len(meta) == 4:
        names, size, mean, std = meta
        return list(names), int(size), list(mean), list(std)
    raise TypeError(f"meta is a {type(meta).__name__}; expected the dict from load_checkpoint() "
                    "or a tuple (class_names, image_size, mean, std)")


def prepare_image(image: str | os.PathLike | Image.Image, meta) -> torch.Tensor:
    """An image file or PIL image as the normalised (3, H, W) tensor the model expects."""
    _, size, mean, std = _meta(meta)
    if isinstance(image, Image.Image):
        picture = to_rgb(image)
    else:
        if re.match(r"[A-Za-z][A-Za-z0-9+.-]+://", str(image)):
            raise ValueError(f"{str(image)!r} is a web address; predict reads a local file or a "
                             "PIL image. Download it first, e.g. urllib.request.urlretrieve(url, "
                             "'photo.jpg'), then predict(model, 'photo.jpg', ...)")
        path = Path(image)
        if not path.is_file():
            raise FileNotFoundError(f"no image file at {str(path)!r} (absolute: "
                                    f"{str(path.absolute())!r})")
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
        raise ValueError(f"the model has {logits.shape[-1]} outputs but the metadata names "
                         f"{len(names)} classes ({names}); use the model that checkpoint "
                         "belongs to")
    probs = logits.float().softmax(-1)[0].cpu()
    values, indices = probs.topk(min(topk, len(names)))
    return [(names[i], p) for p, i in zip(values.tolist(), indices.tolist(), strict=True)]
