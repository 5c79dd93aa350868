"""Your own photos and bad input (issue 14): every case is refused with a clear message before
work is lost, or handled correctly; nothing trains silently wrong. Folders are generated here."""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Subset, TensorDataset

from course_utils import files
from course_utils.data.folders import ImageFolderDataset
from course_utils.data.images import DataError, load_rgb
from course_utils.data.loaders import course_data, make_loader
from course_utils.data.splits import stratified_split
from course_utils.data.transforms import eval_transforms
from course_utils.evaluation.predict import predict, prepare_image
from course_utils.files import CheckpointWriteError
from course_utils.training.checkpoints import load_checkpoint, save_checkpoint
from course_utils.training.fitting import fit
from course_utils.training.history import History, history_path
from course_utils.training.loops import NonFiniteLossError, predict_loader

CLASSES = ["ants", "bees"]
META = {"arch": "tiny", "class_names": CLASSES, "image_size": 16,
        "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*.jpg"))


# --------------------------------------------------------------------------- 1. pre-split folders


def test_pre_split_folder_keeps_its_split_and_says_how(tmp_path, photo_folder, capsys):
    root = photo_folder(tmp_path / "hymenoptera", {"train": 10, "val": 4})
    cd = course_data(root, image_size=24, batch_size=8, num_workers=0)
    assert cd.classes == CLASSES, "the classes are the folders inside train/, not train and val"
    samples = cd.train_set.dataset.samples
    paths = lambda part: {Path(samples[i][0]).relative_to(root).parts[0] for i in part.indices}  # noqa: E731
    assert paths(cd.train_set) == {"train"} and len(cd.train_set) == 20
    assert paths(cd.val_set) == paths(cd.test_set) == {"val"}, "validation and test come from val/"
    assert Counter(cd.val_set.dataset.targets[i] for i in cd.val_set.indices) == {0: 2, 1: 2}
    assert Counter(cd.test_set.dataset.targets[i] for i in cd.test_set.indices) == {0: 2, 1: 2}
    assert not set(cd.val_set.indices) & set(cd.test_set.indices)
    out = capsys.readouterr().out
    assert out == ("pre-split folder 'hymenoptera': train/ 20, val/ 8 images (no test/ folder); "
                   "test is cut from val/ (stratified, 50%, seed 0) -> train/val/test = 20/4/4 "
                   "images\n")
    # Chapter 1 splits the dataset itself with stratified_split: the same split comes out.
    full = ImageFolderDataset(root)
    assert stratified_split(full.targets) == [cd.train_set.indices, cd.val_set.indices,
                                              cd.test_set.indices]
    assert "pre-split: train/ 20, val/ 8 images (no test/ folder)" in repr(full)


def test_pre_split_with_valid_and_test_folders_uses_all_three(tmp_path, photo_folder, capsys):
    root = photo_folder(tmp_path / "d", {"train": 6, "valid": 3, "test": 2})
    cd = course_data(root, image_size=16, num_workers=0)
    assert [len(cd.train_set), len(cd.val_set), len(cd.test_set)] == [12, 6, 4]
    assert capsys.readouterr().out == ("pre-split folder 'd': train/ 12, valid/ 6, test/ 4 images "
                                       "-> train/val/test = 12/6/4 images\n")
    small = course_data(root, image_size=16, num_workers=0, max_per_class=10)
    # max_per_class caps each part at its share of 10: train 7 (has 6), val and test 2 per class
    assert [len(small.train_set), len(small.val_set), len(small.test_set)] == [12, 4, 4]


def test_train_folder_alone_is_split_three_ways(tmp_path, photo_folder):
    root = photo_folder(tmp_path / "d", {"train": 10})
    cd = course_data(root, image_size=16, num_workers=0)
    assert cd.classes == CLASSES
    assert [len(cd.train_set), len(cd.val_set), len(cd.test_set)] == [12, 4, 4]


def test_splits_with_different_class_folders_are_refused(tmp_path, photo_folder):
    root = photo_folder(tmp_path / "d", {"train": 3, "val": 2})
    photo_folder(root, {"val": 2}, classes=("wasps",))
    with pytest.raises(DataError, match=r"different class folders: val/ has \['wasps'\] that "
                                        r"train/ lacks \(train/ has \['ants', 'bees'\]\)"):
        ImageFolderDataset(root)
    for path in (root / "val" / "wasps").iterdir():
        path.unlink()
    (root / "val" / "wasps").rmdir()
    for path in (root / "val" / "bees").iterdir():
        path.unlink()
    (root / "val" / "bees").rmdir()
    with pytest.raises(DataError, match=r"val/ lacks \['bees'\]"):
        ImageFolderDataset(root)


