"""The generator's other shapes (chapter 8's source task), and the embedded dataset unchanged."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from course_utils.data import shapes
from course_utils.data.shapes import (
    EMBEDDED_CLASSES,
    OTHER_SHAPES,
    SHAPES,
    make_embedded_dataset,
    make_shapes_dataset,
)

# Recorded with the generator as it was before it learnt other shapes (commit 702f2cd), on
# torch 2.14.1 / Pillow 13.0.0 / numpy 2.4.6. The whole 600-per-class dataset (2,400 files) was
# compared as well when the change was made: 5276c532...8d3e before and after.
BEFORE = {
    (3, 0): "e3ac9a116487a52a9297c7471ca5551b28027e4cf9c00dfed5082b031b5bb710",
    (6, 3): "009847824a429983347d214154e022688167d03f0cfc7b6a964f4c6a6fd36bf2",
}
# The raw pixels of the first 3 x 4 drawings from seed 0 (before JPEG), same generator.
PIXELS_BEFORE = "b7aedc9f23317e7eaa80835a8a0451bb5997ca1218ca96df1150c7ee17546a91"


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*.jpg")):
        h.update(path.relative_to(folder).as_posix().encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def test_the_embedded_dataset_is_byte_identical_to_before(tmp_path):
    rng = np.random.default_rng(0)
    pixels = hashlib.sha256()
    for _ in range(3):
        for name in EMBEDDED_CLASSES:
            pixels.update(shapes._draw_sample(name, rng).tobytes())
    assert pixels.hexdigest() == PIXELS_BEFORE, (
        "the embedded shapes are drawn differently from before: chapters 1-7's measured results "
        "were made on the old images (bump EMBEDDED_VERSION if that is intended)")
    for (per_class, seed), digest in BEFORE.items():
        root = make_embedded_dataset(tmp_path / f"s{per_class}_{seed}", per_class=per_class,
                                     seed=seed)
        assert _digest(root) == digest, (
            f"per_class={per_class}, seed={seed}: the files differ from before although the "
            "pixels above match; if Pillow's JPEG encoder changed, re-record with the old "
            "generator")


def test_other_shapes_make_an_image_folder_like_the_embedded_one(tmp_path):
    classes = ["pentagon", "ring", "arrow"]
    a = make_shapes_dataset(tmp_path / "a", classes, per_class=4, seed=1)
    b = make_shapes_dataset(tmp_path / "b", classes, per_class=4, seed=1)
    assert sorted(p.name for p in a.iterdir() if p.is_dir()) == sorted(classes)
    assert all(len(list((a / name).glob("*.jpg"))) == 4 for name in classes)
    assert _digest(a) == _digest(b), "same classes and seed must give the same files"
    assert _digest(make_shapes_dataset(tmp_path / "c", classes, per_class=4, seed=2)) != _digest(a)
    assert not shapes.is_embedded(a), "another task is not the embedded dataset"
    with Image.open(next(a.rglob("*.jpg"))) as image:
        assert image.mode == "RGB" and image.format == "JPEG" and min(image.size) >= 160
    stamp = next(a.rglob("*.jpg")).stat().st_mtime_ns
    make_shapes_dataset(tmp_path / "a", classes, per_class=4, seed=1)  # reused, not rewritten
    assert next(a.rglob("*.jpg")).stat().st_mtime_ns == stamp


def test_no_other_shape_is_an_embedded_class():
    assert not set(OTHER_SHAPES) & set(EMBEDDED_CLASSES)
    assert SHAPES == EMBEDDED_CLASSES + OTHER_SHAPES


def _mask(name: str, angle: float = 0.3, size: int = 101, r: float = 40.0) -> np.ndarray:
    """The shape alone, white on black, centred, radius r."""
    image = Image.new("RGB", (size, size), (0, 0, 0))
    shapes._draw_shape(image, name, size / 2, size / 2, r, angle, (255, 255, 255))
    return np.asarray(image)[..., 0] > 127


def test_every_shape_is_its_own_and_stays_within_its_radius():
    masks = {name: _mask(name) for name in SHAPES}
    yy, xx = np.mgrid[0:101, 0:101] + 0.5
    outside = np.hypot(xx - 50.5, yy - 50.5) > 40 + 1.5
    circle_area = math.pi * 40**2
    for name, mask in masks.items():
        assert not (mask & outside).any(), f"{name} reaches beyond its radius (out of the crop)"
        assert 0.15 * circle_area < mask.sum() < 1.05 * circle_area, (name, int(mask.sum()))
    names = list(masks)
    for i, a in enumerate(names):  # every pair differs in at least 4 % of the circle's area
        for b in names[i + 1:]:
            assert (masks[a] ^ masks[b]).sum() > 0.04 * circle_area, (a, b)
    assert not masks["ring"][50, 50] and masks["ring"][50, 50 + 30], "a ring has a hole"
    assert not np.array_equal(_mask("arrow", angle=0.0), _mask("arrow", angle=1.0)), "turned"


def test_unknown_or_repeated_classes_are_refused(tmp_path):
    with pytest.raises(ValueError, match=r"'blob'.*expected at least two distinct names from"):
        make_shapes_dataset(tmp_path / "x", ["circle", "blob"], per_class=2)
    with pytest.raises(ValueError, match=r"distinct"):
        make_shapes_dataset(tmp_path / "x", ["ring", "ring"], per_class=2)
    with pytest.raises(ValueError, match=r"per_class=0"):
        make_shapes_dataset(tmp_path / "x", ["ring", "heart"], per_class=0)
    assert not (tmp_path / "x").exists()
