"""Data helpers: the embedded dataset, folder checks, image modes, transforms, splits, loaders."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import runtime
from course_utils.data import folders, shapes
from course_utils.data.folders import ImageFolderDataset, resolve_data_dir
from course_utils.data.images import DataError, load_rgb, to_rgb
from course_utils.data.loaders import class_counts, course_data, make_loader
from course_utils.data.shapes import EMBEDDED_CLASSES, make_embedded_dataset
from course_utils.data.splits import stratified_split
from course_utils.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    denormalize,
    eval_transforms,
    train_transforms,
)


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.jpg")):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def _image(path: Path, size=(40, 30), colour=(200, 30, 30), mode="RGB") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).convert(mode).save(path)
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A small valid ImageFolder tree with a space and non-ASCII characters in its path."""
    root = tmp_path / "my photos ñ 鸟"
    for name, colour in (("ant", (200, 0, 0)), ("bee", (0, 200, 0)), ("cat", (0, 0, 200))):
        for i in range(6):
            _image(root / name / f"{name} {i}.png", colour=colour)
    return root


# --------------------------------------------------------------------------- embedded dataset


def test_embedded_dataset_layout_and_determinism(tmp_path: Path) -> None:
    a = make_embedded_dataset(tmp_path / "a", per_class=6, seed=3)
    b = make_embedded_dataset(tmp_path / "b", per_class=6, seed=3)
    c = make_embedded_dataset(tmp_path / "c", per_class=6, seed=4)
    assert sorted(p.name for p in a.iterdir() if p.is_dir()) == sorted(EMBEDDED_CLASSES)
    assert all(len(list((a / name).glob("*.jpg"))) == 6 for name in EMBEDDED_CLASSES)
    assert _digest(a) == _digest(b), "same seed must give byte-identical files"
    assert _digest(a) != _digest(c), "another seed must give other images"
    sizes = set()
    for path in a.rglob("*.jpg"):
        with Image.open(path) as image:
            assert image.mode == "RGB" and image.format == "JPEG"
            sizes.add(image.size)
    assert len(sizes) > 10, "images should come in varied sizes"


def test_is_embedded_tells_generated_shapes_from_photos(tmp_path: Path, folder: Path) -> None:
    root = make_embedded_dataset(tmp_path / "shapes", per_class=2)
    assert shapes.is_embedded(root) and not shapes.is_embedded(folder)
    manifest = root / ".manifest.json"
    manifest.write_text(manifest.read_text().replace('"version": 2', '"version": 1'))
    assert not shapes.is_embedded(root)  # an older generator's copy is not what was measured


def test_embedded_dataset_is_reused_and_regenerated_when_incomplete(tmp_path: Path) -> None:
    root = make_embedded_dataset(tmp_path / "shapes", per_class=3)
    first = _digest(root)
    victim = next(root.rglob("*.jpg"))
    stamp = victim.stat().st_mtime_ns
    assert make_embedded_dataset(tmp_path / "shapes", per_class=3) == root
    assert victim.stat().st_mtime_ns == stamp, "a complete dataset must not be rewritten"
    victim.unlink()  # as if a run had been interrupted or a file deleted
    make_embedded_dataset(tmp_path / "shapes", per_class=3)
    assert _digest(root) == first


def test_embedded_dataset_interrupted_leaves_nothing_half_written(tmp_path, monkeypatch) -> None:
    calls = {"n": 0}
    real = shapes._draw_sample

    def flaky(label, rng):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(label, rng)

    monkeypatch.setattr(shapes, "_draw_sample", flaky)
    with pytest.raises(KeyboardInterrupt):
        make_embedded_dataset(tmp_path / "shapes", per_class=3)
    assert list(tmp_path.iterdir()) == [], "no partial folder may stay behind"