def test_other_folders_beside_the_splits_are_refused(tmp_path, photo_folder):
    root = photo_folder(tmp_path / "d", {"train": 3, "val": 2, "extra": 1})
    with pytest.raises(DataError, match=r"looks pre-split .* also holds \['extra'\]"):
        ImageFolderDataset(root)
    root = photo_folder(tmp_path / "e", {"train": 3, "val": 2, "valid": 2})
    with pytest.raises(DataError, match="both val/ and valid/"):
        ImageFolderDataset(root)


def test_classes_named_train_and_val_holding_images_stay_classes(tmp_path):
    """Images directly in train/ and val/: that is a flat folder whose classes have those names."""
    from conftest import write_photo

    for name in ("train", "val"):
        for i in range(3):
            write_photo(tmp_path / "d" / name / f"{i}.jpg", (20, 30), seed=i)
    assert ImageFolderDataset(tmp_path / "d").classes == ["train", "val"]


# --------------------------------------------------------------------------- 2. too few images


def test_one_class_is_refused_up_front(tmp_path, photo_folder):
    flat = photo_folder(tmp_path / "flat", {"": 5}, classes=("cats",))
    with pytest.raises(DataError, match=r"only one class folder \('cats'\): a classifier needs at "
                                        "least two classes"):
        course_data(flat)
    split = photo_folder(tmp_path / "split", {"train": 5, "val": 2}, classes=("cats",))
    with pytest.raises(DataError, match="only one class folder"):
        course_data(split)
    with pytest.raises(DataError, match="a classifier needs at least two"):
        stratified_split([0, 0, 0, 0])


def test_too_few_images_per_class_are_refused_with_the_counts(tmp_path, photo_folder):
    root = photo_folder(tmp_path / "d", {"": 2})
    with pytest.raises(DataError) as caught:
        course_data(root, num_workers=0)
    message = str(caught.value)
    assert "2 class(es) would be missing from a split" in message
    assert "'ants': train 2, val 0, test 0" in message
    assert "every class needs at least 3 images" in message
    split = photo_folder(tmp_path / "s", {"train": 4, "val": 1})
    with pytest.raises(DataError,
                       match=r"'ants': train 4, val 1, test 0 \(from train/ 4, val/ 1\)"):
        course_data(split, num_workers=0)


def test_max_per_class_zero_is_refused():
    with pytest.raises(ValueError, match="max_per_class=0; expected None"):
        stratified_split([0, 1] * 5, max_per_class=0)


# --------------------------------------------------------------------------- 6. huge images


def test_images_above_pils_limit_are_refused_by_name(tmp_path, photo_folder, monkeypatch):
    root = photo_folder(tmp_path / "d", {"": 3})
    big = root / "bees" / "bees_001.jpg"  # 55 x 99 = 5445 pixels
    model = nn.Sequential(nn.Flatten(), nn.LazyLinear(2))
    for limit in (4000, 2000):  # PIL warns between the limit and twice it, raises above
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        with pytest.raises(DataError) as caught:
            ImageFolderDataset(root)
        assert "bees_001.jpg' is too large" in str(caught.value)
        assert f"more than PIL's limit of {limit:,} pixels" in str(caught.value)
        with pytest.raises(DataError,
                           match=r"bees_001\.jpg' is too large \((55x99 = )?5,445 pixels"):
            load_rgb(big)
        # predict at 8 px decodes the JPEG at half size (28 x 50 = 1,400 pixels): within limits
        assert len(predict(model, big, (CLASSES, 8, [0.5] * 3, [0.25] * 3))) == 2
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(DataError, match=r"bees_001\.jpg' is too large \(28x50 = 1,400 pixels"):
        predict(model, big, (CLASSES, 8, [0.5] * 3, [0.25] * 3))
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 6000)
    assert load_rgb(big).size == (55, 99)


