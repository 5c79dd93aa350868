"""The numbers chapters 4, 5 and 8's prose relies on are asserted in the notebooks, and those
asserts can fail: each claim's `if not FAST and data.embedded:` block (in chapter 8, whose
experiment always runs on the generated shapes: `if not FAST:`) is run here on the values the
committed notebook printed (it must pass) and on values that contradict the prose (it must raise).
"""

from __future__ import annotations

import json
import re
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def cell(notebook: str, cell_id: str) -> dict:
    nb = json.loads((NOTEBOOKS / notebook).read_text(encoding="utf-8"))
    return next(c for c in nb["cells"] if c.get("id") == cell_id)


def claim(notebook: str, cell_id: str) -> str:
    """The body of the cell's `if not FAST and data.embedded:` block: the assertions of the real
    configuration on the course's own data (a learner's photos give other numbers)."""
    source = "".join(cell(notebook, cell_id)["source"])
    match = re.search(r"^if not FAST and data\.embedded:.*\n((?:[ \t]+.*\n?)+)", source,
                      re.MULTILINE)
    assert match, f"{notebook} cell {cell_id} has no `if not FAST and data.embedded:` block"
    body = textwrap.dedent(match.group(1))
    assert "assert" in body, f"{notebook} cell {cell_id}: the block asserts nothing"
    return body


def printed(notebook: str, cell_id: str) -> str:
    return "".join("".join(o["text"]) for o in cell(notebook, cell_id)["outputs"]
                   if o.get("name") == "stdout")


def percent(text: str, label: str) -> float:
    """The percentage printed right after `label`, as a fraction."""
    match = re.search(re.escape(label) + r"\s*([\d.]+)%", text)
    assert match, f"{label!r} not found in {text!r}"
    return float(match.group(1)) / 100


CLASSES = ["circle", "square", "star", "triangle"]


def check(code: str, good: dict, bad: dict) -> None:
    base = {"data": SimpleNamespace(embedded=True, classes=CLASSES)}
    exec(code, {**base, **good})  # the values the notebook printed satisfy the claim
    with pytest.raises(AssertionError):
        exec(code, {**base, **bad})  # values that contradict the prose do not


def top_k(text: str) -> list[tuple[str, float]]:
    """predict()'s printed lines, e.g. '  circle    88.4%', as (class, probability)."""
    rows = re.findall(r"^\s+(\w+)\s+([\d.]+)%$", text, re.MULTILINE)
    return [(name, float(p) / 100) for name, p in rows]


def test_chapter_4_lesson_recipe_is_diagnosed_at_chance():
    import math

    text = printed("04_training.ipynb", "c23d")
    val_loss = float(re.search(r"validation loss ([\d.]+)", text).group(1))
    # the lesson's best validation accuracy is the ladder table's first row
    row = next(line for line in printed("04_training.ipynb", "c24c").splitlines()
               if line.startswith("| the lesson"))
    best = float(row.split("|")[2].strip().rstrip("%")) / 100
    good = {"lesson": _History(best), "last": {"val_loss": val_loss}, "chance_loss": math.log(4)}
    check(claim("04_training.ipynb", "c23d"), good, dict(good, lesson=_History(0.9)))
    check(claim("04_training.ipynb", "c23d"), good, dict(good, last={"val_loss": 0.5}))


def test_chapter_4_final_run_reaches_90_percent_validation_in_10_minutes():
    text = printed("04_training.ipynb", "c24")
    best = {"val_acc": percent(text, "validation accuracy")}
    check(claim("04_training.ipynb", "c24"), {"best": best}, {"best": {"val_acc": 0.85}})
    minutes = float(re.search(r"training time: ([\d.]+) min", text).group(1))
    assert minutes <= 10, "the README and chapter 4 promise training in at most 10 minutes"


def test_chapter_5_test_accuracy_is_at_least_90_percent_and_near_validation():
    val_acc = percent(printed("05_evaluation.ipynb", "c15"), "accuracy")
    test_acc = percent(printed("05_evaluation.ipynb", "c17"), "accuracy")
    good = {"test_acc": test_acc, "val_acc": val_acc}
    check(claim("05_evaluation.ipynb", "c17"), good, dict(good, test_acc=0.89))
    check(claim("05_evaluation.ipynb", "c17"), good, dict(good, test_acc=val_acc - 0.05))


def test_chapter_5_confusion_matrix_is_nearly_diagonal():
    import torch

    text = printed("05_evaluation.ipynb", "c19")
    counts = [int(v) for v in re.findall(r"\d+", text[text.index("tensor("):text.index("])")])]
    cm = torch.tensor(counts).view(4, 4)
    assert cm.sum() == 360
    confused = cm.clone()
    # 20 circles as squares
    confused[0, 0], confused[0, 1] = confused[0, 0] - 20, confused[0, 1] + 20
    check(claim("05_evaluation.ipynb", "c19"), {"cm": cm, "mistakes": {}},
          {"cm": confused, "mistakes": {}})


