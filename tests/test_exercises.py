"""Exercises and questionnaires, through their public behaviour: every reference solution passes,
unanswered questions say "not attempted", no answer can make a check raise or blame itself (a "
                         "battery
of junk answers, fed to every check of every chapter), verdicts do not depend on global state, hints
are graduated and never the solution, every wrong choice of a questionnaire is explained, and each
solution and questionnaire cell equals the notebook's."""

from __future__ import annotations

import ast
import contextlib
import io
import itertools
import json
import math
import random
from decimal import Decimal
from fractions import Fraction
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
    QUIZZES,
    WRONG,
    Exercise,
    Result,
    exercises,
    questionnaire,
)
from course_utils.exercises.questionnaire import Choice, Number

ALL = [(f"ch{c}.{q}", ex) for c, chapter in CHAPTERS.items()
       for q, ex in exercises(chapter).items()]
IDS = [n for n, _ in ALL]
QUESTIONS = [(f"quiz{c}.{q}", ex) for c, quiz in QUIZZES.items()
             for q, ex in questionnaire.questions(quiz).items()]
EVERY = ALL + QUESTIONS  # every check of every chapter
EVERY_IDS = [n for n, _ in EVERY]
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


def test_each_chapter_has_at_least_three_exercises_and_a_questionnaire() -> None:
    assert sorted(CHAPTERS) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(len(exercises(chapter)) >= 3 for chapter in CHAPTERS.values())
    assert sorted(QUIZZES) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert all(6 <= len(questionnaire.questions(quiz)) <= 10 for quiz in QUIZZES.values())
    assert all(exercises(quiz) == questionnaire.questions(quiz) for quiz in QUIZZES.values())


def test_chapter_modules_import_as_the_notebooks_do() -> None:
    from course_utils.exercises import ch2, ch7

    assert isinstance(ch2.q2, Exercise) and isinstance(ch7.q3, Exercise)


@pytest.mark.parametrize(("name", "ex"), EVERY, ids=EVERY_IDS)
def test_reference_solution_passes_and_the_result_is_truthy(name, ex) -> None:
    result, text = verdict(ex, solution_answer(ex))
    assert result.outcome == CORRECT and result, result.message
    assert text.startswith("Correct:")
    assert result._repr_html_().startswith('<span style="color:#1a7f37">')


@pytest.mark.parametrize(("name", "ex"), EVERY, ids=EVERY_IDS)
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


@pytest.mark.parametrize(("name", "ex"), EVERY, ids=EVERY_IDS)
def test_an_answer_by_keyword_is_checked_and_extra_arguments_are_explained(name, ex) -> None:
    answer = solution_answer(ex)
    # check(answer=14) once raised TypeError
    assert verdict(ex, answer=answer)[0].outcome == CORRECT
    assert verdict(ex, **{ex.answer: answer})[0].outcome == CORRECT
    for result, _ in (verdict(ex, answer, answer=answer), verdict(ex, a=answer, b=answer)):
        assert result.outcome == WRONG and f"check({ex.answer})" in result.message


# --------------------------------------------------------------------------- checks are total
# Whatever a learner passes, every check of every chapter answers "not attempted", "wrong: ..." or
# "correct", returns a Result whose truth is its correctness, shows it, and never raises (Ctrl-C
# excepted) nor blames itself ("the check itself failed") for the learner's input.


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


class Unprintable(Exception):
    def __str__(self):
        raise RuntimeError("an exception that cannot be printed")


def _unprintable(*args, **kwargs):
    raise Unprintable()


def _stop(*args, **kwargs):
    raise StopIteration


def _recurse(*args, **kwargs):
    return _recurse(*args, **kwargs)


class Hostile:
    """Every special method raises: repr, str, numbers, iteration, comparison, truth, calls."""

    def _raise(self, *args, **kwargs):
        raise ZeroDivisionError("hostile")

    __repr__ = __str__ = __float__ = __int__ = __index__ = __iter__ = __len__ = _raise
    __eq__ = __lt__ = __hash__ = __bool__ = __call__ = __getitem__ = __format__ = _raise