def test_resolve_data_dir_argument_environment_and_default(folder, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("COURSE_DATA_HOME", str(tmp_path / "home"))
    monkeypatch.delenv(folders.DATA_ENV, raising=False)
    monkeypatch.setattr(folders, "make_embedded_dataset", lambda: tmp_path / "embedded")
    assert resolve_data_dir() == tmp_path / "embedded"
    monkeypatch.setenv(folders.DATA_ENV, str(folder))
    assert resolve_data_dir() == folder
    assert resolve_data_dir(folder / "ant") == folder / "ant", "the argument wins over the env"
    monkeypatch.setenv(folders.DATA_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"nowhere.*COURSE_DATA.*no such folder"):
        resolve_data_dir()


# --------------------------------------------------------------------------- reading a folder


def test_folder_with_spaces_unicode_and_clutter(folder: Path) -> None:
    (folder / ".ipynb_checkpoints").mkdir()
    _image(folder / ".ipynb_checkpoints" / "x.png")
    (folder / ".DS_Store").write_bytes(b"\0\1")
    (folder / "ant" / "Thumbs.db").write_bytes(b"\0")
    (folder / "ant" / "notes.txt").write_text("not an image")
    (folder / "bee" / ".hidden.png").write_bytes(b"junk")
    (folder / "README.md").write_text("about these photos")
    ds = ImageFolderDataset(folder)
    assert ds.classes == ["ant", "bee", "cat"]
    assert len(ds) == 18 and Counter(ds.targets) == {0: 6, 1: 6, 2: 6}
    assert {p.name for p in ds.ignored} == {"notes.txt", "README.md"}
    image, label = ds[0]
    assert isinstance(image, Image.Image) and image.mode == "RGB" and label == 0
    assert "3 classes" in repr(ds)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        ImageFolderDataset(tmp_path / "gone")


def test_folder_without_class_subfolders(tmp_path: Path) -> None:
    _image(tmp_path / "flat" / "a.png")
    with pytest.raises(DataError, match=r"no class sub-folders.*1 image\(s\) directly.*'a.png'"):
        ImageFolderDataset(tmp_path / "flat")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no class sub-folders"):
        ImageFolderDataset(tmp_path / "empty")


def test_class_folder_without_images(folder: Path) -> None:
    (folder / "dog").mkdir()
    (folder / "dog" / "notes.txt").write_text("no images here")
    with pytest.raises(DataError, match=r"\['dog'\].*contain no images"):
        ImageFolderDataset(folder)


def test_corrupt_and_truncated_images_are_named(folder: Path) -> None:
    (folder / "ant" / "broken.jpg").write_bytes(b"this is not a jpeg")
    good = folder / "bee" / "big.jpg"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), np.uint8)).save(good)
    truncated = folder / "bee" / "truncated.jpg"
    truncated.write_bytes(good.read_bytes()[:400])
    with pytest.raises(DataError) as caught:
        ImageFolderDataset(folder)
    message = str(caught.value)
    assert "2 image(s)" in message and "broken.jpg" in message and "truncated.jpg" in message
    # Without the up-front check, the error still names the file instead of a bare PIL trace.
    ds = ImageFolderDataset(folder, verify=False)
    index = [i for i, (p, _) in enumerate(ds.samples) if p.endswith("broken.jpg")][0]
    with pytest.raises(DataError, match=r"cannot read image .*broken\.jpg"):
        ds[index]


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "CMYK", "LA", "PA", "1"])
def test_every_opaque_mode_becomes_the_same_rgb_as_pil_gives(mode: str) -> None:
    # Opaque pixels must come out as PIL's own conversion of the same pixels: no colour shift.
    rng = np.random.default_rng(0)
    image = Image.fromarray(rng.integers(0, 256, (6, 8, 3), np.uint8)).convert(mode)
    if "A" in mode:
        image.putalpha(255)
    out = to_rgb(image)
    assert out.mode == "RGB" and out.size == (8, 6)
    assert np.array_equal(np.asarray(out), np.asarray(image.convert("RGB")))


def _half_transparent(mode: str) -> Image.Image:
    """4x2 pixels: the left half fully transparent, the right half opaque; grey 50 or, for the
    palette modes, palette colour 1 = (0, 0, 200) (colour 0 = (200, 0, 0) is underneath)."""
    alpha = Image.fromarray(np.array([[0, 0, 255, 255]] * 2, np.uint8), "L")
    if mode in ("P", "PA"):
        image = Image.fromarray(np.array([[0, 0, 1, 1]] * 2, np.uint8), "P")
        image.putpalette([200, 0, 0, 0, 0, 200])
        if mode == "P":
            image.info["transparency"] = 0  # palette index 0 is transparent, as in a GIF
            return image
        image = image.convert("PA")
    else:
        image = Image.new("L", (4, 2), 50).convert(mode)
    image.putalpha(alpha)
    return image


