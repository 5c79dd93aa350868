"""`fit`: the loops (loops.py) epoch after epoch, keeping the best.

It adds what the lesson's loop did by hand, or not at all: the best checkpoint written to disk as
soon as it improves (the lesson kept a deepcopy and saved it at the very end, so a crash or
Ctrl-C lost everything), the history saved after every epoch, a learning-rate schedule
(schedules.py), the speed settings chosen from the hardware (speed.py), a clean stop on Ctrl-C or
on a non-finite loss, and resuming. `fit` itself is the loop; the checks before it and the
messages after it are below it.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ..files import check_writable
from ..i18n import _, ngettext
from ..run_meta import RunMeta
from ..runtime import precision_name
from . import loops, schedules
from .allocator import memory_reuse
from .checkpoints import check_head, save_checkpoint, unwrap_model
from .distributed import LocalSync
from .history import History, history_path
from .loops import NonFiniteLossError
from .progress import progress_bar
from .progress import write as write_above_bars
from .speed import Speed, speed_for

# The lesson's per-epoch line, with the split it really measures named ("Test" was the
# validation split: it chose the best epoch, so it is no longer an unbiased test).
EPOCH_TEMPLATE = ("Epoch:{epoch:2d}, Train_acc:{train_acc:.1%}, Train_loss:{train_loss:.3f}, "
                  "Test_acc (val):{val_acc:.1%}, Test_loss:{val_loss:.3f}, Lr:{lr:.2E}")
METRICS = ("train_acc", "train_loss", "val_acc", "val_loss")  # what the checkpoint records


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
    speed: Speed | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    meta: RunMeta | Mapping | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    on_epoch_end: Callable[[dict], None] | None = None,
    resume_history: Sequence[Mapping] | None = None,
    sync: LocalSync | None = None,
) -> History:
    """Train for `epochs`, validate after each, save the best checkpoint; returns the History.

    The recipe: `optimizer`, `loss_fn` (default CrossEntropyLoss; validated without label
    smoothing) and `scheduler` (see schedules.py); `recipes.Recipe.build` makes all three.
    `speed`: a Speed (speed.py), default `speed_for(device)`; validation always runs in fp32.
    `checkpoint_path` + `meta` (a RunMeta, e.g. `data.run_meta("resnet50")`): the best epoch by
    validation accuracy is written there with the training precision, the history next to it
    after every epoch. `log` gets the per-epoch lines (None:
    nowhere); `on_epoch_end(record)` is called after each epoch. `resume_history`: the epochs a
    stopped run finished (restore its model and optimizer yourself); `sync`: the processes of a
    torchrun job (distributed.py). A NaN loss raises NonFiniteLossError (`error.history` holds
    the finished epochs); Ctrl-C returns the history with `history.interrupted = True`. The
    model ends in eval mode with the last epoch's weights; the best are in the checkpoint.
    """
    device = torch.device(device)
    loss_fn = loss_fn if loss_fn is not None else nn.CrossEntropyLoss()
    val_loss_fn = _validation_loss(loss_fn)
    speed = _checked(speed, device)
    evaluation = speed.for_evaluation()  # validation in fp32, whatever training runs in
    sync = sync if sync is not None else LocalSync()
    history = History(dict(record) for record in resume_history or ())
    done = len(history)
    meta = _check_run(model, train_loader, epochs, done, checkpoint_path, meta)
    emit = write_above_bars if log is print else (log or (lambda line: None))
    model.to(device)  # keeps the same Parameter objects, so the optimizer still holds them
    if speed.channels_last:
        model.to(memory_format=torch.channels_last)
    scaler = torch.amp.GradScaler(device.type) if speed.amp_dtype == torch.float16 else None
    per_epoch, per_step = schedules.split(scheduler, optimizer, epochs, len(train_loader))
    schedules.catch_up(per_epoch, per_step, done, len(train_loader))
    emit(_first_line(epochs, done, device, speed, train_loader, val_loader, sync))

    best = history.best  # the best record so far; the lesson's best_acc = 0 never saved 0 %
    sampler = getattr(train_loader, "sampler", None)
    epoch_bar = progress_bar(total=epochs - done, desc="epochs", disable=not progress, unit="epoch")
    epoch, lr = done, optimizer.param_groups[0]["lr"]
    with memory_reuse(speed.tune_allocator):  # only if asked for; given back after fit
        try:
            for epoch in range(done + 1, epochs + 1):
                lr = optimizer.param_groups[0]["lr"]  # the rate this epoch starts with
                if hasattr(sampler, "set_epoch"):  # a new order every epoch, the same everywhere
                    sampler.set_epoch(epoch)
                start = time.perf_counter()
                totals = loops.train_epoch_totals(
                    model, train_loader, optimizer, loss_fn, device, amp_dtype=speed.amp_dtype,
                    channels_last=speed.channels_last, scheduler=per_step, scaler=scaler,
                    progress=progress, desc=f"epoch {epoch} train")
                train_acc, train_loss, seen = loops.rates(sync.sum(totals), "training")
                train_seconds = time.perf_counter() - start
                sync.same_buffers(model)  # every process validates the weights that get saved
                totals = loops.evaluate_totals(
                    unwrap_model(model), val_loader, val_loss_fn, device,
                    amp_dtype=evaluation.amp_dtype, channels_last=evaluation.channels_last,
                    progress=progress)
                val_acc, val_loss, _seen = loops.rates(sync.sum(totals), "evaluation")
                record = {"epoch": epoch, "train_loss": train_loss, "train_acc": train_acc,
                          "val_loss": val_loss, "val_acc": val_acc, "lr": lr,
                          "seconds": time.perf_counter() - start,
                          "images_per_s": seen / train_seconds if train_seconds > 0 else math.nan}
                if not math.isfinite(val_loss):
                    raise NonFiniteLossError(_("the validation loss became {loss}").format(
                        loss=val_loss))
                improved = best is None or val_acc > best["val_acc"]
                if improved and checkpoint_path is not None:
                    save_checkpoint(checkpoint_path, model, epoch=epoch,
                                    metrics={k: record[k] for k in METRICS},
                                    training_precision=precision_name(speed.amp_dtype), **meta)
                best = record if improved else best  # only once it is safely on disk
                history.append(record)
                epoch_bar.update(1)
                if checkpoint_path is not None:
                    history.save(history_path(checkpoint_path))
                emit(_epoch_line(record, saved=improved and checkpoint_path is not None))
                schedules.end_of_epoch(per_epoch, val_loss)
                if on_epoch_end is not None:
                    on_epoch_end(record)
                sync.barrier()  # no process starts the next epoch before the files are written
        except NonFiniteLossError as error:
            raise _stopped(error, history, epoch, lr, best, checkpoint_path) from None
        except KeyboardInterrupt:
            emit(_interrupted(history, epoch, epochs, best, checkpoint_path))
        finally:
            epoch_bar.close()
            model.eval()  # whatever happened, leave the model ready for evaluation
    return history


# --------------------------------------------------------------------------- before the loop


def _checked(speed: Speed | None, device: torch.device) -> Speed:
    if speed is not None and not isinstance(speed, Speed):
        raise TypeError(_("speed={value!r}; expected a Speed (see training.speed.speed_for) or "
                          "None").format(value=speed))
    return speed_for(device) if speed is None else speed.checked()


def _check_run(model: nn.Module, train_loader, epochs: int, done: int, checkpoint_path,
               meta) -> RunMeta | None:
    """Everything that would otherwise fail after an epoch's work; returns the checked meta."""
    if epochs < 1:
        raise ValueError(_("epochs={epochs}; expected at least 1").format(epochs=epochs))
    if done >= epochs:
        raise ValueError(ngettext(
            "the run to resume has already finished {done} epoch(s) and epochs={epochs}; ask for "
            "more epochs in all to train further",
            "the run to resume has already finished {done} epoch(s) and epochs={epochs}; ask for "
            "more epochs in all to train further", done).format(done=done, epochs=epochs))
    if checkpoint_path is not None:
        meta = RunMeta.of(meta or {}, where=f"fit(checkpoint_path={str(checkpoint_path)!r})")
        check_head(model, list(meta.class_names))
        check_writable(checkpoint_path)
    _check_outputs(model, train_loader)
    return meta