class Opaque:
    """Even reading an attribute raises (isinstance() reads __class__)."""

    def __getattribute__(self, name):
        raise ZeroDivisionError(name)


class BrokenInit(nn.Module):
    def __init__(self, *args, **kwargs):
        raise ValueError("no")


class BrokenParameters(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def parameters(self, recurse=True):
        raise RuntimeError("parameters")

    def forward(self, x):
        return x


class BrokenStateDict(nn.Linear):
    def __init__(self, *args, **kwargs):
        super().__init__(2, 2)

    def state_dict(self, *args, **kwargs):
        raise Unprintable()


class ReturnsNone(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))

    def forward(self, x):
        return None


class TrainRaises(nn.Linear):
    def __init__(self, *args, **kwargs):
        super().__init__(2, 2)

    def train(self, mode=True):
        raise RuntimeError("train")


class NoForward(nn.Module):
    def __init__(self, *args, **kwargs):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))


def _leaks_no_grad(*args, **kwargs):
    torch.set_grad_enabled(False)
    return 42


def _leaks_dtype(*args, **kwargs):
    torch.set_default_dtype(torch.float64)
    return torch.zeros(2)


def _generator(*args, **kwargs):
    yield from range(3)


JUNK = {
    # values
    "text": "hello", "empty text": "", "bytes": b"21", "text number": "21", "float": 3.5,
    "negative": -1, "zero": 0, "huge": 10**400, "huge negative": -10**400,
    "unprintably huge": 10**5000, "nan": float("nan"), "inf": float("inf"), "-inf": -float("inf"),
    "bool": True, "complex": 1 + 1j, "decimal nan": Decimal("NaN"), "fraction": Fraction(1, 3),
    "numpy nan": np.float64("nan"), "numpy int": np.int64(-5), "numpy array": np.array([1.0, 2.0]),
    "empty numpy array": np.array([]), "list": [1, 2], "one-tuple": (21,), "empty tuple": (),
    "dict": {"a": 1}, "set": {1, 2}, "range": range(10), "nested": [[1]] * 4,
    "generator": (i for i in range(4)), "endless iterator": itertools.count(),
    "empty iterator": iter([]), "tensor": torch.ones(3), "nan tensor": torch.tensor(float("nan")),
    "empty tensor": torch.empty(0), "tensor with grad": torch.ones(2, 2, requires_grad=True),
    "meta tensor": torch.ones(2, device="meta"),
    "complex tensor": torch.ones(2, dtype=torch.cfloat),
    "object": object(), "hostile object": Hostile(), "opaque object": Opaque(),
    "module instance": nn.Linear(2, 2), "empty Sequential": nn.Sequential(),
    # functions
    "raises": _explode, "exits": _leave, "raises unprintably": _unprintable,
    "raises StopIteration": _stop, "recurses": _recurse, "returns text": lambda *a: "text",
    "returns 42": lambda *a: 42, "returns None": lambda *a: None,
    "returns a tensor": lambda *a: torch.ones(2, 2), "returns huge": lambda *a: 10**400,
    "returns nan": lambda *a: float("nan"), "returns hostile": lambda *a: Hostile(),
    "returns opaque": lambda *a: Opaque(), "returns endless": lambda *a: itertools.count(),
    "returns a generator": _generator, "returns its arguments": lambda *a, **k: a,
    "returns a meta tensor": lambda *a: torch.ones(3, 3, device="meta"),
    "returns a complex tensor": lambda *a: torch.ones(3, 3, dtype=torch.cfloat),
    "takes no arguments": lambda: 1, "leaks no_grad": _leaks_no_grad,
    "leaks a dtype": _leaks_dtype,
    # classes
    "class int": int, "class object": object, "class Hostile": Hostile, "nn.Identity": nn.Identity,
    "nn.Linear": nn.Linear, "Huge": Huge, "BrokenInit": BrokenInit,
    "BrokenParameters": BrokenParameters, "BrokenStateDict": BrokenStateDict,
    "ReturnsNone": ReturnsNone, "TrainRaises": TrainRaises, "NoForward": NoForward,
    "nn.ModuleList": nn.ModuleList,
}


