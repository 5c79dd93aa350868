"""Training curves: one run's accuracy and loss per epoch (the lesson's figure), or several runs.

Both draw, on request, what guessing scores (accuracy 1/C, loss ln C): a validation curve on
those lines has learned nothing that generalises. Each returns its matplotlib Figure.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime


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
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 3.8), layout="constrained")
    ax_acc.plot(epochs, [100 * a for a in cols["train_acc"]], "o-", label="Training Accuracy")
    ax_acc.plot(epochs, [100 * a for a in cols["val_acc"]], "o-", label="Validation Accuracy")
    ax_loss.plot(epochs, cols["train_loss"], "o-", label="Training Loss")
    ax_loss.plot(epochs, cols["val_loss"], "o-", label="Validation Loss")
    if num_classes is not None:
        _chance_lines(ax_acc, ax_loss, num_classes)
    ax_acc.set_ylabel("accuracy (%)")
    ax_acc.set_ylim(0, 103)  # the whole scale: how far above chance a run is shows as it is
    ax_acc.set_title("Training and Validation Accuracy")
    ax_loss.set_ylabel("loss (cross-entropy, mean per image)")
    losses = [*cols["train_loss"], *cols["val_loss"]]
    top = max(losses + ([math.log(num_classes)] if num_classes else []))
    ax_loss.set_ylim(0, 1.08 * top)  # the chance line inside the panel, not on its edge
    ax_loss.set_title("Training and Validation Loss")
    ax_loss.set_xlabel("epoch")
    stamp = timestamp if isinstance(timestamp, str) else (
        f"epoch    ({datetime.now():%Y-%m-%d %H:%M:%S})" if timestamp else "epoch")
    ax_acc.set_xlabel(stamp)
    for ax in (ax_acc, ax_loss):
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        _legend_below(ax)
    if title:
        fig.suptitle(title)
    return fig


def _legend_below(ax) -> None:
    """The panel's legend under its x label, in one row: it can never cover a curve."""
    entries = len(ax.get_legend_handles_labels()[0])
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=max(1, entries), fontsize=9,
              frameon=False)


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
    fig, (ax_acc, ax_loss) = plt.subplots(1, 2, figsize=(12, 3.4 + 0.25 * len(histories)),
                                          layout="constrained")
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
    # one legend for both panels, under them: the runs have the same colours in both
    handles, labels = ax_acc.get_legend_handles_labels()
    if num_classes is not None:  # one entry for both chance lines
        labels[-1] = (f"chance: {100 / num_classes:.0f} % accuracy, loss ln {num_classes} = "
                      f"{math.log(num_classes):.2f}")
    fig.legend(handles, labels, loc="outside lower center", ncol=min(3, len(labels)), fontsize=9,
               frameon=False)
    if title:
        fig.suptitle(title)
    return fig