@pytest.fixture(scope="module")
def hundred_megapixels(tmp_path_factory) -> dict[str, Path]:
    """A 100-megapixel JPEG (phones shoot 50-200 MP) and PNG of one flat colour: 0.3 MB on disk
    (grayscale, so they take a second to write, not five)."""
    folder = tmp_path_factory.mktemp("huge")
    image = Image.new("L", (11_000, 9_200), 90)  # 101.2 MP, above PIL's 89.5 MP
    image.save(folder / "phone.jpg", quality=75)
    image.save(folder / "scan.png", compress_level=1)
    return {"jpeg": folder / "phone.jpg", "png": folder / "scan.png"}


def test_a_100_megapixel_jpeg_loads_through_draft_mode(tmp_path, photo_folder,
                                                       hundred_megapixels):
    jpeg = hundred_megapixels["jpeg"]
    assert Image.MAX_IMAGE_PIXELS < 11_000 * 9_200 < 2 * Image.MAX_IMAGE_PIXELS
    with pytest.raises(DataError, match=r"phone\.jpg' is too large \(11000x9200"):
        load_rgb(jpeg)  # the whole image: refused, as before
    small = load_rgb(jpeg, 16)  # at the training size: decoded at 1/8, 1375 x 1150 pixels
    assert small.size == (19, 16) and small.getpixel((3, 3)) == (90, 90, 90)
    root = photo_folder(tmp_path / "d", {"": 3})
    (root / "bees" / "phone.jpg").symlink_to(jpeg)
    data = course_data(root, image_size=16, batch_size=2, num_workers=0, seed=0)
    assert len(data.train_set) + len(data.val_set) + len(data.test_set) == 7
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 16 * 16, 2))
    assert len(predict(model, jpeg, META)) == 2
    # over twice the limit PIL refuses before reading a pixel; draft mode still loads it
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Image, "MAX_IMAGE_PIXELS", 40_000_000)
        assert load_rgb(jpeg, 16).size == (19, 16)
        patch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)  # even 1/8 is too much now
        with pytest.raises(DataError, match=r"phone\.jpg' is too large \(1375x1150 = 1,581,250"):
            load_rgb(jpeg, 16)


def test_a_file_that_cannot_be_drafted_keeps_the_clear_error(tmp_path, photo_folder,
                                                             hundred_megapixels):
    png = hundred_megapixels["png"]
    for size in (None, 16):
        with pytest.raises(DataError) as caught:
            load_rgb(png, size)
        message = str(caught.value)
        assert "scan.png' is too large (11000x9200 = 101,200,000 pixels)" in message
        assert "PIL.Image.MAX_IMAGE_PIXELS" in message and "raise the limit" in message
    root = photo_folder(tmp_path / "d", {"": 3})
    (root / "ants" / "scan.png").symlink_to(png)
    with pytest.raises(DataError, match=r"1 image\(s\) .* cannot be read:\n  .*scan\.png' is too"):
        course_data(root, image_size=16, num_workers=0)


# --------------------------------------------------------------------------- 7. silent data loss


def test_symlinked_sub_folders_are_followed_and_broken_links_named(tmp_path, photo_folder):
    root = photo_folder(tmp_path / "d", {"": 3})
    extra = photo_folder(tmp_path / "elsewhere", {"": 2}, classes=("more_bees",))
    (root / "bees" / "linked").symlink_to(extra / "more_bees", target_is_directory=True)
    (root / "bees" / "loop").symlink_to(root / "bees", target_is_directory=True)  # no endless walk
    with pytest.warns(UserWarning, match=r"bees/loop' -> .* not followed: .*\(a loop\)"):
        ds = ImageFolderDataset(root)
    assert Counter(ds.targets) == {0: 3, 1: 5}, "the 2 images behind the link are bees too"
    (root / "wasps").symlink_to(tmp_path / "deleted", target_is_directory=True)
    with pytest.raises(DataError, match=r"1 broken symbolic link\(s\) .*wasps' -> .*deleted"):
        ImageFolderDataset(root)


def test_a_link_back_up_or_into_another_class_is_skipped_and_reported(tmp_path, photo_folder):
    root = photo_folder(tmp_path / "d", {"": 3})  # ants/ and bees/, 3 images each
    (root / "ants" / "loop").symlink_to("..", target_is_directory=True)  # back to the data folder
    with pytest.warns(UserWarning, match=r"ants/loop' -> '\.\.' was not followed: it leads back "
                                         r"up .*\(a loop\)"):
        ds = ImageFolderDataset(root)
    # before: bees' 3 images counted again under ants (9 images for 6, labelled wrong)
    assert len(ds) == 6 and Counter(ds.targets) == {0: 3, 1: 3}
    assert "skipped 1 symbolic link(s) to folders (e.g. ants/loop: it leads back up" in repr(ds)
    (root / "ants" / "loop").unlink()
    (root / "ants" / "bees_too").symlink_to(root / "bees", target_is_directory=True)
    with pytest.warns(UserWarning, match="ants/bees_too' -> .* another class folder"):
        ds = ImageFolderDataset(root)
    assert Counter(ds.targets) == {0: 3, 1: 3}


