"""Checkpoints: weights plus the plain facts needed to use them again, written so nothing is lost.

A course checkpoint is a dict of tensors and plain Python values (str, int, float, bool, None,
lists, dicts). That is exactly what `torch.load(..., weights_only=True)` accepts, so loading
one can never run code hidden in the file (a plain `torch.load` unpickles arbitrary objects).
The lesson's `torch.save(best_model.state_dict(), PATH)` kept the weights but not the class
names, image size or normalisation; without them nobody can use the file for prediction.
"""

from __future__ import annotations

import contextlib
import errno
import numbers
import os
import pickle
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO

import torch
from torch import nn

FORMAT = "course_utils.checkpoint/1"  # bump when the layout changes
_RESERVED = ("format", "arch", "class_names", "num_classes", "image_size", "mean", "std",
             "epoch", "metrics", "saved_at", "torch_version", "state_dict", "path")


class CheckpointError(ValueError):
    """A checkpoint that is not a course checkpoint, or that does not fit the model."""


class CheckpointWriteError(OSError):
    """A checkpoint (or history) that cannot be written where it was asked for."""


# --------------------------------------------------------------------------- writing safely


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None]) -> Path:
    """Call `write(file)` on a temporary file next to `path`, then rename it over `path`.

    Readers see either the old file or the complete new one, never half of it: a crash, a
    full disk or Ctrl-C during the write leaves the old file as it was and removes the
    temporary file. The temporary file sits in the same folder because a rename is only
    atomic within one file system. Its name holds the writer's process id, so temporary
    files of a process that was killed mid-write are removed on the next write of `path`.
    """
    path = Path(path)
    check_writable(path)
    _remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                               dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
        if os.name == "posix":  # make the rename itself survive a power cut
            with contextlib.suppress(OSError):
                dir_fd = os.open(path.parent, os.O_RDONLY)
                try:
                    os.fsync(dir_fd)
                finally:
                    os.close(dir_fd)
    except BaseException as error:  # KeyboardInterrupt too: never leave a stray temporary file
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(error, (OSError, RuntimeError)) and _disk_full(error):
            free = shutil.disk_usage(path.parent).free
            raise CheckpointWriteError(
                errno.ENOSPC, f"could not write {str(path)!r}: the disk is full ({free / 1e6:.0f} MB "
                f"free there; a ResNet-50 checkpoint needs about 100 MB). Free some space or "
                f"choose another folder; the previous file at that path is unchanged") from error
        raise
    return path


def _disk_full(error: BaseException) -> bool:
    # torch.save reports a full disk as a RuntimeError from its zip writer
    # ("[enforce fail at inline_container.cc:...] . unexpected pos ..."), not as ENOSPC.
    return (getattr(error, "errno", None) in (errno.ENOSPC, errno.EDQUOT)
            or "unexpected pos" in str(error) or "No space left" in str(error))


def check_writable(path: str | os.PathLike) -> Path:
    """Raise CheckpointWriteError now unless a file can be written at `path`: it must not be a
    folder, and its folder must exist (or be creatable) and accept a new file (tried for real:
    permission bits say nothing about read-only mounts, and root ignores them)."""
    path = Path(path)
    if path.is_dir():
        raise CheckpointWriteError(
            errno.EISDIR, f"cannot write the checkpoint {str(path)!r}: it is a folder; give a "
            f"file name, e.g. {str(path / 'best.pth')!r}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp",
                                   dir=path.parent)
        os.close(fd)
        os.unlink(tmp)
    except OSError as error:
        raise CheckpointWriteError(
            error.errno, f"cannot write files in {str(path.parent)!r} (for {path.name!r}): "
            f"{error.strerror or error}; choose a folder you can write to, such as runs/ in "
            "the course folder") from error
    return path


_STALE_AFTER_S = 3600  # a temporary file without a process id: stale after an hour


def _remove_stale_temporaries(path: Path) -> None:
    """Delete `.{name}.{pid}.xxxx.tmp` files next to `path` whose process no longer runs."""
    pattern = re.compile(re.escape(f".{path.name}.") + r"(?:(\d+)\.)?[A-Za-z0-9_]+\.tmp")
    for candidate in path.parent.glob(f".{glob_escape(path.name)}.*.tmp"):
        match = pattern.fullmatch(candidate.name)
        if not match:
            continue
        pid = int(match.group(1)) if match.group(1) else None
        with contextlib.suppress(OSError):
            if pid == os.getpid():
                continue  # our own, being written by another thread
            if pid is not None and os.name == "posix":
                stale = not _running(pid)
            else:  # no id, or Windows (os.kill there would end the process)
                stale = time.time() - candidate.stat().st_mtime > _STALE_AFTER_S
            if stale:
                candidate.unlink()


