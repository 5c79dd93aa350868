"""The course's embedded dataset: coloured shapes on cluttered backgrounds, generated once."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..files import repository

EMBEDDED_CLASSES = ("circle", "square", "star", "triangle")
# Shapes the generator can also draw, for tasks other than the embedded one (chapter 8 pretrains
# on some of them and transfers to the four above). None of them is one of the four.
OTHER_SHAPES = ("pentagon", "hexagon", "cross", "arrow", "heart", "ring", "crescent", "ellipse")
SHAPES = EMBEDDED_CLASSES + OTHER_SHAPES
EMBEDDED_VERSION = 2  # bump when the generator changes, so old copies are regenerated
_MANIFEST = ".manifest.json"  # hidden, so the dataset scan skips it


def default_data_home() -> Path:
    """Where generated data lives: the repository's data/ folder (or COURSE_DATA_HOME)."""
    if os.environ.get("COURSE_DATA_HOME"):
        return Path(os.environ["COURSE_DATA_HOME"])
    repo = repository()
    if (repo / "pyproject.toml").exists():
        return repo / "data"
    return Path.home() / ".cache" / "resnet-from-scratch"


def make_embedded_dataset(
    root: str | os.PathLike | None = None,
    *,
    per_class: int = 600,
    seed: int = 0,
    force: bool = False,
) -> Path:
    """Generate the course's shapes dataset once (deterministic from `seed`); return its folder.

    The folder is built in a temporary sibling and renamed into place at the end, so an
    interrupted run never leaves half a dataset; a folder whose manifest does not match
    (incomplete, older generator, other seed or size) is regenerated.
    """
    root = Path(root) if root is not None else default_data_home() / "shapes"
    return make_shapes_dataset(root, EMBEDDED_CLASSES, per_class=per_class, seed=seed,
                               force=force)


