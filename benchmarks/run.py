"""Performance benchmarks (`make bench`): prints a table and writes runs/bench.json.

    python -m benchmarks.run [--quick] [--device cuda] [--size 224]

Every pair is measured in one process with interleaved repetitions (A, B, A, B, ...), and the
median is reported, so a background load hurts both sides alike.

a. from-scratch ResNet-50 vs torchvision's: forward, and forward + backward (images/s, ratio)
b. the lesson's training step (batch 4, fp32, NCHW) vs the course's defaults (batch 32,
   the hardware's fast path: channels-last, autocast where native), and evaluation under
   no_grad vs inference_mode
c. the input pipeline alone (JPEG decode, transforms, collate) for 0..N loader workers
d. the training step's achieved FLOP rate as a fraction of the measured matmul peak
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from course_utils.data import (
    ImageFolderDataset,
    make_embedded_dataset,
    make_loader,
    train_transforms,
)
from course_utils.models import resnet50
from course_utils.runtime import describe_runtime, fast_path, pick_device


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()
    elif device.type == "mps":
        torch.mps.synchronize()


def interleaved(fns: dict[str, Callable[[], int]], reps: int, device: torch.device) -> dict[str, float]:
    """Median images/s of each function; each returns how many images it processed."""
    for fn in fns.values():  # warm-up: allocator, oneDNN/cuDNN algorithm choice
        fn()
    sync(device)
    rates: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            start = time.perf_counter()
            n = fn()
            sync(device)
            rates[name].append(n / (time.perf_counter() - start))
    return {name: statistics.median(r) for name, r in rates.items()}


def train_step(model: nn.Module, batch: int, size: int, device: torch.device,
               amp_dtype: torch.dtype | None, channels_last: bool) -> Callable[[], int]:
    """One optimiser step of AdamW on random data, as the training loop does it."""
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = torch.randint(0, 4, (batch,), device=device)

    def step() -> int:
        with torch.autocast(device.type, dtype=amp_dtype) if amp_dtype else contextlib.nullcontext():
            loss = nn.functional.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return batch

    return step


def forward_only(model: nn.Module, batch: int, size: int, device: torch.device,
                 context: Callable = torch.inference_mode, channels_last: bool = False,
                 amp_dtype: torch.dtype | None = None) -> Callable[[], int]:
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(device, memory_format=fmt).eval()
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)

    def run() -> int:
        with context(), (torch.autocast(device.type, dtype=amp_dtype) if amp_dtype
                         else contextlib.nullcontext()):
            model(x)
        return batch

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best there is)")
    parser.add_argument("--size", type=int, default=224, help="image size (default 224, as the lesson)")
    parser.add_argument("--reps", type=int, default=5, help="interleaved repetitions per measurement")
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, for a smoke test")
    parser.add_argument("--out", default="runs/bench.json")
    args = parser.parse_args()
    device = pick_device(args.device)
    reps = 2 if args.quick else args.reps
    size = args.size
    path = fast_path(device)
    big = 32 if device.type == "cpu" else 128
    print(describe_runtime(device))
    results: dict = {"device": describe_runtime(device), "machine": platform.machine(),
                     "cpu_count": os.cpu_count(), "image_size": size, "reps": reps}
    torch.manual_seed(0)

    # a. from scratch vs torchvision, same weights
    ours, theirs = resnet50(num_classes=4), torchvision.models.resnet50(num_classes=4)
    ours.load_state_dict(theirs.state_dict())
    fwd = interleaved({"ours": forward_only(ours, big // 2, size, device),
                       "torchvision": forward_only(theirs, big // 2, size, device)}, reps, device)
    trn = interleaved({"ours": train_step(ours, big // 2, size, device, None, False),
                       "torchvision": train_step(theirs, big // 2, size, device, None, False)},
                      reps, device)
    results["a_scratch_vs_torchvision"] = {
        "forward_img_s": fwd, "forward_ratio": fwd["ours"] / fwd["torchvision"],
        "train_img_s": trn, "train_ratio": trn["ours"] / trn["torchvision"]}

    # b. the lesson's training step vs the course's defaults (same model and optimiser)
    lesson = train_step(resnet50(num_classes=4), 4, size, device, None, False)
    course = train_step(resnet50(num_classes=4), big, size, device, path.amp_dtype, path.channels_last)
    step = interleaved({"lesson (batch 4, fp32, NCHW)": lesson,
                        f"course (batch {big}, {path.describe()})": course}, reps, device)
    lesson_rate, course_rate = step.values()
    evaluation = interleaved({
        "no_grad": forward_only(resnet50(num_classes=4), big, size, device, torch.no_grad),
        "inference_mode + fast path": forward_only(resnet50(num_classes=4), big, size, device,
                                                   torch.inference_mode, path.channels_last,
                                                   path.amp_dtype)}, reps, device)
    results["b_training_step"] = {"img_s": step, "ratio": course_rate / lesson_rate,
                                  "evaluation_img_s": evaluation}

    # c. the input pipeline alone, 0..N workers
    max_workers = min(4, os.cpu_count() or 1)
    results["c_input_pipeline_img_s"] = {
        f"{w} workers": pipeline_rate(w, big, size, 1 if args.quick else 2) for w in range(max_workers + 1)}
    results["c_default_workers"] = make_loader(torch.utils.data.TensorDataset(torch.zeros(1)), 1,
                                               train=False).num_workers

    # d. achieved FLOP rate vs the measured matmul peak
    n = 2048 if device.type == "cpu" else 8192
    peaks = {"fp32": matmul_peak(device, torch.float32, n, reps)}
    if path.amp_dtype is not None or device.type == "cpu":
        peaks["bf16"] = matmul_peak(device, torch.bfloat16, n, reps)
    achieved = course_rate * resnet50_train_flops(size) / 1e12
    used = "bf16" if path.amp_dtype == torch.bfloat16 else "fp32"
    results["d_flops"] = {"matmul_peak_tflops": peaks, "achieved_tflops": achieved,
                          "fraction_of_peak": achieved / peaks[used], "peak_used": used}

    print_table(results, lesson_rate, course_rate)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1, default=str))
    print(f"\nwritten: {out}")


def print_table(r: dict, lesson_rate: float, course_rate: float) -> None:
    a, b = r["a_scratch_vs_torchvision"], r["b_training_step"]
    rows = [
        ("a. forward, ours / torchvision (img/s)",
         f"{a['forward_img_s']['ours']:.1f} / {a['forward_img_s']['torchvision']:.1f}",
         f"{a['forward_ratio']:.3f}"),
        ("a. train step, ours / torchvision (img/s)",
         f"{a['train_img_s']['ours']:.1f} / {a['train_img_s']['torchvision']:.1f}",
         f"{a['train_ratio']:.3f}"),
        ("b. train step, course / lesson (img/s)", f"{course_rate:.1f} / {lesson_rate:.1f}",
         f"{b['ratio']:.2f}"),
    ]
    ev = list(b["evaluation_img_s"].values())
    rows.append(("b. evaluation, inference_mode+fast / no_grad", f"{ev[1]:.1f} / {ev[0]:.1f}",
                 f"{ev[1] / ev[0]:.2f}"))
    for name, rate in r["c_input_pipeline_img_s"].items():
        rows.append((f"c. input pipeline, {name}", f"{rate:.1f}", ""))
    d = r["d_flops"]
    peaks = ", ".join(f"{k} {v:.2f}" for k, v in d["matmul_peak_tflops"].items())
    rows.append(("d. matmul peak (TFLOP/s)", peaks, ""))
    rows.append((f"d. course train step achieved (TFLOP/s, vs {d['peak_used']} peak)",
                 f"{d['achieved_tflops']:.3f}", f"{d['fraction_of_peak']:.0%}"))
    width = max(len(x[0]) for x in rows)
    print(f"\n{'measurement':{width}}  {'value':>20}  {'ratio':>7}")
    for name, value, ratio in rows:
        print(f"{name:{width}}  {value:>20}  {ratio:>7}")


if __name__ == "__main__":
    main()