def glob_escape(name: str) -> str:
    return re.sub(r"([*?[])", r"[\1]", name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # it exists, under another user
    return True


def _plain(value, where: str):
    """`value` as str/int/float/bool/None/list/dict, or a TypeError naming where it sits."""
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return value.item()
    if isinstance(value, numbers.Integral):  # numpy integers too
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        out = {}
        for key, v in value.items():
            if not isinstance(key, str):
                raise TypeError(f"checkpoint metadata {where} has the key {key!r}; keys must be strings")
            out[key] = _plain(v, f"{where}.{key}")
        return out
    raise TypeError(
        f"checkpoint metadata {where} is a {type(value).__name__} ({value!r:.60}); only str, int, "
        "float, bool, None, lists and dicts are stored, so the file loads with weights_only=True")


def classifier_key(state_dict: Mapping[str, torch.Tensor]) -> str:
    """Name of the last 2-D weight in a state dict: the classifier head (`fc.weight` in a ResNet)."""
    keys = [k for k, v in state_dict.items() if k.endswith("weight") and v.dim() == 2]
    if not keys:
        raise CheckpointError("the model has no linear layer, so its number of outputs is unknown")
    return keys[-1]


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain model inside the wrappers that rename its weights: DistributedDataParallel and
    DataParallel hold it as `.module` (keys `module.conv1.weight`), torch.compile as `._orig_mod`.

    Checkpoints store the plain names, so a file from a DDP run loads into a plain model and back.
    """
    while True:
        if isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


_unwrap = unwrap_model  # the name the rest of this module uses


def check_head(model: nn.Module, class_names: list[str], where: str = "the model") -> None:
    """Raise CheckpointError unless the model's classifier has one output per class name."""
    state = _unwrap(model).state_dict()
    key = classifier_key(state)
    outputs = state[key].shape[0]
    if outputs != len(class_names):
        raise CheckpointError(
            f"{where} has {outputs} outputs ({key} is {list(state[key].shape)}) but there are "
            f"{len(class_names)} class names ({list(class_names)}); build it with "
            f"num_classes={len(class_names)}")


def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    *,
    arch: str,
    class_names: list[str],
    image_size: int,
    mean: tuple[float, ...] | list[float],
    std: tuple[float, ...] | list[float],
    epoch: int | None = None,
    metrics: Mapping | None = None,
    **extra,
) -> Path:
    """Write the model's weights and plain metadata to `path` atomically; returns the path."""
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise TypeError(f"save_checkpoint: extra metadata may not use the reserved names {clash}")
    class_names = [str(name) for name in class_names]
    check_head(model, class_names)
    if len(mean) != len(std):
        raise ValueError(f"mean {list(mean)} and std {list(std)} must have one value per channel")
    payload = {
        "format": FORMAT,
        "arch": str(arch),
        "class_names": class_names,
        "num_classes": len(class_names),
        "image_size": int(image_size),
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
        "epoch": None if epoch is None else int(epoch),
        "metrics": _plain(dict(metrics or {}), "metrics"),
        "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "torch_version": torch.__version__.split("+")[0],
        **_plain(extra, "extra"),
    }
    # CPU and contiguous, so the file loads on any machine whatever device or memory format
    # (channels-last) the model was trained with.
    payload["state_dict"] = {k: v.detach().to("cpu").contiguous()
                             for k, v in _unwrap(model).state_dict().items()}
    return atomic_write(path, lambda f: torch.save(payload, f))


