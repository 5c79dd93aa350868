"""Training: the lesson's `train`/`test` loops made correct, and `fit`, which runs them for you.

What the lesson's loops got wrong, and what changes here:
- the model never moved to a device, and `test()` relied on the caller for `model.eval()`:
  here both loops set the mode themselves and move every batch to `device`;
- `torch.no_grad()` becomes `torch.inference_mode()`, which also skips autograd's bookkeeping;
- the mean loss was a sum of batch means divided by the number of batches, which over-weights
  a short last batch (e.g. 3 images counting as much as 32); here every image counts once;
- the best model was kept with `copy.deepcopy(model)` and saved at the very end, so a crash
  or Ctrl-C lost everything: `fit` writes the best checkpoint to disk as soon as it improves.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from . import runtime
from .checkpoints import (
    _RESERVED,
    _plain,
    atomic_write,
    check_head,
    check_writable,
    classifier_key,
    save_checkpoint,
    unwrap_model,
)
from .progress import progress_bar
from .progress import write as write_above_bars

# The lesson's per-epoch line, with the split it really measures named ("Test" was the
# validation split: it chose the best epoch, so it is no longer an unbiased test).
EPOCH_TEMPLATE = ("Epoch:{epoch:2d}, Train_acc:{train_acc:.1%}, Train_loss:{train_loss:.3f}, "
                  "Test_acc (val):{val_acc:.1%}, Test_loss:{val_loss:.3f}, Lr:{lr:.2E}")
_META_KEYS = ("arch", "class_names", "image_size", "mean", "std")


def autocast(device: torch.device | str, amp_dtype: torch.dtype | None):
    """torch.autocast for `device` in `amp_dtype`, or a do-nothing context when it is None."""
    if amp_dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=amp_dtype)


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


def _sum_dtype(device: torch.device) -> torch.dtype:
    # float64 keeps a long epoch's running sum exact enough; Apple's MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def _size(loader) -> int | str:
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


def _rates(totals: torch.Tensor, what: str) -> tuple[float, float, int]:
    """(accuracy, mean loss per image, images) from `_totals`; an error when there were none."""
    loss_sum, correct, seen = totals.tolist()
    if seen == 0:
        raise ValueError(f"the {what} loader gave no batches: is the dataset empty"
                         + ("?" if what != "training" else ", or is drop_last=True with fewer "
                            "images than one batch?"))
    return correct / seen, loss_sum / seen, int(seen)


def _train_epoch(model, loader, optimizer, loss_fn, device, *, amp_dtype, channels_last,
                 scheduler, scaler, progress, desc) -> torch.Tensor:
    device = torch.device(device)
    _prepare_model(model, device, channels_last)
    model.train()
    # Running sums stay on the device: calling .item() every step would make the CPU wait
    # for the GPU after every batch.
    loss_sum = torch.zeros((), dtype=_sum_dtype(device), device=device)
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
            loss_sum += loss.detach().to(loss_sum.dtype) * n  # sample-weighted: batch mean x batch size
            correct += (logits.argmax(1) == targets).sum()
            seen += n
            bar.update(1)
            if progress and step % 10 == 0:
                bar.set_postfix(loss=f"{loss_sum.item() / seen:.3f}", acc=f"{correct.item() / seen:.1%}")
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
        outputs = _outputs(logits_of)
        raise ValueError(f"a label is out of range for the model ({error}): the model has "
                         f"{outputs} outputs; build it with num_classes = the number of classes "
                         "in the data") from error
    except ValueError as error:
        if "Expected more than 1 value per channel" not in str(error):
            raise
        raise ValueError(f"a training batch holds {images.shape[0]} image(s), and BatchNorm cannot "
                         "normalise a single value per channel; use data.make_loader (it drops "
                         "such a last batch) or DataLoader(..., drop_last=True)") from error


def _outputs(model: nn.Module) -> int | str:
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
    totals = _train_epoch(model, loader, optimizer, loss_fn, device, amp_dtype=amp_dtype,
                          channels_last=channels_last, scheduler=scheduler, scaler=scaler,
                          progress=progress, desc="train")
    acc, loss, _ = _rates(totals, "training")
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
    """Accuracy and mean loss per image over `loader`, in eval mode; changes nothing in the model."""
    totals = _evaluate_totals(model, loader, loss_fn, device, amp_dtype=amp_dtype,
                              channels_last=channels_last, progress=progress)
    acc, loss, _ = _rates(totals, "evaluation")
    return acc, loss


def _evaluate_totals(model, loader, loss_fn, device, *, amp_dtype, channels_last,
                     progress) -> torch.Tensor:
    device = torch.device(device)
    _prepare_model(model, device, channels_last)
    was_training = model.training
    # eval(): BatchNorm uses its running statistics instead of updating them, Dropout is off.
    model.eval()
    loss_sum = torch.zeros((), dtype=_sum_dtype(device), device=device)
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
                loss_sum += loss.to(loss_sum.dtype) * n  # per image, not per batch (see the module doc)
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


# --------------------------------------------------------------------------- history


class History(list):
    """One dict per finished epoch (epoch, train_loss, train_acc, val_loss, val_acc, lr,
    seconds, images_per_s); a list, so `history[-1]["val_acc"]` and `len(history)` work."""

    interrupted: bool = False
    stopped: str | None = None  # why fit stopped early on a non-finite loss, if it did

    def to_dict(self) -> dict[str, list]:
        """Columns: {"epoch": [1, 2, ...], "val_acc": [...], ...}, ready for plotting."""
        keys = list(self[0]) if self else []
        return {k: [record.get(k) for record in self] for k in keys}

    columns = property(to_dict)

    @property
    def best(self) -> dict | None:
        """The record with the highest validation accuracy (the earliest on a tie), or None."""
        return max(self, key=lambda r: r["val_acc"], default=None)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON, atomically (a crash never leaves half a file)."""
        record = {"interrupted": self.interrupted, "epochs": list(self)}
        if self.stopped:
            record["stopped"] = self.stopped
        text = json.dumps(record, indent=1)
        return atomic_write(path, lambda f: f.write(text.encode("utf-8")))

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by `save` (or by `fit` next to its checkpoint)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        history = cls(data["epochs"])
        history.interrupted = bool(data.get("interrupted", False))
        history.stopped = data.get("stopped")
        return history


