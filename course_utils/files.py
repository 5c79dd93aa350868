"""Files the course writes: all at once or not at all, where they may go, in a run's folder.

A checkpoint or a history is written to a temporary name beside its place and renamed over it
at the end, so a crash, a full disk or Ctrl-C leaves the previous file intact, never half a
new one. Benchmarks write their reports the same way.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from .runtime import fast_mode


class CheckpointWriteError(OSError):
    """A checkpoint (or history) that cannot be written where it was asked for."""


# --------------------------------------------------------------------------- writing safely


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], None], *,
                 durable: bool = True) -> Path:
    """Call `write(file)` on a temporary file next to `path`, then rename it over `path`.

    Readers see either the old file or the complete new one, never half of it: a crash, a
    full disk or Ctrl-C during the write leaves the old file as it was and removes the
    temporary file. The temporary file sits in the same folder because a rename is only
    atomic within one file system. Its name holds the writer's process id, so temporary
    files of a process that was killed mid-write are removed on the next write of `path`.

    `durable=False` skips the two fsyncs that make the new file survive a power cut: for files
    that can be made again (the decode cache), whose reader checks them anyway.
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
            if durable:
                os.fsync(f.fileno())  # the bytes are on disk before the name points at them
        os.replace(tmp, path)
        if durable and os.name == "posix":  # make the rename itself survive a power cut
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
                errno.ENOSPC,
                f"could not write {str(path)!r}: the disk is full ({free / 1e6:.0f} MB "
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


# --------------------------------------------------------------------------- a run's folder


def repository() -> Path:
    """The course's folder (the one with pyproject.toml and notebooks/), found from this file."""
    return Path(__file__).resolve().parent.parent


def run_folder(name: str, fast: bool | None = None) -> Path:
    """Where a chapter's run keeps its checkpoint and history: the repository's runs/<name>.

    In fast mode (COURSE_FAST=1, or fast=True) it is runs/<name>-fast, so a quick test run never
    overwrites the real model. Git ignores runs/.
    """
    fast = fast_mode() if fast is None else fast
    return repository() / "runs" / (f"{name}-fast" if fast else name)


def shown(path: str | os.PathLike) -> str:
    """`path` as the notebooks print it: relative to the repository, so no machine's layout
    (user name, home folder) ends up in a notebook's stored output."""
    path = Path(path).resolve()
    try:
        return path.relative_to(repository()).as_posix()
    except ValueError:
        return path.name
