"""Data: the embedded dataset, choosing and checking an image folder, transforms, splits, loaders."""

from __future__ import annotations

import copy
import json
import math
import os
import re
import shutil
import tempfile
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFilter, ImageOps, UnidentifiedImageError
from torch.utils.data import DataLoader, Dataset, Subset
from torchvision import transforms as T

from .runtime import seed_worker

# Pretrained ImageNet models expect inputs normalised with the statistics of ImageNet's
# training photos; we keep them even from scratch because they put natural-photo pixels at
# roughly zero mean and unit variance (which is what BatchNorm and the init assume), and
# a checkpoint stays compatible with torchvision's pretrained weights if you later use them.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# Lower-case file endings PIL reads; the same set as torchvision's ImageFolder.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp", ".gif")
# Entries that tools create inside folders and that are never classes or images.
IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}
# A pre-split folder: train/ plus val/ (or valid/, validation/) and/or test/, each holding the
# same class folders (the layout of PyTorch's ants/bees tutorial data and of many downloads).
SPLITS = ("train", "val", "test")
SPLIT_FOLDERS = {"train": ("train",), "val": ("val", "valid", "validation"), "test": ("test",)}

DATA_ENV = "COURSE_DATA"  # point it at your own ImageFolder-style photo folder
EMBEDDED_CLASSES = ("circle", "square", "star", "triangle")
EMBEDDED_VERSION = 2  # bump when the generator changes, so old copies are regenerated
_MANIFEST = ".manifest.json"  # hidden, so the dataset scan skips it


class DataError(ValueError):
    """The data folder or an image in it is not what the course expects."""


# --------------------------------------------------------------------------- the embedded dataset


def default_data_home() -> Path:
    """Where generated data lives: the repository's data/ folder (or COURSE_DATA_HOME)."""
    if os.environ.get("COURSE_DATA_HOME"):
        return Path(os.environ["COURSE_DATA_HOME"])
    repo = Path(__file__).resolve().parent.parent
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
    t = np.linspace(0, 1, w)[None, :, None] if rng.random() < 0.5 else np.linspace(0, 1, h)[:, None, None]
    background = (c0 * (1 - t) + c1 * t) * np.ones((h, w, 1))
    image = Image.fromarray(background.astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    # Distractors: thin lines and small blobs in random colours (none of them is a class shape).
    for _ in range(int(rng.integers(1, 4))):
        x0, x1 = rng.integers(0, w, size=2)
        y0, y1 = rng.integers(0, h, size=2)
        draw.line([(int(x0), int(y0)), (int(x1), int(y1))],
                  fill=tuple(int(v) for v in rng.integers(0, 256, 3)), width=int(rng.integers(1, 3)))
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


def resolve_data_dir(path: str | os.PathLike | None = None) -> Path:
    """The folder to use: `path`, else $COURSE_DATA, else the embedded dataset (made if needed)."""
    chosen = path if path is not None else os.environ.get(DATA_ENV) or None
    if chosen is None:
        return make_embedded_dataset()
    folder = Path(chosen).expanduser()
    if not folder.is_dir():
        source = "the argument" if path is not None else f"${DATA_ENV}"
        what = "a file, not a folder" if folder.exists() else "no such folder"
        raise DataError(f"data folder {str(folder)!r} (from {source}) is {what}; expected a folder "
                        f"with one sub-folder per class, e.g. {folder / 'class_a' / 'img1.jpg'}")
    return folder


# --------------------------------------------------------------------------- reading a folder


_EXIF_ORIENTATION = 0x0112


def _hidden(name: str) -> bool:
    return name.startswith(".") or name.startswith("__") or name in IGNORED_NAMES


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image (grayscale, 16-bit, float, palette, RGBA, CMYK) as 8-bit RGB, upright.

    A phone stores a photo as the sensor saw it plus an EXIF "orientation" tag; viewers
    rotate it, PIL does not: without exif_transpose a portrait photo reaches the model sideways.
    """
    if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit/32-bit pixels: convert("RGB") would clip everything above 255 to white.
        array = np.nan_to_num(np.asarray(image, dtype=np.float64))
        if image.mode.startswith("I;16") or array.max() > 255:
            top = 65535.0
        elif image.mode == "F" and array.min() >= 0 and array.max() <= 1:
            top = 1.0  # float pixels in [0, 1] (scientific TIFFs); /255 would make them black
        else:
            top = 255.0
        image = Image.fromarray((array / top * 255).clip(0, 255).astype(np.uint8), "L")
        return image.convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels have arbitrary colours underneath; show them on white.
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError)


def open_image(path: str | os.PathLike) -> Image.Image:
    """Image.open, refusing with the file's name any image above PIL's pixel limit.

    PIL only warns between Image.MAX_IMAGE_PIXELS (89 megapixels by default) and twice that,
    and above it raises a DecompressionBombError that names no file. The course's policy is
    one rule: above the limit, refuse (dataset check, training and predict alike). A model
    that sees 40-224 pixels gains nothing from 100 megapixels, and a decompression bomb (a
    small file that expands to gigabytes) looks just like such a photo.
    """
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found.group(1)):,} pixels" if found else "over twice the limit"
        raise DataError(_too_big(path, size, limit)) from error
    if limit is not None and image.width * image.height > limit:
        size = f"{image.width}x{image.height} = {image.width * image.height:,} pixels"
        image.close()
        raise DataError(_too_big(path, size, limit))
    return image


def _too_big(path, size: str, limit: int | None) -> str:
    return (f"image {str(path)!r} is too large ({size}): more than PIL's limit of "
            f"{limit or 0:,} pixels (PIL.Image.MAX_IMAGE_PIXELS). Shrink it (e.g. to 4000 "
            "pixels on the long side), or raise the limit if you trust the file.")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file as upright RGB, or raise DataError naming the file."""
    try:
        with open_image(path) as image:
            image.load()
            return to_rgb(image)
    except _READ_ERRORS as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"cannot read image {str(path)!r}: {error}. "
                        "Delete or replace the file, then run the cell again.") from error