def test_float_tiff_in_unit_range_keeps_its_brightness(tmp_path):
    array = np.full((6, 8), 0.5, dtype=np.float32)
    array[0, 0] = 1.0
    path = tmp_path / "scan.tif"
    Image.fromarray(array, mode="F").save(path)
    out = np.asarray(load_rgb(path))
    assert out.shape == (6, 8, 3) and 126 <= out[1, 1, 0] <= 129 and out[0, 0, 0] == 255


def test_exif_rotated_photo_is_upright_in_training_and_predict(tmp_path, photo_folder):
    root = photo_folder(tmp_path / "d", {"": 3})
    upright = Image.open(root / "ants" / "ants_000.jpg").convert("RGB")  # 37 wide, 53 high
    sideways = upright.transpose(Image.Transpose.ROTATE_90)  # as the sensor stored it
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    phone = root / "ants" / "phone.jpg"
    sideways.save(phone, exif=exif, quality=95)
    ds = ImageFolderDataset(root)
    image, _ = ds[[p for p, _ in ds.samples].index(str(phone))]
    assert image.size == upright.size == (37, 53)
    assert np.abs(np.asarray(image, float) - np.asarray(upright, float)).mean() < 8
    meta = (CLASSES, 32, [0.5] * 3, [0.25] * 3)
    expected = eval_transforms(32, [0.5] * 3, [0.25] * 3)(image)
    assert torch.equal(prepare_image(phone, meta), expected)
    assert torch.equal(prepare_image(Image.open(phone), meta), expected)


def test_a_last_training_batch_of_one_is_dropped():
    dataset = TensorDataset(torch.randn(9, 3, 4, 4), torch.arange(9) % 2)
    assert [len(y) for _, y in make_loader(dataset, 4, train=True, num_workers=0)] == [4, 4]
    assert [len(y) for _, y in make_loader(dataset, 4, train=False, num_workers=0)] == [4, 4, 1]
    assert len(make_loader(dataset, 3, train=True, num_workers=0)) == 3  # nothing dropped
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.BatchNorm2d(4),
                          nn.Flatten(), nn.Linear(4, 2))
    ones = DataLoader(dataset, batch_size=4)  # a plain DataLoader keeps the batch of one
    with pytest.raises(ValueError, match="a training batch holds 1 image.*drop_last=True"):
        fit(model, ones, ones, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
            device="cpu", progress=False, log=None)


# --------------------------------------------------------------------------- 4. non-finite losses


def tiny_net(num_classes: int = 2) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, num_classes))


class Poisoned(nn.Module):
    """A tiny model whose output becomes NaN at chosen forward calls (in train or eval mode)."""

    def __init__(self, at: set[tuple[str, int]]):
        super().__init__()
        self.net, self.at, self.calls = tiny_net(), at, Counter()

    def state_dict(self, *args, **kwargs):  # the checkpoint stores the inner net's names
        return self.net.state_dict(*args, **kwargs)

    def forward(self, x):
        mode = "train" if self.training else "eval"
        self.calls[mode] += 1
        out = self.net(x)
        return out * float("nan") if (mode, self.calls[mode]) in self.at else out


def _loaders():
    g = torch.Generator().manual_seed(0)
    x, y = torch.randn(24, 3, 8, 8, generator=g), torch.arange(24) % 2
    x[y == 1] += 1
    train = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True, generator=g)
    return train, DataLoader(TensorDataset(x[:8], y[:8]), batch_size=8)  # 3 steps, 1 step


def _fit(model, tmp_path, **kwargs):
    train, val = _loaders()
    return fit(model, train, val, torch.optim.SGD(model.parameters(), lr=0.1), epochs=4,
               device="cpu", progress=False, log=None, checkpoint_path=tmp_path / "best.pth",
               meta=META, **kwargs)