def make_shapes_dataset(
    root: str | os.PathLike,
    classes: Sequence[str],
    *,
    per_class: int,
    seed: int = 0,
    force: bool = False,
) -> Path:
    """An image folder of any of the generator's `SHAPES` (one sub-folder per class), made once.

    The same drawing as the embedded dataset (backgrounds, distractors, colours, sizes, angles,
    noise and blur), so only the shapes differ; `make_embedded_dataset` is this function with
    `EMBEDDED_CLASSES`, and gives the same files as it always did. Deterministic from `seed` and
    the list of classes; written atomically, reused while its manifest matches.
    """
    classes = list(classes)
    unknown = [name for name in classes if name not in SHAPES]
    if unknown or len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"classes={classes!r}; expected at least two distinct names from "
                         f"{list(SHAPES)}")
    if per_class < 1:
        raise ValueError(f"per_class={per_class!r}; expected at least 1 image per class")
    root = Path(root)
    wanted = {"version": EMBEDDED_VERSION, "seed": seed, "per_class": per_class,
              "classes": classes}
    if not force and _manifest_matches(root, wanted):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-partial-", dir=root.parent))
    try:
        start = time.perf_counter()
        rng = np.random.default_rng(seed)
        for name in classes:
            (tmp / name).mkdir()
        # Interleave classes so every class sees the same stream of random sizes and colours.
        for i in range(per_class):
            for name in classes:
                image = _draw_sample(name, rng)
                image.save(tmp / name / f"{name}_{i:04d}.jpg", quality=90)
        files = sorted(str(p.relative_to(tmp).as_posix()) for p in tmp.rglob("*.jpg"))
        manifest = dict(wanted, files=len(files),
                        seconds=round(time.perf_counter() - start, 2))
        (tmp / _MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        if root.exists():
            shutil.rmtree(root)
        try:
            os.replace(tmp, root)
        except OSError:
            # Another process finished first; keep its copy if it is complete.
            if not _manifest_matches(root, wanted):
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return root


def _read_manifest(root: Path) -> dict:
    """The generator's manifest in `root`, or {} when there is none (a folder of photos)."""
    try:
        return json.loads((root / _MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def is_embedded(root: str | os.PathLike) -> bool:
    """True if `root` holds the course's generated dataset (this generator version), not photos."""
    manifest = _read_manifest(Path(root))
    return (manifest.get("version") == EMBEDDED_VERSION
            and manifest.get("classes") == list(EMBEDDED_CLASSES))


def _manifest_matches(root: Path, wanted: dict) -> bool:
    manifest = _read_manifest(root)
    if not manifest or any(manifest.get(k) != v for k, v in wanted.items()):
        return False
    count = sum(1 for _ in root.glob("*/*.jpg"))
    return count == manifest.get("files") == wanted["per_class"] * len(wanted["classes"])


def _shape_points(label: int, cx: float, cy: float, r: float, angle: float) -> list[tuple]:
    """Polygon of an embedded class's shape (circle: many points) centred at (cx, cy), radius r."""
    if label == 0:  # circle
        k, radii = 48, [r]
    elif label == 1:  # square
        k, radii = 4, [r]
    elif label == 2:  # five-pointed star
        k, radii = 10, [r, 0.45 * r]
    else:  # triangle
        k, radii = 3, [r]
    points = []
    for i in range(k):
        a = angle + 2 * math.pi * i / k
        rr = radii[i % len(radii)]
        points.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
    return points


def _regular(k: int, radius: float = 1.0, dx: float = 0.0) -> list[tuple[float, float]]:
    """A regular k-gon of `radius` around (dx, 0), in unit coordinates."""
    return [(dx + radius * math.cos(2 * math.pi * i / k), radius * math.sin(2 * math.pi * i / k))
            for i in range(k)]


def _heart() -> list[tuple[float, float]]:
    """The classic parametric heart, scaled to fit the unit circle around its centre."""
    points = []
    for i in range(64):
        t = 2 * math.pi * i / 64
        x = 16 * math.sin(t) ** 3
        y = -(13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t))
        points.append((x, y + 2.5))  # y: +2.5 centres the curve's height (-14.5..19.5)
    scale = max(math.hypot(x, y) for x, y in points)
    return [(x / scale, y / scale) for x, y in points]


# The other shapes in unit coordinates (everything within radius 1 of the centre), as a list of
# (outline, keep): keep=True fills the outline, keep=False cuts it out again (the ring's hole).
_OUTLINES: dict[str, list[tuple[list[tuple[float, float]], bool]]] = {
    "pentagon": [(_regular(5), True)],
    "hexagon": [(_regular(6), True)],
    "cross": [([(0.3, 0.3), (0.3, 0.95), (-0.3, 0.95), (-0.3, 0.3), (-0.95, 0.3), (-0.95, -0.3),
                (-0.3, -0.3), (-0.3, -0.95), (0.3, -0.95), (0.3, -0.3), (0.95, -0.3),
                (0.95, 0.3)], True)],
    "arrow": [([(1.0, 0.0), (0.15, 0.75), (0.15, 0.28), (-0.95, 0.28), (-0.95, -0.28),
                (0.15, -0.28), (0.15, -0.75)], True)],
    "heart": [(_heart(), True)],
    "ring": [(_regular(48), True), (_regular(48, 0.55), False)],
    "crescent": [(_regular(48), True), (_regular(48, 0.85, dx=0.45), False)],
    "ellipse": [([(math.cos(2 * math.pi * i / 48), 0.5 * math.sin(2 * math.pi * i / 48))
                  for i in range(48)], True)],
}
assert set(_OUTLINES) == set(OTHER_SHAPES)


def _draw_shape(image: Image.Image, name: str, cx: float, cy: float, r: float, angle: float,
                colour: tuple[int, ...]) -> None:
    """Draw the shape `name` of radius r at (cx, cy), turned by `angle`, in `colour`."""
    if name in EMBEDDED_CLASSES:  # drawn exactly as the embedded dataset always was
        points = _shape_points(EMBEDDED_CLASSES.index(name), cx, cy, r, angle)
        ImageDraw.Draw(image).polygon(points, fill=colour)
        return
    cos, sin = math.cos(angle), math.sin(angle)
    mask = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask)
    for outline, keep in _OUTLINES[name]:
        points = [(cx + r * (x * cos - y * sin), cy + r * (x * sin + y * cos)) for x, y in outline]
        draw.polygon(points, fill=255 if keep else 0)
    image.paste(colour, mask=mask)


def _draw_sample(shape: str, rng: np.random.Generator) -> Image.Image:
    """One image: a `shape` of random colour, size, place and angle on a cluttered background.

    Version 2 of the generator (version 1 drew shapes whose radius was 18-38 % of the shorter
    side, among up to 8 lines of up to 4 pixels: at 48-64 pixels a ResNet-50 from scratch
    stayed at chance for its first hundreds of steps). Every nuisance is still random, so no
    pixel, colour or brightness tells the class (`python -m benchmarks.dataset_difficulty`
    measures it); the shape itself is now big and clear enough to learn in minutes on a CPU.
    """
    w, h = (int(v) for v in rng.integers(160, 321, size=2))
    # Background: a random two-colour gradient, so no class owns a colour or a brightness.
    c0, c1 = rng.integers(0, 256, size=(2, 3))
    if rng.random() < 0.5:
        t = np.linspace(0, 1, w)[None, :, None]
    else:
        t = np.linspace(0, 1, h)[:, None, None]
    background = (c0 * (1 - t) + c1 * t) * np.ones((h, w, 1))
    image = Image.fromarray(background.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    # Distractors: thin lines and small blobs in random colours (none of them is a class shape).
    for _ in range(int(rng.integers(1, 4))):
        x0, x1 = rng.integers(0, w, size=2)
        y0, y1 = rng.integers(0, h, size=2)
        draw.line([(int(x0), int(y0)), (int(x1), int(y1))],
                  fill=tuple(int(v) for v in rng.integers(0, 256, 3)),
                  width=int(rng.integers(1, 3)))
    for _ in range(int(rng.integers(0, 3))):
        x, y = rng.integers(0, w), rng.integers(0, h)
        s = int(rng.integers(2, 7))
        draw.ellipse([int(x) - s, int(y) - s, int(x) + s, int(y) + s // 2],
                     fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    # The shape: inside the central square, so a centre crop of the shorter side keeps it.
    side = min(w, h)
    r = float(rng.uniform(0.28, 0.45)) * side  # the radius: the shape spans 56-90 % of the side
    cx = w / 2 + float(rng.uniform(-1, 1)) * (side / 2 - r)
    cy = h / 2 + float(rng.uniform(-1, 1)) * (side / 2 - r)
    colour = rng.integers(0, 256, 3)
    under = background[int(cy), int(cx)]
    if np.abs(colour - under).sum() < 250:  # too close to the background: the complement,
        colour = 255 - colour
        if np.abs(colour - under).sum() < 250:  # and if that is close too, black or white
            colour = np.where(under > 127, 0, 255)
    _draw_shape(image, shape, cx, cy, r, float(rng.uniform(0, 2 * math.pi)),
                tuple(int(v) for v in colour))
    # Sensor-like noise and a little blur, different in every image.
    pixels = np.asarray(image, dtype=np.float32)
    pixels += rng.normal(0, float(rng.uniform(3, 10)), size=pixels.shape)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    return image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 0.8))))