@pytest.mark.parametrize("mode", ["RGBA", "LA", "PA", "P"])
def test_transparent_pixels_show_white_in_every_mode(mode: str, tmp_path: Path) -> None:
    image = _half_transparent(mode)
    opaque = [0, 0, 200] if mode in ("P", "PA") else [50, 50, 50]
    expected = [[[255, 255, 255]] * 2 + [opaque] * 2] * 2
    assert np.asarray(to_rgb(image)).tolist() == expected
    if mode in ("RGBA", "LA", "P"):  # and read back from a PNG file (PA cannot be saved)
        image.save(tmp_path / "x.png")
        assert np.asarray(load_rgb(tmp_path / "x.png")).tolist() == expected


def test_half_transparent_pixels_are_blended_with_white() -> None:
    image = Image.new("LA", (2, 2), (50, 128))
    # 50 * 128/255 + 255 * (1 - 128/255) = 152.1
    assert np.abs(np.asarray(to_rgb(image)).astype(int) - 152).max() <= 1


def test_sixteen_bit_grayscale_is_scaled_not_clipped(tmp_path: Path) -> None:
    array = np.full((4, 5), 32768, dtype=np.uint16)  # mid-grey in 16 bits
    path = tmp_path / "c" / "x" / "deep.png"
    path.parent.mkdir(parents=True)
    Image.fromarray(array).save(path)
    out = load_rgb(path)
    assert out.mode == "RGB"
    assert 120 <= np.asarray(out)[0, 0, 0] <= 135, "16-bit mid-grey must stay mid-grey"


def test_gif_palette_image_loads(folder: Path) -> None:
    Image.new("RGB", (20, 20), (1, 2, 3)).convert("P").save(folder / "cat" / "anim.gif")
    ds = ImageFolderDataset(folder)
    assert any(p.endswith("anim.gif") for p, _ in ds.samples)


# --------------------------------------------------------------------------- transforms


def test_transforms_shapes_normalisation_and_randomness() -> None:
    image = Image.fromarray(np.random.default_rng(1).integers(0, 255, (90, 140, 3), np.uint8))
    ev = eval_transforms(48)
    a = ev(image)
    assert a.shape == (3, 48, 48)
    for seed in range(8):  # seeded here, not left to whatever earlier tests drew
        torch.manual_seed(seed)
        assert torch.equal(ev(image), a), "evaluation must be deterministic"
    tr = train_transforms(48)
    torch.manual_seed(0)
    outs = [tr(image) for _ in range(4)]
    assert all(o.shape == (3, 48, 48) for o in outs)
    assert any(not torch.equal(outs[0], o) for o in outs[1:]), "training must augment"
    grey = Image.new("RGB", (50, 50), tuple(round(255 * m) for m in IMAGENET_MEAN))
    assert ev(grey).abs().max() < 0.02, "the ImageNet mean colour normalises to zero"


def _white_square_on_grey(side: int = 96, square: int = 24) -> Image.Image:
    pixels = np.full((side, side, 3), 128, np.uint8)
    lo = (side - square) // 2
    pixels[lo:lo + square, lo:lo + square] = 255
    return Image.fromarray(pixels)


def _white_pixels(x: torch.Tensor) -> int:
    return int((denormalize(x).mean(0) > 0.9).sum())