def _assert_total(ex, label, *answer, **named) -> Result:
    before = torch.is_grad_enabled(), torch.get_default_dtype()
    try:
        result, text = verdict(ex, *answer, **named)
    except KeyboardInterrupt:
        raise
    except BaseException as error:  # noqa: BLE001 - the point: nothing may escape
        pytest.fail(f"{ex.name}, {label}: check() raised {type(error).__name__}: {error}")
    assert isinstance(result, Result), (label, result)
    assert result.outcome in (CORRECT, NOT_ATTEMPTED, WRONG), (label, result.outcome)
    assert bool(result) == (result.outcome == CORRECT), (label, result)
    assert isinstance(result.message, str) and result.message, (label, result)
    assert "check itself failed" not in result.message, (label, result.message)
    assert text.startswith(("Correct:", "Incorrect:", "Not attempted yet:")), (label, text)
    assert (torch.is_grad_enabled(), torch.get_default_dtype()) == before, label
    return result


def _is_the_answer(ex, junk) -> bool:
    """A junk value that happens to be the right answer (0 for option A's parameters)."""
    return isinstance(ex, Number) and type(junk) in (int, float) and junk == ex.expected


@pytest.mark.parametrize(("name", "ex"), EVERY, ids=EVERY_IDS)
def test_every_check_is_total_on_a_battery_of_junk(name, ex) -> None:
    for label, junk in JUNK.items():
        result = _assert_total(ex, label, junk)
        assert result.outcome == WRONG or _is_the_answer(ex, junk), (label, result)


@pytest.mark.parametrize(("name", "ex"), EVERY, ids=EVERY_IDS)
def test_every_check_explains_how_many_answers_to_pass(name, ex) -> None:
    answer = solution_answer(ex)
    assert _assert_total(ex, "nothing").outcome == NOT_ATTEMPTED
    assert _assert_total(ex, "None twice", None, None).outcome == NOT_ATTEMPTED
    for label, args in (("two answers", (answer, answer)), ("21, 21", (21, 21)),
                        ("three", (answer, 1, "x"))):
        result = _assert_total(ex, label, *args)
        assert result.outcome == WRONG and f"check({ex.answer})" in result.message, (label, result)
    result = _assert_total(ex, "two names", answer=answer, other=answer)
    assert result.outcome == WRONG and f"check({ex.answer})" in result.message


def test_the_battery_sees_a_check_that_raises_or_blames_itself() -> None:
    """Break a check on purpose: the battery's assertions must notice both ways of failing."""
    def fragile(answer):
        return f"{float(answer):.2f}"  # OverflowError on 10**400, ValueError on "hello"

    broken = Exercise("fragile", fragile, hints=["h"], solution="x = 1", answer="x")
    with pytest.raises(AssertionError, match="check itself failed"):
        _assert_total(broken, "huge", 10**400)
    escaping = Exercise("escaping", fragile, hints=["h"], solution="x = 1", answer="x")
    escaping._verdict = lambda *a, **k: fragile(*a)  # a check without the safety net
    with pytest.raises(pytest.fail.Exception, match="raised OverflowError"):
        _assert_total(escaping, "huge", 10**400)


def test_an_exception_that_cannot_be_printed_is_still_reported() -> None:
    from course_utils.exercises import ch6

    result, text = verdict(ch6.q2, _unprintable)
    assert result.outcome == WRONG and "your code raised Unprintable" in result.message
    assert "cannot be shown" in result.message


def test_an_error_in_the_learners_object_is_the_learners_not_the_checks() -> None:
    """A checker that trips over the answer's own methods reports the learner's error."""
    def naive(answer):
        return f"{answer:.2f}"  # calls the answer's __format__

    ex = Exercise("naive", naive, hints=["h"], solution="x = 1", answer="x")
    result, _ = verdict(ex, Hostile())
    assert result.outcome == WRONG and "your code raised ZeroDivisionError: hostile" in (
        result.message)
    assert "check itself failed" not in result.message


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


