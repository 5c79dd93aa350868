"""The loops: the lesson's `train`/`test` made correct (`fit`, in fitting.py, runs them for you).

What the lesson's loops got wrong, and what changes here:
- the model never moved to a device, and `test()` relied on the caller for `model.eval()`:
  here both loops set the mode themselves and move every batch to `device`;
- `torch.no_grad()` becomes `torch.inference_mode()`, which also skips autograd's bookkeeping;
- the mean loss was a sum of batch means divided by the number of batches, which over-weights
  a short last batch (e.g. 3 images counting as much as 32); here every image counts once.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable

import torch
from torch import nn

from .checkpoints import classifier_key
from .history import History
from .progress import progress_bar
from .speed import autocast


def _to_device(images: torch.Tensor, targets: torch.Tensor, device, channels_last: bool):
    # non_blocking lets the copy overlap with compute when the loader pins memory (CUDA).
    images = images.to(device, non_blocking=True)
    if channels_last and images.dim() == 4:
        images = images.contiguous(memory_format=torch.channels_last)
    return images, targets.to(device, non_blocking=True)


def _prepare_model(model: nn.Module, device: torch.device, channels_last: bool) -> None:
    """Check the model sits on `device` (a clear error instead of a cryptic one mid-batch)."""
    param = next(model.parameters(), None)
    if param is not None and (param.device.type != device.type or
                              (device.index is not None and param.device.index != device.index)):
        raise ValueError(f"the model is on {param.device} but device is {device}: call "
                         "model.to(device) before creating the optimizer")
    if channels_last:  # a no-op when the weights already are channels-last
        model.to(memory_format=torch.channels_last)


def sum_dtype(device: torch.device) -> torch.dtype:
    # float64 keeps a long epoch's running sum exact enough; Apple's MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def dataset_size(loader) -> int | str:
    dataset = getattr(loader, "dataset", None)
    return len(dataset) if dataset is not None and hasattr(dataset, "__len__") else "?"


def _bar(loader, desc: str, progress: bool):
    # A bar we advance by hand: tqdm.auto's bar calls iter() on an iterable it wraps as well
    # as the loop does, which would start a DataLoader's worker processes twice per epoch.
    total = len(loader) if hasattr(loader, "__len__") else None
    return progress_bar(total=total, desc=desc, leave=False, disable=not progress, unit="batch")


def _totals(loss_sum: torch.Tensor, correct: torch.Tensor, seen: int) -> torch.Tensor:
    """[summed loss, correct images, images] in one tensor, so processes can add them up at once."""
    return torch.stack([loss_sum, correct.to(loss_sum.dtype),
                        torch.tensor(seen, dtype=loss_sum.dtype, device=loss_sum.device)])


def rates(totals: torch.Tensor, what: str) -> tuple[float, float, int]:
    """(accuracy, mean loss per image, images) from `_totals`; an error when there were none."""
    loss_sum, correct, seen = totals.tolist()
    if seen == 0:
        raise ValueError(f"the {what} loader gave no batches: is the dataset empty"
                         + ("?" if what != "training" else ", or is drop_last=True with fewer "
                            "images than one batch?"))
    return correct / seen, loss_sum / seen, int(seen)


def train_epoch_totals(model, loader, optimizer, loss_fn, device, *, amp_dtype, channels_last,
                 scheduler, scaler, progress, desc) -> torch.Tensor:
    device = torch.device(device)
    _prepare_model(model, device, channels_last)
    model.train()
    # Running sums stay on the device: calling .item() every step would make the CPU wait
    # for the GPU after every batch.
    loss_sum = torch.zeros((), dtype=sum_dtype(device), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    # On the CPU reading the loss costs nothing; on a GPU it makes the CPU wait, so look every
    # 10 steps there (a non-finite loss stays in the running sum, so none is missed).
    every = 1 if device.type == "cpu" else 10
    bar = _bar(loader, desc, progress)
    try:
        for step, (images, targets) in enumerate(loader):
            images, targets = _to_device(images, targets, device, channels_last)
            with autocast(device, amp_dtype), _explained(images, logits_of=model):
                logits = model(images)
                loss = loss_fn(logits, targets)  # the batch *mean* (CrossEntropyLoss's default)
            if step % every == 0 and not math.isfinite(loss_sum.item() + loss.item()):
                raise NonFiniteLossError(f"the training loss became {loss.item()} at step "
                                         f"{step + 1} of {desc}")
            optimizer.zero_grad(set_to_none=True)
            if scaler is not None:  # float16 gradients underflow without loss scaling
                scaler.scale(loss).backward()
                scaler.step(optimizer)
                scaler.update()
            else:
                loss.backward()
                optimizer.step()
            if scheduler is not None:
                scheduler.step()
            n = targets.size(0)
            # sample-weighted: batch mean x batch size
            loss_sum += loss.detach().to(loss_sum.dtype) * n
            correct += (logits.argmax(1) == targets).sum()
            seen += n
            bar.update(1)
            if progress and step % 10 == 0:
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}",
                                acc=f"{correct.item() / seen:.1%}")
    finally:
        bar.close()  # also on Ctrl-C, so no stale bar is left on screen
    if seen and not math.isfinite(loss_sum.item()):
        raise NonFiniteLossError(f"the training loss became {loss_sum.item()} in {desc}")
    return _totals(loss_sum, correct, seen)


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite: the weights are ruined, training cannot continue.
    `history` holds the epochs finished before (set by `fit`)."""

    history: History | None = None