class Targets(list):
    """A dataset's labels (a plain list of ints) that also remember the class names and, for a
    pre-split folder, the split folder of each image, so `stratified_split` keeps that split."""

    def __init__(self, labels, classes: Sequence[str], split_of: Sequence[str] | None = None):
        super().__init__(labels)
        self.classes = list(classes)
        self.split_of = list(split_of) if split_of is not None else None


class ImageFolderDataset(Dataset):
    """Like torchvision's ImageFolder, but it skips hidden and non-image entries, always gives
    upright RGB, checks every image once up front and explains what is wrong with the folder.

    `root` is either one sub-folder per class, or a pre-split folder: train/ plus val/ (or
    valid/) and/or test/, each with the same class folders. Then the images of all splits are
    here, and `split_folders` says where each split came from (see `stratified_split`).
    """

    def __init__(self, root: str | os.PathLike, transform: Callable | None = None,
                 verify: bool = True) -> None:
        self.root = Path(root)
        self.transform = transform
        self.split_folders = find_split_folders(self.root)
        if self.split_folders is None:
            self.classes, self.samples, self.ignored = _scan(self.root)
            split_of = None
        else:
            self.classes, self.samples, self.ignored, split_of = _scan_splits(
                self.root, self.split_folders)
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}
        self.targets = Targets([label for _, label in self.samples], self.classes, split_of)
        if verify:
            self.verify()

    def verify(self) -> None:
        """Decode every image once (cheaply) and raise one error listing all unreadable files."""
        bad = []
        for path, _ in self.samples:
            try:
                with open_image(path) as image:
                    image.draft("RGB", (64, 64))  # JPEGs decode at 1/8 size: fast, still complete
                    image.load()
            except DataError as error:  # too large: the message names the file already
                bad.append(f"  {error}")
            except _READ_ERRORS as error:
                bad.append(f"  {path}: {error}")
        if bad:
            raise DataError(f"{len(bad)} image(s) in {str(self.root)!r} cannot be read:\n"
                            + "\n".join(bad[:20]) + ("\n  ..." if len(bad) > 20 else "")
                            + "\nDelete or replace them, then run the cell again.")

    def with_transform(self, transform: Callable | None) -> ImageFolderDataset:
        """The same files and labels with another transform (no rescan)."""
        other = copy.copy(self)
        other.transform = transform
        return other

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int):
        path, label = self.samples[index]
        image = load_rgb(path)
        if self.transform is not None:
            image = self.transform(image)
        return image, label

    def __repr__(self) -> str:
        # The folder's name only: a full path would leak the machine's layout into notebooks.
        lines = [f"ImageFolderDataset: {len(self)} images in {len(self.classes)} classes",
                 f"    folder: {self.root.name}", f"    classes: {self.classes}"]
        if self.split_folders is not None:
            lines.append(f"    pre-split: {_describe_folders(self)}")
        if self.ignored:
            lines.append(f"    ignored {len(self.ignored)} non-image or hidden entries "
                         f"(e.g. {self.ignored[0].name})")
        if self.transform is not None:
            lines.append("    transform: " + repr(self.transform).replace("\n", "\n    "))
        return "\n".join(lines)


