"""Performance benchmarks (`make bench`): prints a table and writes runs/bench.json.

    python -m benchmarks.run [--quick] [--device cuda] [--size 224] [--reps 5]

Every pair is measured with interleaved repetitions (A, B, B, A, ...), and the median is
reported, so a background load hurts both sides alike. Each repetition processes at least
`--images` images (the lesson's batch of 4 takes several steps). Section a runs in this
process; each repetition of section b runs in a fresh process, because the memory allocator's
settings are process-wide and its heap remembers what ran before (`in_fresh_processes`).

a. from-scratch ResNet-50 vs torchvision's, same weights: forward, and forward + backward
b. the training step as the lesson wrote it (batch 4, fp32, NCHW, glibc's allocator as it
   comes), then the course's default speed settings added one at a time (channels-last, batch
   size, autocast where native), then the opt-in allocator tuning (`--tune-allocator`); a slice
   of a real epoch, loader included, as the lesson's loop and as the course's; evaluation under
   no_grad vs inference_mode with the course's speed settings
c. the input pipeline alone (JPEG decode, transforms, collate) for 0..N loader workers
d. the training step's achieved FLOP rate as a fraction of the measured matmul peak, and the
   ceiling that peak puts on any fp32 speed-up over the lesson
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn
from torchvision import datasets
from torchvision import transforms as T

from course_utils import runtime
from course_utils.data.folders import ImageFolderDataset
from course_utils.data.loaders import make_loader
from course_utils.data.shapes import make_embedded_dataset
from course_utils.data.transforms import IMAGENET_MEAN, IMAGENET_STD, train_transforms
from course_utils.files import atomic_write
from course_utils.models.resnet import resnet50
from course_utils.runtime import cpu_has_native_bf16, default_num_workers
from course_utils.training import allocator
from course_utils.training.speed import autocast, speed_for

Bench = Callable[[], int]  # runs once, returns how many images it processed


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def interleaved(fns: dict[str, Bench], reps: int, device: torch.device) -> dict[str, float]:
    """Median images/s of each function over `reps` interleaved rounds, after one warm-up each."""
    for fn in fns.values():  # warm-up: allocator, oneDNN/cuDNN algorithm choice
        fn()
    sync(device)
    rates: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns.items())
    for rep in range(reps):
        # A, B, B, A, ...: whoever runs second in a pair (warm caches, a CPU clocked up) gets
        # that advantage as often as the other
        for name, fn in order if rep % 2 == 0 else order[::-1]:
            start = time.perf_counter()
            n = fn()
            sync(device)
            rates[name].append(n / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def train_step(model: nn.Module, batch: int, size: int, device: torch.device, images: int,
               amp_dtype: torch.dtype | None = None, channels_last: bool = False) -> Bench:
    """AdamW steps on random data, as the training loop does them, until `images` are seen."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 4, (batch,), device=device)
    steps = math.ceil(images / batch)

    def run() -> int:
        for _ in range(steps):
            with autocast(device, amp_dtype):
                loss = nn.functional.cross_entropy(model(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        return steps * batch

    return run


def forward_only(model: nn.Module, batch: int, size: int, device: torch.device, images: int,
                 context: Callable = torch.inference_mode, channels_last: bool = False,
                 amp_dtype: torch.dtype | None = None) -> Bench:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt).eval()
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    steps = math.ceil(images / batch)

    def run() -> int:
        with context(), autocast(device, amp_dtype):
            for _ in range(steps):
                model(x)
        return steps * batch

    return run


def epoch_slice(loader_factory: Callable[[], torch.utils.data.DataLoader], model: nn.Module,
                device: torch.device, images: int, amp_dtype: torch.dtype | None = None,
                channels_last: bool = False) -> Bench:
    """The start of a real epoch: a fresh loader iterator (as every epoch makes one), real
    JPEGs, training steps, until `images` are done; the loader's workers stop after it."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def run() -> int:
        loader = loader_factory()
        seen = 0
        it = iter(loader)
        try:
            for x, y in it:
                x = x.to(device, non_blocking=True).contiguous(memory_format=fmt)
                with autocast(device, amp_dtype):
                    loss = nn.functional.cross_entropy(model(x), y.to(device, non_blocking=True))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                seen += len(x)
                if seen >= images:
                    break
        finally:
            shutdown = getattr(it, "_shutdown_workers", None)
            if shutdown is not None:  # stop prefetching now, not while the next one is timed
                shutdown()
        return seen

    return run


def matmul_peak(device: torch.device, dtype: torch.dtype, n: int, reps: int) -> float:
    """Measured TFLOP/s of a large square matmul: the practical ceiling for conv-heavy work."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    a @ b
    sync(device)
    best = float("inf")
    for _ in range(reps):
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e12


def resnet50_train_flops(size: int) -> float:
    """Forward mult-adds x 2 (FLOPs) x 3 (backward costs about twice the forward)."""
    macs_224 = 4.089e9  # torchinfo, ResNet-50 at 224x224 (1000 classes; the head is negligible)
    return macs_224 * (size / 224) ** 2 * 2 * 3


def pipeline_rate(workers: int, batch: int, size: int, epochs: int) -> float:
    """Images/s of the training loader alone: decode, augment, normalise, collate.

    Measured sequentially, not interleaved: loader workers prefetch in the background, which
    would credit one loader with time spent measuring another.
    """
    dataset = ImageFolderDataset(make_embedded_dataset(), transform=train_transforms(size))
    loader = make_loader(dataset, batch, train=True, num_workers=workers)
    for _ in loader:  # warm-up: start the workers, fill the page cache
        pass
    start = time.perf_counter()
    n = sum(len(x) for _ in range(epochs) for x, _ in loader)
    return n / (time.perf_counter() - start)


REPO = Path(__file__).resolve().parents[1]


def build(spec: dict) -> Bench:
    """The benchmark function a child process measures, from its JSON description."""
    torch.manual_seed(0)
    device = torch.device(spec["device"])
    amp = getattr(torch, spec["amp"]) if spec.get("amp") else None
    size, batch, images = spec["size"], spec["batch"], spec["images"]
    model = resnet50(num_classes=4)
    if spec["kind"] == "step":
        return train_step(model, batch, size, device, images, amp, spec["channels_last"])
    if spec["kind"] == "eval":
        contexts = {"no_grad": torch.no_grad, "inference_mode": torch.inference_mode}
        context = contexts[spec["context"]]
        return forward_only(model, batch, size, device, images, context, spec["channels_last"], amp)
    if spec["kind"] == "epoch":
        root = make_embedded_dataset()
        if spec["loader"] == "lesson":  # as the lesson wrote it
            data = datasets.ImageFolder(str(root), transform=T.Compose([
                T.Resize([size, size]), T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]))

            def factory():
                return torch.utils.data.DataLoader(data, batch_size=batch, shuffle=True,
                                                   num_workers=1)
        else:
            data = ImageFolderDataset(root, transform=train_transforms(size))

            def factory():
                return make_loader(data, batch, train=True, device=device)
        return epoch_slice(factory, model, device, images, amp, spec["channels_last"])
    raise ValueError(f"unknown benchmark kind {spec['kind']!r}")


def child(spec: dict) -> None:
    """Runs in a fresh process: set the allocator, warm up once, print images/s as JSON."""
    if spec["reuse"]:
        allocator.reuse_freed_memory(True)
    device = torch.device(spec["device"])
    fn = build(spec)
    fn()
    sync(device)
    start = time.perf_counter()
    n = fn()
    sync(device)
    print(json.dumps({"img_s": n / (time.perf_counter() - start)}))


def in_fresh_processes(specs: dict[str, dict], reps: int) -> dict[str, float]:
    """Median images/s of each spec, each repetition in a new process, in interleaved order.

    The memory allocator's settings are process-wide and the heap remembers what ran before:
    measured in one process, a configuration inherits the heap another one left behind (one
    without memory reuse then looks as fast as one with it). A fresh process per measurement
    starts every configuration as a learner's notebook kernel would.
    """
    rates: dict[str, list[float]] = {name: [] for name in specs}
    order = list(specs.items())
    for rep in range(reps):
        for name, spec in order if rep % 2 == 0 else order[::-1]:
            done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--child",
                                   json.dumps(spec)], cwd=REPO, capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"benchmark {name!r} failed:\n{done.stderr[-3000:]}")
            rates[name].append(json.loads(done.stdout.strip().splitlines()[-1])["img_s"])
    return {name: statistics.median(r) for name, r in rates.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best there "
                                                       "is)")
    parser.add_argument("--size", type=int, default=224, help="image size (default 224, as the "
                                                              "lesson)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions per "
                                                            "measurement")
    parser.add_argument("--images", type=int, default=None,
                        help="images per repetition (default: 32 on the CPU, 512 on a GPU)")
    parser.add_argument("--quick", action="store_true", help="2 repetitions: a smoke test")
    parser.add_argument("--out", default="runs/bench.json")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one measurement, in a fresh process
    args = parser.parse_args()
    if args.child:
        return child(json.loads(args.child))
    device = runtime.pick_device(args.device)
    cpu = device.type == "cpu"
    reps = 2 if args.quick else args.reps
    size = args.size
    path = speed_for(device)  # the course's default speed settings: the allocator left alone
    big = 32 if cpu else 128  # the course's batch size (chapter 4 uses 32 on the CPU)
    # per repetition: at least one course step, and 8 of the lesson's on the CPU
    images = args.images or (big if cpu else 4 * big)
    line = runtime.describe_runtime(device)
    print(line)
    results: dict = {"device": line, "machine": platform.machine(), "cpu_count": os.cpu_count(),
                     "image_size": size, "reps": reps, "images_per_rep": images,
                     "course_batch": big, "speed": path.describe()}
    torch.manual_seed(0)
    tunable = cpu and allocator.can_reuse_memory()  # the opt-in tuning exists here

    def measure_peaks() -> dict[str, float]:
        n = 2048 if cpu else 8192
        peaks = {"fp32": matmul_peak(device, torch.float32, n, reps)}
        if path.amp_dtype == torch.float16:  # GPUs without bf16 autocast in fp16
            peaks["fp16"] = matmul_peak(device, torch.float16, n, reps)
        elif path.amp_dtype is not None or cpu:
            # emulated bf16 runs at a few GFLOP/s: a smaller matrix says the same in seconds
            emulated = cpu and not cpu_has_native_bf16()
            peaks["bf16"] = matmul_peak(device, torch.bfloat16, n // 4 if emulated else n, reps)
        return peaks

    peaks_at_start = measure_peaks()

    # a. from scratch vs torchvision, same weights, same settings (the allocator as it comes)
    ours, theirs = resnet50(num_classes=4), torchvision.models.resnet50(num_classes=4)
    ours.load_state_dict(theirs.state_dict())
    half = big // 2
    fwd = interleaved({"ours": forward_only(ours, half, size, device, 4 * images),
                       "torchvision": forward_only(theirs, half, size, device, 4 * images)},
                      reps, device)
    trn = interleaved({"ours": train_step(ours, half, size, device, images),
                       "torchvision": train_step(theirs, half, size, device, images)},
                      reps, device)
    results["a_scratch_vs_torchvision"] = {
        "batch": half, "forward_img_s": fwd, "forward_ratio": fwd["ours"] / fwd["torchvision"],
        "train_img_s": trn, "train_ratio": trn["ours"] / trn["torchvision"]}
    del ours, theirs

    # b. the lesson's training step, then the course's defaults added one at a time, then the
    # opt-in allocator tuning. Each measurement runs in a fresh process (see
    # `in_fresh_processes`), in interleaved order.
    amp = str(path.amp_dtype).replace("torch.", "") if path.amp_dtype else None
    base = {"device": str(device), "size": size, "images": images}
    plain = {"channels_last": False, "reuse": False, "amp": None}  # as the lesson runs
    config = {**base, "kind": "step", "batch": 4, **plain}
    changes = [("channels-last", {"channels_last": True}) if path.channels_last else None,
               (f"batch {big}", {"batch": big}),
               (f"autocast {amp}", {"amp": amp}) if amp else None]
    lesson_name = "lesson: batch 4, fp32, NCHW"
    specs = {}
    for label, change in [(lesson_name, {})] + [c for c in changes if c]:
        config = {**config, **change}
        name = label if not change else f"+ {label}"
        specs[name] = config
    course_name = name  # the last of these has every default: the course's step
    tuned_name = "+ allocator tuning (opt-in, --tune-allocator)"
    if tunable:
        specs[tuned_name] = {**config, "reuse": True}
    step = in_fresh_processes(specs, reps)
    lesson_rate, course_rate = step[lesson_name], step[course_name]
    course = {"channels_last": path.channels_last, "reuse": False, "amp": amp}

    # ... a slice of a real epoch, loader included: the lesson's loader (Resize to a square,
    # batch 4, shuffled, 1 worker process) and the course's (augmentation, default workers)
    workers = default_num_workers(device)
    epoch = in_fresh_processes({
        "lesson loop (batch 4, 1 worker)": {**base, "kind": "epoch", "loader": "lesson",
                                            "batch": 4, **plain},
        f"course loop (batch {big}, {workers} workers)": {**base, "kind": "epoch",
                                                         "loader": "course", "batch": big,
                                                         **course},
    }, reps)
    # ... and evaluation: the lesson's no_grad in fp32 vs inference_mode with the speed settings
    evaluation = in_fresh_processes({
        "no_grad, fp32, NCHW": {**base, "kind": "eval", "context": "no_grad", "batch": big,
                                **plain},
        "inference_mode + speed settings": {**base, "kind": "eval", "context": "inference_mode",
                                            "batch": big, **course},
    }, reps)
    e_lesson, e_course = epoch.values()
    results["b_training_step"] = {
        "img_s": step, "course": f"batch {big}, {path.describe()}",
        "ratio": course_rate / lesson_rate, "course_step": course_name,
        "tuned_over_default": step[tuned_name] / course_rate if tunable else None,
        "epoch_slice_img_s": epoch, "epoch_slice_ratio": e_course / e_lesson,
        "evaluation_img_s": evaluation}

    # c. the input pipeline alone, 0..N workers
    max_workers = min(4, os.cpu_count() or 1)
    results["c_input_pipeline_img_s"] = {
        f"{w} workers": pipeline_rate(w, big, size, 1 if args.quick else 2)
        for w in range(max_workers + 1)}
    results["c_default_workers"] = workers

    # d. achieved FLOP rate vs the matmul peak (the best of the start and the end of the run:
    # on a shared machine a neighbour's load can halve one measurement)
    peaks_at_end = measure_peaks()
    peaks = {k: max(v, peaks_at_end[k]) for k, v in peaks_at_start.items()}
    flops = resnet50_train_flops(size)
    achieved = course_rate * flops / 1e12
    used = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(path.amp_dtype, "fp32")
    ceiling = peaks[used] * 1e12 / flops  # img/s if every FLOP ran at the matmul peak
    results["d_flops"] = {"matmul_peak_tflops": peaks, "achieved_tflops": achieved,
                          "fraction_of_peak": achieved / peaks[used], "peak_used": used,
                          "train_gflop_per_image": flops / 1e9,
                          "ceiling_img_s": ceiling, "ceiling_over_lesson": ceiling / lesson_rate}

    print_table(results)
    text = json.dumps(results, indent=1, default=str)
    atomic_write(args.out, lambda f: f.write(text.encode("utf-8")))
    print(f"\nwritten: {args.out}")


def print_table(r: dict) -> None:
    a, b, d = r["a_scratch_vs_torchvision"], r["b_training_step"], r["d_flops"]
    rows = [
        (f"a. forward, ours / torchvision (batch {a['batch']})",
         f"{a['forward_img_s']['ours']:.2f} / {a['forward_img_s']['torchvision']:.2f}",
         f"{a['forward_ratio']:.3f}"),
        (f"a. train step, ours / torchvision (batch {a['batch']})",
         f"{a['train_img_s']['ours']:.2f} / {a['train_img_s']['torchvision']:.2f}",
         f"{a['train_ratio']:.3f}"),
    ]
    lesson = next(iter(b["img_s"].values()))
    for name, rate in b["img_s"].items():
        rows.append((f"b. train step, {name}", f"{rate:.2f}", f"{rate / lesson:.2f}"))
    rows.append((f"b. = the course's default training step ({b['course_step']}) / the "
                 "lesson's", "", f"{b['ratio']:.2f}"))
    if b.get("tuned_over_default"):
        rows.append(("b. the allocator tuned / the course's default step", "",
                     f"{b['tuned_over_default']:.2f}"))
    e_lesson = next(iter(b["epoch_slice_img_s"].values()))
    for name, rate in b["epoch_slice_img_s"].items():
        rows.append((f"b. epoch, {name}", f"{rate:.2f}", f"{rate / e_lesson:.2f}"))
    e_ref = next(iter(b["evaluation_img_s"].values()))
    for name, rate in b["evaluation_img_s"].items():
        rows.append((f"b. evaluation, {name}", f"{rate:.2f}", f"{rate / e_ref:.2f}"))
    for name, rate in r["c_input_pipeline_img_s"].items():
        default = " (default)" if name == f"{r['c_default_workers']} workers" else ""
        rows.append((f"c. input pipeline, {name}{default}", f"{rate:.1f}", ""))
    peaks = ", ".join(f"{k} {v:.4f}" for k, v in d["matmul_peak_tflops"].items())
    rows.append(("d. matmul peak (TFLOP/s)", peaks, ""))
    rows.append((f"d. course train step achieved (TFLOP/s, share of {d['peak_used']} peak)",
                 f"{d['achieved_tflops']:.3f}", f"{d['fraction_of_peak']:.0%}"))
    rows.append(("d. ceiling: img/s at 100 % of that peak (x lesson step)",
                 f"{d['ceiling_img_s']:.2f}", f"{d['ceiling_over_lesson']:.2f}"))
    width = max(len(x[0]) for x in rows)
    print(f"\n{'measurement (images/s)':{width}}  {'value':>20}  {'ratio':>7}")
    for name, value, ratio in rows:
        print(f"{name:{width}}  {value:>20}  {ratio:>7}")


if __name__ == "__main__":
    main()