@pytest.mark.parametrize(("name", "ex"), EVERY, ids=EVERY_IDS)
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
    assert sorted(cells) == sorted([f"ch{c}-{q}" for c, ch in CHAPTERS.items()
                                    for q in exercises(ch)] + [f"quiz{c}" for c in CHAPTERS])
    for name, ex in ALL + [(f"quiz{c}.{q}", ex) for c in CHAPTERS
                           for q, ex in questionnaire.questions(QUIZZES[c]).items()]:
        chapter, q = name.split(".")
        cell = cells[chapter if chapter.startswith("quiz") else f"{chapter}-{q}"]
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


# --------------------------------------------------------------------------- questionnaires


@pytest.mark.parametrize(("name", "ex"), [(n, q) for n, q in QUESTIONS if isinstance(q, Choice)],
                         ids=[n for n, q in QUESTIONS if isinstance(q, Choice)])
def test_every_choice_is_explained(name, ex) -> None:
    assert len(ex.choices) >= 3
    result, _ = verdict(ex, ex.right)
    assert result.outcome == CORRECT and ex.explanation[1:] in result.message
    for letter, why in ex.why.items():
        for written in (letter, letter.lower(), f" ({letter}) ", f"{letter}."):
            result, _ = verdict(ex, written)
            assert result.outcome == WRONG, (written, result)
            assert result.message == f"{letter} is not right: {why}", (written, result.message)
        pasted, _ = verdict(ex, ex.choices[letter])  # the text of the choice itself
        assert pasted.message == f"{letter} is not right: {why}"
        assert why not in ex.explanation and ex.choices[ex.right] not in why, (
            f"{name}: the explanation of {letter} gives the answer away")


@pytest.mark.parametrize(("name", "ex"), [(n, q) for n, q in QUESTIONS if isinstance(q, Choice)],
                         ids=[n for n, q in QUESTIONS if isinstance(q, Choice)])
def test_a_choice_answered_otherwise_than_with_one_letter_is_explained(name, ex) -> None:
    letters = list(ex.choices)
    for answer, words in (("".join(letters[:2]), "choose one letter"),
                          (f"{letters[0]}, {letters[1]}", "choose one letter"),
                          ([ex.right], "choose one letter"), ("Z", "there is no choice Z"),
                          (2, f'choice number 2 is "{letters[1]}"'), (2.5, "not a number"),
                          ("no idea", "one letter in quotes"), (ex.choices, "one letter")):
        result, _ = verdict(ex, answer)
        assert result.outcome == WRONG and words in result.message, (answer, result.message)


@pytest.mark.parametrize(("name", "ex"), [(n, q) for n, q in QUESTIONS if isinstance(q, Number)],
                         ids=[n for n, q in QUESTIONS if isinstance(q, Number)])
def test_every_known_wrong_number_is_explained(name, ex) -> None:
    assert ex.known, f"{name}: a number question without a known mistake"
    for value, message in ex.known.items():
        result, _ = verdict(ex, value)
        assert result.outcome == WRONG and result.message == message, (value, result.message)
    result, _ = verdict(ex, f"{ex.expected}")
    assert result.outcome == WRONG and "remove the quotes" in result.message
    assert verdict(ex, solution_answer(ex))[0].outcome == CORRECT


@pytest.mark.parametrize(("name", "ex"), QUESTIONS, ids=[n for n, _ in QUESTIONS])
def test_each_question_has_a_hint_that_is_not_its_answer(name, ex) -> None:
    text = printed(ex.hint)
    assert text.startswith("Hint 1/") and len(text) > 50
    assert ex.solution_source() not in text
    if isinstance(ex, Choice):
        assert ex.choices[ex.right] not in text and f'"{ex.right}"' not in text
    shown = printed(ex.solution)
    assert shown.startswith(f"Solution:\n{ex.solution_source()}") and "Why:" in shown


