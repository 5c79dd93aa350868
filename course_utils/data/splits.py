"""Splitting a dataset into train/val/test: stratified, seeded, and a pre-split folder kept."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np

from ..i18n import _, ngettext
from .folders import ImageFolderDataset, describe_folders
from .images import DataError
from .scan import SPLITS


def stratified_split(
    targets: Sequence[int],
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    seed: int = 0,
    max_per_class: int | None = None,
) -> list[list[int]]:
    """Split indices so each part keeps every class's share; identical on every machine.

    Each class's indices are shuffled with a seeded numpy PCG64 generator (the same stream on
    every platform), optionally cut to `max_per_class`, then cut by `fractions`.

    Targets of a pre-split folder (`ImageFolderDataset(...).targets`, train/ + val/ ...) keep
    the folder's split: train/ is the first part, val/ the second, test/ the third; a missing
    val/ or test/ is cut, stratified and seeded, from the folder before it (test/ from val/,
    val/ from train/) in the ratio of `fractions`, and `max_per_class` caps each part at its
    share (at least one image). Raises DataError when a class would be missing from a part.
    """
    if not fractions or any(f <= 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise ValueError(_("fractions {fractions} must be positive and sum to 1").format(
            fractions=tuple(fractions)))
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(_("max_per_class={value!r}; expected None (every image) or a positive "
                           "number of images per class").format(value=max_per_class))
    split_of = getattr(targets, "split_of", None)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(targets):
        by_class.setdefault(int(label), []).append(index)
    parts: list[list[int]] = [[] for _fraction in fractions]
    rng = np.random.default_rng(seed)
    for label in sorted(by_class):
        indices = np.array(by_class[label])[rng.permutation(len(by_class[label]))]
        if split_of is None:
            if max_per_class is not None:
                indices = indices[:max_per_class]
            cut = _cut(indices, fractions)
        else:
            cut = _cut_presplit(indices, split_of, fractions, max_per_class)
        for part, chosen in zip(parts, cut, strict=True):
            part.extend(int(i) for i in chosen)
    parts = [sorted(part) for part in parts]
    _check_parts(targets, parts, split_of)
    return parts


def _cut(indices, fractions: Sequence[float]) -> list:
    """Cut one class's (shuffled) indices by `fractions`; the later parts (val, test) get
    round(n * f), at least one image when the class has one per part."""
    n = len(indices)
    sizes = [max(1 if n >= len(fractions) else 0, round(n * f)) for f in fractions[1:]]
    sizes.insert(0, n - sum(sizes))
    bounds = np.cumsum([0, *sizes])
    return [indices[a:b] for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def _cut_presplit(indices, split_of: Sequence[str], fractions, max_per_class) -> list:
    """One class's indices by split folder; a missing val/ or test/ cut from the one before."""
    if len(fractions) != len(SPLITS):
        raise ValueError(_("fractions {fractions}: a pre-split folder needs three (train, val, "
                           "test)").format(fractions=tuple(fractions)))
    given = {split: [i for i in indices if split_of[i] == split] for split in SPLITS}
    present = set(split_of)
    if "val" not in present and "test" not in present:
        train, val, test = _cut(np.array(given["train"]), fractions)
    elif "val" not in present:
        train, val = _cut(np.array(given["train"]), _normalised(fractions[:2]))
        test = given["test"]
    elif "test" not in present:
        train = given["train"]
        val, test = _cut(np.array(given["val"]), _normalised(fractions[1:]))
    else:
        train, val, test = given["train"], given["val"], given["test"]
    if max_per_class is not None:
        return [list(part)[:max(1, round(max_per_class * f))]
                for part, f in zip((train, val, test), fractions, strict=True)]
    return [train, val, test]


def _normalised(fractions: Sequence[float]) -> tuple[float, ...]:
    return tuple(f / sum(fractions) for f in fractions)


def _check_parts(targets, parts: list[list[int]], split_of) -> None:
    """Refuse, before any training, a split that leaves a class out of a part or has one class."""
    names = getattr(targets, "classes", None)
    labels = sorted({int(t) for t in targets})
    name = ((lambda label: repr(names[label])) if names
            else (lambda label: _("class {label}").format(label=label)))
    if len(labels) < 2:
        only = name(labels[0]) if labels else _("none")
        raise DataError(_("the data has {count} class ({only}); a classifier needs at least "
                          "two").format(count=len(labels), only=only))
    part_names = list(SPLITS) if len(parts) == len(SPLITS) else [
        _("part {index}").format(index=i) for i in range(len(parts))]
    counts = [Counter(int(targets[i]) for i in part) for part in parts]
    short = [label for label in labels if any(c[label] == 0 for c in counts)]
    if not short:
        return
    rows = []
    for label in short:
        row = f"{name(label)}: " + ", ".join(f"{n} {c[label]}" for n, c in
                                               zip(part_names, counts, strict=True))
        if split_of is not None:
            folders = Counter(split_of[i] for i, t in enumerate(targets) if int(t) == label)
            row = _("{row} (from {folders})").format(row=row, folders=", ".join(
                f"{s}/ {folders[s]}" for s in SPLITS if s in folders))
        rows.append(row)
    need = (_("every class needs images in train/ and val/ (and test/); a missing val/ or test/ "
              "is cut from the folder before it, so that folder needs at least 2 images per "
              "class") if split_of is not None else
            _("every class needs at least {count} images (one per part)").format(count=len(parts)))
    raise DataError(ngettext(
        "too few images to train and evaluate: {count} class(es) would be missing from a "
        "split:\n  {rows}\n{need}; a few dozen per class is the least that learns anything. Add "
        "images or remove the class folder.",
        "too few images to train and evaluate: {count} class(es) would be missing from a "
        "split:\n  {rows}\n{need}; a few dozen per class is the least that learns anything. Add "
        "images or remove the class folder.", len(short)).format(
            count=len(short), rows="\n  ".join(rows[:20]), need=need))



def describe_split(full: ImageFolderDataset, parts, fractions, seed: int) -> str:
    """How a pre-split folder became train/val/test, e.g. for a folder without test/:
    "pre-split folder 'hymenoptera': train/ 244, val/ 153 images (no test/ folder); test is cut
    from val/ (stratified, 50 %, seed 0) -> train/val/test = 244/77/76 images"."""
    given = full.split_folders
    if "val" not in given and "test" not in given:
        how = (f"; val and test are cut from train/ (stratified, {fractions[1]:.0%} and "
               f"{fractions[2]:.0%}, seed {seed})")
    elif "val" not in given:
        how = (f"; val is cut from train/ (stratified, "
               f"{_normalised(fractions[:2])[1]:.0%}, seed {seed})")
    elif "test" not in given:
        how = (f"; test is cut from {given['val'].name}/ (stratified, "
               f"{_normalised(fractions[1:])[1]:.0%}, seed {seed})")
    else:
        how = ""
    sizes = "/".join(str(len(part)) for part in parts)
    return (f"pre-split folder {full.root.name!r}: {describe_folders(full)}{how} -> "
            f"train/val/test = {sizes} images")
