"""Choosing and checking an image folder: one sub-folder per class, or train/ val/ test/."""

from __future__ import annotations

import copy
import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from torch.utils.data import Dataset

from ..i18n import _, ngettext
from ..runtime import usable_cores
from .decoded import DecodedImages
from .images import _READ_ERRORS, DataError, open_image
from .scan import SPLITS, find_split_folders, scan, scan_splits
from .shapes import make_embedded_dataset
from .transforms import decode_side

DATA_ENV = "COURSE_DATA"  # point it at your own ImageFolder-style photo folder


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder to use: `path`, else $COURSE_DATA, else the embedded dataset (made if needed)."""
    chosen = path if path is not None else os.environ.get(DATA_ENV) or None
    if chosen is None:
        return make_embedded_dataset()
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        source = (_("from the argument") if path is not None
                  else _("from ${variable}").format(variable=DATA_ENV))
        message = (_("data folder {path!r} ({source}) is a file, not a folder; expected a folder "
                     "with one sub-folder per class, e.g. {example}") if folder.exists()
                   else _("data folder {path!r} ({source}) is no such folder; expected a folder "
                          "with one sub-folder per class, e.g. {example}"))
        raise DataError(message.format(path=str(folder), source=source,
                                       example=folder / "class_a" / "img1.jpg"))
    return folder



class Targets(list):
    """A dataset's labels (a plain list of ints) that also remember the class names and, for a
    pre-split folder, the split folder of each image, so `stratified_split` keeps that split."""

    def __init__(self, labels, classes: Sequence[str], split_of: Sequence[str] | None = None):
        super().__init__(labels)
        self.classes = list(classes)
        self.split_of = list(split_of) if split_of is not None else None


class ImageFolderDataset(Dataset):
    """Like torchvision's ImageFolder, but it skips hidden and non-image entries, always gives
    upright RGB, checks every image once up front and explains what is wrong with the folder.

    `root` is either one sub-folder per class, or a pre-split folder: train/ plus val/ (or
    valid/) and/or test/, each with the same class folders. Then the images of all splits are
    here, and `split_folders` says where each split came from (see `stratified_split`).

    Each image is decoded once, at the size `transform` needs first (`transforms.decode_side`),
    and later reads take that copy (`decoded.DecodedImages`); `decode_cache` switches it (None:
    $COURSE_DECODE_CACHE, on by default; False: decode on every read).
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 verify: bool = True,
                 decode_cache: bool | str | DecodedImages | None = None) -> None:
        self.root = Path(root)
        self.transform = transform
        self.decoded = (decode_cache if isinstance(decode_cache, DecodedImages)
                        else DecodedImages(decode_cache))
        self.split_folders = find_split_folders(self.root)
        if self.split_folders is None:
            self.classes, self.samples, self.ignored, self.skipped_links = scan(self.root)
            split_of = None
        else:
            self.classes, self.samples, self.ignored, self.skipped_links, split_of = scan_splits(
                self.root, self.split_folders)
        for link, why in self.skipped_links:  # the images behind them would be counted twice
            warnings.warn(_("the symbolic link {link!r} -> {target!r} was not followed: {why}")
                          .format(link=str(link), target=os.readlink(link), why=_(why)), stacklevel=2)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.targets = Targets([label for _path, label in self.samples], self.classes, split_of)
        if verify:
            self.verify()

    @property
    def decode_side(self) -> int | None:
        """The shorter side images are decoded at for this dataset's transform (None: whole)."""
        return decode_side(self.transform) if self.transform is not None else None

    def verify(self, sides=()) -> None:
        """Decode every image once and raise one error listing all unreadable files.

        Each image is decoded at the first of `sides` (the shorter sides the transforms need,
        training's first) or else at this dataset's own, and that copy is kept (`decoded.py`):
        training then reads it instead of decoding the file again, and a file that has a copy
        (as it is now) is not decoded here at all. Without a side, JPEGs are decoded at 1/8 size
        (fast, still complete) and nothing is kept. Several files are decoded at once, one
        thread per usable core: PIL lets go of Python's lock while it decodes, and the result
        does not depend on the number of threads.
        """
        sides = [side for side in (*sides, self.decode_side) if side is not None]
        keep = sides[0] if sides and self.decoded.mode != "off" else None
        todo = [path for path, _label in self.samples if not self.decoded.holds(path, sides)]

        def check(path: str) -> str | None:
            try:
                if keep is not None:
                    self.decoded.load(path, keep)
                else:
                    with open_image(path, draft=16) as image:
                        image.load()
            except DataError as error:  # too large, or unreadable: the message names the file
                cause = error.__cause__
                return f"  {path}: {cause}" if isinstance(cause, _READ_ERRORS) else f"  {error}"
            except _READ_ERRORS as error:
                return f"  {path}: {error}"
            return None

        with ThreadPoolExecutor(max(1, min(usable_cores(), 8, len(todo)))) as pool:
            bad = [line for line in pool.map(check, todo) if line]
        if bad:
            raise DataError(ngettext("{count} image(s) in {folder!r} cannot be read:",
                                     "{count} image(s) in {folder!r} cannot be read:", len(bad))
                            .format(count=len(bad), folder=str(self.root)) + "\n"
                            + "\n".join(bad[:20]) + ("\n  ..." if len(bad) > 20 else "")
                            + "\n" + _("Delete or replace them, then run the cell again."))

    def with_transform(self, transform: Callable | None) -> ImageFolderDataset:
        """The same files and labels with another transform (no rescan)."""
        other = copy.copy(self)
        other.transform = transform
        return other

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        image = self.decoded.load(path, self.decode_side)
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def __repr__(self) -> str:
        # The folder's name only: a full path would leak the machine's layout into notebooks.
        lines = [f"ImageFolderDataset: {len(self)} images in {len(self.classes)} classes",
                 f"    folder: {self.root.name}", f"    classes: {self.classes}"]
        if self.split_folders is not None:
            lines.append(f"    pre-split: {describe_folders(self)}")
        if self.ignored:
            lines.append(f"    ignored {len(self.ignored)} non-image or hidden entries "
                         f"(e.g. {self.ignored[0].name})")
        if self.skipped_links:
            link, why = self.skipped_links[0]
            lines.append(f"    skipped {len(self.skipped_links)} symbolic link(s) to folders "
                         f"(e.g. {link.relative_to(self.root).as_posix()}: {why})")
        if self.transform is not None:
            lines.append("    transform: " + repr(self.transform).replace("\n", "\n    "))
        return "\n".join(lines)


def describe_folders(dataset: ImageFolderDataset) -> str:
    """e.g. "train/ 20, val/ 8 images (no test/ folder)"."""
    counts = Counter(dataset.targets.split_of)
    given = [f"{folder.name}/ {counts[split]}" for split, folder in dataset.split_folders.items()]
    missing = [f"{split}/" for split in SPLITS if split not in dataset.split_folders]
    return (", ".join(given) + " images"
            + (f" (no {' or '.join(missing)} folder)" if missing else ""))