def history_path(checkpoint_path: str | os.PathLike) -> Path:
    """Where `fit` writes the history: next to the checkpoint, e.g. runs/best.history.json."""
    path = Path(checkpoint_path)
    return path.with_name(path.stem + ".history.json")


# --------------------------------------------------------------------------- fit


def resolve_fast_path(device: torch.device | str, amp: bool | str | torch.dtype = "auto",
                      channels_last: bool | str = "auto",
                      reuse_memory: bool | str = "auto") -> runtime.FastPath:
    """Turn fit's amp/channels_last/reuse_memory arguments into a FastPath ("auto" asks the
    hardware, runtime.fast_path; True/False override it)."""
    for name, value in (("amp", amp), ("channels_last", channels_last),
                        ("reuse_memory", reuse_memory)):
        if isinstance(value, str) and value != "auto":
            raise ValueError(f"{name}={value!r}; expected 'auto', True or False")
    device = torch.device(device)
    auto = runtime.fast_path(device)
    if isinstance(amp, torch.dtype):
        dtype = amp
    elif amp == "auto":
        dtype = auto.amp_dtype
    elif amp:
        # Asked for explicitly: honoured even on a CPU that emulates bf16 (slow, but correct).
        dtype = auto.amp_dtype or (torch.float16 if device.type == "mps" else torch.bfloat16)
    else:
        dtype = None
    memory = auto.channels_last if channels_last == "auto" else bool(channels_last)
    # Asked for explicitly, memory reuse still needs glibc: it cannot be on anywhere else.
    reuse = auto.reuse_memory if reuse_memory == "auto" else (
        bool(reuse_memory) and runtime.can_reuse_memory())
    return runtime.FastPath(dtype, memory, reuse)


def decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Optimizer parameter groups: weight decay on the conv and linear weights only.

    Decay pulls weights towards zero to keep them small; BatchNorm's scale and shift and the
    biases have nothing to gain from it (He et al. 2019, "Bag of Tricks", no bias decay).
    """
    decay, no_decay = [], []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim > 1 else no_decay).append(param)
    return [{"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0}]


def _make_scheduler(scheduler, optimizer, epochs: int, steps_per_epoch: int):
    """(per-epoch scheduler, per-step scheduler) from fit's `scheduler` argument."""
    if scheduler is None:
        return None, None
    if scheduler == "cosine":  # smooth decay to ~0 over the run, stepped once per epoch
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs), None
    if scheduler == "onecycle":  # warm up then anneal, stepped every batch; peak = current lr
        peak = [group["lr"] for group in optimizer.param_groups]
        return None, torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=peak, epochs=epochs, steps_per_epoch=steps_per_epoch)
    if isinstance(scheduler, str):
        raise ValueError(f"scheduler={scheduler!r}; expected 'cosine', 'onecycle', None or a "
                         "torch.optim.lr_scheduler object")
    if isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR):
        # A one-cycle schedule is defined per optimiser step: fit steps it after every batch.
        # Check its length now: PyTorch would raise only when the run overshoots it.
        wanted = epochs * steps_per_epoch
        if scheduler.optimizer is not optimizer:
            raise ValueError("the OneCycleLR scheduler was made for another optimizer; create it "
                             "with the optimizer you pass to fit")
        if scheduler.last_epoch != 0:
            raise ValueError(f"the OneCycleLR scheduler has already taken {scheduler.last_epoch} "
                             "steps; create a new one for every run")
        if scheduler.total_steps != wanted:
            raise ValueError(
                f"the OneCycleLR scheduler has total_steps={scheduler.total_steps}, but fit will "
                f"take {epochs} epochs x {steps_per_epoch} batches = {wanted} steps; create it with "
                "epochs=EPOCHS, steps_per_epoch=len(train_loader)")
        return None, scheduler
    return scheduler, None


