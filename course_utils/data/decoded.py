"""Decode once: each image is decoded at the size training needs once, later epochs read the copy.

A 12-megapixel phone photo takes about 80 ms to decode and a ResNet-50 at 40 pixels trains on it
in about 15, so an epoch that decodes every file again costs what decoding costs. Here the first
read of a file decodes it at the size its transforms need (`load_rgb(path, size)`: JPEG draft
mode, then the resize the transform would have done) and keeps that copy; later reads, in this
epoch or the next, or in the next run, take the copy. The transforms still run on every read, so
every epoch has fresh augmentation, and an evaluation image is exactly what `load_rgb(path, size)`
gives (tests/test_decoded.py compares it with decoding the full image).

Where the copies live (`DecodedImages.load`):

* **in memory** while this process's copies take at most `MEMORY_BUDGET` (1 GiB: 2,400 images at
  40 px take 15 MB, at 224 px 0.5 GB) and one process reads the data (no loader workers, no
  data-parallel processes);
* **on disk** otherwise, under data/decoded/ (git ignores data/; `make clean` removes it): one
  file per image and size, named by a hash of the file's path, size in bytes and modification
  time, so a changed file gets a new copy and the old one is never read again. Each file is
  written to a temporary name and renamed into place, so a loader worker, a spawned process on
  macOS or Windows, or another rank of a data-parallel run sees a whole copy or none; two
  processes that make the same copy write the same bytes.

The switch: `COURSE_DECODE_CACHE` (auto, the default; off; memory or disk to force one), the data
builders' `decode_cache=` argument and the training command's `--no-decode-cache`. Off, every
read decodes again (at the same reduced size, so the images are the same).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import threading
import warnings
from pathlib import Path

from PIL import Image

from ..files import atomic_write
from ..i18n import _
from .images import load_rgb
from .shapes import default_data_home

CACHE_ENV = "COURSE_DECODE_CACHE"
MODES = ("auto", "memory", "disk", "off")
MEMORY_BUDGET = 1 << 30  # bytes of decoded copies one process keeps in memory
FORMAT = 1  # bump when load_rgb(path, size) changes its pixels: older copies are then ignored
_MAGIC = b"RFSD"
_HEADER = struct.Struct("<4sII")  # magic, width, height; then width x height x 3 bytes of RGB

_SAYS = {"": "auto", "auto": "auto", "1": "auto", "on": "auto", "true": "auto", "yes": "auto",
         "0": "off", "off": "off", "false": "off", "no": "off", "memory": "memory",
         "disk": "disk"}


def cache_mode(value: bool | str | None = None) -> str:
    """"auto", "memory", "disk" or "off": `value` (True is auto, False off), else what
    $COURSE_DECODE_CACHE says, else auto."""
    source = "decode_cache"
    if value is None:
        value, source = os.environ.get(CACHE_ENV, ""), CACHE_ENV
    if isinstance(value, bool):
        return "auto" if value else "off"
    mode = _SAYS.get(str(value).strip().lower())
    if mode is None:
        raise ValueError(_("{name}={value!r} is not understood; use auto (the default: memory, "
                           "or disk when it does not fit or several processes read the data), "
                           "off, memory or disk").format(name=source, value=value))
    return mode


def cache_folder() -> Path:
    """Where copies that do not stay in memory go: data/decoded/ beside the embedded dataset."""
    return default_data_home() / "decoded"


# This process's copies: (path, size in bytes, modification time, side) -> (width, height, RGB).
_memory: dict[tuple, tuple[int, int, bytes]] = {}
_memory_bytes = 0
_lock = threading.Lock()  # the check decodes in threads
counts = {"decoded": 0, "memory": 0, "disk": 0}  # this process's reads, by where they came from


def _count(where: str) -> None:
    with _lock:
        counts[where] += 1


def clear_memory() -> None:
    """Forget this process's in-memory copies (the disk copies stay)."""
    global _memory_bytes
    _memory.clear()
    _memory_bytes = 0


