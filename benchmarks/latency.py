"""CPU latency of the ResNet family: one image, evaluation mode, median of timed runs.

    python -m benchmarks.latency [--size 224] [--runs 10] [--depths 18 34 50 101 152]

Chapter 3 counts what each model computes (parameters, multiply-adds); this measures what that
costs on the machine at hand, once on one thread (comparable between machines) and once on all
the threads PyTorch uses by default (what you get in practice; on a busy shared machine it can be
far worse, because the threads wait for each other). Two warm-up runs first: the first calls
allocate memory and pick kernels. Prints a table and writes runs/latency.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import nn

from course_utils import runtime
from course_utils.files import atomic_write
from course_utils.models.resnet import RESNET_CONFIGS, build_resnet


def cpu_latency_ms(net: nn.Module, size: int, runs: int, threads: int, warmup: int = 2) -> float:
    """Median milliseconds for one `size`x`size` image through `net` on `threads` CPU threads."""
    if runs < 1:
        raise ValueError(f"runs must be at least 1, not {runs}")
    net = net.eval()
    x = torch.randn(1, 3, size, size)
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    times = []
    try:
        with torch.inference_mode():
            for i in range(warmup + runs):
                start = time.perf_counter()
                net(x)
                if i >= warmup:
                    times.append((time.perf_counter() - start) * 1000)
    finally:
        torch.set_num_threads(before)
    return statistics.median(times)


def measure(depths: Sequence[int], size: int, runs: int) -> list[dict]:
    all_threads = torch.get_num_threads()
    rows = []
    for depth in depths:
        net = build_resnet(depth)
        rows.append({"depth": depth, "size": size, "runs": runs,
                     "ms_1_thread": cpu_latency_ms(net, size, runs, threads=1),
                     "threads": all_threads,
                     "ms_all_threads": cpu_latency_ms(net, size, runs, threads=all_threads)})
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=224, help="image side in pixels (default 224)")
    parser.add_argument("--runs", type=int, default=10, help="timed runs per model (default 10)")
    parser.add_argument("--depths", type=int, nargs="+", default=list(RESNET_CONFIGS),
                        choices=list(RESNET_CONFIGS), help="which models (default: all five)")
    parser.add_argument("--out", type=Path, default=Path("runs/latency.json"))
    args = parser.parse_args(argv)
    rows = measure(args.depths, args.size, args.runs)
    print(runtime.describe_runtime(torch.device("cpu")))
    print(f"CPU latency for one {args.size}x{args.size} image, median of {args.runs} runs")
    all_threads = f"{rows[0]['threads']} threads"
    print(f"{'model':11s} {'1 thread':>10s} {all_threads:>11s}")
    for row in rows:
        print(f"ResNet-{row['depth']:<4d} {row['ms_1_thread']:>7.0f} ms "
              f"{row['ms_all_threads']:>8.0f} ms")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    report = {"machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "rows": rows}
    atomic_write(args.out, lambda f: f.write(json.dumps(report, indent=2).encode()))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
