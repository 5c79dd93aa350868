"""Exercises, through their public behaviour: every reference solution passes, unanswered
questions say "not attempted", no answer can make a check raise, verdicts do not depend on global
state, hints are graduated and never the solution, and each solution equals the notebook's."""

from __future__ import annotations

import ast
import contextlib
import io
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision import transforms as T

from course_utils.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from course_utils.exercises import (
    CHAPTERS,
    CM_EXAMPLE,
    CORRECT,
    NOT_ATTEMPTED,
    WRONG,
    Exercise,
    exercises,
)

ALL = [(f"ch{c}.{q}", ex) for c, chapter in CHAPTERS.items()
       for q, ex in exercises(chapter).items()]
IDS = [n for n, _ in ALL]
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def verdict(ex: Exercise, *answer, **named):
    """ex.check(...) with its printed line captured: (Result, printed text)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = ex.check(*answer, **named)
    return result, out.getvalue()


def printed(fn, *args) -> str:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        fn(*args)
    return out.getvalue()


def solution_namespace(ex: Exercise) -> dict:
    """Run an exercise's reference solution as a notebook cell would and return its names."""
    from course_utils.models.resnet import BasicBlock, Bottleneck, ResNet

    namespace = {"math": math, "torch": torch, "nn": nn, "T": T, "DataLoader": DataLoader,
                 "IMAGENET_MEAN": IMAGENET_MEAN, "IMAGENET_STD": IMAGENET_STD, "ResNet": ResNet,
                 "BasicBlock": BasicBlock, "Bottleneck": Bottleneck, "cm_example": CM_EXAMPLE}
    exec(ex.solution_source(), namespace)
    return namespace


def solution_answer(ex: Exercise):
    return solution_namespace(ex)[ex.answer]


def test_each_chapter_has_at_least_three_exercises() -> None:
    assert sorted(CHAPTERS) == [1, 2, 3, 4, 5, 6, 7]
    assert all(len(exercises(chapter)) >= 3 for chapter in CHAPTERS.values())


def test_chapter_modules_import_as_the_notebooks_do() -> None:
    from course_utils.exercises import ch2, ch7

    assert isinstance(ch2.q2, Exercise) and isinstance(ch7.q3, Exercise)


@pytest.mark.parametrize(("name", "ex"), ALL, ids=IDS)
def test_reference_solution_passes_and_the_result_is_truthy(name, ex) -> None:
    result, text = verdict(ex, solution_answer(ex))
    assert result.outcome == CORRECT and result, result.message
    assert text.startswith("Correct:")
    assert result._repr_html_().startswith('<span style="color:#1a7f37">')


@pytest.mark.parametrize(("name", "ex"), ALL, ids=IDS)
def test_unanswered_is_not_attempted_and_falsy(name, ex) -> None:
    result, text = verdict(ex, None)
    assert result.outcome == NOT_ATTEMPTED and not result
    assert text.startswith("Not attempted yet")


@pytest.mark.parametrize(("name", "ex"), ALL, ids=IDS)
def test_student_stub_is_not_attempted(name, ex) -> None:
    def stub(*args, **kwargs):
        raise NotImplementedError("your code here")  # what `make student` puts in a function

    answer = solution_answer(ex)
    if isinstance(answer, type):  # a class: the student edition stubs its methods' bodies
        stub = type("Stub", (answer,), {"forward": stub})
    if callable(answer):  # value answers start as None instead
        assert verdict(ex, stub)[0].outcome == NOT_ATTEMPTED


@pytest.mark.parametrize(("name", "ex"), ALL, ids=IDS)
def test_an_answer_by_keyword_is_checked_and_extra_arguments_are_explained(name, ex) -> None:
    answer = solution_answer(ex)
    # check(answer=14) once raised TypeError
    assert verdict(ex, answer=answer)[0].outcome == CORRECT
    assert verdict(ex, **{ex.answer: answer})[0].outcome == CORRECT
    for result, _ in (verdict(ex, answer, answer=answer), verdict(ex, a=answer, b=answer)):
        assert result.outcome == WRONG and f"check({ex.answer})" in result.message


class Huge(nn.Module):
    def __init__(self, *args):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return x.new_zeros(10**6, 1).expand(10**6, 10**6)


def _explode(*args, **kwargs):
    raise ZeroDivisionError("boom")


def _leave(*args, **kwargs):
    raise SystemExit(1)  # e.g. sys.exit() or exit() in the learner's code


JUNK = ["hello", 3.5, -1, float("nan"), True, [1, 2], {"a": 1}, torch.ones(3), _explode,
        lambda *a: "text", lambda *a: 42, lambda *a: None, lambda *a: torch.ones(2, 2), Huge,
        nn.Identity, nn.Linear(2, 2), object(), _leave]


@pytest.mark.parametrize(("name", "ex"), ALL, ids=IDS)
def test_no_answer_makes_a_check_raise_or_blame_itself(name, ex) -> None:
    for junk in JUNK:
        result, _ = verdict(ex, junk)
        assert result.outcome in (WRONG, NOT_ATTEMPTED), (junk, result)
        assert "check itself failed" not in result.message, (junk, result)


