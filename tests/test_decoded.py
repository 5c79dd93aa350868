"""Decode once (data/decoded.py, images.load_rgb(path, size)): the same pixels as decoding the
whole image, each file decoded once, copies kept in memory or on disk and remade when a file
changes, shared with loader workers (spawn too); the switch that turns it off."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torchvision import transforms as T

from course_utils.data import decoded
from course_utils.data.decoded import DecodedImages, cache_mode
from course_utils.data.folders import ImageFolderDataset
from course_utils.data.images import load_rgb
from course_utils.data.loaders import course_data
from course_utils.data.transforms import decode_side, eval_transforms, train_transforms
from course_utils.files import atomic_write

# How far a copy decoded in JPEG draft mode may be from the whole image decoded and resized, in
# levels of 0-255: the mean over an image, and its 99th percentile (a few pixels at sharp edges
# differ more). Measured on these images and the embedded shapes: mean <= 0.7, 99th <= 3 (with
# the draft box ignored, a misplaced resize: 99th percentile 30).
MEAN_LEVELS, P99_LEVELS = 1.0, 4


@pytest.fixture(autouse=True)
def fresh_memory():
    decoded.clear_memory()
    yield
    decoded.clear_memory()


def _scene(size: tuple[int, int], seed: int) -> Image.Image:
    """A photo-like image with sharp edges: gradient, noise, a filled polygon, thin lines."""
    rng = np.random.default_rng(seed)
    w, h = size
    ramp = np.linspace(30, 220, w)[None, :, None] * np.ones((h, 1, 3))
    pixels = (ramp + rng.normal(0, 6, (h, w, 3))).clip(0, 255).astype(np.uint8)
    image = Image.fromarray(pixels, "RGB")
    draw = ImageDraw.Draw(image)
    draw.polygon([(w * 0.2, h * 0.8), (w * 0.5, h * 0.15), (w * 0.85, h * 0.7)], fill=(200, 30, 60))
    for i in range(4):
        draw.line([(0, h * i / 4), (w, h * (i + 1) / 4)], fill=(10, 240, 10), width=2)
    return image


# EXIF orientation -> what the camera stored, for an upright picture
_STORED = {2: Image.Transpose.FLIP_LEFT_RIGHT, 3: Image.Transpose.ROTATE_180,
           4: Image.Transpose.FLIP_TOP_BOTTOM, 5: Image.Transpose.TRANSPOSE,
           6: Image.Transpose.ROTATE_90, 7: Image.Transpose.TRANSVERSE,
           8: Image.Transpose.ROTATE_270}


@pytest.fixture(scope="module")
def jpegs(tmp_path_factory) -> list[Path]:
    """JPEGs of odd sizes (not multiples of 8) in every EXIF orientation, grayscale and CMYK."""
    root = tmp_path_factory.mktemp("jpegs")
    upright = _scene((1003, 757), seed=1)
    files = []
    for orientation in range(1, 9):
        stored = upright if orientation == 1 else upright.transpose(_STORED[orientation])
        exif = Image.Exif()
        exif[0x0112] = orientation
        files.append(root / f"orientation{orientation}.jpg")
        stored.save(files[-1], quality=92, exif=exif)
    for mode, size in (("L", (641, 1201)), ("CMYK", (530, 389))):
        files.append(root / f"{mode}.jpg")
        _scene(size, seed=2).convert(mode).save(files[-1], quality=90)
    files.append(root / "small.jpg")  # too small to draft at these sides
    _scene((61, 45), seed=3).save(files[-1], quality=90)
    return files


@pytest.mark.parametrize("side", [16, 40, 100])
def test_a_drafted_copy_is_the_whole_image_resized_within_rounding(jpegs, side):
    for path in jpegs:
        whole = T.Resize(side)(load_rgb(path))  # what every epoch computed before
        copy = T.Resize(side)(load_rgb(path, side))  # Resize: nothing left to do, or enlarge
        assert copy.size == whole.size and copy.mode == "RGB", path.name
        diff = np.abs(np.asarray(copy, float) - np.asarray(whole, float))
        assert diff.mean() <= MEAN_LEVELS and np.percentile(diff, 99) <= P99_LEVELS, (
            path.name, side, diff.mean(), np.percentile(diff, 99))
        if path.name == "small.jpg":  # nothing to draft: exactly Resize's pixels
            assert np.array_equal(np.asarray(copy), np.asarray(whole))


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "L", "I;16", "1"])
def test_files_that_cannot_be_drafted_give_exactly_what_resize_gave(tmp_path, mode):
    path = tmp_path / "x.png"
    image = _scene((203, 151), seed=4)
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), np.uint16) * 257)
        assert image.mode == "I;16"
    else:
        image = image.convert(mode)
    image.save(path)
    for side in (24, 151, 400):  # shrunk, the same size, and never enlarged by the copy
        copy = load_rgb(path, side)
        assert min(copy.size) == min(side, 151)
        assert np.array_equal(np.asarray(T.Resize(side)(copy)),
                              np.asarray(T.Resize(side)(load_rgb(path))))


def test_evaluation_sees_the_same_tensors_with_the_cache_on_or_off(tmp_path, jpegs):
    root = tmp_path / "data"
    for i, path in enumerate(jpegs):
        (root / ("a" if i % 2 else "b")).mkdir(parents=True, exist_ok=True)
        os.link(path, root / ("a" if i % 2 else "b") / path.name)
    on = course_data(root, image_size=24, num_workers=0, fractions=(0.4, 0.3, 0.3))
    off = course_data(root, image_size=24, num_workers=0, fractions=(0.4, 0.3, 0.3),
                      decode_cache=False)
    assert (on.train_set.dataset.decoded.mode, off.train_set.dataset.decoded.mode) == ("auto",
                                                                                       "off")
    before = eval_transforms(24)
    for a, b in ((on.val_set, off.val_set), (on.test_set, off.test_set)):
        for i in range(len(a)):
            assert torch.equal(a[i][0], b[i][0])  # bit for bit
            path = a.dataset.samples[a.indices[i]][0]
            levels = (a[i][0] - before(load_rgb(path))).abs() * 0.225 * 255  # std ~0.225
            assert levels.mean() <= MEAN_LEVELS, path


def test_the_size_an_image_is_decoded_at_follows_the_transform():
    assert decode_side(eval_transforms(40)) == 40
    assert decode_side(train_transforms(40)) == 40  # flip-shift: Resize(40) first
    assert decode_side(train_transforms(40, augment="crop")) == 66  # the smallest crop, shrunk
    assert decode_side(T.Compose([T.ToTensor()])) is None  # something else first: whole image
    assert decode_side(T.Compose([T.Resize(40, interpolation=T.InterpolationMode.NEAREST)])) is None
    assert decode_side(T.Compose([T.Resize((40, 50))])) is None  # a fixed shape, not a side


# --------------------------------------------------------------------------- decoded once


def _folder(root: Path, per_class: int = 6) -> Path:
    for label, name in enumerate(("ants", "bees")):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            _scene((90 + 7 * i, 70 + 3 * label), seed=10 * label + i).save(
                root / name / f"{i}.jpg", quality=90)
    return root


def test_each_image_is_decoded_once_by_the_check_and_read_from_memory_after(tmp_path):
    root = _folder(tmp_path / "d")
    before = dict(decoded.counts)
    data = course_data(root, image_size=16, batch_size=4, num_workers=0,
                       fractions=(0.5, 0.25, 0.25))
    assert decoded.counts["decoded"] - before["decoded"] == 12, "the check decodes each once"
    read = 0
    for _ in range(3):  # three epochs and their validation
        for loader in (data.train_loader, data.val_loader):
            read += sum(len(labels) for _, labels in loader)
    assert decoded.counts["decoded"] - before["decoded"] == 12, "and nothing decodes again"
    assert decoded.counts["memory"] - before["memory"] == read == 3 * (len(data.train_set)
                                                                       + len(data.val_set))
    assert not (tmp_path / "decoded").exists()
    # building the data again (chapter 4 does, for every rung) decodes nothing either
    course_data(root, image_size=16, batch_size=4, num_workers=0, fractions=(0.5, 0.25, 0.25))
    assert decoded.counts["decoded"] - before["decoded"] == 12
    # switched off, every read decodes
    off = course_data(root, image_size=16, batch_size=4, num_workers=0,
                      fractions=(0.5, 0.25, 0.25), decode_cache=False)
    start = decoded.counts["decoded"]
    read = sum(len(labels) for _, labels in off.train_loader)
    assert decoded.counts["decoded"] - start == read == len(off.train_set)


def test_copies_are_keyed_by_path_size_time_and_side_and_remade_when_the_file_changes(tmp_path):
    path = tmp_path / "photo.jpg"
    _scene((300, 200), seed=5).save(path, quality=90)
    cache = DecodedImages("disk", folder=tmp_path / "cache")
    first = cache.load(path, 20)
    files = sorted((tmp_path / "cache").rglob("*.rgb"))
    assert len(files) == 1 and files[0].name.endswith("-20.rgb")
    assert np.array_equal(np.asarray(first), np.asarray(load_rgb(path, 20)))
    start = dict(decoded.counts)
    again = cache.load(path, 20)
    assert decoded.counts["disk"] == start["disk"] + 1 and decoded.counts["decoded"] == start[
        "decoded"]
    assert np.array_equal(np.asarray(again), np.asarray(first))
    cache.load(path, 30)  # another side: another copy
    assert len(list((tmp_path / "cache").rglob("*.rgb"))) == 2
    # the photo is edited: same name, new pixels, a later modification time
    _scene((300, 200), seed=6).save(path, quality=90)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    edited = cache.load(path, 20)
    assert np.array_equal(np.asarray(edited), np.asarray(load_rgb(path, 20)))
    assert not np.array_equal(np.asarray(edited), np.asarray(first))
    assert len(list((tmp_path / "cache").rglob("*.rgb"))) == 3


def test_a_broken_copy_on_disk_is_made_again(tmp_path):
    path = tmp_path / "photo.png"
    _scene((80, 60), seed=7).save(path)
    cache = DecodedImages("disk", folder=tmp_path / "cache")
    good = np.asarray(cache.load(path, 20))
    (copy,) = (tmp_path / "cache").rglob("*.rgb")
    copy.write_bytes(copy.read_bytes()[:-7])  # cut short, as a full disk could leave it
    start = decoded.counts["decoded"]
    assert np.array_equal(np.asarray(cache.load(path, 20)), good)
    assert decoded.counts["decoded"] == start + 1
    assert np.array_equal(np.asarray(cache.load(path, 20)), good)  # and it was written whole
    assert decoded.counts["decoded"] == start + 1


def test_memory_while_it_fits_and_one_process_reads_otherwise_disk(tmp_path):
    paths = []
    for i in range(3):
        paths.append(tmp_path / f"{i}.png")
        _scene((40, 40), seed=i).save(paths[-1])
    one = 20 * 20 * 3  # bytes of one copy at side 20
    cache = DecodedImages("auto", folder=tmp_path / "cache", budget=2 * one)
    for path in paths:
        cache.load(path, 20)
    assert decoded._memory_bytes == 2 * one  # two fit the budget
    assert len(list((tmp_path / "cache").rglob("*.rgb"))) == 1  # the third went to disk
    shared = DecodedImages("auto", folder=tmp_path / "shared", shared=True)
    shared.load(paths[0], 24)
    assert len(list((tmp_path / "shared").rglob("*.rgb"))) == 1 and decoded._memory_bytes == 2 * one
    assert pickle.loads(pickle.dumps(shared)).folder == tmp_path / "shared"  # a worker finds it


def test_spawned_loader_workers_read_the_copies_the_check_made(tmp_path, monkeypatch):
    root = _folder(tmp_path / "d")
    monkeypatch.setenv("COURSE_DATA_HOME", str(tmp_path / "home"))
    data = course_data(root, image_size=16, batch_size=4, num_workers=2,
                       fractions=(0.5, 0.25, 0.25))
    assert data.train_set.dataset.decoded.shared  # workers: the copies go to disk
    copies = {p: p.stat().st_mtime_ns for p in (tmp_path / "home" / "decoded").rglob("*.rgb")}
    assert len(copies) == 12
    loader = data.train_loader
    loader.multiprocessing_context = "spawn"  # macOS' and Windows' start method
    images = torch.cat([x for x, _ in loader])
    assert images.shape == (len(data.train_set), 3, 16, 16)
    # no worker decoded a file (it would have written its copy again)
    assert {p: p.stat().st_mtime_ns for p in copies} == copies
    assert sorted((tmp_path / "home" / "decoded").rglob("*.rgb")) == sorted(copies)


def test_the_check_skips_files_with_a_copy_and_still_names_broken_ones(tmp_path):
    root = _folder(tmp_path / "d")
    course_data(root, image_size=16, num_workers=0)
    start = decoded.counts["decoded"]
    (root / "ants" / "broken.jpg").write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(Exception, match=r"1 image\(s\) .* cannot be read:\n  .*broken\.jpg"):
        course_data(root, image_size=16, num_workers=0)
    assert decoded.counts["decoded"] == start + 1  # the 12 good ones were not decoded again


# --------------------------------------------------------------------------- the switch


def test_the_switch_argument_environment_and_command(monkeypatch):
    from course_utils.training.command import build_parser

    monkeypatch.delenv(decoded.CACHE_ENV, raising=False)
    assert cache_mode() == "auto" and cache_mode(True) == "auto" and cache_mode(False) == "off"
    for value, mode in (("off", "off"), ("0", "off"), ("1", "auto"), ("disk", "disk"),
                        (" Memory ", "memory")):
        monkeypatch.setenv(decoded.CACHE_ENV, value)
        assert cache_mode() == mode
    assert cache_mode(True) == "auto", "the argument wins over the environment"
    monkeypatch.setenv(decoded.CACHE_ENV, "sometimes")
    with pytest.raises(ValueError, match="COURSE_DECODE_CACHE='sometimes' is not understood"):
        cache_mode()
    with pytest.raises(ValueError, match="decode_cache='yes please' is not understood"):
        cache_mode("yes please")
    parser = build_parser()
    assert parser.parse_args([]).decode_cache is None
    assert parser.parse_args(["--no-decode-cache"]).decode_cache is False
    assert parser.parse_args(["--decode-cache"]).decode_cache is True


def test_copies_are_written_quickly_and_whole(tmp_path, monkeypatch):
    def no_fsync(fd):
        raise AssertionError("a decoded copy is not worth an fsync")

    monkeypatch.setattr(os, "fsync", no_fsync)
    atomic_write(tmp_path / "x.rgb", lambda f: f.write(b"abc"), durable=False)
    assert (tmp_path / "x.rgb").read_bytes() == b"abc"
    assert [p.name for p in tmp_path.iterdir()] == ["x.rgb"]  # no temporary file left


def test_a_folder_that_cannot_hold_copies_warns_once_and_training_goes_on(tmp_path):
    blocker = tmp_path / "not a folder"
    blocker.write_text("a file where the cache folder would go")
    cache = DecodedImages("disk", folder=blocker)
    path = tmp_path / "x.png"
    _scene((50, 40), seed=8).save(path)
    with pytest.warns(UserWarning, match="cannot keep decoded copies in .*not a folder"):
        first = cache.load(path, 20)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        second = cache.load(path, 20)  # no second warning
    assert np.array_equal(np.asarray(first), np.asarray(second))


def test_a_dataset_of_its_own_decodes_at_its_transforms_size(tmp_path):
    root = _folder(tmp_path / "d", per_class=3)
    ds = ImageFolderDataset(root, transform=eval_transforms(16))
    assert ds.decode_side == 16 and ds.with_transform(None).decode_side is None
    x, _ = ds[0]
    assert x.shape == (3, 16, 16)
    assert ds.with_transform(None)[0][0].size == Image.open(ds.samples[0][0]).size  # whole
