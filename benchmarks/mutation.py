"""Maintainers' mutation run: break one behaviour at a time and check the unit tests notice.

    python -m benchmarks.mutation                 every mutant; prints caught/total
    python -m benchmarks.mutation --list          the mutants, without running anything
    python -m benchmarks.mutation -k zero_grad    only the mutants whose name has a word (-k again:
    or)
    python -m benchmarks.mutation --min-score 90  exit 1 below that percentage (`make mutation`)
    python -m benchmarks.mutation --jobs 4        four mutants at once, on a machine with the cores

A test suite that passes proves little until it has been seen to fail. Each mutant below is
one small, plausible mistake in a core module (a forgotten `zero_grad`, evaluation with the
training transforms, a confusion-matrix plot divided by columns...), written as an exact
text replacement. For each one the tool copies `course_utils/` and `tests/` into a temporary
folder, applies the replacement there (the working tree is never edited), and runs that
module's fast unit tests with the copy first on the path. A mutant the tests fail on is
"caught"; one they pass on is a gap. The whole run took about 17 minutes with --jobs 2 on the
2-core test machine (under other load); it is a maintainers' tool, not part of `make test`.

Why a hand-written list rather than mutmut: generic operators (`<` to `<=`, a constant plus
one) mostly produce mutants that crash at once or that no learner would ever write; the
mistakes that matter here are the ones the course's own history made (see issue 18).
"""

from __future__ import annotations

import argparse
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# The fast unit tests that guard each module (the notebooks are not run); a test file, or one
# test of a file whose other tests are slow.
_DDP_QUICK = ["tests/test_distributed.py::test_shards_never_overlap_and_set_epoch_reshuffles_them",
              "tests/test_distributed.py::test_evaluation_shards_hold_every_item_exactly_once",
              "tests/test_distributed.py::"
              "test_last_pth_is_a_course_checkpoint_and_an_old_resume_file_still_resumes"]
TESTS = {
    "training/fitting": ["tests/test_training.py"],
    "training/schedules": ["tests/test_training.py"],
    "training/loops": ["tests/test_training.py"],
    "training/recipes": ["tests/test_training.py", "tests/test_recipes.py"],
    "training/speed": ["tests/test_runtime.py", "tests/test_training.py"],
    "runtime": ["tests/test_runtime.py", "tests/test_training.py"],
    "training/steps": ["tests/test_cifar.py"],
    "training/checkpoints": ["tests/test_checkpoints.py", "tests/test_training.py", *_DDP_QUICK],
    "data/loaders": ["tests/test_data.py", "tests/test_predict.py", *_DDP_QUICK],
    "data/images": ["tests/test_data.py", "tests/test_predict.py"],
    "data/transforms": ["tests/test_data.py", "tests/test_predict.py"],
    "data/splits": ["tests/test_data.py"],
    "evaluation/predict": ["tests/test_predict.py"],
    "evaluation/metrics": ["tests/test_metrics.py"],
    "evaluation/plots": ["tests/test_plots.py"],
    "evaluation/curves": ["tests/test_plots.py"],
    "evaluation/explain": ["tests/test_plots.py"],
    "files": ["tests/test_checkpoints.py", "tests/test_training.py", "tests/test_own_photos.py"],
}


@dataclass(frozen=True)
class Mutant:
    name: str
    module: str  # course_utils/<module>.py, e.g. "training/loops"
    edits: tuple[tuple[str, str], ...]  # (exact old text, new text); each old text occurs once


def _m(name: str, module: str, *edits: tuple[str, str]) -> Mutant:
    return Mutant(name, module, tuple(edits))