def test_ctrl_c_in_the_learners_code_still_stops_the_check() -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        verdict(CHAPTERS[2].q2, interrupted)


def test_an_error_of_the_checker_is_not_blamed_on_the_learner() -> None:
    from course_utils.exercises.core import call

    broken = Exercise("broken", lambda answer: 1 / 0, hints=["h"], solution="x = 1", answer="x")
    result, _ = verdict(broken, 5)
    assert result.outcome == WRONG and "check itself failed" in result.message
    assert "your code raised" not in result.message
    relayed = Exercise("relayed", lambda fn: call(fn), hints=["h"], solution="x = 1", answer="x")
    result, _ = verdict(relayed, _explode)
    assert "your code raised ZeroDivisionError: boom" in result.message


def _global_state():
    return (torch.is_grad_enabled(), torch.get_default_dtype(), torch.get_rng_state(),
            random.getstate(), np.random.get_state()[1].copy())


def _same_state(a, b) -> bool:
    return (a[0] == b[0] and a[1] == b[1] and torch.equal(a[2], b[2]) and a[3] == b[3]
            and np.array_equal(a[4], b[4]))


@pytest.mark.parametrize(("name", "ex"), ALL, ids=IDS)
def test_verdicts_ignore_global_state_and_leave_it_as_it_was(name, ex) -> None:
    answer = solution_answer(ex)
    reference = verdict(ex, answer)[0]
    for seed, grad, dtype in ((1, False, torch.float32), (2, True, torch.float64)):
        torch.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        previous = torch.get_default_dtype()
        try:
            torch.set_default_dtype(dtype)
            with torch.set_grad_enabled(grad):
                before = _global_state()
                result = verdict(ex, answer)[0]
                after = _global_state()
        finally:
            torch.set_default_dtype(previous)
        assert result == reference, (seed, grad, dtype, result)
        assert _same_state(before, after), "a check changed the notebook's global state"


def test_leaving_autograd_off_for_the_rest_of_the_notebook_is_wrong() -> None:
    def my_evaluate(model, loader, loss_fn, device):
        model.eval()
        torch.set_grad_enabled(False)  # never switched back on
        return solution_answer(CHAPTERS[4].q2)(model, loader, loss_fn, device)

    result, _ = verdict(CHAPTERS[4].q2, my_evaluate)
    assert result.outcome == WRONG and "global state" in result.message
    assert torch.is_grad_enabled()


# --------------------------------------------------------------------------- hints


@pytest.mark.parametrize(("name", "ex"), ALL, ids=IDS)
def test_hints_are_graduated_and_never_the_solution(name, ex) -> None:
    first, second = printed(ex.hint), printed(ex.hint, 2)
    assert first.startswith("Hint 1/") and second.startswith("Hint 2/") and first != second
    count = int(first.split("/")[1].split(":")[0])
    assert "solution()" in printed(ex.hint, count + 1)
    hints = " ".join(printed(ex.hint, n) for n in range(1, count + 1))
    squeezed = "".join(hints.split())
    for line in ex.solution_source().splitlines():
        code = "".join(line.split("#")[0].split())
        if len(code) >= 16 and not code.startswith(("def", "class", "super()")):
            assert code not in squeezed, (f"{name}: a hint gives the solution's line "
                                          f"{line.strip()!r}")
    answer = solution_answer(ex)
    if isinstance(answer, int | float | tuple):
        assert f"= {answer}" not in hints and str(answer) not in hints.split(), (
            f"{name}: a hint gives the answer")
    assert printed(ex.solution).startswith("Solution:\n")


# -------------------------------------------------------------------------- one source per solution


def _exercise_cells() -> dict[str, str]:
    cells = {}
    for path in sorted(NOTEBOOKS.glob("[0-9]*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
            if grade_id and cell["cell_type"] == "code":
                cells[grade_id] = "".join(cell["source"])
    return cells


def _statements(source: str) -> list[str]:
    """Top-level statements, normalised by the AST (comments, spacing and line breaks dropped)."""
    return [ast.dump(node) for node in ast.parse(source).body]


def test_each_notebook_solution_is_the_packages_solution() -> None:
    cells = _exercise_cells()
    assert sorted(cells) == sorted(f"ch{c}-{q}" for c, ch in CHAPTERS.items()
                                   for q in exercises(ch))
    for name, ex in ALL:
        chapter, q = name.split(".")
        cell = cells[f"{chapter}-{q}"]
        notebook = _statements(cell.replace("### BEGIN SOLUTION", "")
                               .replace("### END SOLUTION", ""))
        for statement in _statements(ex.solution_source()):
            assert statement in notebook, f"{name}: the notebook's solution differs from solution()"


def test_the_solution_comparison_sees_a_drift() -> None:
    cell = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1  # one more\n    ### END SOLUTION\n"
    same = "def f(x):\n    return x + 1\n"
    drifted = "def f(x):\n    return x + 2\n"
    notebook = _statements(cell.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""))
    assert _statements(same)[0] in notebook and _statements(drifted)[0] not in notebook
