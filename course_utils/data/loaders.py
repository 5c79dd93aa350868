"""Loaders: the one DataLoader builder, and `course_data`, chapter 1 in one call.

`make_loader` builds every loader of the course: chapter 1's, `fit`'s, and each process's
share of the data in data-parallel training (chapter 7: `rank=`, `world_size=`). `course_data`
chooses the folder, checks it, splits it and builds the three loaders; the pieces live in their
own modules (`shapes`, `images`, `folders`, `transforms`, `splits`).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, Subset
from torch.utils.data.distributed import DistributedSampler

from ..i18n import _
from ..run_meta import RunMeta
from ..runtime import default_num_workers, seed_worker
from .decoded import DecodedImages
from .folders import ImageFolderDataset, resolve_data_dir
from .shapes import is_embedded
from .splits import describe_split, stratified_split
from .transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    decode_side,
    eval_transforms,
    train_transforms,
)


def make_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    train: bool,
    seed: int = 0,
    num_workers: int | None = None,
    device: torch.device | str | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> DataLoader:
    """A DataLoader that shuffles (seeded) only for training and works under spawn.

    A training epoch whose last batch would hold a single image drops it (a different one
    each epoch, as the order is shuffled): BatchNorm cannot normalise a batch of one
    wherever a feature map is 1x1, which at small image sizes is all of ResNet's last stage.

    With `world_size` > 1 (data-parallel training, chapter 7) the loader gives process `rank`
    its share only. Training: DistributedSampler shuffles all indices with the same seed on
    every process, pads them to a multiple of the world size by repeating the first few, and
    gives process r every N-th one from r: the shares never overlap and have equal lengths, so
    every process takes the same number of steps (a process with one step more would wait for
    ever in its all-reduce); `fit` calls its `set_epoch`, so each epoch has a new order.
    Evaluation: every N-th item from r, nothing padded, so the metrics added up over the
    processes are those of the whole split.
    """
    if not 0 <= rank < world_size:
        raise ValueError(_("rank={rank}, world_size={world_size}; expected 0 <= rank < "
                           "world_size").format(rank=rank, world_size=world_size))
    workers = default_num_workers(device, world_size) if num_workers is None else num_workers
    sampler = None
    if world_size > 1 and train:
        sampler = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=True,
                                     seed=seed, drop_last=False)
    elif world_size > 1:
        dataset = Subset(dataset, range(rank, len(dataset), world_size))
    if sampler is not None:
        size = len(sampler)  # this process's share
    else:
        size = len(dataset) if hasattr(dataset, "__len__") else 0
    return DataLoader(
        dataset,
        batch_size=batch_size,
        # evaluation order never matters, so never pay for shuffling it
        shuffle=train and sampler is None,
        sampler=sampler,
        generator=torch.Generator().manual_seed(seed) if train and sampler is None else None,
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
    rank: int = 0,
    world_size: int = 1,
    decode_cache: bool | str | None = None,
) -> CourseData:
    """Chapter 1 in one call: choose the folder, check it, split it and build the loaders.

    A folder of class folders is split by `stratified_split` (`fractions`, `seed`); a pre-split
    folder (train/ + val/ or valid/, optional test/) keeps its split, printed once.

    `augment` picks the training augmentation (`train_transforms`); evaluation never has any.
    `mean` and `std` normalise both (ImageNet's by default, see transforms.IMAGENET_MEAN).
    `rank` and `world_size`: each loader gives this process its share (see `make_loader`).
    `decode_cache`: each image is decoded once at the size its transforms need, and later epochs
    read that copy (`decoded.py`); None follows $COURSE_DECODE_CACHE (on unless it says off),
    False decodes on every read. The images are the same either way.
    """
    root = resolve_data_dir(data_dir)
    workers = default_num_workers(device, world_size) if num_workers is None else num_workers
    # loader workers and the other processes of a data-parallel run read the copies too
    decoded = DecodedImages(decode_cache, shared=workers > 0 or world_size > 1)
    full = ImageFolderDataset(root, verify=False, decode_cache=decoded)
    mean, std = tuple(mean), tuple(std)
    training = train_transforms(image_size, mean, std, augment=augment)
    evaluating = eval_transforms(image_size, mean, std)
    full.verify(sides=(decode_side(training), decode_side(evaluating)))
    train_idx, val_idx, test_idx = stratified_split(full.targets, fractions, seed, max_per_class)
    if full.split_folders is not None:
        _announce(describe_split(full, (train_idx, val_idx, test_idx), fractions, seed))
    train_set = Subset(full.with_transform(training), train_idx)
    evaluation = full.with_transform(evaluating)
    val_set, test_set = Subset(evaluation, val_idx), Subset(evaluation, test_idx)
    share = {"num_workers": workers, "device": device, "rank": rank, "world_size": world_size}
    return CourseData(
        root=root, classes=full.classes, image_size=image_size, augment=augment,
        mean=mean, std=std, seed=seed, max_per_class=max_per_class,
        train_set=train_set, val_set=val_set, test_set=test_set,
        train_loader=make_loader(train_set, batch_size, train=True, seed=seed, **share),
        val_loader=make_loader(val_set, batch_size, train=False, **share),
        test_loader=make_loader(test_set, batch_size, train=False, **share),
    )


_announced: set[str] = set()


def _announce(line: str) -> None:
    """Print a line once per session (chapter 4 builds the same data for every run)."""
    if line not in _announced:
        _announced.add(line)
        print(line)