def _validation_loss(loss_fn: Callable) -> Callable:
    """The loss fit reports on validation: plain cross-entropy when training smooths labels.

    Label smoothing changes what training minimises, not what a prediction is worth; plain
    cross-entropy keeps validation losses comparable between recipes and with ln(classes).
    """
    if type(loss_fn) is nn.CrossEntropyLoss and loss_fn.label_smoothing > 0:
        return nn.CrossEntropyLoss(weight=loss_fn.weight, ignore_index=loss_fn.ignore_index,
                                   reduction=loss_fn.reduction)
    return loss_fn


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
        raise ValueError(_("the model has {outputs} outputs but the data has {count} classes "
                           "({classes}); build it with num_classes={count}").format(
                               outputs=outputs, count=len(classes), classes=classes))
    if outputs < 2:
        raise ValueError(_("the model has {outputs} output: a classifier needs at least two "
                           "classes (with one, the loss is always 0 and every answer is "
                           "right)").format(outputs=outputs))


# --------------------------------------------------------------------------- what fit prints


def _first_line(epochs: int, done: int, device: torch.device, speed: Speed, train_loader,
                val_loader, sync: LocalSync) -> str:
    val_size = loops.dataset_size(val_loader)
    if isinstance(val_size, int):  # each process may validate on its own share of the images
        size = torch.tensor(val_size, dtype=loops.sum_dtype(device), device=device)
        val_size = int(sync.sum(size))
    return (f"fit: {epochs} epochs on {device} | {speed.describe()} | validation in fp32 | "
            f"{loops.dataset_size(train_loader)} train / {val_size} val images"
            + (f" | resuming after epoch {done}" if done else ""))


