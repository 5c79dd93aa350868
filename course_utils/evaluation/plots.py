"""Figures of a model's results: the confusion matrix, misclassified images, a Grad-CAM heat map
over its image (explain.grad_cam computes it), and a font for Chinese labels.

Every helper returns its matplotlib Figure and never calls `plt.show()`: in JupyterLab the
figure appears when it is the cell's result, and tests can close it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD, denormalize

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
    fig, ax = plt.subplots(figsize=(1.0 * n + 2.5, 1.0 * n + 2), layout="constrained")
    image = ax.imshow(shown.numpy(), cmap="Blues", vmin=0)
    bar = fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("share of the true class" if normalize else "images")
    turn = max(len(name) for name in class_names) > 9  # short names read best upright
    ax.set_xticks(range(n), class_names, rotation=45 if turn else 0,
                  ha="right" if turn else "center")
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
                       mean=IMAGENET_MEAN, std=IMAGENET_STD, ncols: int = 6, max_images: int = 24,
                       confidence: Sequence[float] | None = None):
    """A grid of (misclassified) images titled with their true and predicted class, and the
    probability the model gave its prediction where `confidence` has it (one per image)."""
    import matplotlib.pyplot as plt

    count = min(len(images), max_images)
    if count == 0:
        fig, ax = plt.subplots(figsize=(4, 1))
        ax.axis("off")
        ax.text(0.5, 0.5, "no misclassified images", ha="center", va="center")
        return fig
    ncols = min(ncols, count)
    nrows = math.ceil(count / ncols)
    side = max(2.0, 3.2 / ncols)  # one image alone is still drawn large enough to read
    fig, axes = plt.subplots(nrows, ncols, figsize=(side * ncols, (side + 0.3) * nrows),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    for k in range(count):
        ax = axes.flat[k]
        ax.imshow(_picture(images[k], mean, std))
        sure = f" ({float(confidence[k]):.0%})" if confidence is not None else ""
        ax.set_title(f"true: {class_names[int(true[k])]}\npred: {class_names[int(pred[k])]}{sure}",
                     fontsize=9, color="firebrick")
    return fig


# --------------------------------------------------------------------------- Grad-CAM
# grad_cam itself lives in explain.py (it computes, it does not draw).


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
    fig, axes = plt.subplots(1, 3, figsize=(9.6, 3.4), layout="constrained")
    axes[0].imshow(picture)
    axes[0].set_title("image")
    shown = axes[1].imshow(heat.numpy(), cmap="jet", vmin=0, vmax=1)
    blank = float(heat.max()) == 0.0  # Grad-CAM keeps only the positive evidence
    axes[1].set_title("Grad-CAM: blank, no positive evidence" if blank else "Grad-CAM",
                      fontsize=10 if blank else None)
    axes[2].imshow(picture)
    axes[2].imshow(heat.numpy(), cmap="jet", alpha=alpha, vmin=0, vmax=1)
    axes[2].set_title("overlay")
    for ax in axes:
        ax.axis("off")
    bar = fig.colorbar(shown, ax=axes, fraction=0.03, pad=0.02)
    bar.set_label("evidence for the predicted class\n(0: none, 1: the strongest here)")
    if title:
        fig.suptitle(title)
    return fig