def _describe_folders(dataset: ImageFolderDataset) -> str:
    """e.g. "train/ 20, val/ 8 images (no test/ folder)"."""
    counts = Counter(dataset.targets.split_of)
    given = [f"{folder.name}/ {counts[split]}" for split, folder in dataset.split_folders.items()]
    missing = [f"{split}/" for split in SPLITS if split not in dataset.split_folders]
    return (", ".join(given) + " images"
            + (f" (no {' or '.join(missing)} folder)" if missing else ""))


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
            raise DataError(f"data folder {str(root)!r} has both {names[0].name}/ and "
                            f"{names[1].name}/; keep one {split} folder")
        if names:
            found[split] = names[0]
    known = {folder.name for folder in found.values()}
    others = [e.name for e in dirs.values() if e.name not in known]
    if len(found) == 1:
        return None if others else found  # train/ alone is pre-split too: val/test come from it
    if others:
        raise DataError(
            f"data folder {str(root)!r} looks pre-split ({', '.join(sorted(known))}) but also "
            f"holds {others}; expected only train/, val/ (or valid/) and test/, each with one "
            "sub-folder per class. Move the other folders out.")
    return found


def _scan_splits(root: Path, folders: dict[str, Path]):
    """Scan each split folder; refuse unless all of them have the same class folders."""
    scans = {split: _scan(folder, min_classes=1) for split, folder in folders.items()}
    classes = scans["train"][0]
    differ = {split: scan[0] for split, scan in scans.items() if scan[0] != classes}
    if differ:
        details = []
        for split, names in differ.items():
            missing = sorted(set(classes) - set(names))
            extra = sorted(set(names) - set(classes))
            details.append(f"{folders[split].name}/ " + ", ".join(
                part for part in (f"lacks {missing}" if missing else "",
                                  f"has {extra} that train/ lacks" if extra else "") if part))
        raise DataError(f"the splits of {str(root)!r} have different class folders: "
                        + "; ".join(details) + f" (train/ has {classes}). Every split needs the "
                        "same class folders, or the labels would mean different things.")
    _check_classes(root, classes)
    samples, ignored, split_of = [], [], []
    for split, (_, split_samples, split_ignored) in scans.items():
        samples += split_samples
        ignored += split_ignored
        split_of += [split] * len(split_samples)
    return classes, samples, ignored, split_of


def _check_classes(root: Path, classes: list[str]) -> None:
    if len(classes) < 2:
        raise DataError(
            f"data folder {str(root)!r} has only one class folder ({classes[0]!r}): a classifier "
            "needs at least two classes (with one, every answer is right and nothing is learnt). "
            f"Add a sub-folder per class, e.g. {root / 'other_class' / 'img1.jpg'}")


