"""Figures: images and class counts (chapter 1), training curves, confusion matrix, misclassified
images, a Grad-CAM heat map over its image (explain.grad_cam computes it).

Every helper returns its matplotlib Figure and never calls `plt.show()`: in JupyterLab the
figure appears when it is the cell's result, and tests can close it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import torch
import torch.nn.functional as F

from .explain import grad_cam
from .transforms import IMAGENET_MEAN, IMAGENET_STD, denormalize

__all__ = ["grad_cam"]  # re-exported: chapter 5 imports it from here beside show_cam

# Fonts that can draw Chinese, most common first (Linux, Windows, macOS, Adobe/Google).
CJK_FONTS = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN",
    "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "SimHei", "Microsoft YaHei", "PingFang SC",
    "Heiti SC", "STHeiti", "Hiragino Sans GB", "Noto Sans CJK JP", "Noto Sans CJK TC",
    "Source Han Sans", "Droid Sans Fallback", "AR PL UMing CN", "Arial Unicode MS",
)
_said_no_cjk: list[bool] = []  # remembers that the "no Chinese font" line was printed once


def use_cjk_font() -> str | None:
    """Use an installed Chinese font for figure text and return its name; None if there is none.

    The lesson set `font.sans-serif = ['SimHei']`, which on most Linux/macOS machines draws
    boxes and floods stderr with findfont messages. Here the font is looked up first, DejaVu
    Sans stays as the fallback, and a missing font is reported in one line, once.
    """
    import matplotlib as mpl
    from matplotlib import font_manager

    installed = {font.name for font in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in installed:
            mpl.rcParams["font.sans-serif"] = [name, "DejaVu Sans"]
            mpl.rcParams["axes.unicode_minus"] = False  # CJK fonts often lack the minus glyph
            return name
    if not _said_no_cjk:
        _said_no_cjk.append(True)
        print("No Chinese font is installed, so figure labels stay in English "
              "(install e.g. Noto Sans CJK / fonts-noto-cjk, then restart the kernel).")
    return None


# --------------------------------------------------------------------------- the data (chapter 1)


def show_images(images: torch.Tensor, labels: Sequence[int], class_names: Sequence[str],
                mean=IMAGENET_MEAN, std=IMAGENET_STD, ncols: int = 8, title: str | None = None):
    """A grid of normalised images (N,C,H,W) with their class names; returns the Figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.6 * ncols, 1.8 * nrows), squeeze=False)
    pictures = denormalize(images.detach().float().cpu(), mean, std).permute(0, 2, 3, 1)
    for ax in axes.flat:
        ax.axis("off")
    for ax, picture, label in zip(axes.flat, pictures, labels, strict=False):
        ax.imshow(picture.numpy())
        ax.set_title(class_names[int(label)], fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_class_counts(counts: dict[str, int] | dict[str, dict[str, int]],
                      title: str = "Images per class"):
    """Bar chart of images per class; pass {split: counts} to compare splits side by side."""
    import matplotlib.pyplot as plt

    groups = counts if isinstance(next(iter(counts.values())), dict) else {"all": counts}
    names = list(next(iter(groups.values())))
    width = 0.8 / len(groups)
    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 3))
    for k, (group, values) in enumerate(groups.items()):
        xs = [i + (k - (len(groups) - 1) / 2) * width for i in range(len(names))]
        bars = ax.bar(xs, [values[n] for n in names], width, label=group)
        ax.bar_label(bars, fontsize=8)
    ax.set_xticks(range(len(names)), names)
    ax.set_ylabel("images")
    ax.set_title(title)
    if len(groups) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- training curves


def _columns(history) -> dict[str, list]:
    if hasattr(history, "to_dict"):
        return history.to_dict()
    if isinstance(history, Mapping):
        return {k: list(v) for k, v in history.items()}
    records = list(history)
    return {k: [r[k] for r in records] for k in (records[0] if records else {})}


def _check_classes(num_classes) -> None:
    if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 2):
        raise ValueError(f"num_classes={num_classes!r}; expected an int >= 2 (the number of "
                         f"classes)")


def _chance_lines(ax_acc, ax_loss, num_classes: int) -> None:
    """Dashed lines at what guessing scores: accuracy 1/C (in %) and the loss ln(C)."""
    chance = 100 / num_classes
    ax_acc.axhline(chance, color="grey", linestyle="--", linewidth=1,
                   label=f"chance ({chance:.0f} %)")
    ax_loss.axhline(math.log(num_classes), color="grey", linestyle="--", linewidth=1,
                    label=f"chance: ln {num_classes} = {math.log(num_classes):.2f}")