MUTANTS = [
    # ---------------------------------------------------------------- loops.py, training.py
    _m("train: zero_grad removed", "training/loops",
       ("            optimizer.zero_grad(set_to_none=True)\n", "")),
    _m("train: step before backward", "training/loops",
       ("                loss.backward()\n                optimizer.step()",
        "                optimizer.step()\n                loss.backward()")),
    _m("train: batch means summed, not weighted by images (the lesson's formula)", "training/loops",
       ("loss_sum += loss.detach().to(loss_sum.dtype) * n",
        "loss_sum += loss.detach().to(loss_sum.dtype)")),
    _m("train: accuracy of the last batch only", "training/loops",
       ("            correct += (logits.argmax(1) == targets).sum()\n            seen += n\n       "
        "     bar",
        "            correct = (logits.argmax(1) == targets).sum()\n            seen += n\n        "
        "    bar")),
    _m("train: model.train() forgotten", "training/loops",
       ("    model.train()\n    # Running sums", "    # Running sums")),
    _m("train: per-batch scheduler not stepped", "training/loops",
       ("            if scheduler is not None:\n                scheduler.step()\n",
        "            if scheduler is not None:\n                pass\n")),
    _m("evaluate: model.eval() forgotten", "training/loops",
       ("    model.eval()\n    loss_sum = torch.zeros", "    loss_sum = torch.zeros")),
    _m("evaluate: every batch weighted as a full one", "training/loops",
       ("loss_sum += loss.to(loss_sum.dtype) * n", "loss_sum += loss.to(loss_sum.dtype) * 8")),
    _m("evaluate: mode not restored", "training/loops",
       ("        bar.close()\n        model.train(was_training)", "        bar.close()")),
    _m("fit: model left in train mode", "training/fitting",
       ("            model.eval()  # whatever happened", "            pass  # whatever happened")),
    _m("fit: plateau scheduler fed the training loss", "training/fitting",
       ("schedules.end_of_epoch(per_epoch, val_loss)",
        "schedules.end_of_epoch(per_epoch, train_loss)")),
    _m("fit: lr recorded after the epoch", "training/fitting",
       ("\"val_loss\": val_loss, \"val_acc\": val_acc, \"lr\": lr,",
        "\"val_loss\": val_loss, \"val_acc\": val_acc, "
        "\"lr\": optimizer.param_groups[0][\"lr\"],")),
    _m("fit: a tie replaces the best checkpoint", "training/fitting",
       ("val_acc > best[\"val_acc\"]", "val_acc >= best[\"val_acc\"]")),
    _m("fit: validation with the smoothed training loss", "training/fitting",
       ("if type(loss_fn) is nn.CrossEntropyLoss and loss_fn.label_smoothing > 0:", "if False:")),
    _m("fit: one-cycle stepped per epoch", "training/schedules",
       ("        return None, scheduler\n    return scheduler, None",
        "        return scheduler, None\n    return scheduler, None")),
    _m("decay_groups: BatchNorm decayed too", "training/recipes",
       ("param.ndim > 1", "param.ndim >= 1")),
    _m("predict_loader: model.eval() forgotten", "training/loops",
       ("    model.eval()\n    trues, probs = [], []", "    trues, probs = [], []")),
    _m("predict_loader: logits instead of probabilities", "training/loops",
       ("probs.append(logits.float().softmax(1).cpu())", "probs.append(logits.float().cpu())")),
    # ---------------------------------------------------------------- speed settings, allocator
    _m("speed: the allocator tuned by default", "training/speed",
       ("              tune_allocator: bool = False) -> Speed:",
        "              tune_allocator: bool = True) -> Speed:")),
    _m("speed: bf16 where the CPU only emulates it", "runtime",
       ("    if device.type == \"cpu\" and cpu_has_native_bf16():",
        "    if device.type == \"cpu\":")),
    _m("fit: validation in the training precision", "training/fitting",
       ("amp_dtype=evaluation.amp_dtype,", "amp_dtype=speed.amp_dtype,")),
    # ---------------------------------------------------------------- images, transforms, splits,
    # data
    _m("data: evaluation transforms flip at random", "data/transforms",
       ("        T.CenterCrop(image_size),\n        T.ToTensor(),",
        "        T.CenterCrop(image_size),\n        T.RandomHorizontalFlip(),\n        "
        "T.ToTensor(),")),
    _m("data: evaluation stretches instead of cropping", "data/transforms",
       ("        T.Resize(image_size, antialias=True),\n        T.CenterCrop(image_size),\n        "
        "T.ToTensor",
        "        T.Resize((image_size, image_size), antialias=True),\n        T.ToTensor")),
    _m("data: val/test sets built with the training transforms", "data/loaders",
       ("evaluation = full.with_transform(eval_transforms(image_size, mean, std))",
        "evaluation = full.with_transform(train_transforms(image_size, mean, std, "
        "augment=augment))")),
    _m("data: the data's mean/std never reach the evaluation transforms", "data/loaders",
       ("eval_transforms(image_size, mean, std))", "eval_transforms(image_size))")),
    _m("data: validation loader shuffled", "data/loaders",
       ("val_loader=make_loader(val_set, batch_size, train=False,",
        "val_loader=make_loader(val_set, batch_size, train=True,")),
    _m("data: augment argument ignored", "data/loaders",
       ("augment=augment)), train_idx)", ")), train_idx)")),
    _m("data: flip-shift no longer flips", "data/transforms",
       ("                 T.RandomHorizontalFlip(),\n                 T.RandomCrop(",
        "                 T.RandomCrop(")),
    _m("data: flip-shift pads with black", "data/transforms",
       ("padding_mode=\"edge\"", "padding_mode=\"constant\"")),
    _m("data: LA transparency dropped", "data/images",
       ("if image.mode in (\"RGBA\", \"LA\", \"PA\", \"RGBa\", \"La\"):", "if image.mode == "
                                                                          "\"RGBA\":")),
    _m("data: palette transparency dropped", "data/images",
       ("image = image.convert(\"RGBA\" if \"transparency\" in image.info else \"RGB\")",
        "image = image.convert(\"RGB\")")),
    _m("data: transparent pixels on black", "data/images",
       ("(255, 255, 255))\n        canvas.paste", "(0, 0, 0))\n        canvas.paste")),
    _m("data: 16-bit images clipped", "data/images",
       ("            top = 65535.0\n", "            top = 255.0\n")),
    _m("data: evaluation not sharded between processes", "data/loaders",
       ("        dataset = Subset(dataset, range(rank, len(dataset), world_size))\n",
        "        pass\n")),
    _m("data: every process trains on the same share", "data/loaders",
       ("num_replicas=world_size, rank=rank, shuffle=True,",
        "num_replicas=world_size, rank=0, shuffle=True,")),
    _m("data: split not seeded", "data/splits",
       ("rng = np.random.default_rng(seed)\n    for label", "rng = np.random.default_rng()\n    "
                                                            "for label")),
    # ---------------------------------------------------------------- predict.py
    _m("predict: model left in train mode while predicting", "evaluation/predict",
       ("    model.eval()  # one image", "    pass  # one image")),
    _m("predict: class names shifted by one", "evaluation/predict",
       ("return [(names[i], p)", "return [(names[(i + 1) % len(names)], p)")),
    _m("predict: least likely classes first", "evaluation/predict",
       ("probs.topk(min(topk, len(names)))", "probs.topk(min(topk, len(names)), largest=False)")),
    _m("predict: names sorted apart from the outputs", "evaluation/predict",
       ("    names = _meta(meta)[0]\n", "    names = sorted(_meta(meta)[0])\n")),
    _m("predict: the training transforms", "evaluation/predict",
       ("return eval_transforms(size, mean, std)(picture)",
        "from .transforms import train_transforms\n    return train_transforms(size, mean, "
        "std)(picture)")),
    # ---------------------------------------------------------------- metrics.py
    _m("metrics: weighted avg weighted equally", "evaluation/metrics",
       ("(\"weighted avg\", [r[\"support\"] for r in rows])",
        "(\"weighted avg\", [1] * len(rows))")),
    _m("metrics: averages divided by the number of classes", "evaluation/metrics",
       ("norm = sum(weights) or 1", "norm = len(rows)")),
    _m("metrics: precision from row sums", "evaluation/metrics",
       ("predicted = cm.sum(0)", "predicted = cm.sum(1)")),
    _m("metrics: confusion matrix transposed", "evaluation/metrics",
       ("true * num_classes + pred", "pred * num_classes + true")),
    # ---------------------------------------------------------------- plots.py
    _m("plots: confusion matrix normalised by columns", "evaluation/plots",
       ("counts.sum(1, keepdim=True)", "counts.sum(0, keepdim=True)")),
    _m("plots: confusion counts written transposed", "evaluation/plots",
       ("value = shown[i, j].item()", "value = shown[j, i].item()")),
    _m("plots: confusion image transposed", "evaluation/plots",
       ("ax.imshow(shown.numpy(), cmap=\"Blues\"", "ax.imshow(shown.numpy().T, cmap=\"Blues\"")),
    _m("plots: history plots validation loss as training loss", "evaluation/curves",
       ("ax_loss.plot(epochs, cols[\"train_loss\"]", "ax_loss.plot(epochs, cols[\"val_loss\"]")),
    _m("explain: Grad-CAM in train mode", "evaluation/explain",
       ("    model.eval()\n    try:\n        # inference_mode(False)", "    try:\n        # "
                                                                       "inference_mode(False)")),
    _m("explain: Grad-CAM keeps negative evidence", "evaluation/explain",
       ("cam = F.relu((weights * features).sum(1, keepdim=True))",
        "cam = ((weights * features).sum(1, keepdim=True)).abs()")),
    # ---------------------------------------------------------------- checkpoints.py
    _m("files: Ctrl-C leaves the temporary file", "files",
       ("    except BaseException as error:  # KeyboardInterrupt too",
        "    except Exception as error:  # KeyboardInterrupt too")),
    _m("checkpoints: loaded without weights_only", "training/checkpoints",
       ("map_location=map_location, weights_only=True)", "map_location=map_location, "
                                                         "weights_only=False)")),
    _m("checkpoints: torch.compile's prefix stored", "training/checkpoints",
       ("        elif hasattr(model, \"_orig_mod\"):\n            model = model._orig_mod\n", "")),
    _m("checkpoints: the resume state without the optimizer", "training/checkpoints",
       ("        payload[\"optimizer\"] = optimizer.state_dict()\n", "        pass\n")),
    _m("checkpoints: class names not checked against the head", "training/checkpoints",
       ("    check_head(model, list(meta.class_names))\n    payload = {", "    payload = {")),
    # ---------------------------------------------------------------- cifar.py
    _m("cifar: augmentation never flips", "training/steps",
       ("flip = torch.rand(n, generator=generator) < 0.5", "flip = torch.rand(n, "
                                                           "generator=generator) < 0.0")),
    _m("cifar: augmentation never shifts", "training/steps",
       ("dy, dx = torch.randint(0, 2 * pad + 1, (2, n), generator=generator)",
        "dy, dx = torch.full((2, n), pad)")),
    _m("cifar: augmentation flips upside down", "training/steps",
       ("out[flip] = out[flip].flip(3)", "out[flip] = out[flip].flip(2)")),
    _m("cifar: train_steps without zero_grad", "training/steps",
       ("        opt.zero_grad(set_to_none=True)\n        loss.backward()",
        "        loss.backward()")),
    _m("cifar: the test error reported as the accuracy", "training/steps",
       ("return loss, 1.0 - accuracy", "return loss, accuracy")),
    _m("cifar: learning-rate drops ignored", "training/steps",
       ("* 0.1**drops", "* 1.0**drops")),
]