def _questionnaire_cells(path: Path) -> list[dict]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    start = next(i for i, c in enumerate(cells)
                 if c["cell_type"] == "markdown" and "".join(c["source"]).startswith(
                     "## Questionnaire"))
    return cells[start:start + 4]


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_each_chapter_closes_with_its_questionnaire(chapter) -> None:
    """The notebook shows exactly what the quiz module holds: one source for every question."""
    [path] = NOTEBOOKS.glob(f"{chapter:02d}_*.ipynb")
    quiz = QUIZZES[chapter]
    questions_cell, answers, checks, summary = _questionnaire_cells(path)
    assert "".join(questions_cell["source"]) == questionnaire.markdown(quiz)
    assert "".join(answers["source"]) == questionnaire.answers_source(quiz)
    assert answers["metadata"]["nbgrader"] == {
        "grade": False, "grade_id": f"quiz{chapter}", "locked": False, "schema_version": 3,
        "solution": True, "task": False}
    assert "".join(checks["source"]) == questionnaire.checks_source(quiz)
    assert "nbgrader" not in checks["metadata"]
    assert "".join(summary["source"]).startswith("## Summary")  # just before the summary
    shown = ["".join(o["data"]["text/plain"]) for o in checks["outputs"]]
    assert len(shown) == len(questionnaire.questions(quiz))
    assert all(text.startswith("Correct:") for text in shown), shown


@pytest.mark.parametrize("chapter", sorted(CHAPTERS))
def test_the_questionnaire_cells_are_what_insert_writes(chapter, tmp_path) -> None:
    """The committed cells, outputs included, are exactly what the tool writes (it is
    idempotent); a notebook without the cells gets them before its Summary."""
    import nbformat

    [path] = NOTEBOOKS.glob(f"{chapter:02d}_*.ipynb")
    committed = nbformat.read(path, as_version=4)
    again = questionnaire.insert(nbformat.read(path, as_version=4), QUIZZES[chapter])
    assert nbformat.writes(again) == nbformat.writes(committed)
    bare = nbformat.read(path, as_version=4)
    bare.cells = [c for c in bare.cells if not c.get("id", "").startswith(f"quiz{chapter}-")]
    assert nbformat.writes(questionnaire.insert(bare, QUIZZES[chapter])) == nbformat.writes(
        committed)
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    questionnaire.main([str(copy), f"quiz{chapter}"])
    assert copy.read_bytes() == path.read_bytes()  # byte for byte, nbformat's layout


def test_the_questionnaire_command_writes_every_question(tmp_path) -> None:
    """`python -m course_utils.exercises.questionnaire NOTEBOOK quizN`, as `make execute` runs it:
    run as a script, the module once found no question at all (its classes were __main__'s)."""
    import os
    import subprocess
    import sys

    [path] = NOTEBOOKS.glob("01_*.ipynb")
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    process = subprocess.run(
        [sys.executable, "-m", "course_utils.exercises.questionnaire", str(copy), "quiz1"],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": str(NOTEBOOKS.parent)})
    assert process.returncode == 0, process.stderr
    assert f"wrote {len(questionnaire.questions(QUIZZES[1]))} questions" in process.stdout
    assert copy.read_bytes() == path.read_bytes()


def test_insert_needs_a_summary() -> None:
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# no summary")])
    with pytest.raises(ValueError, match="## Summary"):
        questionnaire.insert(nb, QUIZZES[1])


def test_the_questionnaire_command_writes_the_questions(tmp_path) -> None:
    """`python -m course_utils.exercises.questionnaire` (as docs and maintainers run it), not only
    its main(): run as a script the module is imported twice, and the questions must still be
    found."""
    import subprocess
    import sys

    [path] = NOTEBOOKS.glob("01_*.ipynb")
    copy = tmp_path / path.name
    copy.write_bytes(path.read_bytes())
    done = subprocess.run([sys.executable, "-m", "course_utils.exercises.questionnaire", str(copy),
                           "quiz1"], capture_output=True, text=True, cwd=NOTEBOOKS.parent)
    assert done.returncode == 0, done.stderr
    assert f"wrote {len(questionnaire.questions(QUIZZES[1]))} questions" in done.stdout
    assert copy.read_bytes() == path.read_bytes()