def plot_history(history, timestamp: bool | str = False, title: str | None = None,
                 num_classes: int | None = None):
    """The lesson's 1x2 figure: accuracy and loss per epoch for training and validation.

    `num_classes` draws what guessing scores: accuracy 1/C on the left, and on the right the
    loss ln(C) of a network that gives every class the same probability. A validation curve
    that stays on these lines has learned nothing that generalises. `timestamp=True` writes
    the current time under the accuracy plot, as the lesson's class asks for on screenshots
    (a string is used as given).
    """
    import matplotlib.pyplot as plt

    cols = _columns(history)
    if not cols.get("epoch"):
        raise ValueError("the history is empty: train at least one epoch first")
    _check_classes(num_classes)
    epochs = cols["epoch"]
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 3))
    ax_acc.plot(epochs, [100 * a for a in cols["train_acc"]], "o-", label="Training Accuracy")
    ax_acc.plot(epochs, [100 * a for a in cols["val_acc"]], "o-", label="Validation Accuracy")
    ax_loss.plot(epochs, cols["train_loss"], "o-", label="Training Loss")
    ax_loss.plot(epochs, cols["val_loss"], "o-", label="Validation Loss")
    if num_classes is not None:
        _chance_lines(ax_acc, ax_loss, num_classes)
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.legend(loc="lower right")
    ax_acc.set_title("Training and Validation Accuracy")
    ax_loss.set_ylabel("loss (mean per image)")
    ax_loss.legend(loc="upper right")
    ax_loss.set_title("Training and Validation Loss")
    ax_loss.set_xlabel("epoch")
    stamp = timestamp if isinstance(timestamp, str) else (
        f"epoch    ({datetime.now():%Y-%m-%d %H:%M:%S})" if timestamp else "epoch")
    ax_acc.set_xlabel(stamp)
    for ax in (ax_acc, ax_loss):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.92) if title else None)  # room for the title
    return fig


def plot_runs(histories: Mapping[str, object], num_classes: int | None = None,
              title: str | None = None):
    """Several runs side by side: validation accuracy and loss per epoch, one line per run.

    `histories` maps a run's name to its history (as for `plot_history`); `num_classes` draws
    the chance lines. Used for chapter 4's ladder of recipes, each rung one line.
    """
    import matplotlib.pyplot as plt

    if not histories:
        raise ValueError("no runs to plot: pass {name: history}")
    _check_classes(num_classes)
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 3.4))
    for name, history in histories.items():
        cols = _columns(history)
        if not cols.get("epoch"):
            raise ValueError(f"the history of run {name!r} is empty")
        ax_acc.plot(cols["epoch"], [100 * a for a in cols["val_acc"]], "o-", label=name)
        ax_loss.plot(cols["epoch"], cols["val_loss"], "o-", label=name)
    if num_classes is not None:
        _chance_lines(ax_acc, ax_loss, num_classes)
    ax_acc.set_title("Validation accuracy")
    ax_acc.set_ylabel("accuracy (%)")
    ax_loss.set_title("Validation loss")
    ax_loss.set_ylabel("loss (mean per image)")
    for ax in (ax_acc, ax_loss):
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    ax_acc.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax_loss.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- evaluation figures