def _shared() -> bool:
    """True in a loader worker or in a data-parallel run: other processes read the same data,
    so a copy must go where they can find it (a worker's memory dies with the worker)."""
    from torch import distributed
    from torch.utils.data import get_worker_info

    if get_worker_info() is not None:
        return True
    return (distributed.is_available() and distributed.is_initialized()
            and distributed.get_world_size() > 1)


class DecodedImages:
    """Copies of image files decoded at a given shorter side: in memory or on disk (see the
    module's docstring). Cheap to pickle: a spawned loader worker gets the mode and the folder,
    and finds the disk copies."""

    def __init__(self, mode: bool | str | None = None, folder: str | os.PathLike | None = None,
                 budget: int = MEMORY_BUDGET, shared: bool = False) -> None:
        self.mode = cache_mode(mode)
        self.folder = Path(folder) if folder is not None else cache_folder()
        self.budget = budget
        self.shared = shared  # other processes will read the copies: keep them on disk
        self._warned = False

    def __repr__(self) -> str:
        return f"DecodedImages(mode={self.mode!r}, shared={self.shared})"

    def load(self, path: str | os.PathLike, side: int | None) -> Image.Image:
        """`load_rgb(path, side)`, from a copy when there is one (and made one otherwise)."""
        if self.mode == "off" or side is None:
            _count("decoded")
            return load_rgb(path, side)
        key = _key(path, side)
        if key in _memory:
            _count("memory")
            w, h, pixels = _memory[key]
            return Image.frombytes("RGB", (w, h), pixels)
        file = self._file(key)
        image = _read(file) if self.mode != "memory" else None
        if image is not None:
            _count("disk")
            return image
        _count("decoded")
        image = load_rgb(path, side)
        self._keep(key, file, image)
        return image

    def holds(self, path: str | os.PathLike, sides) -> bool:
        """True if a copy of `path` (as it is now) exists at one of `sides`: then it decoded."""
        if self.mode == "off":
            return False
        try:
            keys = [_key(path, side) for side in sides if side is not None]
        except OSError:
            return False
        return any(key in _memory or (self.mode != "memory" and self._file(key).is_file())
                   for key in keys)

    def _keep(self, key: tuple, file: Path, image: Image.Image) -> None:
        global _memory_bytes
        pixels = image.tobytes()
        with _lock:
            fits = _memory_bytes + len(pixels) <= self.budget
            if self.mode == "memory" or (self.mode == "auto" and fits and not self.shared
                                         and not _shared()):
                _memory[key] = (image.width, image.height, pixels)
                _memory_bytes += len(pixels)
                return
        if self.mode == "memory":
            return
        header = _HEADER.pack(_MAGIC, image.width, image.height)
        try:
            atomic_write(file, lambda f: f.write(header + pixels), durable=False)
        except OSError as error:
            if file.is_file():
                return  # another process wrote the same copy first (Windows refuses the rename)
            if not self._warned:
                self._warned = True
                warnings.warn(_("cannot keep decoded copies in {folder!r} ({error}); images are "
                                "decoded again when read. Free some space there, or set "
                                "{variable}=off to silence this").format(
                                    folder=str(self.folder), error=error, variable=CACHE_ENV),
                              stacklevel=3)

    def _file(self, key: tuple) -> Path:
        digest = hashlib.sha1("\0".join(map(str, key[:3])).encode("utf-8")).hexdigest()
        return self.folder / f"v{FORMAT}" / digest[:2] / f"{digest}-{key[3]}.rgb"


def _key(path, side: int) -> tuple:
    """What a copy depends on: the file (its absolute path, size and modification time, so an
    edited file is decoded again) and the shorter side it was decoded at."""
    stat = os.stat(path)
    return (os.path.abspath(path), stat.st_size, stat.st_mtime_ns, int(side))


def _read(file: Path) -> Image.Image | None:
    """A disk copy, or None when there is none or it is not whole (then it is made again)."""
    try:
        data = file.read_bytes()
    except OSError:
        return None
    with contextlib.suppress(struct.error):
        magic, w, h = _HEADER.unpack_from(data)
        if magic == _MAGIC and len(data) == _HEADER.size + w * h * 3:
            return Image.frombytes("RGB", (w, h), data[_HEADER.size:])
    return None
