"""Transforms: the evaluation framing, the training augmentations and the normalisation."""

from __future__ import annotations

import math

import torch
from torchvision import transforms as T

from ..i18n import _

# Pretrained ImageNet models expect inputs normalised with the statistics of ImageNet's
# training photos; we keep them even from scratch because they put natural-photo pixels at
# roughly zero mean and unit variance (which is what BatchNorm and the init assume), and
# a checkpoint stays compatible with torchvision's pretrained weights if you later use them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

AUGMENTATIONS = ("flip-shift", "crop")


def train_transforms(image_size: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                     augment: str = "flip-shift") -> T.Compose:
    """Training transforms: the evaluation framing plus random changes that keep the label.

    "flip-shift" (default): shorter side to `image_size`, the central square (as evaluation
    sees it), a random horizontal flip and a random shift of up to 1/8 of the side, the
    border's pixels repeated (the ResNet paper's CIFAR augmentation pads with zeros). Nothing
    is stretched or rescaled; an object near the edge can be pushed partly out of the frame.
    "crop": a random crop of 50-100 % of the image, stretched to a square, and a flip (the
    ImageNet habit); on small, centred objects it can cut them off or distort their shape.
    """
    if augment == "flip-shift":
        steps = [T.Resize(image_size, antialias=True), T.CenterCrop(image_size),
                 T.RandomHorizontalFlip(),
                 T.RandomCrop(image_size, padding=max(1, image_size // 8), padding_mode="edge")]
    elif augment == "crop":
        steps = [T.RandomResizedCrop(image_size, scale=(0.5, 1.0), antialias=True),
                 T.RandomHorizontalFlip()]
    else:
        raise ValueError(_("augment={value!r}; expected one of {choices}").format(
            value=augment, choices=AUGMENTATIONS))
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


def eval_transforms(image_size: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> T.Compose:
    """Evaluation: no randomness; shorter side to `image_size`, then the central square."""
    return T.Compose([
        T.Resize(image_size, antialias=True),
        T.CenterCrop(image_size),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


def decode_side(transform) -> int | None:
    """The shorter side an image must have before `transform` runs, so that it can be decoded
    at that size once (`data.decoded`) instead of at full size in every epoch; None: full size.

    A transform that starts with Resize(S) (bilinear, as the course's do) needs S pixels: the
    decoder makes exactly what Resize would, and Resize then has nothing to do. One that starts
    with RandomResizedCrop needs enough pixels that its smallest crop (with the default scale
    and ratio, about 0.6 of the shorter side) is still shrunk, never enlarged: 66 for 40.
    Anything else (your own first step) gets the full image, as before.
    """
    steps = transform.transforms if isinstance(transform, T.Compose) else [transform]
    first = steps[0] if steps else None
    if isinstance(first, T.Resize) and first.interpolation == T.InterpolationMode.BILINEAR \
            and first.max_size is None and first.antialias in (True, None):
        size = first.size
        if isinstance(size, int) or (isinstance(size, (list, tuple)) and len(size) == 1):
            return int(size if isinstance(size, int) else size[0])
    if isinstance(first, T.RandomResizedCrop):
        smallest = math.sqrt(first.scale[0] * min(first.ratio[0], 1 / first.ratio[1]))
        return math.ceil(max(first.size) / min(1.0, smallest))
    return None


def denormalize(images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """Undo Normalize for display: values back in [0, 1], same shape (C,H,W or N,C,H,W)."""
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(-1, 1, 1)
    return (images * std_t + mean_t).clamp(0, 1)
