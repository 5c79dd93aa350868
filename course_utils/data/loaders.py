"""Data in one call: `course_data` chooses the folder, checks it, splits it and builds loaders.

The pieces live in their own modules (`shapes`, `images`, `folders`, `transforms`, `splits`);
the names the notebooks import from here are re-exported below.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset

from .checkpoints import RunMeta
from .folders import ImageFolderDataset, resolve_data_dir
from .images import DataError
from .runtime import default_num_workers, seed_worker
from .shapes import is_embedded
from .splits import describe_split, stratified_split
from .transforms import IMAGENET_MEAN, IMAGENET_STD, eval_transforms, train_transforms

__all__ = [  # what the notebooks and the README import from course_utils.data
    "IMAGENET_MEAN", "IMAGENET_STD", "CourseData", "DataError", "ImageFolderDataset",
    "class_counts", "course_data", "default_num_workers", "eval_transforms", "is_embedded",
    "make_loader", "resolve_data_dir", "stratified_split", "train_transforms",
]


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool,
    seed: int = 0,
    num_workers: int | None = None,
    device: torch.device | str | None = None,
) -> DataLoader:
    """A DataLoader that shuffles (seeded) only for training and works under spawn.

    A training epoch whose last batch would hold a single image drops it (a different one
    each epoch, as the order is shuffled): BatchNorm cannot normalise a batch of one
    wherever a feature map is 1x1, which at small image sizes is all of ResNet's last stage.
    """
    workers = default_num_workers(device) if num_workers is None else num_workers
    size = len(dataset) if hasattr(dataset, "__len__") else 0
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,  # evaluation order never matters, so never pay for shuffling it
        generator=torch.Generator().manual_seed(seed) if train else None,
        num_workers=workers,
        worker_init_fn=seed_worker if workers else None,
        persistent_workers=workers > 0,  # start workers once, not every epoch (spawn is slow)
        pin_memory=device is not None and torch.device(device).type == "cuda",
        drop_last=train and size > 1 and size % batch_size == 1,
    )


def class_counts(dataset: Dataset, class_names: Sequence[str] | None = None) -> dict[str, int]:
    """Images per class, in class order; works for our dataset and Subsets of it."""
    if isinstance(dataset, Subset):
        base = dataset.dataset
        targets = [base.targets[i] for i in dataset.indices]
    else:
        base, targets = dataset, list(dataset.targets)
    names = list(class_names or base.classes)
    counts = Counter(targets)
    return {name: counts.get(i, 0) for i, name in enumerate(names)}


@dataclass
class CourseData:
    """Everything a chapter needs: the class names, the three splits and their loaders."""

    root: Path
    classes: list[str]
    image_size: int
    train_set: Subset
    val_set: Subset
    test_set: Subset
    train_loader: DataLoader
    val_loader: DataLoader
    test_loader: DataLoader
    mean: tuple = IMAGENET_MEAN  # the normalisation both transforms use
    std: tuple = IMAGENET_STD
    augment: str = "flip-shift"  # the training augmentation (see train_transforms)
    seed: int = 0  # the split's seed and cap: with them chapter 5 rebuilds the same test split
    max_per_class: int | None = None

    def run_meta(self, arch: str, **extra) -> RunMeta:
        """What a checkpoint of a model trained on this data records: `arch`, the class names,
        image size, mean and std, the split's seed and cap, and any plain `extra` facts."""
        return RunMeta(arch, self.classes, self.image_size, self.mean, self.std,
                       extra={"seed": self.seed, "max_per_class": self.max_per_class, **extra})

    @property
    def embedded(self) -> bool:
        """True on the course's generated shapes, False on your own photos: the notebooks check
        the course's measured results only on the data they were measured on."""
        return is_embedded(self.root)

    def __repr__(self) -> str:
        return (f"CourseData({len(self.classes)} classes {self.classes}, image size "
                f"{self.image_size}, augment {self.augment!r}, train/val/test = "
                f"{len(self.train_set)}/{len(self.val_set)}/{len(self.test_set)} images, from "
                f"{self.root.name!r})")


def course_data(
    data_dir: str | os.PathLike | None = None,
    *,
    image_size: int = 224,
    batch_size: int = 32,
    seed: int = 0,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    max_per_class: int | None = None,
    num_workers: int | None = None,
    device: torch.device | str | None = None,
    augment: str = "flip-shift",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> CourseData:
    """Chapter 1 in one call: choose the folder, check it, split it and build the loaders.

    A folder of class folders is split by `stratified_split` (`fractions`, `seed`); a pre-split
    folder (train/ + val/ or valid/, optional test/) keeps its split, printed once.

    `augment` picks the training augmentation (`train_transforms`); evaluation never has any.
    `mean` and `std` normalise both (ImageNet's by default, see transforms.IMAGENET_MEAN).
    """
    root = resolve_data_dir(data_dir)
    full = ImageFolderDataset(root)
    train_idx, val_idx, test_idx = stratified_split(full.targets, fractions, seed, max_per_class)
    if full.split_folders is not None:
        _announce(describe_split(full, (train_idx, val_idx, test_idx), fractions, seed))
    mean, std = tuple(mean), tuple(std)
    train_set = Subset(full.with_transform(train_transforms(image_size, mean, std,
                                                            augment=augment)), train_idx)
    evaluation = full.with_transform(eval_transforms(image_size, mean, std))
    val_set, test_set = Subset(evaluation, val_idx), Subset(evaluation, test_idx)
    return CourseData(
        root=root, classes=full.classes, image_size=image_size, augment=augment,
        mean=mean, std=std, seed=seed, max_per_class=max_per_class,
        train_set=train_set, val_set=val_set, test_set=test_set,
        train_loader=make_loader(train_set, batch_size, train=True, seed=seed,
                                 num_workers=num_workers, device=device),
        val_loader=make_loader(val_set, batch_size, train=False, num_workers=num_workers,
                               device=device),
        test_loader=make_loader(test_set, batch_size, train=False, num_workers=num_workers,
                                device=device),
    )



_announced: set[str] = set()


def _announce(line: str) -> None:
    """Print a line once per session (chapter 4 builds the same data for every run)."""
    if line not in _announced:
        _announced.add(line)
        print(line)
