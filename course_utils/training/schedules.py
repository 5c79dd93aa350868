"""Learning-rate schedules in `fit`: which are stepped per batch, which per epoch, and resuming.

`fit(..., scheduler=...)` takes None, "cosine" (per epoch), "onecycle" (per batch, peak = the
optimizer's lr), a torch.optim.lr_scheduler.OneCycleLR (stepped after every batch; its length
must be epochs x len(train_loader)) or any other LR scheduler object, stepped once per epoch
(ReduceLROnPlateau gets the validation loss).
"""

from __future__ import annotations

import warnings

import torch


def split(scheduler, optimizer, epochs: int, steps_per_epoch: int):
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


def catch_up(per_epoch, per_step, epochs_done: int, steps_per_epoch: int) -> None:
    """Move fresh schedulers to where a resumed run stopped: their rate depends only on the step,
    so a checkpoint needs no scheduler state (ReduceLROnPlateau, which depends on the past
    validation losses, is refused)."""
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


def end_of_epoch(per_epoch, val_loss: float) -> None:
    """Step a per-epoch scheduler once an epoch is done (ReduceLROnPlateau on the val loss)."""
    if per_epoch is None:
        return
    if isinstance(per_epoch, torch.optim.lr_scheduler.ReduceLROnPlateau):
        per_epoch.step(val_loss)
    else:
        per_epoch.step()