def _fast_forward(per_epoch, per_step, epochs_done: int, steps_per_epoch: int) -> None:
    """Move fresh schedulers to where a resumed run stopped: their rate depends only on the step."""
    if not epochs_done:
        return
    if isinstance(per_epoch, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("ReduceLROnPlateau depends on the past validation losses, so a resumed run "
                         "cannot rebuild it; resume with a schedule that depends on the step only")
    with warnings.catch_warnings():
        # PyTorch warns about scheduler.step() before optimizer.step(): that is the point here.
        warnings.simplefilter("ignore")
        for _ in range(epochs_done * steps_per_epoch if per_step is not None else 0):
            per_step.step()
        for _ in range(epochs_done if per_epoch is not None else 0):
            per_epoch.step()


class LocalSync:
    """What `fit` does between processes when there is only one: nothing.

    Data-parallel training (chapter 7) runs `fit` in every process of a torchrun job and passes
    `distributed.ProcessGroupSync`, which does these three steps across the processes.
    """

    def sum(self, totals: torch.Tensor) -> torch.Tensor:
        """The sum of `totals` over all processes (losses, correct images, image counts)."""
        return totals

    def same_buffers(self, model: nn.Module) -> None:
        """Give every process the main process's buffers (BatchNorm's running statistics)."""

    def barrier(self) -> None:
        """Wait until every process has reached this point."""


def _validation_loss(loss_fn: Callable) -> Callable:
    """The loss fit reports on validation: plain cross-entropy when training smooths labels.

    Label smoothing changes what training minimises, not what a prediction is worth; plain
    cross-entropy keeps validation losses comparable between recipes and with ln(classes).
    """
    if type(loss_fn) is nn.CrossEntropyLoss and loss_fn.label_smoothing > 0:
        return nn.CrossEntropyLoss(weight=loss_fn.weight, ignore_index=loss_fn.ignore_index,
                                   reduction=loss_fn.reduction)
    return loss_fn


def fit(
    model: nn.Module,
    train_loader,
    val_loader,
    optimizer: torch.optim.Optimizer,
    *,
    epochs: int,
    device: torch.device | str,
    loss_fn: Callable | None = None,
    scheduler=None,
    checkpoint_path: str | os.PathLike | None = None,
    meta: Mapping | None = None,
    amp: bool | str | torch.dtype = "auto",
    channels_last: bool | str = "auto",
    reuse_memory: bool | str = "auto",
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    on_epoch_end: Callable[[dict], None] | None = None,
    resume_history: Sequence[Mapping] | None = None,
    sync: LocalSync | None = None,
) -> History:
    """Train for `epochs`, validate after each, save the best checkpoint; returns the History.

    - scheduler: None, "cosine" (per epoch), "onecycle" (per batch, peak = the optimizer's
      lr), a torch.optim.lr_scheduler.OneCycleLR (stepped after every batch; its length must
      be epochs x len(train_loader)) or any other LR scheduler object, stepped once per epoch
      (ReduceLROnPlateau gets the validation loss).
    - loss_fn: the training loss (default CrossEntropyLoss()). For an nn.CrossEntropyLoss with
      label smoothing, validation uses the same loss without smoothing, so an unweighted
      validation loss still reads against ln(classes).
    - checkpoint_path + meta (arch, class_names, image_size, mean, std, any plain extras):
      the best epoch by validation accuracy is written there atomically, and the history
      next to it as JSON after every epoch.
    - amp / channels_last / reuse_memory: "auto" takes the fast path that is faster on this
      hardware (runtime.fast_path); True/False (or a dtype for amp) overrides it. Memory reuse
      (CPU, Linux) keeps freed memory for the next step while fit runs and gives it back after.
    - A NaN or infinite loss (training, checked every step on the CPU; or validation) stops
      training at once with a NonFiniteLossError: the epochs finished before are in
      `error.history` (and saved next to the checkpoint), the best checkpoint is untouched.
    - Ctrl-C (KeyboardInterrupt) stops cleanly: the history so far is returned with
      `history.interrupted = True`, and the best checkpoint on disk is complete.
    - log: where the per-epoch lines go (None: nowhere); on_epoch_end(record): called after
      each epoch, e.g. to stop early by raising KeyboardInterrupt.
    - resume_history: the epochs a stopped run finished (its History): training continues with
      the next epoch up to `epochs` in all, their best is the one to beat, and fresh schedulers
      are moved to where that run stopped (restore the model and optimizer state yourself).
    - A training loader whose sampler has `set_epoch` (DistributedSampler) gets it before every
      epoch, so each epoch shuffles differently. `sync` (chapter 7, one per process of a
      torchrun job) adds up the metrics of all processes and keeps their buffers equal; the
      model is evaluated unwrapped (`model.module` for DDP), as evaluation needs no gradients.
    The model ends in eval mode with the weights of the last epoch; the best ones are in the
    checkpoint (`checkpoints.load_into(model, checkpoint_path)`).
    """
    device = torch.device(device)
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    val_loss_fn = _validation_loss(loss_fn)
    emit = log or (lambda line: None)
    if log is print:
        emit = write_above_bars  # prints above a live terminal progress bar instead of through it
    if epochs < 1:
        raise ValueError(f"epochs={epochs}; expected at least 1")
    sync = sync if sync is not None else LocalSync()
    history = History(dict(record) for record in resume_history or ())
    done = len(history)
    if done >= epochs:
        raise ValueError(f"the run to resume has already finished {done} epoch(s) and epochs={epochs}; "
                         "ask for more epochs in all to train further")

    meta = dict(meta or {})
    if checkpoint_path is not None:
        missing = [k for k in _META_KEYS if k not in meta]
        if missing:
            raise ValueError(f"fit(checkpoint_path={str(checkpoint_path)!r}) needs meta with "
                             f"{list(_META_KEYS)}; missing {missing}")
        clash = sorted(set(meta) & (set(_RESERVED) - set(_META_KEYS)))
        if clash:
            raise ValueError(f"meta may not set {clash}: fit records those itself")
        _plain(meta, "meta")  # fail now, not after the first epoch, on a non-plain value
        check_head(model, list(meta["class_names"]))
        check_writable(checkpoint_path)  # now, not after an epoch that would be lost
    _check_outputs(model, train_loader)

    fast = resolve_fast_path(device, amp, channels_last, reuse_memory)
    model.to(device)  # keeps the same Parameter objects, so the optimizer still holds them
    if fast.channels_last:
        model.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(device.type) if fast.amp_dtype == torch.float16 else None
    per_epoch, per_step = _make_scheduler(scheduler, optimizer, epochs, len(train_loader))
    _fast_forward(per_epoch, per_step, done, len(train_loader))
    val_size = _size(val_loader)
    if isinstance(val_size, int):  # each process may validate on its own share of the images
        val_size = int(sync.sum(torch.tensor(val_size, dtype=_sum_dtype(device), device=device)))
    emit(f"fit: {epochs} epochs on {device} | {fast.describe()} | "
         f"{_size(train_loader)} train / {val_size} val images"
         + (f" | resuming after epoch {done}" if done else ""))

    # The best record so far; the lesson's best_acc = 0 never saved an all-0% run.
    best = history.best
    sampler = getattr(train_loader, "sampler", None)
    # in a saved notebook, its final state ("epochs: 10/10 in 6:02"), not a stale 0 % widget
    # advanced by hand once an epoch is in the history, so a stopped run counts what it finished
    epoch_bar = progress_bar(total=epochs - done, desc="epochs", disable=not progress, unit="epoch")
    epoch, lr = done, optimizer.param_groups[0]["lr"]
    with runtime.memory_reuse(fast.reuse_memory):  # freed memory back after fit
        try:
            for epoch in range(done + 1, epochs + 1):
                lr = optimizer.param_groups[0]["lr"]  # the rate this epoch starts with
                if hasattr(sampler, "set_epoch"):  # a new order every epoch, the same on every process
                    sampler.set_epoch(epoch)
                start = time.perf_counter()
                totals = _train_epoch(
                    model, train_loader, optimizer, loss_fn, device, amp_dtype=fast.amp_dtype,
                    channels_last=fast.channels_last, scheduler=per_step, scaler=scaler,
                    progress=progress, desc=f"epoch {epoch} train")
                train_acc, train_loss, seen = _rates(sync.sum(totals), "training")
                train_seconds = time.perf_counter() - start
                sync.same_buffers(model)  # every process validates the weights that get saved
                totals = _evaluate_totals(unwrap_model(model), val_loader, val_loss_fn, device,
                                          amp_dtype=fast.amp_dtype,
                                          channels_last=fast.channels_last, progress=progress)
                val_acc, val_loss, _ = _rates(sync.sum(totals), "evaluation")
                record = {
                    "epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                    "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
                    "seconds": time.perf_counter() - start,
                    "images_per_s": seen / train_seconds if train_seconds > 0 else float("nan"),
                }
                if not math.isfinite(val_loss):
                    raise NonFiniteLossError(f"the validation loss became {val_loss}")
                improved = best is None or val_acc > best["val_acc"]
                if improved:
                    if checkpoint_path is not None:
                        save_checkpoint(checkpoint_path, model, epoch=epoch,
                                        metrics={k: record[k] for k in
                                                 ("train_acc", "train_loss", "val_acc", "val_loss")},
                                        **meta)
                    best = record  # only once it is safely on disk
                history.append(record)
                epoch_bar.update(1)
                if checkpoint_path is not None:
                    history.save(history_path(checkpoint_path))
                line = EPOCH_TEMPLATE.format(**record)
                line += f", {record['seconds']:.1f} s, {record['images_per_s']:.0f} img/s"
                emit(line + (" (best: saved)" if improved and checkpoint_path is not None else ""))
                if per_epoch is not None:
                    if isinstance(per_epoch, torch.optim.lr_scheduler.ReduceLROnPlateau):
                        per_epoch.step(val_loss)
                    else:
                        per_epoch.step()
                if on_epoch_end is not None:
                    on_epoch_end(record)
                sync.barrier()  # no process starts the next epoch before the files are written
        except NonFiniteLossError as error:
            raise _stopped(error, history, epoch, lr, best, checkpoint_path) from None
        except KeyboardInterrupt:
            history.interrupted = True
            if checkpoint_path is not None:
                history.save(history_path(checkpoint_path))
            kept = (f"the best checkpoint (epoch {best['epoch']}, val acc {best['val_acc']:.1%}) is "
                    f"intact at {checkpoint_path}" if best and checkpoint_path else "no checkpoint was saved")
            emit(f"Interrupted during epoch {epoch}: returning the history of the {len(history)} "
                 f"finished epoch(s); {kept}.")
        finally:
            epoch_bar.close()
            model.eval()  # whatever happened, leave the model ready for evaluation
    return history


def _stopped(error: NonFiniteLossError, history: History, epoch: int, lr: float, best,
             checkpoint_path) -> NonFiniteLossError:
    """The error fit raises on a non-finite loss: what happened, what to change, what is kept."""
    history.stopped = f"epoch {epoch}: {error}"
    kept = f"the {len(history)} finished epoch(s) are in error.history"
    if checkpoint_path is not None:
        history.save(history_path(checkpoint_path))
        kept += f" and in {history_path(checkpoint_path)}"
        kept += (f"; the best checkpoint (epoch {best['epoch']}, val acc {best['val_acc']:.1%}) "
                 f"is untouched at {checkpoint_path}" if best else "; no checkpoint was saved")
    stopped = NonFiniteLossError(
        f"training stopped in epoch {epoch}: {error}. The weights are no longer usable; lower "
        f"the learning rate (this epoch started at {lr:.2E}), or switch mixed precision off "
        f"(amp=False), and train again. Kept: {kept}.")
    stopped.history = history
    return stopped


def _data_classes(loader) -> list[str] | None:
    """The class names of a loader's dataset (through Subsets), or None if it does not say."""
    dataset = getattr(loader, "dataset", None)
    while isinstance(dataset, torch.utils.data.Subset):
        dataset = dataset.dataset
    classes = getattr(dataset, "classes", None)
    return list(classes) if classes is not None else None


def _check_outputs(model: nn.Module, train_loader) -> None:
    """Refuse a model that cannot answer every class of the data (or has one output)."""
    outputs = _outputs(model)
    if outputs == "?":
        return
    classes = _data_classes(train_loader)
    if classes is not None and outputs < len(classes):
        raise ValueError(f"the model has {outputs} outputs but the data has {len(classes)} "
                         f"classes ({classes}); build it with num_classes={len(classes)}")
    if outputs < 2:
        raise ValueError(f"the model has {outputs} output: a classifier needs at least two "
                         "classes (with one, the loss is always 0 and every answer is right)")
