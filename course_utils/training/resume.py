"""Resuming a run of the training command (`--resume`): OUT/last.pth, read and checked against the
run that asks to continue it, and the history of the epochs it finished.

The command (command.py) writes last.pth after every epoch: a course checkpoint (checkpoints.py)
with the optimizer's state. Every refusal here names the file and says what to pass instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ..i18n import _
from . import transfer
from .checkpoints import CheckpointError, load_checkpoint
from .history import History, history_path


def load_resume_state(path: Path) -> dict:
    """OUT/last.pth: a course checkpoint with the optimizer's state, or an error saying what to
    do."""
    if not path.is_file():
        raise CheckpointError(_("--resume: there is no {name} in {folder!r}, so no run to "
                                "continue; train without --resume first (or check --out)").format(
                                    name=path.name, folder=str(path.parent)))
    state = load_checkpoint(path)
    if "optimizer" not in state or state.get("epoch") is None:
        raise CheckpointError(_("--resume: {path!r} is a course checkpoint without the optimizer's "
                                "state, so training cannot continue from it; resume from the "
                                "last.pth the command wrote").format(path=str(path)))
    return state


def check_resumable(state: Mapping, arch: str, classes: list[str], image_size: int,
                    plan: transfer.TransferPlan | None) -> None:
    """Refuse to continue `state` with another network, other classes, another image size or
    other starting weights (`plan`, the --pretrained flags) than it was trained with."""
    found = (state["arch"], list(state["class_names"]), state["image_size"])
    if found != (arch, classes, image_size):
        raise CheckpointError(_(
            "--resume: {path} trained a {saved_arch} at {saved_size} px on the classes "
            "{saved_classes}, but this run asks for a {arch} at {size} px on {classes}; pass the "
            "same --arch, --image-size and --data to continue it").format(
                path=state["path"], saved_arch=found[0], saved_size=found[2],
                saved_classes=found[1], arch=arch, size=image_size, classes=classes))
    if differs := transfer.resume_mismatch(plan, state):
        raise CheckpointError(_("--resume: {path} cannot continue this run: {why}").format(
            path=state["path"], why=differs))


def resume_history(checkpoint: Path, epochs_done: int) -> History:
    """The history next to `checkpoint` (OUT/best.pth), cut to the `epochs_done` of last.pth."""
    path = history_path(checkpoint)
    past = History.load(path) if path.is_file() else History()
    if len(past) < epochs_done:
        raise CheckpointError(_("--resume: {path!r} has {count} epochs but the resume state says "
                                "{done} are done; the folder is inconsistent").format(
                                    path=str(path), count=len(past), done=epochs_done))
    # A stop between the history and the resume state leaves the history one epoch ahead.
    return History(past[:epochs_done])