@contextlib.contextmanager
def _explained(images: torch.Tensor, logits_of: nn.Module):
    """Turn PyTorch's errors for two common data mistakes into messages that say what to do."""
    try:
        yield
    except IndexError as error:
        if "out of bounds" not in str(error):
            raise
        outputs = model_outputs(logits_of)
        raise ValueError(f"a label is out of range for the model ({error}): the model has "
                         f"{outputs} outputs; build it with num_classes = the number of classes "
                         "in the data") from error
    except ValueError as error:
        if "Expected more than 1 value per channel" not in str(error):
            raise
        raise ValueError(f"a training batch holds {images.shape[0]} image(s), and BatchNorm cannot "
                         "normalise a single value per channel; use course_utils.data.loaders."
                         "make_loader (it drops such a last batch) or DataLoader(..., "
                         "drop_last=True)") from error


def model_outputs(model: nn.Module) -> int | str:
    try:
        state = getattr(model, "_orig_mod", model).state_dict()
        return state[classifier_key(state)].shape[0]
    except ValueError:
        return "?"


def train_one_epoch(
    model: nn.Module,
    loader,
    optimizer: torch.optim.Optimizer,
    loss_fn: Callable,
    device: torch.device | str,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    scheduler=None,
    scaler: torch.amp.GradScaler | None = None,
    progress: bool = True,
) -> tuple[float, float]:
    """One pass over `loader` in train mode; returns (accuracy, mean loss per image).

    `scheduler`, if given, is stepped after every batch (e.g. OneCycleLR). With
    amp_dtype=torch.float16 a GradScaler is created unless you pass one. channels_last=True
    puts the model's weights and every batch in channels-last memory format.
    """
    if scaler is None and amp_dtype == torch.float16:
        scaler = torch.amp.GradScaler(torch.device(device).type)
    totals = train_epoch_totals(model, loader, optimizer, loss_fn, device, amp_dtype=amp_dtype,
                          channels_last=channels_last, scheduler=scheduler, scaler=scaler,
                          progress=progress, desc="train")
    acc, loss, _ = rates(totals, "training")
    return acc, loss


def evaluate(
    model: nn.Module,
    loader,
    loss_fn: Callable,
    device: torch.device | str,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
    progress: bool = False,
) -> tuple[float, float]:
    """Accuracy and mean loss per image over `loader`, in eval mode; changes nothing in the
    model."""
    totals = evaluate_totals(model, loader, loss_fn, device, amp_dtype=amp_dtype,
                              channels_last=channels_last, progress=progress)
    acc, loss, _ = rates(totals, "evaluation")
    return acc, loss


def evaluate_totals(model, loader, loss_fn, device, *, amp_dtype, channels_last,
                     progress) -> torch.Tensor:
    device = torch.device(device)
    _prepare_model(model, device, channels_last)
    was_training = model.training
    # eval(): BatchNorm uses its running statistics instead of updating them, Dropout is off.
    model.eval()
    loss_sum = torch.zeros((), dtype=sum_dtype(device), device=device)
    correct = torch.zeros((), dtype=torch.int64, device=device)
    seen = 0
    bar = _bar(loader, "eval", progress)
    try:
        with torch.inference_mode():
            for images, targets in loader:
                bar.update(1)
                images, targets = _to_device(images, targets, device, channels_last)
                with autocast(device, amp_dtype), _explained(images, logits_of=model):
                    logits = model(images)
                    loss = loss_fn(logits, targets)
                n = targets.size(0)
                # per image, not per batch (see the module doc)
                loss_sum += loss.to(loss_sum.dtype) * n
                correct += (logits.argmax(1) == targets).sum()
                seen += n
    finally:
        bar.close()
        model.train(was_training)
    return _totals(loss_sum, correct, seen)


def predict_loader(
    model: nn.Module,
    loader,
    device: torch.device | str,
    *,
    amp_dtype: torch.dtype | None = None,
    channels_last: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(true labels, predicted labels, probabilities) for every image of `loader`, on the CPU.

    With an unshuffled loader, position i is `loader.dataset[i]`: use it to fetch the
    misclassified images.
    """
    device = torch.device(device)
    _prepare_model(model, device, channels_last)
    was_training = model.training
    model.eval()
    trues, probs = [], []
    try:
        with torch.inference_mode():
            for images, targets in loader:
                images, _ = _to_device(images, targets, device, channels_last)
                with autocast(device, amp_dtype):
                    logits = model(images)
                probs.append(logits.float().softmax(1).cpu())
                trues.append(torch.as_tensor(targets).cpu())
    finally:
        model.train(was_training)
    if not probs:
        raise ValueError("the loader gave no batches, so there is nothing to predict: is its "
                         "dataset empty (e.g. a split with no images)?")
    prob = torch.cat(probs)
    return torch.cat(trues).long(), prob.argmax(1), prob
