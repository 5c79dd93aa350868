"""Choosing and checking an image folder: one sub-folder per class, or train/ val/ test/."""

from __future__ import annotations

import copy
import os
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

from torch.utils.data import Dataset

from .images import _READ_ERRORS, IMAGE_EXTENSIONS, DataError, load_rgb, open_image
from .shapes import make_embedded_dataset

# Entries that tools create inside folders and that are never classes or images.
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
# A pre-split folder: train/ plus val/ (or valid/, validation/) and/or test/, each holding the
# same class folders (the layout of PyTorch's ants/bees tutorial data and of many downloads).
SPLITS = ("train", "val", "test")
SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}

DATA_ENV = "COURSE_DATA"  # point it at your own ImageFolder-style photo folder


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder to use: `path`, else $COURSE_DATA, else the embedded dataset (made if needed)."""
    chosen = path if path is not None else os.environ.get(DATA_ENV) or None
    if chosen is None:
        return make_embedded_dataset()
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        source = "the argument" if path is not None else f"${DATA_ENV}"
        what = "a file, not a folder" if folder.exists() else "no such folder"
        raise DataError(f"data folder {str(folder)!r} (from {source}) is {what}; expected a folder "
                        f"with one sub-folder per class, e.g. {folder / 'class_a' / 'img1.jpg'}")
    return folder



def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__") or name in IGNORED_NAMES

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
            self.classes, self.samples, self.ignored, self.skipped_links = _scan(self.root)
            split_of = None
        else:
            self.classes, self.samples, self.ignored, self.skipped_links, split_of = _scan_splits(
                self.root, self.split_folders)
        for link, why in self.skipped_links:  # the images behind them would be counted twice
            warnings.warn(f"the symbolic link {str(link)!r} -> {os.readlink(link)!r} was not "
                          f"followed: {why}", stacklevel=2)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.targets = Targets([label for _, label in self.samples], self.classes, split_of)
        if verify:
            self.verify()

    def verify(self) -> None:
        """Decode every image once (cheaply) and raise one error listing all unreadable files."""
        bad = []
        for path, _ in self.samples:
            try:
                with open_image(path) as image:
                    image.draft("RGB", (64, 64))  # JPEGs decode at 1/8 size: fast, still complete
                    image.load()
            except DataError as error:  # too large: the message names the file already
                bad.append(f"  {error}")
            except _READ_ERRORS as error:
                bad.append(f"  {path}: {error}")
        if bad:
            raise DataError(f"{len(bad)} image(s) in {str(self.root)!r} cannot be read:\n"
                            + "\n".join(bad[:20]) + ("\n  ..." if len(bad) > 20 else "")
                            + "\nDelete or replace them, then run the cell again.")

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


def _visible_entries(root: Path) -> list[Path]:
    return [e for e in sorted(root.iterdir(), key=lambda p: p.name) if not _hidden(e.name)]


def _broken_link(path: Path) -> bool:
    return path.is_symlink() and not path.exists()


def find_split_folders(root: str | os.PathLike) -> dict[str, Path] | None:
    """{"train": root/train, "val": root/valid, ...} for a pre-split folder; None for a folder
    of class folders. Pre-split means: a train/ folder holding sub-folders, and val/ (or
    valid/, validation/) and/or test/ beside it; nothing else may sit beside them."""
    root = Path(root)
    if not root.is_dir():
        return None
    dirs = {e.name.lower(): e for e in _visible_entries(root) if e.is_dir()}
    train = dirs.get("train")
    if train is None or not any(e.is_dir() for e in _visible_entries(train)):
        return None
    found: dict[str, Path] = {"train": train}
    for split in ("val", "test"):
        names = [dirs[n] for n in SPLIT_FOLDERS[split] if n in dirs]
        if len(names) > 1:
            raise DataError(f"data folder {str(root)!r} has both {names[0].name}/ and "
                            f"{names[1].name}/; keep one {split} folder")
        if names:
            found[split] = names[0]
    known = {folder.name for folder in found.values()}
    others = [e.name for e in dirs.values() if e.name not in known]
    if len(found) == 1:
        return None if others else found  # train/ alone is pre-split too: val/test come from it
    if others:
        raise DataError(
            f"data folder {str(root)!r} looks pre-split ({', '.join(sorted(known))}) but also "
            f"holds {others}; expected only train/, val/ (or valid/) and test/, each with one "
            "sub-folder per class. Move the other folders out.")
    return found


def _scan_splits(root: Path, folders: dict[str, Path]):
    """Scan each split folder; refuse unless all of them have the same class folders."""
    scans = {split: _scan(folder, min_classes=1) for split, folder in folders.items()}
    classes = scans["train"][0]
    differ = {split: scan[0] for split, scan in scans.items() if scan[0] != classes}
    if differ:
        details = []
        for split, names in differ.items():
            missing = sorted(set(classes) - set(names))
            extra = sorted(set(names) - set(classes))
            details.append(f"{folders[split].name}/ " + ", ".join(
                part for part in (f"lacks {missing}" if missing else "",
                                  f"has {extra} that train/ lacks" if extra else "") if part))
        raise DataError(f"the splits of {str(root)!r} have different class folders: "
                        + "; ".join(details) + f" (train/ has {classes}). Every split needs the "
                        "same class folders, or the labels would mean different things.")
    _check_classes(root, classes)
    samples, ignored, skipped, split_of = [], [], [], []
    for split, (_, split_samples, split_ignored, split_skipped) in scans.items():
        samples += split_samples
        ignored += split_ignored
        skipped += split_skipped
        split_of += [split] * len(split_samples)
    return classes, samples, ignored, skipped, split_of


def _check_classes(root: Path, classes: list[str]) -> None:
    if len(classes) < 2:
        raise DataError(
            f"data folder {str(root)!r} has only one class folder ({classes[0]!r}): a classifier "
            "needs at least two classes (with one, every answer is right and nothing is learnt). "
            f"Add a sub-folder per class, e.g. {root / 'other_class' / 'img1.jpg'}")


def _scan(root: Path, min_classes: int = 2) -> tuple[list[str], list[tuple[str, int]], list[Path]]:
    if not root.is_dir():
        raise DataError(f"data folder {str(root)!r} does not exist; expected a folder with one "
                        "sub-folder per class")
    ignored: list[Path] = []
    class_dirs = []
    broken = []
    for entry in _visible_entries(root):
        if _broken_link(entry):
            broken.append(entry)
        (class_dirs if entry.is_dir() else ignored).append(entry)
    if not class_dirs:
        loose = [p.name for p in ignored if p.suffix.lower() in IMAGE_EXTENSIONS]
        hint = (f" It holds {len(loose)} image(s) directly (e.g. {loose[0]!r}): move them into "
                "one sub-folder per class.") if loose else ""
        raise DataError(f"data folder {str(root)!r} has no class sub-folders; expected "
                        f"{root / '<class name>' / '<image>.jpg'}.{hint}")
    classes = [d.name for d in class_dirs]
    if min_classes > 1:
        _check_classes(root, classes)
    samples, empty, skipped = [], [], []
    # A class's walk must not enter the other class folders: their images would get its label.
    class_reals = {os.path.realpath(d): d for d in class_dirs}
    for label, folder in enumerate(class_dirs):
        found = 0
        others = [real for real, d in class_reals.items() if d != folder]
        files, folder_broken, folder_skipped = _walk(folder, others)
        broken += folder_broken
        skipped += folder_skipped
        for path in files:
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                ignored.append(path)
                continue
            samples.append((str(path), label))
            found += 1
        if not found:
            empty.append(folder.name)
    if broken:
        raise DataError(f"{len(broken)} broken symbolic link(s) in {str(root)!r}, e.g. "
                        f"{str(broken[0])!r} -> {os.readlink(broken[0])!r}; their images would be "
                        "missing without a word. Fix the links or remove them.")
    if empty:
        raise DataError(f"class folder(s) {empty} in {str(root)!r} contain no images "
                        f"(looked for {', '.join(IMAGE_EXTENSIONS)}); add images or remove the "
                        f"folder")
    return classes, samples, ignored, skipped


def _walk(folder: Path, outside: list[str]) -> tuple[list[Path], list[Path],
                                                    list[tuple[Path, str]]]:
    """(visible files, broken links, skipped links) under `folder`, sorted, following symbolic
    links to folders as torchvision does (pathlib's rglob would skip their images).

    Each real folder is visited once. A link to a folder already visited, to one that contains
    this class folder (a loop, e.g. `a/loop -> ..`, which would reach every class again), or to
    one inside or around a folder of `outside` (the other classes) is not followed; it is
    returned with the reason, so the dataset can report it.
    """
    files, broken, skipped = [], [], []
    seen = set()
    start = os.path.realpath(folder)
    for here, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(here)
        seen.add(real)
        keep = []
        for name in dirnames:
            if _hidden(name):
                continue
            path = Path(here) / name
            target = os.path.realpath(path)
            why = None
            if _inside(start, target):
                why = "it leads back up to a folder that holds this class folder (a loop)"
            elif target in seen:
                why = "its folder was already read under another name"
            elif any(_inside(target, other) or _inside(other, target) for other in outside):
                why = "it leads into another class folder, whose images would get this label"
            if why is None:
                keep.append(name)
            else:
                skipped.append((path, why))
        dirnames[:] = keep
        for name in filenames:
            if _hidden(name):
                continue
            path = Path(here) / name
            (broken if _broken_link(path) else files).append(path)
    key = lambda p: p.relative_to(folder).as_posix()  # noqa: E731
    return sorted(files, key=key), sorted(broken, key=key), skipped


def _inside(path: str, folder: str) -> bool:
    """True when the real path `path` is `folder` or lies under it."""
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)
