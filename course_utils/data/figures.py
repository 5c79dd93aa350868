"""Figures of the data (chapter 1): a grid of images with their classes, images per class.

Like every figure helper of the course, each returns its matplotlib Figure and never calls
`plt.show()`: in JupyterLab the figure appears when it is the cell's result, and tests can close it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from .transforms import IMAGENET_MEAN, IMAGENET_STD, denormalize


def show_images(images: torch.Tensor, labels: Sequence[int], class_names: Sequence[str],
                mean=IMAGENET_MEAN, std=IMAGENET_STD, ncols: int = 8, title: str | None = None):
    """A grid of normalised images (N,C,H,W) with their class names; returns the Figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    nrows = math.ceil(n / ncols)
    # room for each panel's class name above it, and for a title of up to two lines
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 2.0 * nrows + 0.4 * bool(title)),
                             squeeze=False, layout="constrained")
    pictures = denormalize(images.detach().float().cpu(), mean, std).permute(0, 2, 3, 1)
    for ax in axes.flat:
        ax.axis("off")
    for ax, picture, label in zip(axes.flat, pictures, labels, strict=False):
        ax.imshow(picture.numpy())
        ax.set_title(class_names[int(label)], fontsize=9)
    if title:
        fig.suptitle(title)
    return fig


def plot_class_counts(counts: dict[str, int] | dict[str, dict[str, int]],
                      title: str = "Images per class"):
    """Bar chart of images per class; pass {split: counts} to compare splits side by side."""
    import matplotlib.pyplot as plt

    groups = counts if isinstance(next(iter(counts.values())), dict) else {"all": counts}
    names = list(next(iter(groups.values())))
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 3.2), layout="constrained")
    for k, (group, values) in enumerate(groups.items()):
        xs = [i + (k - (len(groups) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(xs, [values[n] for n in names], width, label=group)
        ax.bar_label(bars, fontsize=9)
    # long class names (your own folders) are turned, so that they never overlap
    turn = max(len(n) for n in names) * len(names) > 60
    ax.set_xticks(range(len(names)), names, rotation=90 if turn else 0)
    ax.set_xlabel("class")
    ax.set_ylabel("images")
    ax.set_ylim(top=1.15 * max(max(v.values()) for v in groups.values()))  # room for the labels
    ax.set_title(title)
    if len(groups) > 1:  # beside the bars, never on them
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), title="split")
    return fig
