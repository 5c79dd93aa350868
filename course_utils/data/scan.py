"""Scanning an image folder: its class folders, their images, the links inside, a pre-split layout.

`folders.ImageFolderDataset` calls `scan` (one sub-folder per class) or `scan_splits` (train/ val/
test/, each with the same class folders); every problem is a DataError that names the folder or
file and says what to do.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..i18n import N_, _, ngettext
from .images import IMAGE_EXTENSIONS, DataError

# Entries that tools create inside folders and that are never classes or images.
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
# A pre-split folder: train/ plus val/ (or valid/, validation/) and/or test/, each holding the
# same class folders (the layout of PyTorch's ants/bees tutorial data and of many downloads).
SPLITS = ("train", "val", "test")
SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__") or name in IGNORED_NAMES


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
            raise DataError(_("data folder {path!r} has both {first}/ and {second}/; keep one "
                              "{split} folder").format(path=str(root), first=names[0].name,
                                                       second=names[1].name, split=split))
        if names:
            found[split] = names[0]
    known = {folder.name for folder in found.values()}
    others = [e.name for e in dirs.values() if e.name not in known]
    if len(found) == 1:
        return None if others else found  # train/ alone is pre-split too: val/test come from it
    if others:
        raise DataError(_(
            "data folder {path!r} looks pre-split ({splits}) but also holds {others}; expected "
            "only train/, val/ (or valid/) and test/, each with one sub-folder per class. Move the "
            "other folders out.").format(path=str(root), splits=", ".join(sorted(known)),
                                         others=others))
    return found


def scan_splits(root: Path, folders: dict[str, Path]):
    """Scan each split folder; refuse unless all of them have the same class folders."""
    scans = {split: scan(folder, min_classes=1) for split, folder in folders.items()}
    classes = scans["train"][0]
    differ = {split: scan[0] for split, scan in scans.items() if scan[0] != classes}
    if differ:
        details = []
        for split, names in differ.items():
            missing = sorted(set(classes) - set(names))
            extra = sorted(set(names) - set(classes))
            detail = (_("{folder}/ lacks {missing}, has {extra} that train/ lacks")
                      if missing and extra else _("{folder}/ lacks {missing}") if missing
                      else _("{folder}/ has {extra} that train/ lacks"))
            details.append(detail.format(folder=folders[split].name, missing=missing, extra=extra))
        raise DataError(_("the splits of {path!r} have different class folders: {details} "
                          "(train/ has {classes}). Every split needs the same class folders, or "
                          "the labels would mean different things.").format(
                              path=str(root), details=_("; ").join(details), classes=classes))
    _check_classes(root, classes)
    samples, ignored, skipped, split_of = [], [], [], []
    for split, (_classes, split_samples, split_ignored, split_skipped) in scans.items():
        samples += split_samples
        ignored += split_ignored
        skipped += split_skipped
        split_of += [split] * len(split_samples)
    return classes, samples, ignored, skipped, split_of


def _check_classes(root: Path, classes: list[str]) -> None:
    if len(classes) < 2:
        raise DataError(_(
            "data folder {path!r} has only one class folder ({name!r}): a classifier needs at "
            "least two classes (with one, every answer is right and nothing is learnt). Add a "
            "sub-folder per class, e.g. {example}").format(
                path=str(root), name=classes[0], example=root / "other_class" / "img1.jpg"))


def scan(root: Path, min_classes: int = 2) -> tuple[list[str], list[tuple[str, int]], list[Path],
                                                  list[tuple[Path, str]]]:
    """(class names, (image path, label) samples, ignored entries, (skipped link, why))."""
    if not root.is_dir():
        raise DataError(_("data folder {path!r} does not exist; expected a folder with one "
                          "sub-folder per class").format(path=str(root)))
    ignored: list[Path] = []
    class_dirs = []
    broken = []
    for entry in _visible_entries(root):
        if _broken_link(entry):
            broken.append(entry)
        (class_dirs if entry.is_dir() else ignored).append(entry)
    if not class_dirs:
        loose = [p.name for p in ignored if p.suffix.lower() in IMAGE_EXTENSIONS]
        message = ngettext(
            "data folder {path!r} has no class sub-folders; expected {expected}. It holds {count} "
            "image(s) directly (e.g. {example!r}): move them into one sub-folder per class.",
            "data folder {path!r} has no class sub-folders; expected {expected}. It holds {count} "
            "image(s) directly (e.g. {example!r}): move them into one sub-folder per class.",
            len(loose)) if loose else _("data folder {path!r} has no class sub-folders; expected "
                                        "{expected}.")
        expected = root / "<class name>" / "<image>.jpg"
        raise DataError(message.format(path=str(root), expected=expected, count=len(loose),
                                       example=loose[0] if loose else None))
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
        raise DataError(ngettext(
            "{count} broken symbolic link(s) in {path!r}, e.g. {link!r} -> {target!r}; their "
            "images would be missing without a word. Fix the links or remove them.",
            "{count} broken symbolic link(s) in {path!r}, e.g. {link!r} -> {target!r}; their "
            "images would be missing without a word. Fix the links or remove them.", len(broken))
            .format(count=len(broken), path=str(root), link=str(broken[0]),
                    target=os.readlink(broken[0])))
    if empty:
        raise DataError(ngettext(
            "class folder(s) {names} in {path!r} contain no images (looked for {extensions}); add "
            "images or remove the folder",
            "class folder(s) {names} in {path!r} contain no images (looked for {extensions}); add "
            "images or remove the folder", len(empty)).format(
                names=empty, path=str(root), extensions=", ".join(IMAGE_EXTENSIONS)))
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
                why = N_("it leads back up to a folder that holds this class folder (a loop)")
            elif target in seen:
                why = N_("its folder was already read under another name")
            elif any(_inside(target, other) or _inside(other, target) for other in outside):
                why = N_("it leads into another class folder, whose images would get this label")
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