def plot_confusion_matrix(cm, class_names: Sequence[str], normalize: bool = False,
                          title: str = "Confusion matrix"):
    """Confusion matrix as a heat map, counts written in each cell (rows = true class)."""
    import matplotlib.pyplot as plt

    counts = torch.as_tensor(cm).double()
    n = len(class_names)
    if counts.shape != (n, n):
        raise ValueError(f"confusion matrix of shape {list(counts.shape)} for {n} class names")
    shown = counts / counts.sum(1, keepdim=True).clamp(min=1) if normalize else counts
    fig, ax = plt.subplots(figsize=(1.0 * n + 2.5, 1.0 * n + 2))
    image = ax.imshow(shown.numpy(), cmap="Blues", vmin=0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    ax.set_xticks(range(n), class_names, rotation=45, ha="right")
    ax.set_yticks(range(n), class_names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    top = shown.max().item() or 1.0
    for i in range(n):
        for j in range(n):
            value = shown[i, j].item()
            text = f"{value:.2f}" if normalize else f"{int(value)}"
            ax.text(j, i, text, ha="center", va="center",
                    color="white" if value > top / 2 else "black")
    fig.tight_layout()
    return fig


def _picture(image, mean, std) -> np.ndarray:
    """An (H, W, 3) float array in [0, 1] from a normalised tensor, PIL image or array."""
    if isinstance(image, torch.Tensor):
        tensor = image.detach().float().cpu()
        if tensor.dim() == 4:
            tensor = tensor[0]
        if mean is not None:
            tensor = denormalize(tensor, mean, std)
        return tensor.clamp(0, 1).permute(1, 2, 0).numpy()
    array = np.asarray(image.convert("RGB") if hasattr(image, "convert") else image,
                       dtype=np.float64)
    return array / 255.0 if array.max() > 1 else array


def show_misclassified(images, true: Sequence[int], pred: Sequence[int], class_names: Sequence[str],
                       mean=IMAGENET_MEAN, std=IMAGENET_STD, ncols: int = 6, max_images: int = 24):
    """A grid of (misclassified) images titled with their true and predicted class."""
    import matplotlib.pyplot as plt

    count = min(len(images), max_images)
    if count == 0:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return fig
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(2.0 * ncols, 2.3 * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for k in range(count):
        ax = axes.flat[k]
        ax.imshow(_picture(images[k], mean, std))
        ax.set_title(f"true: {class_names[int(true[k])]}\npred: {class_names[int(pred[k])]}",
                     fontsize=9, color="firebrick")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- Grad-CAM
# grad_cam itself lives in explain.py (it computes, it does not draw); chapter 5 imports both
# from here.


def show_cam(image, heatmap: torch.Tensor, *, mean=IMAGENET_MEAN, std=IMAGENET_STD,
             alpha: float = 0.45, title: str | None = None):
    """The image and its heat map side by side with an overlay; returns the Figure.

    `image` is the normalised (3, H, W) tensor (de-normalised with mean/std; pass mean=None
    for a [0, 1] tensor), a PIL image or an (H, W, 3) array.
    """
    import matplotlib.pyplot as plt

    picture = _picture(image, mean, std)
    heat = torch.as_tensor(heatmap).float()
    if heat.shape != picture.shape[:2]:
        heat = F.interpolate(heat[None, None], size=picture.shape[:2], mode="bilinear",
                             align_corners=False)[0, 0]
    fig, axes = plt.subplots(1, 3, figsize=(9, 3.2))
    axes[0].imshow(picture)
    axes[0].set_title("image")
    axes[1].imshow(heat.numpy(), cmap="jet", vmin=0, vmax=1)
    axes[1].set_title("Grad-CAM")
    axes[2].imshow(picture)
    axes[2].imshow(heat.numpy(), cmap="jet", alpha=alpha, vmin=0, vmax=1)
    axes[2].set_title("overlay")
    for ax in axes:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 0.92) if title else None)  # room for the title
    return fig


# --------------------------------------------------------------------------- data parallelism
# (chapter 7)


def plot_data_parallelism(processes: int = 2, images_per_process: int = 4):
    """How DDP trains: the global batch split over `processes` identical replicas, each computing
    the gradient of its share, one all-reduce averaging them, the same step everywhere."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if processes < 1 or images_per_process < 1:
        raise ValueError(f"processes={processes}, images_per_process={images_per_process}; "
                         f"expected >= 1")
    colours = plt.get_cmap("tab10").colors
    width = processes * (images_per_process + 1.5)
    fig, ax = plt.subplots(figsize=(min(12, 1.0 * width), 4.6))
    ax.set(xlim=(-0.4, width - 1.35), ylim=(-0.6, 7.4))
    ax.axis("off")

    def box(x, y, w, h, text, colour, **kwargs):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.08", facecolor=colour,
                                    edgecolor="black", linewidth=0.8, **kwargs))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)

    def arrow(x0, y0, x1, y1):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "linewidth": 1})

    total = processes * images_per_process
    ax.text(width / 2 - 0.75, 7.1, f"one global batch of {total} images = {images_per_process} per "
            f"process x {processes} processes (DistributedSampler)", ha="center", fontsize=10)
    for rank in range(processes):
        x0 = rank * (images_per_process + 1.5)
        for i in range(images_per_process):  # this process's images
            ax.add_patch(plt.Rectangle((x0 + i, 6.0), 0.85, 0.8, color=colours[rank % 10],
                                       alpha=0.6))
        centre = x0 + images_per_process / 2 - 0.1
        arrow(centre, 5.95, centre, 5.35)
        box(x0, 4.2, images_per_process - 0.15, 1.0,
            f"rank {rank}: the same model\n(identical weights)",
            "#e8eef7")
        arrow(centre, 4.1, centre, 3.5)
        box(x0, 2.75, images_per_process - 0.15, 0.65, f"gradient $g_{rank}$ of its images",
            colours[rank % 10], alpha=0.35)
        arrow(centre, 2.65, centre, 2.05)
        arrow(centre, 1.25, centre, 0.55)
        box(x0, -0.35, images_per_process - 0.15, 0.8,
            "the same optimizer step\n-> weights stay identical",
            "#e8eef7")
    terms = " + ".join(f"$g_{r}$" for r in range(min(processes, 4)))
    terms += " + ..." if processes > 4 else ""
    box(0, 1.3, width - 1.65, 0.65, f"all-reduce: every rank receives  g = ({terms}) / {processes}",
        "#fff2cc")
    fig.tight_layout()
    return fig