def apply(source: str, mutant: Mutant) -> str:
    """`source` with the mutant's edits; each old text must occur exactly once."""
    for old, new in mutant.edits:
        count = source.count(old)
        if count != 1:
            raise ValueError(f"mutant {mutant.name!r}: {old!r} occurs {count} times in "
                             f"course_utils/{mutant.module}.py; expected exactly once")
        source = source.replace(old, new)
    return source


def _copy_tree(dest: Path) -> None:
    """The package, the tests, the notebooks (some tests read their cells) and the pytest
    settings: all a mutant's test run needs."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    shutil.copytree(REPO / "course_utils", dest / "course_utils", ignore=ignore)
    shutil.copytree(REPO / "tests", dest / "tests", ignore=ignore)
    shutil.copytree(REPO / "notebooks", dest / "notebooks", ignore=ignore)
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")


def _pytest(copy: Path, files: list[str], timeout: float) -> tuple[bool, str]:
    """(passed, the first failing test or a note) for the tests in `files` run in `copy`."""
    env = dict(os.environ, COURSE_FAST="1", PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)  # the copy, found as the current folder, must come first
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-rfE", "-p", "no:cacheprovider",
               "-W", "ignore::pytest.PytestUnraisableExceptionWarning", *files]
    try:
        done = subprocess.run(command, cwd=copy, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, "timed out (counted as caught)"
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, re.MULTILINE)
    if done.returncode == 0:
        return True, ""
    return False, failed[0] if failed else done.stdout.strip().splitlines()[-1]


def _check_copy_is_imported(copy: Path) -> None:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.pop("PYTHONPATH", None)
    where = subprocess.run([sys.executable, "-c", "import course_utils; "
                                                  "print(course_utils.__file__)"],
                           cwd=copy, env=env, capture_output=True, text=True, check=True).stdout
    if not Path(where.strip()).resolve().is_relative_to(copy.resolve()):
        raise SystemExit(f"the copy is not what gets imported ({where.strip()}); a mutation run "
                         "would test the working tree instead")


def _try(mutant: Mutant, copy: Path, timeout: float) -> tuple[bool, str, float]:
    """(caught, by which test, seconds) for one mutant, applied to `copy` and then undone."""
    target = copy / "course_utils" / f"{mutant.module}.py"
    original = target.read_text(encoding="utf-8")
    target.write_text(apply(original, mutant), encoding="utf-8")
    start = time.perf_counter()
    try:
        passed, note = _pytest(copy, TESTS[mutant.module], timeout)
    finally:
        target.write_text(original, encoding="utf-8")
    return not passed, note, time.perf_counter() - start


def run(mutants: list[Mutant], jobs: int = 1,
        timeout: float = 600.0) -> list[tuple[Mutant, bool, str, float]]:
    """Each mutant with (caught, by which test, seconds); the working tree is never touched.

    `jobs` copies are tried in parallel (each test run uses one thread, see tests/conftest.py).
    """
    with tempfile.TemporaryDirectory(prefix="mutation-") as tmp:
        copies: queue.Queue[Path] = queue.Queue()
        for j in range(jobs):
            _copy_tree(Path(tmp) / str(j))
            copies.put(Path(tmp) / str(j))
        _check_copy_is_imported(Path(tmp) / "0")
        modules = sorted({m.module for m in mutants})
        files = sorted({f for module in modules for f in TESTS[module]})
        print(f"baseline: {' '.join(files)} on the unmutated copy ...", flush=True)
        passed, note = _pytest(Path(tmp) / "0", files, timeout)
        if not passed:
            raise SystemExit(f"the tests fail before any mutation ({note}): fix them first")
        done = []

        def attempt(mutant: Mutant) -> tuple[Mutant, bool, str, float]:
            copy = copies.get()
            try:
                caught, note, seconds = _try(mutant, copy, timeout)
            finally:
                copies.put(copy)
            done.append(mutant)
            verdict = f"caught by {note}" if caught else "NOT CAUGHT"
            print(f"[{len(done):2d}/{len(mutants)}] {mutant.name}: {verdict} ({seconds:.0f} s)",
                  flush=True)
            return mutant, caught, note, seconds

        with ThreadPoolExecutor(max_workers=jobs) as pool:
            return list(pool.map(attempt, mutants))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-k", dest="keywords", action="append", default=[],
                        help="only mutants whose name has this word (may be repeated)")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--jobs", type=int, default=1,
                        help="mutants tried at once (one CPU core each; default 1)")
    parser.add_argument("--min-score", type=float, default=0.0,
                        help="exit 1 when fewer than this percentage are caught")
    args = parser.parse_args(argv)
    chosen = [m for m in MUTANTS
              if not args.keywords or any(k.lower() in m.name.lower() for k in args.keywords)]
    for mutant in chosen:  # every edit must still apply to today's code
        apply((REPO / "course_utils" / f"{mutant.module}.py").read_text(encoding="utf-8"), mutant)
    if args.list:
        for mutant in chosen:
            print(f"{mutant.module:12s} {mutant.name}")
        return 0
    results = run(chosen, jobs=max(1, args.jobs))
    caught = sum(1 for _, ok, _, _ in results if ok)
    score = 100 * caught / len(results)
    print(f"\nmutation score: {caught}/{len(results)} caught = {score:.0f} %")
    for mutant, ok, _, _ in results:
        if not ok:
            print(f"  not caught: {mutant.module}: {mutant.name}")
    return 0 if score >= args.min_score else 1


if __name__ == "__main__":
    sys.exit(main())
