"""Phone photos: what decoding costs on 12-megapixel JPEGs, and what decoding once saves.

    python -m benchmarks.phone_photos [--photos 64] [--size 40] [--epochs 4] [--reps 3]

A learner's folder is often phone photos, 4032 x 3024 JPEGs of 3-4 MB. This benchmark generates
such a folder once (data/phone_photos/, `--photos` in four classes: a shape on a textured,
noisy background, some stored sideways with an EXIF orientation as phones do), then measures

1. decoding one photo (milliseconds, median over the photos): the whole photo (`load_rgb`,
   what every epoch paid before), the whole photo plus the Resize of the evaluation transform,
   JPEG draft mode at the training size (`load_rgb(path, size)`, the first read), and the
   decoded copy read back from memory and from disk (every later read);
2. the training command (`python -m course_utils.train`, a fresh process for each run, the
   course's loaders and recipe, ResNet-50 at `--size` px) for `--epochs` epochs on the photos and
   on the same number of the embedded dataset's images (`--max-per-class`): seconds per epoch,
   validation included. Epoch 1 decodes; from epoch 2 on the copies are read. `--reps`
   interleaved repetitions (photos, embedded, photos, ...), each with an empty decode cache.

The goals (issue 30): an epoch from the second on costs on photos at most 1.25x what it costs on
the same number of embedded images; epoch 3 at most half of epoch 1. The report names the CPU and
the precision; it prints a table and writes runs/phone_photos.json. On a shared machine the
spread between repetitions is wide: measure on a quiet one before quoting a number.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from course_utils import runtime
from course_utils.data import decoded, folders
from course_utils.data.images import load_rgb
from course_utils.data.loaders import course_data
from course_utils.data.shapes import EMBEDDED_CLASSES, _shape_points, default_data_home
from course_utils.data.transforms import eval_transforms
from course_utils.files import atomic_write

PHONE = (4032, 3024)  # a 12-megapixel phone camera's photo, landscape as the sensor stores it
_VERSION = 1


def make_phone_photos(root: str | os.PathLike | None = None, count: int = 64, seed: int = 0,
                      size: tuple[int, int] = PHONE) -> Path:
    """Generate `count` phone-sized JPEGs in four class folders once; return the folder."""
    root = Path(root) if root is not None else default_data_home() / "phone_photos"
    stamp = root / ".manifest.json"
    wanted = {"version": _VERSION, "count": count, "seed": seed, "size": list(size)}
    try:
        if json.loads(stamp.read_text(encoding="utf-8")) == wanted:
            return root
    except (OSError, ValueError):
        pass
    rng = np.random.default_rng(seed)
    for i in range(count):
        label = i % len(EMBEDDED_CLASSES)
        folder = root / EMBEDDED_CLASSES[label]
        folder.mkdir(parents=True, exist_ok=True)
        image, exif = _photo(label, rng, size)
        atomic_write(folder / f"IMG_{1000 + i}.jpg",
                     lambda f, image=image, exif=exif: image.save(f, "JPEG", quality=92,
                                                                  exif=exif))
    stamp.write_text(json.dumps(wanted), encoding="utf-8")
    return root


def _photo(label: int, rng: np.random.Generator,
           size: tuple[int, int] = PHONE) -> tuple[Image.Image, Image.Exif]:
    """A photo-like image (4032 x 3024): smooth light, texture, a shape, sensor noise; one in four
    stored sideways with EXIF orientation 6 (a portrait photo, as phones store it)."""
    w, h = size
    light = Image.fromarray(rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)).resize(
        (w, h), Image.Resampling.BICUBIC)
    texture = Image.fromarray(rng.integers(0, 256, (max(1, h // 12), max(1, w // 12), 3),
                                           dtype=np.uint8)).resize(
        (w, h), Image.Resampling.BILINEAR)
    image = Image.blend(light, texture, 0.3)
    r = float(rng.uniform(0.25, 0.4)) * h
    cx, cy = w / 2 + float(rng.uniform(-0.1, 0.1)) * w, h / 2 + float(rng.uniform(-0.1, 0.1)) * h
    ImageDraw.Draw(image).polygon(_shape_points(label, cx, cy, r, float(rng.uniform(0, 6.3))),
                                  fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    pixels = np.asarray(image, dtype=np.int16)
    pixels = pixels + rng.integers(-8, 9, (h, w, 1), dtype=np.int16)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    exif = Image.Exif()
    if rng.random() < 0.25:
        exif[0x0112] = 6  # "rotate 90 degrees clockwise to view"
    return image, exif


# --------------------------------------------------------------------------- 1. decoding


def _median_ms(files, read) -> float:
    times = []
    for path in files:
        start = time.perf_counter()
        read(path)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def decode_costs(files: list[Path], size: int) -> dict[str, float]:
    """Milliseconds per photo (median over `files`) of each way to read one."""
    resize = eval_transforms(size).transforms[0]
    costs = {"full decode (load_rgb)": _median_ms(files, load_rgb),
             "full decode + Resize (every epoch before)":
                 _median_ms(files, lambda p: resize(load_rgb(p))),
             "draft decode at the training size (first read)":
                 _median_ms(files, lambda p: load_rgb(p, size))}
    with tempfile.TemporaryDirectory() as folder:
        for mode in ("memory", "disk"):
            cache = decoded.DecodedImages(mode, folder=folder)
            for path in files:
                cache.load(path, size)  # make the copies
            costs[f"decoded copy from {mode} (later reads)"] = _median_ms(
                files, lambda p, cache=cache: cache.load(p, size))
        decoded.clear_memory()
    return costs


# --------------------------------------------------------------------------- 2. the data check


def check_seconds(root: Path, size: int, threads: int) -> float:
    """Seconds of `course_data`'s check of `root` with an empty cache: it decodes every image
    once, at the training size, in `threads` threads, and keeps the copies."""
    decoded.clear_memory()
    original = folders.usable_cores
    folders.usable_cores = lambda: threads
    try:
        with _empty_cache():
            start = time.perf_counter()
            course_data(root, image_size=size, num_workers=0)
            return time.perf_counter() - start
    finally:
        folders.usable_cores = original
        decoded.clear_memory()


@contextlib.contextmanager
def _empty_cache():
    """No decoded copies on disk (a temporary COURSE_DATA_HOME) and none in memory."""
    decoded.clear_memory()
    before = os.environ.get("COURSE_DATA_HOME")
    with tempfile.TemporaryDirectory() as home:
        os.environ["COURSE_DATA_HOME"] = home
        try:
            yield
        finally:
            if before is None:
                del os.environ["COURSE_DATA_HOME"]
            else:
                os.environ["COURSE_DATA_HOME"] = before
            decoded.clear_memory()


def loader_rates(root: Path, size: int) -> dict[str, float]:
    """Training images per second of the loader alone (copies read and augmented, batches
    collated), with 0 and 1 worker processes."""
    rates = {}
    for workers in (0, 1):
        with _empty_cache():
            data = course_data(root, image_size=size, num_workers=workers)
            for _epoch in range(2):  # the first starts the worker; the second is timed
                start, seen = time.perf_counter(), 0
                for _, labels in data.train_loader:
                    seen += len(labels)
            rates[f"{workers} worker(s)"] = seen / (time.perf_counter() - start)
            del data
    return rates


# --------------------------------------------------------------------------- 3. epochs


def train_epochs(data: Path | None, size: int, epochs: int, per_class: int | None,
                 *extra: str) -> list[float]:
    """Seconds of each epoch (validation included) of the training command in a fresh process,
    with an empty decode cache."""
    with tempfile.TemporaryDirectory() as tmp:
        command = [sys.executable, "-m", "course_utils.train", "--epochs", str(epochs),
                   "--image-size", str(size), "--out", str(Path(tmp) / "run"), "--no-progress",
                   *extra]
        if data is not None:
            command += ["--data", str(data)]
        if per_class is not None:
            command += ["--max-per-class", str(per_class)]
        env = dict(os.environ)
        if data is not None:  # an empty disk cache (the embedded data stays where it is)
            env["COURSE_DATA_HOME"] = str(Path(tmp) / "home")
        subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL)
        history = json.loads((Path(tmp) / "run" / "best.history.json").read_text())
    return [r["seconds"] for r in history["epochs"]]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--photos", type=int, default=64, help="phone photos (default 64)")
    parser.add_argument("--size", type=int, default=40, help="image size (default 40, chapter "
                                                             "4's on a CPU)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per run (default 4)")
    parser.add_argument("--reps", type=int, default=3, help="repetitions (default 3)")
    parser.add_argument("--out", default="runs/phone_photos.json")
    args = parser.parse_args(argv)
    if args.photos < 60 or args.epochs < 3:
        parser.error("at least 60 photos and 3 epochs")
    device = runtime.pick_device("cpu")
    line = runtime.describe_runtime(device)
    print(f"{time.strftime('%Y-%m-%d %H:%M')} | {line} | load average {_load()}")
    start = time.perf_counter()
    root = make_phone_photos(count=args.photos)
    files = sorted(root.rglob("*.jpg"))
    print(f"{len(files)} phone photos {PHONE[0]}x{PHONE[1]} in {root.name}/ "
          f"({sum(f.stat().st_size for f in files) / len(files) / 1e6:.1f} MB each; "
          f"{time.perf_counter() - start:.0f} s to find or make)")

    costs = decode_costs(files, args.size)
    print(f"\n1. Reading one photo at {args.size} px, median over {len(files)} photos:\n")
    print("| read | ms per photo | photos/s |\n| --- | --- | --- |")
    for name, ms in costs.items():
        print(f"| {name} | {ms:.2f} | {1000 / ms:,.0f} |")

    cores = runtime.usable_cores()
    checks = {n: check_seconds(root, args.size, n) for n in sorted({1, min(cores, 8)})}
    rates = loader_rates(root, args.size)
    print("\n2. The data check of course_data (decodes every photo once, keeps the copy), and "
          "the loader alone over the copies:\n")
    for n, seconds in checks.items():
        print(f"    check, {n} thread(s): {seconds:.1f} s ({len(files) / seconds:.1f} photos/s)")
    for name, rate in rates.items():
        print(f"    loader, {name}: {rate:,.0f} training images/s")

    per_class = math.ceil(args.photos / len(EMBEDDED_CLASSES))
    runs = {"phone photos": [], "phone photos, --no-decode-cache": [], "embedded": []}
    for _ in range(args.reps):  # interleaved, so a burst of load hits every kind alike
        runs["phone photos"].append(train_epochs(root, args.size, args.epochs, None))
        runs["phone photos, --no-decode-cache"].append(
            train_epochs(root, args.size, args.epochs, None, "--no-decode-cache"))
        runs["embedded"].append(train_epochs(None, args.size, args.epochs, per_class))
    print(f"\n3. The training command, ResNet-50 at {args.size} px, {args.photos} images "
          f"({per_class} per class of the embedded data), seconds per epoch with validation, "
          f"{args.reps} runs (median [lowest, highest]):\n")
    print("| data | " + " | ".join(f"epoch {e + 1}" for e in range(args.epochs)) + " |")
    print("| --- |" + " --- |" * args.epochs)
    for name, reps in runs.items():
        cells = [_spread([r[e] for r in reps]) for e in range(args.epochs)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    later = {name: [statistics.median(r[1:]) for r in reps] for name, reps in runs.items()}
    ratio = [p / e for p, e in zip(later["phone photos"], later["embedded"], strict=True)]
    check = checks[max(checks)]
    third = [r[2] / (check + r[0]) for r in runs["phone photos"]]
    off = [r[2] / r[0] for r in runs["phone photos, --no-decode-cache"]]
    print(f"\nepoch >= 2, phone photos / embedded:         {_spread(ratio)} (goal <= 1.25)")
    print(f"epoch 3 / (data check + epoch 1), photos:   {_spread(third)} (goal <= 0.5; the "
          f"decoding is in the check)")
    print(f"epoch 3 / epoch 1, photos, no decode cache: {_spread(off)}")
    report = {"runtime": line, "size": args.size, "photos": len(files), "decode_ms": costs,
              "check_seconds": checks, "loader_images_per_s": rates, "epoch_seconds": runs,
              "later_ratio": ratio, "third_over_check_and_first": third,
              "third_over_first_without_cache": off, "date": time.strftime("%Y-%m-%d"),
              "load_average": _load()}
    atomic_write(args.out, lambda f: f.write(json.dumps(report, indent=1).encode("utf-8")))
    print(f"\nwritten to {args.out}")


def _spread(values, fmt: str = ".2f") -> str:
    return (f"{statistics.median(values):{fmt}} [{min(values):{fmt}}, {max(values):{fmt}}]"
            if len(values) > 1 else f"{values[0]:{fmt}}")


def _load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"


if __name__ == "__main__":
    main()
