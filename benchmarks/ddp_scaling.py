"""Data-parallel scaling: the same short training with 1 process and with N under torchrun.

    python -m benchmarks.ddp_scaling [--processes 2] [--arch resnet18] [--size 40] [--epochs 2]

Both runs are `python -m course_utils.train` with the same global batch (so the same number of
optimizer steps of the same size): one process with all the usable cores, then N processes with
--batch-size global/N each and an equal share of the cores. Measured per run: the wall time of
the whole command (start-up, data checks and training) and fit's own time (training plus
validation, from the history). Writes runs/ddp_scaling.json and prints a table; the load average
before and after is recorded, because another job on the machine changes everything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import torch

from course_utils.data.folders import resolve_data_dir
from course_utils.files import atomic_write
from course_utils.runtime import _cpu_name, usable_cores
from course_utils.training.history import History

REPO = Path(__file__).resolve().parent.parent


def command(processes: int, args: argparse.Namespace, out: Path) -> list[str]:
    train = ["--arch", args.arch, "--image-size", str(args.size), "--epochs", str(args.epochs),
             "--max-per-class", str(args.max_per_class), "--batch-size",
             str(args.global_batch // processes), "--out", str(out), "--overwrite", "--no-progress"]
    if args.device:
        train += ["--device", args.device]
    if processes == 1:
        return [sys.executable, "-m", "course_utils.train", *train]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone",
            f"--nproc-per-node={processes}", "-m", "course_utils.train", *train]


def measure(processes: int, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        load = os.getloadavg()[0]
        start = time.perf_counter()
        done = subprocess.run(command(processes, args, out), cwd=REPO, capture_output=True,
                              text=True)
        wall = time.perf_counter() - start
        if done.returncode:
            raise RuntimeError(f"{processes} process(es) "
                               f"failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
        history = History.load(out / "best.history.json")
    return {"processes": processes, "wall_s": wall, "fit_s": sum(r["seconds"] for r in history),
            "images_per_s": sum(r["images_per_s"] for r in history) / len(history),
            "best_val_acc": history.best["val_acc"], "load_before": load,
            "load_after": os.getloadavg()[0]}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--arch", default="resnet18")
    parser.add_argument("--size", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--max-per-class", type=int, default=100)
    parser.add_argument("--global-batch", type=int, default=32)
    parser.add_argument("--device", help="cpu or cuda (default: the command's choice)")
    parser.add_argument("--out", default=str(REPO / "runs" / "ddp_scaling.json"))
    args = parser.parse_args(argv)
    if args.global_batch % args.processes:
        parser.error(f"--global-batch {args.global_batch} is not divisible by {args.processes} "
                     f"processes")
    resolve_data_dir()  # generate the embedded dataset first (once), outside the clocks
    runs = [measure(1, args), measure(args.processes, args)]
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    result = {"date": date.today().isoformat(), "machine": gpu or _cpu_name(),
              "usable_cores": usable_cores(), "platform": platform.platform(),
              "torch": torch.__version__, "settings": vars(args), "runs": runs,
              "speed_up_wall": runs[0]["wall_s"] / runs[1]["wall_s"],
              "speed_up_fit": runs[0]["fit_s"] / runs[1]["fit_s"]}
    atomic_write(args.out, lambda f: f.write(json.dumps(result, indent=1).encode("utf-8")))
    print(f"{result['machine']}, {result['usable_cores']} usable cores, torch {result['torch']}")
    print("| processes | wall time (s) | fit time (s) | training images/s | best val acc | load "
          "avg before |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in runs:
        print(f"| {r['processes']} | {r['wall_s']:.1f} | {r['fit_s']:.1f} | "
              f"{r['images_per_s']:.0f} | "
              f"{r['best_val_acc']:.1%} | {r['load_before']:.1f} |")
    print(f"speed-up with {args.processes} processes: {result['speed_up_wall']:.2f}x wall, "
          f"{result['speed_up_fit']:.2f}x fit")
    return result


if __name__ == "__main__":
    main()