# --------------------------------------------------------------------------- reading safely


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    """Load a course checkpoint with weights_only=True; clear errors for a wrong or missing file."""
    path = Path(path)
    if not path.is_file():
        hint = " (it is a folder)" if path.is_dir() else ""
        raise FileNotFoundError(
            f"no checkpoint file at {str(path)!r}{hint} (absolute: {str(path.absolute())!r}); "
            "train with fit(..., checkpoint_path=...) first, or check the path")
    _check_map_location(map_location)
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError) as error:
        raise CheckpointError(
            f"cannot load {str(path)!r} as a checkpoint with weights_only=True: "
            f"{str(error).splitlines()[0] if str(error) else type(error).__name__}. It is corrupt, "
            "not a PyTorch file, or it pickles whole objects (such as a model saved with "
            "torch.save(model)); only tensors and plain values are accepted.") from error
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        if isinstance(data, dict) and data and all(isinstance(v, torch.Tensor) for v in data.values()):
            raise CheckpointError(
                f"{str(path)!r} is a bare state dict (like the lesson's "
                "torch.save(model.state_dict(), PATH)), not a course checkpoint: it has no class "
                "names, image size or normalisation. Load it with model.load_state_dict("
                "torch.load(path, weights_only=True)), or re-save it with save_checkpoint(...).")
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CheckpointError(
            f"{str(path)!r} is not a course checkpoint (expected format {FORMAT!r}, found "
            f"{found!r}); write checkpoints with course_utils.checkpoints.save_checkpoint")
    data["path"] = str(path)  # not stored; lets later error messages name the file
    return data


def _check_map_location(map_location) -> None:
    """A device that does not exist here gets its own message, not "corrupt or not a file"."""
    if not isinstance(map_location, (str, torch.device)):
        return  # a dict or a function: torch checks it
    device = torch.device(map_location)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"map_location={str(map_location)!r}, but torch sees no CUDA GPU on "
                           "this machine; load with map_location='cpu' (the course's checkpoints "
                           "load on any device)")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise RuntimeError(f"map_location={str(map_location)!r}, but Apple's MPS is not available "
                           "here; load with map_location='cpu'")


def checkpoint_meta(checkpoint: Mapping) -> dict:
    """Everything but the weights: class names, image size, mean/std, epoch, metrics, ..."""
    return {k: v for k, v in checkpoint.items() if k != "state_dict"}


def load_into(model: nn.Module, checkpoint: Mapping | str | os.PathLike, *,
              arch: str | None = None) -> nn.Module:
    """Copy a checkpoint's weights into `model`, or explain exactly why they do not fit."""
    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(checkpoint)
    where = f"checkpoint {checkpoint.get('path', '(in memory)')}"
    if arch is not None and arch != checkpoint["arch"]:
        raise CheckpointError(
            f"{where} holds a {checkpoint['arch']!r} but the model is a {arch!r}; build a "
            f"{checkpoint['arch']} (or use model_from_checkpoint)")
    saved = checkpoint["state_dict"]
    target = _unwrap(model)
    current = target.state_dict()

    # The most common mistake first: the same network built for another number of classes.
    head = classifier_key(saved)
    if head in current and current[head].shape[0] != saved[head].shape[0]:
        names = checkpoint["class_names"]
        raise CheckpointError(
            f"{where} was trained for {len(names)} classes ({names}) but the model has "
            f"{current[head].shape[0]} outputs ({head} is {list(current[head].shape)}); build the "
            f"model with num_classes={len(names)}, or train a new checkpoint for your classes")

    missing = [k for k in current if k not in saved]
    unexpected = [k for k in saved if k not in current]
    reshaped = [f"{k}: checkpoint {list(saved[k].shape)} vs model {list(current[k].shape)}"
                for k in saved if k in current and saved[k].shape != current[k].shape]
    if missing or unexpected or reshaped:
        details = []
        if missing:
            details.append(f"{len(missing)} model tensors not in the checkpoint (e.g. {missing[:3]})")
        if unexpected:
            details.append(f"{len(unexpected)} checkpoint tensors not in the model (e.g. {unexpected[:3]})")
        if reshaped:
            details.append(f"{len(reshaped)} shapes differ (e.g. {reshaped[:2]})")
        raise CheckpointError(
            f"{where} holds a {checkpoint['arch']!r} whose layers do not match this model: "
            + "; ".join(details) + f". Build a {checkpoint['arch']} with "
            f"num_classes={checkpoint['num_classes']}")
    target.load_state_dict(saved, strict=True)
    return model


def model_from_checkpoint(
    checkpoint: Mapping | str | os.PathLike,
    builder: Callable[..., nn.Module],
    device: str | torch.device = "cpu",
) -> nn.Module:
    """A fresh model from `builder(num_classes=...)` with the checkpoint's weights, in eval mode.

    Example: `model_from_checkpoint("runs/best.pth", models.resnet50)`.
    """
    if not isinstance(checkpoint, Mapping):
        checkpoint = load_checkpoint(checkpoint)
    model = builder(num_classes=checkpoint["num_classes"])
    load_into(model, checkpoint)
    return model.to(device).eval()
