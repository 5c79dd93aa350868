"""The README's chapter 4-5 results are the committed notebooks' outputs, not typed by hand."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import readme


def test_readme_results_match_the_committed_notebooks():
    text = (readme.REPO / "README.md").read_text(encoding="utf-8")
    assert readme.update(text, readme.block()) == text, (
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
        _code("c24c", "print(table)", "| rung | best |\n| --- | --- |\n| lesson | 25.0% |\n<Figure>\n"),
        _code("c24", "print(...)", "best epoch: 9 of 10\ntraining time: 9.1 min\n"),
    ])
    ch5 = _notebook([_code("c17", "print(...)", "test:       accuracy 95.0%\n")])
    (tmp_path / "notebooks" / "04_training.ipynb").write_text(json.dumps(ch4))
    (tmp_path / "notebooks" / "05_evaluation.ipynb").write_text(json.dumps(ch5))
    text = readme.block(tmp_path)
    assert text.startswith(readme.BEGIN) and text.endswith(readme.END)
    assert "`last epoch: validation loss 1.386`" in text
    assert "`LADDER_EPOCHS = 1 if FAST else 3`" in text
    assert "| lesson | 25.0% |" in text and "<Figure>" not in text  # table lines only
    assert "    best epoch: 9 of 10\n    training time: 9.1 min\n    test:       accuracy 95.0%" in text
    # a cell that printed nothing (never executed) is refused, not quoted as empty
    ch5["cells"][0]["outputs"] = []
    (tmp_path / "notebooks" / "05_evaluation.ipynb").write_text(json.dumps(ch5))
    with pytest.raises(ValueError, match="c17 of notebooks/05_evaluation.ipynb has no printed output"):
        readme.block(tmp_path)


def test_update_replaces_only_the_generated_block():
    old = f"intro\n{readme.BEGIN}\nold numbers\n{readme.END}\noutro\n"
    new = readme.update(old, f"{readme.BEGIN}\nnew numbers\n{readme.END}")
    assert new == f"intro\n{readme.BEGIN}\nnew numbers\n{readme.END}\noutro\n"
    with pytest.raises(ValueError, match="marker"):
        readme.update("no markers here", "x")