def _scan(root: Path, min_classes: int = 2) -> tuple[list[str], list[tuple[str, int]], list[Path]]:
    if not root.is_dir():
        raise DataError(f"data folder {str(root)!r} does not exist; expected a folder with one "
                        "sub-folder per class")
    ignored: list[Path] = []
    class_dirs = []
    broken = []
    for entry in _visible_entries(root):
        if _broken_link(entry):
            broken.append(entry)
        (class_dirs if entry.is_dir() else ignored).append(entry)
    if not class_dirs:
        loose = [p.name for p in ignored if p.suffix.lower() in IMAGE_EXTENSIONS]
        hint = (f" It holds {len(loose)} image(s) directly (e.g. {loose[0]!r}): move them into "
                "one sub-folder per class.") if loose else ""
        raise DataError(f"data folder {str(root)!r} has no class sub-folders; expected "
                        f"{root / '<class name>' / '<image>.jpg'}.{hint}")
    classes = [d.name for d in class_dirs]
    if min_classes > 1:
        _check_classes(root, classes)
    samples, empty = [], []
    for label, folder in enumerate(class_dirs):
        found = 0
        files, folder_broken = _walk(folder)
        broken += folder_broken
        for path in files:
            if path.suffix.lower() not in IMAGE_EXTENSIONS:
                ignored.append(path)
                continue
            samples.append((str(path), label))
            found += 1
        if not found:
            empty.append(folder.name)
    if broken:
        raise DataError(f"{len(broken)} broken symbolic link(s) in {str(root)!r}, e.g. "
                        f"{str(broken[0])!r} -> {os.readlink(broken[0])!r}; their images would be "
                        "missing without a word. Fix the links or remove them.")
    if empty:
        raise DataError(f"class folder(s) {empty} in {str(root)!r} contain no images "
                        f"(looked for {', '.join(IMAGE_EXTENSIONS)}); add images or remove the folder")
    return classes, samples, ignored


def _walk(folder: Path) -> tuple[list[Path], list[Path]]:
    """(visible files, broken links) under `folder`, sorted, following symbolic links to folders
    as torchvision does (pathlib's rglob would skip their images); each real folder once."""
    files, broken = [], []
    seen = set()
    for here, dirnames, filenames in os.walk(folder, followlinks=True):
        real = os.path.realpath(here)
        if real in seen:  # a link back up the tree: do not loop
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = [d for d in dirnames if not _hidden(d)]
        for name in filenames:
            if _hidden(name):
                continue
            path = Path(here) / name
            (broken if _broken_link(path) else files).append(path)
    key = lambda p: p.relative_to(folder).as_posix()  # noqa: E731
    return sorted(files, key=key), sorted(broken, key=key)


# --------------------------------------------------------------------------- transforms


AUGMENTATIONS = ("flip-shift", "crop")


