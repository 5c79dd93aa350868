"""Training by steps on tensors in memory: the paper's CIFAR protocol, for chapters 6 and 8.

Chapter 6 trains four small nets (models/cifar.py) for a fixed number of optimiser steps, as
He et al. 2016 (sec. 4.2) do: the small dataset decoded once into tensors (`to_tensors`), the
paper's augmentation on whole batches (`augment`), endless shuffled mini-batches (`batches`), a
loop by steps with warm-up and step decays (`train_steps`), and the course's `evaluate` for the
test error (`loss_and_error`). Chapter 8 trains dozens of small runs the same way, with the
course's recipe (`Recipe.build`) and chapter 4's flip-shift augmentation.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from .loops import evaluate


def to_tensors(dataset: Dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Decode a whole (small) dataset once into an image tensor (N,C,H,W) and labels (N,)."""
    images, labels = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
    return torch.stack(images), torch.as_tensor(labels)


def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 4,
            mode: str = "constant") -> torch.Tensor:
    """The paper's CIFAR augmentation on a batch: pad by 4, random crop back, random flip.

    mode="replicate" repeats the border's pixels instead of padding with zeros: chapter 4's
    "flip-shift" (data/transforms.py) on a whole batch, with pad = image size // 8.
    """
    n, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad), mode=mode)
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, c, h, w + 2 * pad)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, c, h, w)
    out = padded.gather(2, rows).gather(3, cols)
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int = 0,
            train_augment: bool | str = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled mini-batches (a fresh permutation each epoch), augmented if asked.

    `train_augment`: True (or "cifar") for the paper's pad-and-crop with zeros, "flip-shift" for
    chapter 4's (border pixels repeated, shifts of up to 1/8 of the side), False for none. A
    batch is never larger than the images there are.
    """
    if train_augment not in (True, False, "cifar", "flip-shift"):
        raise ValueError(f"train_augment={train_augment!r}; expected True, False, 'cifar' or "
                         "'flip-shift'")
    generator = torch.Generator().manual_seed(seed)
    batch_size = min(batch_size, len(images))
    pad, mode = ((max(1, images.shape[-1] // 8), "replicate") if train_augment == "flip-shift"
                 else (4, "constant"))
    while True:
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):  # full batches only
            index = order[start:start + batch_size]
            x = images[index]
            yield (augment(x, generator, pad, mode) if train_augment else x), labels[index]


# --------------------------------------------------------------------------- the loop


def train_steps(
    model: nn.Module,
    batch_iter: Iterator[tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    lr: float = 0.1,
    optimizer: str | torch.optim.Optimizer = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    warmup: int = 0,
    decay_at: tuple[float, ...] = (),
    log_every: int = 10,
    device: torch.device | str = "cpu",
    scheduler=None,
    loss_fn=None,
    channels_last: bool = False,
) -> dict[str, list[float]]:
    """Train for `steps` mini-batches and return the training curve.

    `optimizer="sgd"` is the paper's recipe (momentum 0.9, weight decay 1e-4, lr 0.1);
    `"adam"` (AdamW with the same decay; use lr ~1e-3) gets going in far fewer steps. The learning
    rate ramps up linearly over `warmup` steps, then stays constant; every
    `log_every` steps the curve records the mean training loss and error of those steps.

    Or a recipe's own (chapter 8): `optimizer`, `scheduler` (stepped after every step) and
    `loss_fn` as `Recipe.build(model, 1, steps)` makes them; lr, momentum, weight_decay, warmup
    and decay_at are then not used. `channels_last` puts every batch in that memory format.
    A frozen backbone (models/transfer.py) stays frozen: `model.train()` does not reach it.
    """
    model.to(device).train()
    built = isinstance(optimizer, torch.optim.Optimizer)
    if built:
        opt = optimizer
    elif optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                              weight_decay=weight_decay)
    elif optimizer == "adam":
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer {optimizer!r} is not known; use 'sgd' or 'adam'")
    if scheduler is not None and not built:
        raise ValueError("a scheduler goes with the optimizer it was made for: pass both")
    loss_fn = loss_fn if loss_fn is not None else F.cross_entropy
    history: dict[str, list[float]] = {"step": [], "loss": [], "error": [], "seconds": []}
    loss_sum, wrong, seen = 0.0, 0, 0
    start = time.perf_counter()
    for step in range(1, steps + 1):
        for group in opt.param_groups if not built else ():
            drops = sum(step > fraction * steps for fraction in decay_at)
            group["lr"] = lr * (min(1.0, step / warmup) if warmup else 1.0) * 0.1**drops
        x, y = next(batch_iter)
        x, y = x.to(device), y.to(device)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        logits = model(x)
        loss = loss_fn(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if scheduler is not None:
            scheduler.step()
        loss_sum += loss.item() * len(y)
        wrong += (logits.argmax(1) != y).sum().item()
        seen += len(y)
        if step % log_every == 0 or step == steps:
            history["step"].append(step)
            history["loss"].append(loss_sum / seen)
            history["error"].append(wrong / seen)
            history["seconds"].append(time.perf_counter() - start)
            loss_sum, wrong, seen = 0.0, 0, 0
    return history


def loss_and_error(model: nn.Module, images: torch.Tensor, labels: torch.Tensor,
                   batch_size: int = 256,
                   device: torch.device | str = "cpu") -> tuple[float, float]:
    """Mean cross-entropy loss and error rate (0..1) of `model` in eval mode on tensors.

    The course's `evaluate` (loops.py) on the tensors; the paper reports errors, so this
    returns (loss, error), in that order, where `evaluate` returns (accuracy, loss).
    """
    loader = DataLoader(TensorDataset(images, labels), batch_size=batch_size)
    accuracy, loss = evaluate(model.to(device), loader, nn.CrossEntropyLoss(), device)
    return loss, 1.0 - accuracy
