"""Training by steps on tensors in memory: the paper's CIFAR protocol, for chapter 6.

Chapter 6 trains four small nets (models/cifar.py) for a fixed number of optimiser steps, as
He et al. 2016 (sec. 4.2) do: the small dataset decoded once into tensors (`to_tensors`), the
paper's augmentation on whole batches (`augment`), endless shuffled mini-batches (`batches`), a
loop by steps with warm-up and step decays (`train_steps`), and the course's `evaluate` for the
test error (`loss_and_error`).
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


def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
    """The paper's CIFAR augmentation on a batch: pad by 4, random crop back, random flip."""
    n, c, h, w = images.shape
    padded = F.pad(images, (pad, pad, pad, pad))
    dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None].expand(n, c, h, w + 2 * pad)
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :].expand(n, c, h, w)
    out = padded.gather(2, rows).gather(3, cols)
    flip = torch.rand(n, generator=generator) < 0.5
    out[flip] = out[flip].flip(3)
    return out


def batches(images: torch.Tensor, labels: torch.Tensor, batch_size: int, seed: int = 0,
            train_augment: bool = True) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Endless shuffled mini-batches (a fresh permutation each epoch), augmented if asked."""
    generator = torch.Generator().manual_seed(seed)
    while True:
        order = torch.randperm(len(images), generator=generator)
        for start in range(0, len(order) - batch_size + 1, batch_size):  # full batches only
            index = order[start:start + batch_size]
            x = images[index]
            yield (augment(x, generator) if train_augment else x), labels[index]


# --------------------------------------------------------------------------- the loop


def train_steps(
    model: nn.Module,
    batch_iter: Iterator[tuple[torch.Tensor, torch.Tensor]],
    steps: int,
    lr: float = 0.1,
    optimizer: str = "sgd",
    momentum: float = 0.9,
    weight_decay: float = 1e-4,
    warmup: int = 0,
    decay_at: tuple[float, ...] = (),
    log_every: int = 10,
    device: torch.device | str = "cpu",
) -> dict[str, list[float]]:
    """Train for `steps` mini-batches and return the training curve.

    `optimizer="sgd"` is the paper's recipe (momentum 0.9, weight decay 1e-4, lr 0.1);
    `"adam"` (AdamW with the same decay; use lr ~1e-3) gets going in far fewer steps. The learning
    rate ramps up linearly over `warmup` steps, then stays constant; every
    `log_every` steps the curve records the mean training loss and error of those steps.
    """
    model.to(device).train()
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum,
                              weight_decay=weight_decay)
    elif optimizer == "adam":
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"optimizer {optimizer!r} is not known; use 'sgd' or 'adam'")
    history: dict[str, list[float]] = {"step": [], "loss": [], "error": [], "seconds": []}
    loss_sum, wrong, seen = 0.0, 0, 0
    start = time.perf_counter()
    for step in range(1, steps + 1):
        for group in opt.param_groups:
            drops = sum(step > fraction * steps for fraction in decay_at)
            group["lr"] = lr * (min(1.0, step / warmup) if warmup else 1.0) * 0.1**drops
        x, y = next(batch_iter)
        x, y = x.to(device), y.to(device)
        logits = model(x)
        loss = F.cross_entropy(logits, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
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