def test_a_nan_training_loss_stops_at_once_and_keeps_history_and_checkpoint(tmp_path):
    model = Poisoned(at={("train", 5)})  # epoch 2, step 2 (3 steps per epoch)
    with pytest.raises(NonFiniteLossError) as caught:
        _fit(model, tmp_path)
    message = str(caught.value)
    assert message.startswith("training stopped in epoch 2: the training loss became nan at "
                              "step 2 of epoch 2 train.")
    assert "lower the learning rate (this epoch started at 1.00E-01)" in message
    assert "best checkpoint (epoch 1" in message and "is untouched" in message
    assert model.calls["train"] == 5, "not one step more after the NaN"
    assert [r["epoch"] for r in caught.value.history] == [1]
    saved = History.load(history_path(tmp_path / "best.pth"))
    assert saved == caught.value.history and saved.stopped.startswith("epoch 2: the training")
    assert load_checkpoint(tmp_path / "best.pth")["epoch"] == 1


def test_a_nan_validation_loss_is_never_saved_as_the_best(tmp_path):
    model = Poisoned(at={("eval", 2)})  # the validation of epoch 2
    before = None

    def remember(record):
        nonlocal before
        before = (tmp_path / "best.pth").read_bytes()

    with pytest.raises(NonFiniteLossError, match="epoch 2: the validation loss became nan"):
        _fit(model, tmp_path, on_epoch_end=remember)
    assert (tmp_path / "best.pth").read_bytes() == before
    assert len(History.load(history_path(tmp_path / "best.pth"))) == 1


def test_a_blow_up_on_an_epochs_last_step_is_caught_in_the_same_epoch(tmp_path):
    model = tiny_net()
    train, val = _loaders()

    class Explodes(torch.optim.SGD):  # plain SGD whose 6th step (epoch 2's last) ruins a weight
        steps = 0

        def step(self, closure=None):
            super().step(closure)
            Explodes.steps += 1
            if Explodes.steps == 6:
                with torch.no_grad():
                    model[0].weight.fill_(float("inf"))

    with pytest.raises(NonFiniteLossError, match="epoch 2: the validation loss became nan"):
        fit(model, train, val, Explodes(model.parameters(), lr=0.1), epochs=4, device="cpu",
            progress=False, log=None, checkpoint_path=tmp_path / "best.pth", meta=META)
    assert load_checkpoint(tmp_path / "best.pth")["epoch"] == 1


# --------------------------------------------------------------------------- 5. checkpoint paths


class CountingLoader:
    def __init__(self):
        self.loader, self.iterated = _loaders()[0], 0
        self.dataset = self.loader.dataset

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.iterated += 1
        return iter(self.loader)


def test_a_bad_checkpoint_path_is_refused_before_training(tmp_path):
    model, train = tiny_net(), CountingLoader()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(CheckpointWriteError, match=r"it is a folder; give a file name, e\.g\. "):
        fit(model, train, train, optimizer, epochs=1, device="cpu", progress=False, log=None,
            checkpoint_path=tmp_path, meta=META)
    blocker = tmp_path / "file"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(CheckpointWriteError, match=r"cannot write files in .*file.*best\.pth"):
        fit(model, train, train, optimizer, epochs=1, device="cpu", progress=False, log=None,
            checkpoint_path=blocker / "best.pth", meta=META)
    assert train.iterated == 0, "nothing may be trained before the path is known to work"


def _refuses_writes(folder: Path) -> bool:
    try:
        Path(tempfile.mkstemp(dir=folder)[1]).unlink()
    except OSError:
        return True
    return False


def test_a_read_only_folder_is_refused_before_training(tmp_path):
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        if not _refuses_writes(folder):  # root ignores permission bits: try a read-only mount
            folder = Path("/sys/fs")
            if not folder.is_dir() or not _refuses_writes(folder):
                pytest.skip("no folder here refuses writes to this user")
        model, train = tiny_net(), CountingLoader()
        with pytest.raises(CheckpointWriteError, match=r"cannot write files in .*choose a folder"):
            fit(model, train, train, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
                device="cpu", progress=False, log=None, checkpoint_path=folder / "best.pth",
                meta=META)
        assert train.iterated == 0
    finally:
        (tmp_path / "read-only").chmod(0o755)


