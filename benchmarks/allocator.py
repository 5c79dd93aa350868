"""What the default loses by leaving glibc's allocator alone: steps with and without tuning.

    python -m benchmarks.allocator [--reps 5] [--size 40 224] [--batch 32]

The allocator tuning (course_utils/training/allocator.py) is opt-in: `fit` and the training command
leave the allocator as it comes unless asked (`speed_for(device, tune_allocator=True)`,
`--tune-allocator`). This measures the price of that default on this machine: ResNet-50 training
steps with the course's speed settings (channels-last, fp32 on a CPU without native bf16), once with
the allocator as it comes and once tuned, and one slice of a real epoch at chapter 4's size (the
course's loader included). Every measurement runs in a fresh process (the allocator's state is
process-wide and remembers what ran before), in interleaved order, `--reps` times; it prints each
rate, the median and the spread of the ratio tuned / default. CPU only (Linux with glibc): a GPU has
its own allocator.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

from course_utils import runtime
from course_utils.training import allocator

from .run import REPO


def measure(spec: dict) -> float:
    """Images/s of one benchmark spec (see benchmarks.run.build), in a fresh process."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.run", "--child", json.dumps(spec)],
                          cwd=REPO, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"benchmark {spec} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])["img_s"]


def summarise(default: list[float], tuned: list[float]) -> dict:
    """Medians, and the ratio tuned / default of each interleaved pair: median, lowest, highest."""
    ratios = sorted(t / d for d, t in zip(default, tuned, strict=True))
    return {"default_img_s": statistics.median(default), "tuned_img_s": statistics.median(tuned),
            "ratio_median": statistics.median(ratios), "ratio_low": ratios[0],
            "ratio_high": ratios[-1], "default_all": default, "tuned_all": tuned}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=5, help="pairs of fresh processes per row")
    parser.add_argument("--size", type=int, nargs="+", default=[40, 224],
                        help="image sizes of the training-step rows (default: 40 224)")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--images", type=int, default=None,
                        help="images per measurement (default: 6 batches at 40 px, 2 at 224)")
    args = parser.parse_args(argv)
    if not allocator.can_reuse_memory():
        raise SystemExit("allocator tuning needs glibc (Linux): nothing to compare here")
    print(runtime.describe_runtime("cpu"))
    plain = {"device": "cpu", "batch": args.batch, "channels_last": True, "amp": None}
    rows = {f"training step, {size} px": {**plain, "kind": "step", "size": size,
                                          "images": args.images or args.batch
                                          * (6 if size <= 64 else 2)}
            for size in args.size}
    rows[f"epoch slice with the course's loader, {args.size[0]} px"] = {
        **plain, "kind": "epoch", "loader": "course", "size": args.size[0],
        "images": args.images or 6 * args.batch}
    for name, spec in rows.items():
        default, tuned = [], []
        for rep in range(args.reps):
            order = [(False, default), (True, tuned)]
            for reuse, rates in order if rep % 2 == 0 else order[::-1]:
                rates.append(measure({**spec, "reuse": reuse}))
        s = summarise(default, tuned)
        print(f"{name}, batch {args.batch}: default {s['default_img_s']:.2f} img/s, tuned "
              f"{s['tuned_img_s']:.2f} img/s; tuned / default {s['ratio_median']:.2f} "
              f"(lowest {s['ratio_low']:.2f}, highest {s['ratio_high']:.2f}, {args.reps} pairs)",
              flush=True)
        print(f"    default: {', '.join(f'{r:.2f}' for r in default)} | tuned: "
              f"{', '.join(f'{r:.2f}' for r in tuned)}", flush=True)


if __name__ == "__main__":
    main()