def train_transforms(image_size: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                     augment: str = "flip-shift") -> T.Compose:
    """Training transforms: the evaluation framing plus random changes that keep the label.

    "flip-shift" (default): shorter side to `image_size`, the central square (as evaluation
    sees it), a random horizontal flip and a random shift of up to 1/8 of the side, the
    border's pixels repeated (the ResNet paper's CIFAR augmentation pads with zeros). Nothing
    is stretched or rescaled; an object near the edge can be pushed partly out of the frame.
    "crop": a random crop of 50-100 % of the image, stretched to a square, and a flip (the
    ImageNet habit); on small, centred objects it can cut them off or distort their shape.
    """
    if augment == "flip-shift":
        steps = [T.Resize(image_size, antialias=True), T.CenterCrop(image_size),
                 T.RandomHorizontalFlip(),
                 T.RandomCrop(image_size, padding=max(1, image_size // 8), padding_mode="edge")]
    elif augment == "crop":
        steps = [T.RandomResizedCrop(image_size, scale=(0.5, 1.0), antialias=True),
                 T.RandomHorizontalFlip()]
    else:
        raise ValueError(f"augment={augment!r}; expected one of {AUGMENTATIONS}")
    return T.Compose([*steps, T.ToTensor(), T.Normalize(mean, std)])


def eval_transforms(image_size: int = 224, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> T.Compose:
    """Evaluation: no randomness; shorter side to `image_size`, then the central square."""
    return T.Compose([
        T.Resize(image_size, antialias=True),
        T.CenterCrop(image_size),
        T.ToTensor(),
        T.Normalize(mean, std),
    ])


def denormalize(images: torch.Tensor, mean=IMAGENET_MEAN, std=IMAGENET_STD) -> torch.Tensor:
    """Undo Normalize for display: values back in [0, 1], same shape (C,H,W or N,C,H,W)."""
    mean_t = torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(-1, 1, 1)
    std_t = torch.as_tensor(std, dtype=images.dtype, device=images.device).view(-1, 1, 1)
    return (images * std_t + mean_t).clamp(0, 1)


# --------------------------------------------------------------------------- splits and loaders


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
        raise ValueError(f"fractions {tuple(fractions)} must be positive and sum to 1")
    if max_per_class is not None and max_per_class < 1:
        raise ValueError(f"max_per_class={max_per_class!r}; expected None (every image) or a "
                         "positive number of images per class")
    split_of = getattr(targets, "split_of", None)
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(targets):
        by_class.setdefault(int(label), []).append(index)
    parts: list[list[int]] = [[] for _ in fractions]
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
        raise ValueError(f"fractions {tuple(fractions)}: a pre-split folder needs three "
                         "(train, val, test)")
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
    name = (lambda label: repr(names[label])) if names else (lambda label: f"class {label}")
    if len(labels) < 2:
        only = name(labels[0]) if labels else "none"
        raise DataError(f"the data has {len(labels)} class ({only}); a classifier needs at "
                        "least two")
    part_names = list(SPLITS) if len(parts) == len(SPLITS) else [f"part {i}" for i in
                                                                   range(len(parts))]
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
            row += " (from " + ", ".join(f"{s}/ {folders[s]}" for s in SPLITS if s in folders) + ")"
        rows.append(row)
    need = ("every class needs images in train/ and val/ (and test/); a missing val/ or test/ "
            "is cut from the folder before it, so that folder needs at least 2 images per class"
            if split_of is not None else
            f"every class needs at least {len(parts)} images (one per part)")
    raise DataError(f"too few images to train and evaluate: {len(short)} class(es) would be "
                    "missing from a split:\n  " + "\n  ".join(rows[:20]) + f"\n{need}; a few "
                    "dozen per class is the least that learns anything. Add images or remove "
                    "the class folder.")


def default_num_workers(device: torch.device | str | None = None) -> int:
    """Loader worker processes: up to 4 beside a GPU; on the CPU, none unless cores are plenty.

    Training on the CPU already keeps every core busy with the model's own threads; a worker
    process competes with them, and PyTorch's threads then wait on each other. Decoding in the
    main process costs little beside a training step there (`make bench` measures both; the
    README's speed table has one machine's numbers).
    """
    cores = os.cpu_count() or 1
    if device is not None and torch.device(device).type in ("cuda", "mps"):
        return max(0, min(4, cores - 1))
    return 0 if cores <= 4 else min(4, cores // 4)


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
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    augment: str = "flip-shift"  # the training augmentation (see train_transforms)

    @property
    def embedded(self) -> bool:
        """True on the course's generated shapes, False on your own photos: the notebooks check
        the course's measured results only on the data they were measured on."""
        return is_embedded(self.root)

    def __repr__(self) -> str:
        return (f"CourseData({len(self.classes)} classes {self.classes}, image size "
                f"{self.image_size}, augment {self.augment!r}, train/val/test = {len(self.train_set)}/{len(self.val_set)}/"
                f"{len(self.test_set)} images, from {self.root.name!r})")


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
) -> CourseData:
    """Chapter 1 in one call: choose the folder, check it, split it and build the loaders.

    A folder of class folders is split by `stratified_split` (`fractions`, `seed`); a pre-split
    folder (train/ + val/ or valid/, optional test/) keeps its split, printed once.

    `augment` picks the training augmentation (`train_transforms`); evaluation never has any.
    """
    root = resolve_data_dir(data_dir)
    full = ImageFolderDataset(root)
    train_idx, val_idx, test_idx = stratified_split(full.targets, fractions, seed, max_per_class)
    if full.split_folders is not None:
        _announce(describe_split(full, (train_idx, val_idx, test_idx), fractions, seed))
    train_set = Subset(full.with_transform(train_transforms(image_size, augment=augment)),
                       train_idx)
    evaluation = full.with_transform(eval_transforms(image_size))
    val_set, test_set = Subset(evaluation, val_idx), Subset(evaluation, test_idx)
    return CourseData(
        root=root, classes=full.classes, image_size=image_size, augment=augment,
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
    return (f"pre-split folder {full.root.name!r}: {_describe_folders(full)}{how} -> "
            f"train/val/test = {sizes} images")
