"""Time to accuracy: minutes (and epochs) until the validation accuracy reaches 80 % and 90 %,
with the course's recipe and with the lesson's, on the same machine, data and split.

    python -m benchmarks.time_to_accuracy [--size 40] [--epochs 10] [--lesson-epochs 10]

Each recipe trains chapter 3's ResNet-50 from scratch (seed 0, chapter 4's data, split and
image size, `course_utils.recipes`): the course's for chapter 4's final 10 epochs (the same run
as chapter 4's final run), the lesson's for the lesson's own 10 epochs (chapter 4's ladder can
afford it only 3). The clock is fit's own per-epoch time, validation included. Prints a table and
writes runs/time_to_accuracy.json. One run per recipe:
on a shared machine the minutes vary by some 10 %; a recipe that never reaches a threshold
says so, with its best.
"""

from __future__ import annotations

import argparse
import json
import platform
from collections.abc import Sequence

import torch

from course_utils import runtime
from course_utils.data.loaders import course_data
from course_utils.files import atomic_write
from course_utils.models.resnet import resnet50
from course_utils.training import recipes
from course_utils.training.fitting import fit

THRESHOLDS = (0.8, 0.9)


def time_to(history: Sequence[dict], threshold: float) -> dict | None:
    """The first epoch whose validation accuracy reaches `threshold`, and the minutes until
    its end (training and validation of every epoch so far); None if none does."""
    seconds = 0.0
    for record in history:
        seconds += record["seconds"]
        if record["val_acc"] >= threshold:
            return {"epoch": record["epoch"], "minutes": seconds / 60}
    return None


def summarise(name: str, history: Sequence[dict]) -> dict:
    best = max(history, key=lambda r: r["val_acc"])
    return {
        "recipe": name,
        "epochs": len(history),
        "minutes": sum(r["seconds"] for r in history) / 60,
        "best_val_acc": best["val_acc"],
        "best_epoch": best["epoch"],
        **{f"to_{round(100 * t)}": time_to(history, t) for t in THRESHOLDS},
    }


def row(result: dict) -> str:
    cells = []
    for t in THRESHOLDS:
        hit = result[f"to_{round(100 * t)}"]
        cells.append(f"{hit['minutes']:.1f} min (epoch {hit['epoch']})" if hit else
                     f"not reached in {result['epochs']} epochs")
    return (f"| {result['recipe']} | {' | '.join(cells)} | {result['best_val_acc']:.1%} "
            f"(epoch {result['best_epoch']}) | {result['minutes']:.1f} |")


def table(results: Sequence[dict]) -> str:
    head = ["| recipe | " + " | ".join(f"to {round(100 * t)} % val acc" for t in THRESHOLDS)
            + " | best val acc | minutes in all |",
            "| --- | " + " | ".join("---" for _ in THRESHOLDS) + " | --- | --- |"]
    return "\n".join(head + [row(r) for r in results])


def train(recipe: recipes.Recipe, size: int, epochs: int, device: torch.device) -> list[dict]:
    data = course_data(image_size=size, batch_size=32, seed=0, device=device,
                       augment=recipe.augment)
    torch.manual_seed(0)
    model = resnet50(num_classes=len(data.classes), zero_init_residual=True)
    optimizer, scheduler, loss_fn = recipe.build(model, epochs, len(data.train_loader))
    return list(fit(model, data.train_loader, data.val_loader, optimizer, epochs=epochs,
                    device=device, scheduler=scheduler, loss_fn=loss_fn, progress=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default=None, help="cpu, cuda or mps (default: the best there "
                                                       "is)")
    parser.add_argument("--size", type=int, default=None,
                        help="image size (default: chapter 4's, 40 on a CPU, 128 on a GPU)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs with the course's recipe (default 10, as chapter 4)")
    parser.add_argument("--lesson-epochs", type=int, default=10,
                        help="epochs with the lesson's recipe (default 10, as the lesson)")
    parser.add_argument("--out", default="runs/time_to_accuracy.json")
    args = parser.parse_args()
    device = runtime.setup(args.device)
    size = args.size or (128 if device.type == "cuda" else 40)
    results = []
    for recipe, epochs in ((recipes.COURSE, args.epochs), (recipes.LESSON, args.lesson_epochs)):
        print(f"\n{recipe.name}: {recipe.describe()}, {epochs} epochs")
        results.append(summarise(recipe.name, train(recipe, size, epochs, device)))
    print(f"\nTime to accuracy, ResNet-50 from scratch, {size} px, embedded dataset, "
          f"{runtime.describe_runtime(device)}\n")
    print(table(results))
    report = {"size": size, "device": str(device),
              "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
              "results": results}
    atomic_write(args.out, lambda f: f.write(json.dumps(report, indent=1).encode("utf-8")))
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