def _epoch_line(record: dict, saved: bool) -> str:
    line = EPOCH_TEMPLATE.format(**record)
    line += f", {record['seconds']:.1f} s, {record['images_per_s']:.0f} img/s"
    return line + (" (best: saved)" if saved else "")


def _interrupted(history: History, epoch: int, epochs: int, best, checkpoint_path) -> str:
    """Ctrl-C: mark and save the history; the line that says when it came and what is kept."""
    history.interrupted = True
    if checkpoint_path is not None:
        history.save(history_path(checkpoint_path))
    kept = _("no checkpoint was saved")
    if best and checkpoint_path:
        kept = _("the best checkpoint (epoch {epoch}, val acc {val_acc:.1%}) is intact at "
                 "{path}").format(epoch=best["epoch"], val_acc=best["val_acc"],
                                  path=checkpoint_path)
    finished = len(history)
    returned = (_("an empty history: no epoch finished") if finished == 0 else
                ngettext("the history of the {count} finished epoch",
                         "the history of the {count} finished epochs", finished).format(
                             count=finished))
    if history and history[-1]["epoch"] == epoch:  # after the epoch's line (e.g. in on_epoch_end)
        line = _("Interrupted after epoch {epoch} of {epochs}: returning {returned}; {kept}.")
    else:
        line = _("Interrupted during epoch {epoch} of {epochs}, which is not recorded: returning "
                 "{returned}; {kept}.")
    return line.format(epoch=epoch, epochs=epochs, returned=returned, kept=kept)


def _stopped(error: NonFiniteLossError, history: History, epoch: int, lr: float, best,
             checkpoint_path) -> NonFiniteLossError:
    """The error fit raises on a non-finite loss: what happened, what to change, what is kept."""
    history.stopped = f"epoch {epoch}: {error}"
    count = len(history)
    saved = None if checkpoint_path is None else history_path(checkpoint_path)
    if saved is not None:
        history.save(saved)
    kept = (ngettext("the {count} finished epoch(s) are in error.history",
                     "the {count} finished epoch(s) are in error.history", count)
            if saved is None else
            ngettext("the {count} finished epoch(s) are in error.history and in {history}; the "
                     "best checkpoint (epoch {epoch}, val acc {val_acc:.1%}) is untouched at "
                     "{path}",
                     "the {count} finished epoch(s) are in error.history and in {history}; the "
                     "best checkpoint (epoch {epoch}, val acc {val_acc:.1%}) is untouched at "
                     "{path}", count) if best else
            ngettext("the {count} finished epoch(s) are in error.history and in {history}; no "
                     "checkpoint was saved",
                     "the {count} finished epoch(s) are in error.history and in {history}; no "
                     "checkpoint was saved", count))
    best = best or {"epoch": None, "val_acc": 0.0}
    kept = kept.format(count=count, history=saved, path=checkpoint_path, epoch=best["epoch"],
                       val_acc=best["val_acc"])
    stopped = NonFiniteLossError(_(
        "training stopped in epoch {epoch}: {error}. The weights are no longer usable; lower the "
        "learning rate (this epoch started at {lr:.2E}), or switch mixed precision off "
        "(speed=speed_for(device, amp=False)), and train again. Kept: {kept}.").format(
            epoch=epoch, error=error, lr=lr, kept=kept))
    stopped.history = history
    return stopped
