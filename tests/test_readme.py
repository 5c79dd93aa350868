"""The README's measured results are the committed notebooks' outputs, not typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import readme


def test_readme_results_match_the_committed_notebooks():
    text = (readme.REPO / "README.md").read_text(encoding="utf-8")
    assert readme.update_all(text) == text, (
        "README.md's results differ from the notebooks' outputs: run `python -m benchmarks.readme`")


def _notebook(cells: list[dict]) -> dict:
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def _code(cell_id: str, source: str, printed: str = "") -> dict:
    outputs = [{"output_type": "stream", "name": "stdout", "text": printed}] if printed else []
    return {"cell_type": "code", "id": cell_id, "source": source, "outputs": outputs,
            "metadata": {}, "execution_count": 1}


def test_block_quotes_the_named_cells(tmp_path: Path):
    (tmp_path / "notebooks").mkdir()
    ch4 = _notebook([
        _code("c03", "IMAGE_SIZE = 48\nLADDER_EPOCHS = 1 if FAST else 3  # each rung\n"),
        _code("c23d", "print(...)", "last epoch: validation loss 1.386\n"),
        _code("c24c", "print(table)", "| rung | best |\n| --- | --- |\n| lesson | 25.0% "
                                      "|\n<Figure>\n"),
        _code("c24", "print(...)", "best epoch: 9 of 10\ntraining time: 9.1 min\n"),
    ])
    ch5 = _notebook([_code("c17", "print(...)", "test:       accuracy 95.0%\n")])
    (tmp_path / "notebooks" / "04_training.ipynb").write_text(json.dumps(ch4))
    (tmp_path / "notebooks" / "05_evaluation.ipynb").write_text(json.dumps(ch5))
    text = readme.block("training", tmp_path)
    assert text.startswith(readme.begin("training")) and text.endswith(readme.end("training"))
    assert "`last epoch: validation loss 1.386`" in text
    assert "`LADDER_EPOCHS = 1 if FAST else 3`" in text
    assert "| lesson | 25.0% |" in text and "<Figure>" not in text  # table lines only
    assert ("    best epoch: 9 of 10\n    training time: 9.1 min\n    test:       accuracy 95.0%"
            in text)
    # a cell that printed nothing (never executed) is refused, not quoted as empty
    ch5["cells"][0]["outputs"] = []
    (tmp_path / "notebooks" / "05_evaluation.ipynb").write_text(json.dumps(ch5))
    with pytest.raises(ValueError, match="c17 of notebooks/05_evaluation.ipynb has no printed "
                                         "output"):
        readme.block("training", tmp_path)


def test_family_and_degradation_blocks_quote_their_cells(tmp_path: Path):
    (tmp_path / "notebooks").mkdir()
    ch3 = _notebook([_code("c15", "print(table)", "model  params\nResNet-18  11,689,512\n"),
                     _code("c19b", "print(table)", "model  layers\n\nResNet-18  18\n")])
    ch6 = _notebook([
        _code("c09",
              "STEPS = 6 if FAST else 300  # steps\nSEEDS = (0, 1) if FAST else (0, 1, 2)\n"),
        _code("c21", "print(table)", "  network  train loss\nplain-20  0.171 [0.1, 0.2]\n"),
        _code("c23", "print(gaps)", "plain-56 minus plain-20: +1.1\n"),
    ])
    (tmp_path / "notebooks" / "03_resnet50.ipynb").write_text(json.dumps(ch3))
    (tmp_path / "notebooks" / "06_why_residuals_work.ipynb").write_text(json.dumps(ch6))
    fam = readme.block("family", tmp_path)
    assert "    ResNet-18  11,689,512" in fam and "    ResNet-18  18" in fam
    assert "\n    \n" not in fam  # blank printed lines are dropped, not quoted as empty code lines
    deg = readme.block("degradation", tmp_path)
    assert "`SEEDS = (0, 1) if FAST else (0, 1, 2)`" in deg
    assert "`STEPS = 6 if FAST else 300`" in deg
    assert "      network  train loss" in deg  # the table's own alignment is kept
    assert "    plain-56 minus plain-20: +1.1" in deg


def test_update_replaces_only_the_named_block():
    old = (f"intro\n{readme.begin('a')}\nold a\n{readme.end('a')}\n"
           f"middle\n{readme.begin('b')}\nold b\n{readme.end('b')}\noutro\n")
    new = readme.update(old, "a", f"{readme.begin('a')}\nnew a\n{readme.end('a')}")
    assert new == old.replace("old a", "new a")
    with pytest.raises(ValueError, match="marker lines of block 'c'"):
        readme.update(old, "c", "x")