def test_chapter_5_single_image_and_its_grayscale_copy():
    text = printed("05_evaluation.ipynb", "c25")
    label = CLASSES.index(re.search(r"true class: (\w+)", text).group(1))
    top1 = top_k(text)
    assert len(top1) == 3
    wrong = [(CLASSES[(label + 1) % 4], 0.9)] + top1[1:]
    check(claim("05_evaluation.ipynb", "c25"), {"top1": top1, "label": label},
          {"top1": wrong, "label": label})
    top = top_k(printed("05_evaluation.ipynb", "c27"))
    other = [(CLASSES[(CLASSES.index(top[0][0]) + 1) % 4], top[0][1])] + top[1:]
    check(claim("05_evaluation.ipynb", "c27"), {"top": top, "top1": top1},
          {"top": other, "top1": top1})  # another answer in grey
    unsure = [(top[0][0], 0.45)] + top[1:]
    check(claim("05_evaluation.ipynb", "c27"), {"top": top, "top1": top1},
          {"top": unsure, "top1": top1})  # the same answer, without most of the probability


class _History(list):
    """Just enough of course_utils.training.History for a claim: `.best["val_acc"]`."""

    def __init__(self, best_val_acc: float):
        super().__init__()
        self.best = {"val_acc": best_val_acc}


# --------------------------------------------------------------------------- chapter 8

CH8 = "08_transfer_learning.ipynb"
CH8_METHODS = ("scratch", "frozen", "fine-tuned")


def ch8_results() -> dict:
    """(images per class, seed, method) -> test accuracy, as the sweep printed them."""
    results = {}
    for n, seed, rest in re.findall(r"^\s*(\d+) per class, seed (\d+): (.*)$",
                                    printed(CH8, "c21"), re.MULTILINE):
        for method, value in re.findall(r"(scratch|frozen|fine-tuned)\s+([\d.]+)%", rest):
            results[int(n), int(seed), method] = float(value) / 100
    return results


def run_ch8_cell(cell_id: str, **names) -> None:
    """Run a chapter-8 cell as in the real configuration (FAST False), printing nothing."""
    import statistics

    source = "".join(cell(CH8, cell_id)["source"])
    exec(source, {"FAST": False, "statistics": statistics, "print": lambda *a, **k: None,
                  **names})


def test_chapter_8_transfer_beats_scratch_beyond_the_spread_and_frozen_ties_fine_tuned():
    results = ch8_results()
    per_class = sorted({n for n, _, _ in results})
    seeds = sorted({s for _, s, _ in results})
    assert per_class == [5, 10, 20, 50] and seeds == [0, 1, 2] and len(results) == 36
    good = {"results": results, "PER_CLASS": per_class, "SEEDS": seeds}
    run_ch8_cell("c26", **good)  # what the stored run printed satisfies every claim
    contradictions = [
        {(10, 0, "scratch"): 0.95},  # one scratch run as good as transfer at 10 per class
        {(50, 1, "fine-tuned"): 0.2},  # one transfer run below the best scratch run
        {(50, s, "frozen"): results[50, s, "fine-tuned"] - 0.3 for s in seeds},  # not level
    ]
    for change in contradictions:
        with pytest.raises(AssertionError):
            run_ch8_cell("c26", **dict(good, results=results | change))


def ch8_block(cell_id: str) -> str:
    """The body of a chapter-8 cell's `if not FAST:` block."""
    source = "".join(cell(CH8, cell_id)["source"])
    block = re.search(r"^if not FAST:.*\n((?:[ \t]+.*\n?)+)", source, re.MULTILINE)
    assert block and "assert" in block.group(1), f"{CH8} cell {cell_id} asserts nothing"
    return textwrap.dedent(block.group(1))


def test_chapter_8_more_steps_leave_scratch_far_behind():
    results = ch8_results()
    text = printed(CH8, "c28")
    rows = re.findall(r"^\s*(\d+) per class, from scratch: \d+ steps [^;]*?, \d+ steps "
                      r"[\d.]+% \[([\d.]+)%, ([\d.]+)%\]", text, re.MULTILINE)
    assert [int(n) for n, _, _ in rows] == [10, 50], text
    more = {}
    for n, low, high in rows:  # the lowest and the highest run stand for the three seeds
        more |= {(int(n), 0): float(low) / 100, (int(n), 1): float(high) / 100,
                 (int(n), 2): float(low) / 100}

    def runs(n, method):
        return [results[n, s, method] for s in (0, 1, 2)]

    names = {"runs": runs, "more": more, "MORE_AT": [10, 50], "SEEDS": (0, 1, 2)}
    exec(ch8_block("c28"), dict(names))
    caught_up = more | {(50, 1): min(runs(50, "fine-tuned"))}
    with pytest.raises(AssertionError):
        exec(ch8_block("c28"), dict(names, more=caught_up))


def test_chapter_8_pretrained_layer4_features_separate_the_shapes_far_better():
    text = printed(CH8, "c31")
    last = {}
    for line in text.splitlines()[1:]:
        name, _, values = line.rpartition(":")
        last[name.strip()] = float(values.split()[-1].rstrip("%")) / 100
    assert set(last) == {"random (where scratch starts)", "trained from scratch on these images",
                         "pretrained on the other shapes"}, text
    exec(ch8_block("c31"), {"last": last})
    with pytest.raises(AssertionError):
        exec(ch8_block("c31"), {"last": last | {"trained from scratch on these images":
                                                last["pretrained on the other shapes"]}})