def test_flip_shift_moves_the_object_but_keeps_it_whole() -> None:
    image = _white_square_on_grey()  # a 24-pixel square in the middle of 96: 12 at 48 pixels
    whole = _white_pixels(eval_transforms(48)(image))
    assert whole >= 120  # about 12 x 12 (the antialiased resize softens its edge)
    tf = train_transforms(48, augment="flip-shift")
    torch.manual_seed(0)
    outs = [tf(image) for _ in range(20)]
    assert all(_white_pixels(o) == whole for o in outs), "a shift of <= 1/8 never cuts it"
    # it moves: the square's top-left corner lands in several places, each within 6 = 48/8 pixels
    corners = set()
    for o in outs:
        rows, cols = (denormalize(o).mean(0) > 0.9).nonzero(as_tuple=True)
        corners.add((int(rows.min()), int(cols.min())))
    assert len(corners) > 5 and all(abs(r - 18) <= 6 and abs(c - 18) <= 6 for r, c in corners)
    # the ImageNet habit crops 50-100 % and stretches: the same square changes its area
    crop = train_transforms(48, augment="crop")
    torch.manual_seed(0)
    assert any(_white_pixels(crop(image)) != whole for _ in range(20))
    with pytest.raises(ValueError, match="augment='rotate'"):
        train_transforms(48, augment="rotate")


