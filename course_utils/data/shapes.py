"""The course's embedded dataset: coloured shapes on cluttered backgrounds, generated once."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from ..files import repository

EMBEDDED_CLASSES = ("circle", "square", "star", "triangle")
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
    wanted = {"version": EMBEDDED_VERSION, "seed": seed, "per_class": per_class,
              "classes": list(EMBEDDED_CLASSES)}
    if not force and _manifest_matches(root, wanted):
        return root
    root.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{root.name}-partial-", dir=root.parent))
    try:
        start = time.perf_counter()
        rng = np.random.default_rng(seed)
        for name in EMBEDDED_CLASSES:
            (tmp / name).mkdir()
        # Interleave classes so every class sees the same stream of random sizes and colours.
        for i in range(per_class):
            for label, name in enumerate(EMBEDDED_CLASSES):
                image = _draw_sample(label, rng)
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
    """Polygon of a class's shape (circle: many points) centred at (cx, cy), radius r."""
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


def _draw_sample(label: int, rng: np.random.Generator) -> Image.Image:
    """One image: a shape of random colour, size, place and angle on a cluttered background.

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
    draw.polygon(_shape_points(label, cx, cy, r, float(rng.uniform(0, 2 * math.pi))),
                 fill=tuple(int(v) for v in colour))
    # Sensor-like noise and a little blur, different in every image.
    pixels = np.asarray(image, dtype=np.float32)
    pixels += rng.normal(0, float(rng.uniform(3, 10)), size=pixels.shape)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    return image.filter(ImageFilter.GaussianBlur(float(rng.uniform(0, 0.8))))
