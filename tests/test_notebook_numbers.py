"""Every number in the notebooks' prose is backed: printed or computed by a cell, or listed here.

A number in a markdown cell must appear, at the precision the prose gives it, among the numbers of
the same notebook's code or stored outputs (as it is, as a percentage of a fraction, or in
thousands, millions or billions). What no cell can back (a year, a figure from a paper, a
hardware fact) is listed below with its source. After a re-execution changes an output, a
sentence still quoting the old number fails here unless the old number happens to appear elsewhere
in the notebook: this catches stale prose, it does not prove each sentence right (the asserts in
the notebooks do that for the claims that matter).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from benchmarks import readme

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("[0-9]*.ipynb"))

# A number not glued to a word (ResNet-50, conv2_x, v1.5 and 3x3's second 3 are names, not claims).
NUMBER = re.compile(r"(?<![\w.\-/^])−?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?(?![\w.]*\w)")
LIST_MARK = re.compile(r"^(\s*|#+ )\d+\. ", re.M)  # "5. item", "## 5. Heading"
REFERENCE = re.compile(r"\b(chapters?|sections?|figure|table|exercise)\s+\d+"
                       r"(\s*(–|-|and|,)\s*\d+)*", re.I)
YEAR = re.compile(r"^(19|20)\d\d$")
SCALES = (1, 100, 0.01, 1e-3, 1e-6, 1e-9, 1e3)

# notebook -> {number as written: where it comes from}
# Measured outside the notebooks, once: the real photos are not the course's to ship.
INSECTS = ("issue 25's measurement on a real pre-split folder of two insect species (245 / 76 / 77 "
           "photos): python -m course_utils.train --data <folder>, 10 epochs, 77.6 % best "
           "validation accuracy, on the course's test machine")
LR_SCALE_DESIGN = ("the design runs for BACKBONE_LR_SCALE at 10 images per class, 3 seeds: x 0.01, "
                   "0.1 and 1 (issue 25's closing note)")
SOURCED = {
    "08_transfer_learning.ipynb": {
        "89.7": LR_SCALE_DESIGN,
        "98": "the size of torchvision's resnet50-11ad3fa6.pth (ImageNet weights), 97.8 MB",
        "84.6": LR_SCALE_DESIGN,
        "66.8": LR_SCALE_DESIGN,
        "1,680": "chapter 4's training split, printed there",
        "530": "chapter 4's final run: 10 epochs x 53 batches, printed there per epoch",
        "99.7": "chapter 5's test accuracy, printed there",
        "245": INSECTS,
        "76": INSECTS,
        "77": INSECTS,
        "77.6": INSECTS,
    },
    "01_data.ipynb": {
        "12": "a 12-megapixel phone photo, 4032 x 3024 (benchmarks/phone_photos.py makes them)",
        "89": "PIL's decompression-bomb limit, Image.MAX_IMAGE_PIXELS = 89,478,485 pixels",
        "1.6": "100 megapixels decoded at 1/8 of each side: 100 / 64",
    },
    "02_residual_blocks.ipynb": {
        "768": "hand arithmetic in the table, 2 x (64 + 64 + 256); the table's total is asserted",
        "1,179,648": "hand arithmetic in the sentence, 2 x 3 x 3 x 256 x 256",
        "1,180,672": "the basic block at 256 channels, asserted in the next code cell",
    },
    "03_resnet50.ipynb": {
        "32": "any input from 32 px works: tests/test_models.py::test_any_input_size_from_32_works",
        "3.6": "the paper's Table 1: ResNet-34's 3.6 x 10^9 FLOPs",
    },
    "04_training.ipynb": {
        "0.35": "the label-smoothed targets' entropy, computed in the sentence: "
                "-(0.925 ln 0.925 + 3 x 0.025 ln 0.025)",
        "245": INSECTS,
        "76": INSECTS,
        "77.6": INSECTS,
        "224": "the lesson's image size (the seed lesson)",
        "996": "1000 - 4 ImageNet outputs that the 4-class data never uses",
        "0.925": "label smoothing 0.1 over 4 classes: 1 - 0.1 + 0.1 / 4 (arithmetic in the "
                 "sentence)",
        "159": "steps of the lesson's run: 3 epochs x 53 batches, printed per epoch by fit",
        "1.03": "allocator tuning at 40 px: python -m benchmarks.allocator, docs/performance.md",
        "1.2": "allocator tuning at 224 px: python -m benchmarks.allocator, docs/performance.md",
    },
    "05_evaluation.ipynb": {
        "245": INSECTS,
        "77.6": INSECTS,
        "1,680": "chapter 4's training split, printed there",
        "2.6": "PyTorch 2.6 made weights_only=True torch.load's default (PyTorch release notes)",
        "99.9": "a rhetorical contrast: the probability the model does not give",
        "92.5": "label smoothing 0.1 over 4 classes: the target for the true class",
        "2.5": "label smoothing 0.1 over 4 classes: the target for each other class",
        "224": "the lesson's image size (the seed lesson)",
        "128": "the GPU configuration's image size, set in chapter 4's configuration cell",
        "7": "layer4's grid at 224 px: 224 / 32",
        "8": "the section number",
    },
    "06_why_residuals_work.ipynb": {
        "6.97": "the paper's Table 6: ResNet-56's CIFAR-10 test error",
        "8.75": "the paper's Table 6: ResNet-20's CIFAR-10 test error",
        "6.43": "the paper's Table 6: ResNet-110's best CIFAR-10 test error",
        "7.93": "the paper's Table 6: ResNet-1202's CIFAR-10 test error",
        "19.4": "the paper's Table 6: ResNet-1202's parameters (millions)",
        "1202": "the paper's deepest CIFAR network",
        "110": "the paper's ResNet-110",
        "50,000": "CIFAR-10's training set",
        "64,000": "the paper's CIFAR schedule (section 4.2)",
        "160": "64,000 steps x 128 images / 50,000 images",
        "36": "56 - 20 layers",
        "23": "300 steps x 32 images / 424 images",
        "1.1": "one of the 88 test images, 1 / 88",
        "1.39": "ln 4 = 1.386, the chance-level loss (printed as 1.386)",
        "1.37": "the version-1 design runs recorded in 'What we tried' (not re-run)",
        "30": "the version-1 design runs recorded in 'What we tried' (not re-run)",
        "0.624": "the version-1 design runs recorded in 'What we tried' (not re-run)",
        "0.600": "the version-1 design runs recorded in 'What we tried' (not re-run)",
        "0.97": "the version-1 design runs recorded in 'What we tried' (not re-run)",
        "0.113": "the version-1 design runs recorded in 'What we tried' (not re-run)",
        "0.088": "the version-1 design runs recorded in 'What we tried' (not re-run)",
        "0.28": "the version-1 design runs recorded in 'What we tried' (not re-run)",
    },
}


# In code and outputs any number counts, units and names included ("1.17x", "4.09 G", "ResNet-50").
ANY_NUMBER = re.compile(r"(?<![\d.])−?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?")


def numbers(text: str, pattern: re.Pattern = NUMBER) -> list[tuple[str, float, int]]:
    """(as written, value, decimals) for each number in `text`."""
    found = []
    text = re.sub(r"(\d)_(?=\d)", r"\1", text.replace("{,}", ","))  # 221_696, 8{,}448
    for match in pattern.finditer(text):
        written = match.group().rstrip(",")
        plain = written.replace("−", "-").replace(",", "")
        decimals = len(plain.split(".")[1]) if "." in plain and "e" not in plain else 0
        found.append((written, float(plain), decimals))
    return found


def prose(cell: dict) -> str:
    """A markdown cell without its fenced code blocks (the lesson's code, quoted) and without the
    opening box's run-time line, which `python -m benchmarks.readme` generates from the stored
    execution times and fast_times.json, and tests/test_readme.py checks against them."""
    text = re.sub(r"```.*?```", "", "".join(cell["source"]), flags=re.S)
    text = readme.RUN_TIME.sub("", text)
    return REFERENCE.sub("", LIST_MARK.sub("", text))  # "chapter 5", "Table 6" are not claims


def evidence(notebook: dict) -> list[float]:
    values = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        texts = ["".join(cell["source"])]
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts.append("".join(output.get("data", {}).get("text/plain", "")))
        values += [value for text in texts for _, value, _ in numbers(text, ANY_NUMBER)]
    return values


def backed(value: float, decimals: int, values: list[float]) -> bool:
    return any(round(v * s, decimals) == round(value, decimals) for v in values for s in SCALES)


def unbacked(notebook: dict, sourced: dict[str, str]) -> list[str]:
    values = evidence(notebook)
    missing = []
    for cell in notebook["cells"]:
        if cell["cell_type"] != "markdown":
            continue
        for written, value, decimals in numbers(prose(cell)):
            if YEAR.match(written) or written in sourced:
                continue
            if not backed(value, decimals, values):
                missing.append(f"cell {cell.get('id')}: {written}")
    return missing


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_number_in_the_prose_is_printed_computed_or_sourced(path: Path):
    notebook = json.loads(path.read_text(encoding="utf-8"))
    missing = unbacked(notebook, SOURCED.get(path.name, {}))
    assert not missing, (
        f"{path.name}: numbers in the prose that no cell prints or computes: {missing}. Print them "
        "from a checked cell, correct the prose, or list the source in SOURCED")


def test_a_stale_number_is_caught():
    notebook = {"cells": [
        {"cell_type": "markdown", "id": "m", "source": "Accuracy 97.5 % after 3 epochs (2016)."},
        {"cell_type": "code", "id": "c", "source": "EPOCHS = 3", "outputs": [
            {"output_type": "stream", "name": "stdout", "text": "accuracy 0.962\n"}]},
    ]}
    assert unbacked(notebook, {}) == ["cell m: 97.5"]  # 96.2 % was printed; 3 is in the code
    notebook["cells"][1]["outputs"][0]["text"] = "accuracy 0.975\n"
    assert unbacked(notebook, {}) == []
    names = {"cells": [{"cell_type": "markdown", "id": "m", "source": "ResNet-50, 3x3 and 7 "
                                                                      "more\n2. x"}]}
    # names and list numbers are skipped, a bare number is not
    assert unbacked(names, {}) == ["cell m: 7"]


def test_only_the_boxes_generated_run_time_line_is_skipped():
    box = ("> - **Model and images:** ResNet-50 at 99 px\n"
           "> - **Run time:** 22 min for the real configuration (stored run: AMD EPYC CPU, 2 "
           "threads, fp32, 2026-11-29); 41 s in fast mode.\n")
    notebook = {"cells": [{"cell_type": "markdown", "id": "c00", "source": box}]}
    assert unbacked(notebook, {}) == ["cell c00: 99"]  # typed lines are checked like any prose