def test_a_full_disk_names_the_path_and_the_cause(tmp_path, monkeypatch):
    if not Path("/dev/full").exists():
        pytest.skip("needs /dev/full, a device that answers every write with 'disk full'")
    path = save_checkpoint(tmp_path / "best.pth", tiny_net(), **META)
    before = path.read_bytes()
    real_mkstemp = files.tempfile.mkstemp

    def on_full_disk(prefix, suffix, dir):  # the temporary file lives on a full disk
        fd, name = real_mkstemp(prefix=prefix, suffix=suffix, dir=dir)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name

    monkeypatch.setattr(files.tempfile, "mkstemp", on_full_disk)
    with pytest.raises(CheckpointWriteError) as caught:
        save_checkpoint(path, tiny_net(), **META)  # torch's own writer meets the full disk
    assert caught.value.errno == errno.ENOSPC
    assert f"could not write {str(path)!r}: the disk is full" in str(caught.value)
    cause = str(caught.value.__cause__)
    assert "unexpected pos" in cause or "No space" in cause
    monkeypatch.undo()
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["best.pth"]


def test_temporaries_of_a_killed_save_are_cleaned_on_the_next_save(tmp_path):
    dead = os.fork() if hasattr(os, "fork") else None
    if dead == 0:
        os._exit(0)  # a child that is gone by the time we save
    if dead is None:
        pytest.skip("needs os.fork to make a process id that is no longer running")
    os.waitpid(dead, 0)
    stale = tmp_path / f".best.pth.{dead}.k1ll3d.tmp"
    stale.write_bytes(b"\0" * 1000)  # what a killed save leaves
    live = tmp_path / f".best.pth.{os.getppid()}.abcd.tmp"  # a running process's: kept
    live.write_bytes(b"\0")
    other = tmp_path / f".other.pth.{dead}.xyz.tmp"  # another checkpoint's: not ours to touch
    other.write_bytes(b"\0")
    save_checkpoint(tmp_path / "best.pth", tiny_net(), **META)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["best.pth", live.name, other.name])


# --------------------------------------------------------------------------- 8. clear messages


def test_map_location_cuda_without_a_gpu_says_so(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    path = save_checkpoint(tmp_path / "best.pth", tiny_net(), **META)
    with pytest.raises(RuntimeError, match="map_location='cuda', but torch sees no CUDA GPU"):
        load_checkpoint(path, map_location="cuda")


def test_a_model_with_fewer_outputs_than_classes_is_refused_by_fit(tmp_path, photo_folder):
    root = photo_folder(tmp_path / "d", {"": 4}, classes=("a", "b", "c"))
    cd = course_data(root, image_size=8, batch_size=4, num_workers=0)
    model = tiny_net(num_classes=2)
    with pytest.raises(ValueError, match=r"the model has 2 outputs but the data has 3 classes "
                                         r"\(\['a', 'b', 'c'\]\); build it with num_classes=3"):
        fit(model, cd.train_loader, cd.val_loader, torch.optim.SGD(model.parameters(), lr=0.1),
            epochs=1, device="cpu", progress=False, log=None)
    plain = DataLoader(TensorDataset(torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 2])),
                       batch_size=4)  # a loader that does not say its classes
    with pytest.raises(ValueError, match="Target 2 is out of bounds.*the model has 2 outputs"):
        fit(model, plain, plain, torch.optim.SGD(model.parameters(), lr=0.1), epochs=1,
            device="cpu", progress=False, log=None)
    with pytest.raises(ValueError, match="the model has 1 output: a classifier needs at least two"):
        one = tiny_net(num_classes=1)
        fit(one, plain, plain, torch.optim.SGD(one.parameters(), lr=0.1), epochs=1, device="cpu",
            progress=False, log=None)


def test_predict_loader_on_an_empty_loader_and_predict_on_a_url():
    model = tiny_net()
    empty = DataLoader(Subset(TensorDataset(torch.randn(2, 3, 8, 8), torch.tensor([0, 1])), []))
    with pytest.raises(ValueError, match="the loader gave no batches, so there is nothing to "
                                         "predict"):
        predict_loader(model, empty, "cpu")
    with pytest.raises(ValueError, match=r"'https://example.com/bee.jpg' is a web address; "
                                         "predict reads a local file"):
        predict(model, "https://example.com/bee.jpg", (CLASSES, 8, [0.5] * 3, [0.25] * 3))


def test_history_json_records_why_training_stopped(tmp_path):
    history = History([{"epoch": 1, "val_acc": 0.5}])
    history.stopped = "epoch 2: the training loss became nan"
    history.save(tmp_path / "h.json")
    assert json.loads((tmp_path / "h.json").read_text())["stopped"] == history.stopped
    assert History.load(tmp_path / "h.json").stopped == history.stopped