def _left_right_ramp(width: int = 96, height: int = 48) -> Image.Image:
    """Red in the left quarter, blue in the right quarter, a grey ramp in the middle half:
    no pixel looks like its mirror image, and a centre crop keeps only the ramp."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 4] = (255, 0, 0)
    pixels[:, 3 * width // 4:] = (0, 0, 255)
    ramp = np.linspace(0, 255, width // 2).astype(np.uint8)
    pixels[:, width // 4: 3 * width // 4] = ramp[None, :, None]
    return Image.fromarray(pixels)


def _normalised(picture: Image.Image) -> torch.Tensor:
    array = torch.from_numpy(np.asarray(picture, np.float32) / 255).permute(2, 0, 1)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    return (array - mean) / std


def test_eval_transforms_are_resize_and_centre_crop_by_value_whatever_the_seed() -> None:
    image = _left_right_ramp()  # 96 x 48
    # By hand: the shorter side 48 -> 24 halves everything to 48 x 24; the centre 24 x 24 starts
    # at column 12, which is where the ramp starts: neither red nor blue may be in view.
    expected = _normalised(image.resize((48, 24), Image.BILINEAR).crop((12, 0, 36, 24)))
    tf = eval_transforms(24)
    for seed in range(16):  # any random step would show under some of these seeds
        torch.manual_seed(seed)
        out = tf(image)
        torch.testing.assert_close(out, expected, rtol=0, atol=1.5 / 255 / min(IMAGENET_STD))
    # the expectation is what the comment says: inside the edge columns (which the resize blends
    # with their neighbours) only the grey ramp, rising from left to right
    inner = denormalize(out)[:, :, 1:-1]
    assert (inner.max(0).values - inner.min(0).values).max() < 0.01, "no red or blue in view"
    assert (inner[0, :, 1:] > inner[0, :, :-1]).all()


def _white_pixel_columns(x: torch.Tensor) -> torch.Tensor:
    return (denormalize(x).mean(0) > 0.9).nonzero(as_tuple=True)[1].float()


def test_flip_shift_flips_half_the_time_and_repeats_the_border() -> None:
    # A white square left of centre on grey: flipped, it lands right of centre.
    pixels = np.full((48, 48, 3), 128, np.uint8)
    pixels[18:30, 6:18] = 255  # columns 6..17: centre 11.5, far from the middle 23.5
    image = Image.fromarray(pixels)
    tf = train_transforms(48, augment="flip-shift")
    torch.manual_seed(0)
    outs = [tf(image) for _ in range(40)]
    centres = [float(_white_pixel_columns(o).mean()) for o in outs]
    flipped = sum(c > 24 for c in centres)
    assert 10 <= flipped <= 30, f"{flipped} of 40 flipped; a fair coin gives about 20"
    # a shift of up to 6 pixels moves the centre to 11.5 +- 6, or mirrored 35.5 +- 6
    assert all(abs(c - 11.5) <= 6 or abs(c - 35.5) <= 6 for c in centres)
    # the border is repeated (grey), never padded with black: nothing darker than the grey
    assert min(float(denormalize(o).min()) for o in outs) > 0.45


def test_denormalize_inverts_normalize() -> None:
    x = torch.rand(2, 3, 5, 5)
    mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
    normalised = (x - mean) / std
    assert torch.allclose(denormalize(normalised), x, atol=1e-6)
    assert torch.allclose(denormalize(normalised[0]), x[0], atol=1e-6)


# --------------------------------------------------------------------------- splits and loaders


def test_stratified_split_keeps_shares_and_is_deterministic() -> None:
    targets = [0] * 100 + [1] * 40 + [2] * 20
    train, val, test = stratified_split(targets, (0.7, 0.15, 0.15), seed=7)
    assert sorted(train + val + test) == list(range(160)), "a partition: no loss, no overlap"
    for part, share in ((train, 0.7), (val, 0.15), (test, 0.15)):
        counts = Counter(targets[i] for i in part)
        for label, total in ((0, 100), (1, 40), (2, 20)):
            assert abs(counts[label] - share * total) <= 1
    assert stratified_split(targets, seed=7) == [train, val, test]
    assert stratified_split(targets, seed=8) != [train, val, test]
    small = stratified_split(targets, seed=7, max_per_class=10)
    assert [len(p) for p in small] == [18, 6, 6]


def test_stratified_split_pinned_indices() -> None:
    # Exact indices for one case, so a change of generator or numpy behaviour is noticed.
    train, val, test = stratified_split([0] * 10 + [1] * 10, (0.6, 0.2, 0.2), seed=0)
    rng = np.random.default_rng(0)
    first = np.arange(10)[rng.permutation(10)]
    assert val[:2] == sorted(int(i) for i in first[6:8])
    assert len(train) == 12 and len(val) == 4 and len(test) == 4


def test_stratified_split_rejects_bad_fractions() -> None:
    with pytest.raises(ValueError, match="sum to 1"):
        stratified_split([0, 1], (0.5, 0.2))


def test_loaders_shuffle_only_training_and_are_seeded(folder: Path) -> None:
    ds = ImageFolderDataset(folder, transform=eval_transforms(16))
    train = make_loader(ds, 4, train=True, seed=1, num_workers=0)
    val = make_loader(ds, 4, train=False, num_workers=0)
    labels = lambda loader: torch.cat([y for _, y in loader]).tolist()  # noqa: E731
    assert labels(val) == sorted(labels(val)) == ds.targets
    first = labels(train)
    assert first != ds.targets and sorted(first) == ds.targets
    assert labels(make_loader(ds, 4, train=True, seed=1, num_workers=0)) == first


def test_loader_workers_under_spawn(folder: Path) -> None:
    ds = ImageFolderDataset(folder, transform=train_transforms(16))
    loader = make_loader(ds, 6, train=True, num_workers=2)
    loader.multiprocessing_context = "spawn"  # Windows' and macOS' start method
    batches = list(loader)
    assert sum(len(y) for _, y in batches) == len(ds)
    assert batches[0][0].shape == (6, 3, 16, 16)


def test_class_counts_on_dataset_and_subset(folder: Path) -> None:
    ds = ImageFolderDataset(folder)
    assert class_counts(ds) == {"ant": 6, "bee": 6, "cat": 6}
    sub = torch.utils.data.Subset(ds, [0, 1, 7, 17])
    assert class_counts(sub) == {"ant": 2, "bee": 1, "cat": 1}


def test_course_data_end_to_end(folder: Path) -> None:
    cd = course_data(folder, image_size=24, batch_size=5, num_workers=0,
                     fractions=(0.5, 0.25, 0.25))
    assert cd.classes == ["ant", "bee", "cat"]
    assert len(cd.train_set) + len(cd.val_set) + len(cd.test_set) == 18
    x, y = next(iter(cd.train_loader))
    assert x.shape == (5, 3, 24, 24) and y.dtype == torch.int64
    assert not set(cd.train_set.indices) & set(cd.test_set.indices)
    # stratified: 6 images per class, a quarter each to validation and test rounds to 2
    assert class_counts(cd.test_set) == class_counts(cd.val_set) == {"ant": 2, "bee": 2, "cat": 2}
    assert cd.augment == "flip-shift" and "RandomCrop" in repr(cd.train_set.dataset.transform)
    assert not cd.embedded  # a folder of photos, not the course's generated shapes
    cropped = course_data(folder, image_size=24, batch_size=5, num_workers=0,
                          fractions=(0.5, 0.25, 0.25), augment="crop")
    assert "RandomResizedCrop" in repr(cropped.train_set.dataset.transform)
    assert repr(cropped.val_set.dataset.transform) == repr(cd.val_set.dataset.transform)


def test_course_data_normalises_with_its_own_mean_and_std_and_records_them(folder: Path) -> None:
    mean, std = (0.5, 0.25, 0.75), (0.2, 0.4, 0.1)
    cd = course_data(folder, image_size=8, batch_size=4, num_workers=0, seed=3, max_per_class=4,
                     fractions=(0.5, 0.25, 0.25), mean=mean, std=std)
    # every image is one plain colour: ant (200, 0, 0), bee (0, 200, 0), cat (0, 0, 200)
    colours = {0: (200, 0, 0), 1: (0, 200, 0), 2: (0, 0, 200)}
    for subset in (cd.train_set, cd.val_set):
        x, label = subset[0]
        by_hand = [(c / 255 - m) / s for c, m, s in zip(colours[label], mean, std, strict=True)]
        assert torch.allclose(x.mean((1, 2)), torch.tensor(by_hand), atol=1e-5), (label, by_hand)
    assert (cd.mean, cd.std) == (mean, std)
    meta = cd.run_meta("resnet18", lr=0.1)
    assert sorted(meta) == ["arch", "class_names", "image_size", "lr", "max_per_class", "mean",
                            "seed", "std"]
    assert (meta.mean, meta.std, meta.image_size) == (mean, std, 8)
    assert meta["class_names"] == ["ant", "bee", "cat"] and meta["seed"] == 3
    assert meta["max_per_class"] == 4 and meta["lr"] == 0.1


@pytest.fixture
def ramps(tmp_path: Path) -> Path:
    """Two classes of left-right ramps (asymmetric, so a flip or a shift changes the pixels)."""
    root = tmp_path / "ramps"
    for name, width in (("left", 96), ("right", 80)):
        (root / name).mkdir(parents=True)
        for i in range(8):
            _left_right_ramp(width + 4 * i).save(root / name / f"{i}.png")
    return root


def test_validation_and_test_images_are_the_evaluation_transforms_by_value(ramps: Path) -> None:
    cd = course_data(ramps, image_size=24, batch_size=3, num_workers=0, seed=1)
    expected = eval_transforms(24)
    for subset in (cd.val_set, cd.test_set):
        for position, index in enumerate(subset.indices):
            path, label = subset.dataset.samples[index]
            torch.manual_seed(position)  # a different random state for every image
            x, y = subset[position]
            assert y == label and torch.equal(x, expected(load_rgb(path))), path
    # the loader gives them in the subset's order (chapter 5 finds a misclassified image by
    # its position), however often it is iterated
    for loader, subset in ((cd.val_loader, cd.val_set), (cd.test_loader, cd.test_set)):
        for seed in (0, 1):
            torch.manual_seed(seed)
            images, labels = (torch.cat(parts) for parts in zip(*loader, strict=True))
            assert labels.tolist() == [subset[i][1] for i in range(len(subset))]
            assert torch.equal(images, torch.stack([subset[i][0] for i in range(len(subset))]))
    # while the training images do change from one draw to the next
    torch.manual_seed(0)
    draws = [cd.train_set[0][0] for _ in range(6)]
    assert any(not torch.equal(draws[0], d) for d in draws[1:])


def test_default_workers_leave_the_cpu_to_the_model(monkeypatch) -> None:
    monkeypatch.setattr(runtime, "usable_cores", lambda: 2)
    assert runtime.default_num_workers() == 0 and runtime.default_num_workers("cpu") == 0
    assert runtime.default_num_workers("cuda") == 1
    monkeypatch.setattr(runtime, "usable_cores", lambda: 16)
    assert runtime.default_num_workers("cpu") == 4 and runtime.default_num_workers("cuda") == 4
    # data-parallel training: each of the processes on this machine gets its share of the cores
    assert runtime.default_num_workers("cuda", processes=4) == 3
    assert runtime.default_num_workers("cpu", processes=2) == 0  # its threads use them already
