"""The README's promise for your own photos: chapters 1, 4, 5 and 8 run unchanged (fast mode) on a
generated pre-split folder of two classes of odd-sized photo-like images, without test/.

The notebooks run from a copy of the course (package, notebooks) in a temporary folder, so
their runs/ checkpoints never replace those of the course's own data."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
from conftest import make_photo_folder
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = ("01_data.ipynb", "04_training.ipynb", "05_evaluation.ipynb",
            "08_transfer_learning.ipynb")


def _stdout(nb, cell_id: str) -> str:
    cell = next(c for c in nb.cells if c.get("id") == cell_id)
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_chapters_1_4_5_8_run_on_a_pre_split_two_class_folder(tmp_path, monkeypatch):
    assert os.environ.get("COURSE_FAST") == "1", "run under `make test` (fast mode)"
    course = tmp_path / "course"
    shutil.copytree(ROOT / "course_utils", course / "course_utils",
                    ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", course)
    (course / "notebooks").mkdir()
    # The least chapter 4 runs on in fast mode: 18 training images make two batches of 16, so
    # a two-epoch one-cycle rung has the 3 steps it needs; val/ 2 per class gives val and test.
    photos = make_photo_folder(tmp_path / "hymenoptera", {"train": 9, "val": 2})
    monkeypatch.setenv("COURSE_DATA", str(photos))
    monkeypatch.setenv("PYTHONPATH",
                       os.pathsep.join([str(course), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("MPLBACKEND", "Agg")  # no figures are looked at here
    # tiny tensors: one thread, no spin-waiting (conftest)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    # chapter 8's source and target tasks are the generated shapes whatever COURSE_DATA says:
    # reuse the course's generated copies instead of drawing 2,400 images again in the copy
    monkeypatch.setenv("COURSE_DATA_HOME", str(ROOT / "data"))
    ran = {}
    for name in CHAPTERS:
        nb = nbformat.read(ROOT / "notebooks" / name, as_version=4)
        NotebookClient(nb, timeout=600, kernel_name="python3",
                       resources={"metadata": {"path": str(course / "notebooks")}}).execute()
        ran[name] = nb
    ch1, ch4, ch5, ch8 = (ran[name] for name in CHAPTERS)
    split_line = ("pre-split folder 'hymenoptera': train/ 18, val/ 4 images (no test/ folder); "
                  "test is cut from val/ (stratified, 50%, seed 0) -> train/val/test = 18/2/2 "
                  "images\n")
    assert "classes: ['ants', 'bees']" in _stdout(ch1, "c11")
    assert "pre-split: train/ 18, val/ 4 images (no test/ folder)" in _stdout(ch1, "c11")
    assert _stdout(ch1, "c25") == split_line + "['ants', 'bees']\n"
    assert _stdout(ch4, "c05") == split_line + "classes: ['ants', 'bees']\n"
    assert (course / "runs" / "ch4-fast" / "best.pth").is_file(), "chapter 4 wrote to the copy"
    assert "classes: ['ants', 'bees']" in _stdout(ch5, "c06")
    # predict's lines ("  ants      57.4%"), one per class of the 2-class folder; then a comparison
    assert len(re.findall(r"^\s+\w+\s+[\d.]+%$", _stdout(ch5, "c27"), re.MULTILINE)) == 2
    # chapter 8: the shapes experiment as always, then its "your photos" cells on the folder
    assert "data: 'hymenoptera' | weights: source_resnet18.pth" in _stdout(ch8, "c35")
    assert (split_line + "CourseData(2 classes ['ants', 'bees'], image size 32") in _stdout(
        ch8, "c36")
    assert "'pretrained': 'source_resnet18.pth'" in _stdout(ch8, "c38")
    assert "(2 images, chance 50%)" in _stdout(ch8, "c38")
    assert (course / "runs" / "ch8-fast" / "photos" / "best.pth").is_file()
