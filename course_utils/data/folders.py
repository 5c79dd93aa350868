"""Choosing and checking an image folder: one sub-folder per class, or train/ val/ test/."""

from __future__ import annotations

import copy
import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from torch.utils.data import Dataset

from ..i18n import _, ngettext
from .images import _READ_ERRORS, DataError, load_rgb, open_image
from .scan import SPLITS, find_split_folders, scan, scan_splits
from .shapes import make_embedded_dataset

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
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 verify: bool = True) -> None:
        self.root = Path(root)
        self.transform = transform
        self.split_folders = find_split_folders(self.root)
        if self.split_folders is None:
            self.classes, self.samples, self.ignored, self.skipped_links = scan(self.root)
            split_of = None
        else:
            self.classes, self.samples, self.ignored, self.skipped_links, split_of = scan_splits(
                self.root, self.split_folders)
        for link, why in self.skipped_links:  # the images behind them would be counted twice
            warnings.warn(_("the symbolic link {link!r} -> {target!r} was not followed: {why}")
                          .format(link=str(link), target=os.readlink(link), why=why), stacklevel=2)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.targets = Targets([label for _path, label in self.samples], self.classes, split_of)
        if verify:
            self.verify()

    def verify(self) -> None:
        """Decode every image once (cheaply) and raise one error listing all unreadable files."""
        bad = []
        for path, _label in self.samples:
            try:
                with open_image(path) as image:
                    image.draft("RGB", (64, 64))  # JPEGs decode at 1/8 size: fast, still complete
                    image.load()
            except DataError as error:  # too large: the message names the file already
                bad.append(f"  {error}")
            except _READ_ERRORS as error:
                bad.append(f"  {path}: {error}")
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
        image = load_rgb(path)
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


