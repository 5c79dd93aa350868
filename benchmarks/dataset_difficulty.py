"""How hard is the embedded dataset? A linear classifier on pixels vs a small CNN.

    python -m benchmarks.dataset_difficulty      (about two minutes on 2 CPU cores)

Prints a table and writes runs/dataset_difficulty.json. Both models see the same seeded
train/test split at 64x64 pixels; the numbers in the README come from this script.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path

import torch
from torch import nn

from course_utils.data.folders import ImageFolderDataset
from course_utils.data.shapes import make_embedded_dataset
from course_utils.data.splits import stratified_split
from course_utils.data.transforms import eval_transforms
from course_utils.runtime import seed_everything

SIZE = 64


def tensors(dataset: ImageFolderDataset, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    tf = eval_transforms(SIZE)
    xs = torch.stack([tf(dataset[i][0]) for i in indices])
    ys = torch.tensor([dataset.targets[i] for i in indices])
    return xs, ys


def train(model: nn.Module, x, y, xt, yt, epochs: int, lr: float, augment: bool) -> float:
    """Mini-batch AdamW; returns test accuracy after the last epoch."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=epochs * ((len(x) + 31) // 32))
    for _ in range(epochs):
        model.train()
        for idx in torch.randperm(len(x)).split(32):
            xb = x[idx]
            if augment:  # random flips and 90-degree turns: cheap, label-preserving for shapes
                xb = torch.where(torch.rand(len(xb), 1, 1, 1) < 0.5, xb.flip(3), xb)
                xb = torch.rot90(xb, int(torch.randint(4, ())), dims=(2, 3))
            loss = nn.functional.cross_entropy(model(xb), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    model.eval()
    with torch.inference_mode():
        return (model(xt).argmax(1) == yt).float().mean().item()


def small_cnn(classes: int) -> nn.Module:
    def block(cin, cout):
        return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(inplace=True), nn.MaxPool2d(2))

    return nn.Sequential(block(3, 32), block(32, 64), block(64, 128), block(128, 128),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(128, classes))


def main() -> None:
    seed_everything(0)
    scratch = Path(tempfile.mkdtemp())
    start = time.perf_counter()
    root = make_embedded_dataset(scratch / "shapes", force=True)
    generation_s = time.perf_counter() - start
    size_mb = sum(p.stat().st_size for p in root.rglob("*.jpg")) / 1e6
    full = ImageFolderDataset(root)
    train_idx, val_idx, test_idx = stratified_split(full.targets, seed=0)
    x, y = tensors(full, train_idx + val_idx)
    xt, yt = tensors(full, test_idx)
    shutil.rmtree(scratch)
    classes = len(full.classes)
    results = {"images": len(full), "classes": classes, "generation_s": round(generation_s, 1),
               "size_on_disk_mb": round(size_mb, 1), "image_size": SIZE,
               "train_images": len(x), "test_images": len(xt), "threads": torch.get_num_threads()}
    for name, make, epochs, lr, augment in [
        ("linear (logistic regression on pixels)",
         lambda: nn.Sequential(nn.Flatten(), nn.Linear(3 * SIZE * SIZE, classes)), 60, 1e-3, False),
        ("small CNN (4 conv layers, 0.24M params)", lambda: small_cnn(classes), 30, 3e-3, True),
    ]:
        seed_everything(0)
        t = time.perf_counter()
        accuracy = train(make(), x, y, xt, yt, epochs, lr, augment)
        results[name] = {"test_accuracy": round(accuracy, 3), "epochs": epochs,
                         "seconds": round(time.perf_counter() - t, 1)}
    results["chance"] = round(1 / classes, 3)
    print(json.dumps(results, indent=1))
    out = Path("runs/dataset_difficulty.json")
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
