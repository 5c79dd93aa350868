"""Training: `fit` runs the loops (loops.py) for you, epoch after epoch, and keeps the best.

It adds what the lesson's loop did by hand, or not at all: the best checkpoint written to disk as
soon as it improves (the lesson kept a deepcopy and saved it at the very end, so a crash or
Ctrl-C lost everything), the history saved after every epoch, a learning-rate schedule, the fast
path chosen from the hardware, a clean stop on Ctrl-C or on a non-finite loss, and resuming.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from . import loops
from .checkpoints import RunMeta, check_head, save_checkpoint, unwrap_model
from .fastpath import FastPath, fast_path, precision_name
from .files import check_writable
from .history import History, history_path
from .loops import NonFiniteLossError, evaluate, predict_loader, train_one_epoch
from .malloc_tuning import memory_reuse
from .progress import progress_bar
from .progress import write as write_above_bars

__all__ = [  # the loops and the history are re-exported: the notebooks import them from here
    "EPOCH_TEMPLATE", "History", "LocalSync", "NonFiniteLossError", "decay_groups", "evaluate",
    "fit", "history_path", "predict_loader", "train_one_epoch",
]


# The lesson's per-epoch line, with the split it really measures named ("Test" was the
# validation split: it chose the best epoch, so it is no longer an unbiased test).
EPOCH_TEMPLATE = ("Epoch:{epoch:2d}, Train_acc:{train_acc:.1%}, Train_loss:{train_loss:.3f}, "
                  "Test_acc (val):{val_acc:.1%}, Test_loss:{val_loss:.3f}, Lr:{lr:.2E}")


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
                f"take {epochs} epochs x {steps_per_epoch} batches = {wanted} steps; create it "
                f"with epochs=EPOCHS, steps_per_epoch=len(train_loader)")
        return None, scheduler
    return scheduler, None


def _fast_forward(per_epoch, per_step, epochs_done: int, steps_per_epoch: int) -> None:
    """Move fresh schedulers to where a resumed run stopped: their rate depends only on the step."""
    if not epochs_done:
        return
    if isinstance(per_epoch, torch.optim.lr_scheduler.ReduceLROnPlateau):
        raise ValueError("ReduceLROnPlateau depends on the past validation losses, so a resumed "
                         "run cannot rebuild it; resume with a schedule that depends on the step "
                         "only")
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
    meta: RunMeta | Mapping | None = None,
    fast: FastPath | None = None,
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
    - checkpoint_path + meta (a checkpoints.RunMeta, e.g. `data.run_meta("resnet50")`, or a
      dict with arch, class_names, image_size, mean, std and any plain extras): the best epoch
      by validation accuracy is written there atomically, and the history next to it as JSON
      after every epoch.
    - fast: how a training step runs (mixed precision, channels-last, memory reuse); None takes
      the choice that is faster on this hardware, `fastpath.fast_path(device)`; pass e.g.
      `fast_path(device, amp=False)` or `FastPath()` (plain fp32) to choose yourself. Memory
      reuse (CPU, Linux: see malloc_tuning) keeps freed memory while fit runs, gives it back after.
      Validation always runs in fp32 (`FastPath.for_evaluation`), so its numbers match a later
      `evaluate` on any machine; the checkpoint records the training precision.
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
        raise ValueError(f"the run to resume has already finished {done} epoch(s) and "
                         f"epochs={epochs}; ask for more epochs in all to train further")

    if checkpoint_path is not None:  # checked now, not after an epoch that would be lost
        meta = RunMeta.of(meta or {}, where=f"fit(checkpoint_path={str(checkpoint_path)!r})")
        check_head(model, list(meta.class_names))
        check_writable(checkpoint_path)
    _check_outputs(model, train_loader)

    if fast is not None and not isinstance(fast, FastPath):
        raise TypeError(f"fast={fast!r}; expected a FastPath (see fastpath.fast_path) or None")
    fast = fast_path(device) if fast is None else fast.checked()
    evaluation = fast.for_evaluation()  # validation in fp32, whatever training runs in
    model.to(device)  # keeps the same Parameter objects, so the optimizer still holds them
    if fast.channels_last:
        model.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(device.type) if fast.amp_dtype == torch.float16 else None
    per_epoch, per_step = _make_scheduler(scheduler, optimizer, epochs, len(train_loader))
    _fast_forward(per_epoch, per_step, done, len(train_loader))
    val_size = loops.dataset_size(val_loader)
    if isinstance(val_size, int):  # each process may validate on its own share of the images
        size = torch.tensor(val_size, dtype=loops.sum_dtype(device), device=device)
        val_size = int(sync.sum(size))
    emit(f"fit: {epochs} epochs on {device} | {fast.describe()} | validation in fp32 | "
         f"{loops.dataset_size(train_loader)} train / {val_size} val images"
         + (f" | resuming after epoch {done}" if done else ""))

    # The best record so far; the lesson's best_acc = 0 never saved an all-0% run.
    best = history.best
    sampler = getattr(train_loader, "sampler", None)
    # in a saved notebook, its final state ("epochs: 10/10 in 6:02"), not a stale 0 % widget;
    # advanced by hand once an epoch is in the history, so a stopped run counts what it finished
    epoch_bar = progress_bar(total=epochs - done, desc="epochs", disable=not progress, unit="epoch")
    epoch, lr = done, optimizer.param_groups[0]["lr"]
    with memory_reuse(fast.reuse_memory):  # freed memory back after fit
        try:
            for epoch in range(done + 1, epochs + 1):
                lr = optimizer.param_groups[0]["lr"]  # the rate this epoch starts with
                # a new order every epoch, the same on every process
                if hasattr(sampler, "set_epoch"):
                    sampler.set_epoch(epoch)
                start = time.perf_counter()
                totals = loops.train_epoch_totals(
                    model, train_loader, optimizer, loss_fn, device, amp_dtype=fast.amp_dtype,
                    channels_last=fast.channels_last, scheduler=per_step, scaler=scaler,
                    progress=progress, desc=f"epoch {epoch} train")
                train_acc, train_loss, seen = loops.rates(sync.sum(totals), "training")
                train_seconds = time.perf_counter() - start
                sync.same_buffers(model)  # every process validates the weights that get saved
                totals = loops.evaluate_totals(unwrap_model(model), val_loader, val_loss_fn, device,
                                               amp_dtype=evaluation.amp_dtype,
                                               channels_last=evaluation.channels_last,
                                               progress=progress)
                val_acc, val_loss, _ = loops.rates(sync.sum(totals), "evaluation")
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
                                        metrics={k: record[k] for k in ("train_acc", "train_loss",
                                                                        "val_acc", "val_loss")},
                                        training_precision=precision_name(fast.amp_dtype),
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
            kept = "no checkpoint was saved"
            if best and checkpoint_path:
                kept = (f"the best checkpoint (epoch {best['epoch']}, val acc "
                        f"{best['val_acc']:.1%}) is intact at {checkpoint_path}")
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
        f"(fast=fast_path(device, amp=False)), and train again. Kept: {kept}.")
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
    outputs = loops.model_outputs(model)
    if outputs == "?":
        return
    classes = _data_classes(train_loader)
    if classes is not None and outputs < len(classes):
        raise ValueError(f"the model has {outputs} outputs but the data has {len(classes)} "
                         f"classes ({classes}); build it with num_classes={len(classes)}")
    if outputs < 2:
        raise ValueError(f"the model has {outputs} output: a classifier needs at least two "
                         "classes (with one, the loss is always 0 and every answer is right)")
