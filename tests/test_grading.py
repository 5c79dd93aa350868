"""Grading a class with nbgrader, for real: build the course from a notebook, generate the
assignment, autograde synthetic submissions (right, wrong, crashing, looping, tampered) and export
the grades, then compare every score with the course's own verdict in the graded notebook.

The round trip uses chapter 5's exercise section in fast mode (setup cell + exercises + the
questionnaire: the cheapest notebook whose exercises stand alone) and a 15 s timeout for exercise
and test cells, which the looping one pays twice (its cell and its test cell). Each questionnaire
question is graded apart: one submission answers one question wrong and must lose that point only.
"""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path

import nbformat
import pytest

from course_utils.exercises import QUIZZES
from course_utils.instructor.grading import (
    autograder_source,
    collect,
    exercise_scores,
    exercises,
    grading_notebook,
    main,
    nbgrader,
    write_config,
    write_course,
)

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
CHAPTER = ROOT / "notebooks" / "05_evaluation.ipynb"
ASSIGNMENT = CHAPTER.stem
LESSON_TIMEOUT = 300  # seconds per lesson cell: never reached here (setup takes about 5 s)
EXERCISE_TIMEOUT = 15  # seconds per exercise or test cell; the checks take about 1 s here
_BEGIN, _END = "### BEGIN SOLUTION", "### END SOLUTION"
_SHOWN = ("Correct:", "Incorrect:", "Not attempted yet:")  # how a check's verdict starts
_QUIZ = QUIZZES[5]  # chapter 5's questionnaire; its q1 is a choice


def test_every_exercise_and_question_gets_a_locked_test_cell_right_after_it() -> None:
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        solution_ids = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                        if c.metadata.get("nbgrader", {}).get("solution")]
        quiz = next(i for i in solution_ids if i.startswith("quiz"))  # every chapter has one
        questions = [f"{quiz}-q{n + 1}" for n in range(sum(
            c.source.count(f"{quiz}.q") for c in nb.cells if c.cell_type == "code"
            and "nbgrader" not in c.metadata))]
        graded = grading_notebook(nb, points=2, name=path.name)
        tests = []
        for i, cell in enumerate(graded.cells):
            meta = cell.metadata.get("nbgrader", {})
            if meta.get("grade"):
                tests.append(meta["grade_id"])
                assert meta == {
                    "grade": True, "grade_id": meta["grade_id"], "locked": True,
                    "points": 2, "schema_version": 3, "solution": False, "task": False}
                ast.parse(cell.source)  # valid Python, hidden-test markers are comments
                assert "### BEGIN HIDDEN TESTS" in cell.source
            if meta.get("solution") and meta["grade_id"] != quiz:  # an exercise: its test next
                assert graded.cells[i + 1].metadata["nbgrader"]["grade_id"] == (
                    f"{meta['grade_id']}-test")
        # the questionnaire's test cells follow its checks' cell, one per question, in order
        checks = next(i for i, c in enumerate(graded.cells)
                      if c.metadata.get("nbgrader", {}).get("grade_id") == quiz) + 1
        following = [c.metadata["nbgrader"]["grade_id"]
                     for c in graded.cells[checks + 1:checks + 1 + len(questions)]]
        assert following == [f"{q}-test" for q in questions], path.name
        assert len(questions) >= 6
        ids = [i for i in solution_ids if i != quiz] + questions
        assert [e.grade_id for e in exercises(nb)] == ids, path.name
        assert tests == [f"{i}-test" for i in ids]
        assert len({c.id for c in graded.cells}) == len(graded.cells)  # ids stay unique
        assert len(graded.cells) == len(nb.cells) + len(ids)
        assert not any("outputs" in c and c.outputs for c in graded.cells)
        assert not any("NBVAL" in c.source for c in graded.cells if c.cell_type == "code")


def test_exercises_only_keeps_the_exercises_not_the_lesson_between_them() -> None:
    """Chapter 4 puts exercises 1 and 2 inside section 2: the quick assignment keeps them with
    their prompts, the setup cell and the closing exercises, not the lesson's training cells."""
    path = ROOT / "notebooks" / "04_training.ipynb"
    nb = nbformat.read(path, as_version=4)
    quick = grading_notebook(nb, exercises_only=True, name=path.name)
    kept = {c.id for c in quick.cells}
    solution_ids = {c.id for c in nb.cells if c.metadata.get("nbgrader", {}).get("solution")}
    assert solution_ids <= kept  # every exercise and the questionnaire's answers
    assert nb.cells[0].id not in kept and next(
        c.id for c in nb.cells if c.cell_type == "code") in kept  # the setup cell
    lesson = [c for c in nb.cells if c.cell_type == "code" and "fit(" in c.source]
    assert lesson and not any(c.id in kept for c in lesson)  # no training in a quick assignment
    prompts = [c.id for c in nb.cells if c.cell_type == "markdown"
               and c.source.startswith(("### Exercise", "## Exercises", "## Questionnaire"))]
    assert set(prompts) <= kept


def test_test_cell_repeats_the_exercise_check_call() -> None:
    nb = nbformat.read(CHAPTER, as_version=4)
    first = exercises(nb)[0]
    source = autograder_source(first)
    assert f"_verdict = {first.call}\nassert _verdict" in source
    assert re.search(r"^from course_utils\.exercises\S* import ch5$", source, re.M)


def test_exercise_without_a_check_line_is_an_error_naming_it() -> None:
    nb = nbformat.read(CHAPTER, as_version=4)
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("grade_id") == "ch5-q2":
            cell.source = cell.source.replace(".check(", ".verify(")
    with pytest.raises(ValueError, match="ch5-q2.*check"):
        exercises(nb, "05")


def test_collect_names_what_is_wrong_with_the_submissions(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist.*<student>/<notebook>.ipynb"):
        collect(tmp_path / "nowhere", tmp_path / "course", [ASSIGNMENT])
    (tmp_path / "empty" / "alice").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match="no notebooks in .*empty"):
        collect(tmp_path / "empty", tmp_path / "course", [ASSIGNMENT])
    odd = tmp_path / "odd" / "bob" / "05_evaluation (1).ipynb"
    odd.parent.mkdir(parents=True)
    odd.write_text("{}")
    with pytest.raises(ValueError, match=r"bob/05_evaluation \(1\)\.ipynb"):
        collect(tmp_path / "odd", tmp_path / "course", [ASSIGNMENT])
    with pytest.raises(SystemExit, match="error: submissions folder .*nowhere"):
        main(["grade", str(tmp_path / "nowhere"), "--course", str(tmp_path / "course")])


def test_config_gives_the_learners_cells_the_short_timeout(tmp_path: Path) -> None:
    from traitlets.config import Config

    write_config(tmp_path, timeout=100, exercise_timeout=7)
    config = Config()
    exec((tmp_path / "nbgrader_config.py").read_text(), {"get_config": lambda: config})
    timeout = config.Execute.timeout_func
    graded = nbformat.v4.new_code_cell("x", metadata={"nbgrader": {"grade_id": "ch5-q1"}})
    assert timeout(graded) == 7
    assert timeout(nbformat.v4.new_code_cell("train()")) == 100
    assert config.OverwriteCells.add_missing_cells is True
    assert config.Execute.iopub_timeout == 60


# --- the round trip -------------------------------------------------------------------------

def _answer(source: str, how: str) -> str:
    """The solution cell's source with its solution region answered `how`: correct, wrong, crash,
    loop, skip (the answers stay None), or partly (a questionnaire with its first answer wrong)."""
    out, inside, first = [], False, True
    for line in source.splitlines():
        if line.strip() == _BEGIN:
            inside, indent = True, line[: len(line) - len(line.lstrip())]
            previous = next((ln for ln in reversed(out) if ln.strip()), "")
            if how == "wrong":
                name = previous.split("=")[0].strip()
                out.append(indent + "return None" if indent else f"{name} = -1")
            elif how == "crash":
                out.append(indent + 'raise RuntimeError("a crashing cell")')
            elif how == "loop":
                out += [indent + "while True:", indent + "    pass"]
        elif line.strip() == _END:
            inside = False
        elif inside and how == "partly" and first:  # q1 = "<a wrong letter>"
            first = False
            out.append(f'{line.split("=")[0].strip()} = "{_QUIZ.q1.right_free}"')
        elif not inside or how in ("correct", "partly"):
            out.append(line)
    return "\n".join(out)


def _submission(release, source, answers: dict, delete=(), tamper=(), cheat=()):
    """A copy of the released notebook with the exercises answered as `answers` says."""
    nb = nbformat.from_dict(release)
    solutions = {c.metadata["nbgrader"]["grade_id"]: c.source for c in source.cells
                 if c.metadata.get("nbgrader", {}).get("solution")}
    cells = []
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id", "")
        if grade_id in answers:
            cell.source = _answer(solutions[grade_id], answers[grade_id])
            if grade_id in cheat:  # replace the check itself: the hidden test must notice
                chapter, question = grade_id.split("-")
                lines = cell.source.splitlines()
                at = max(i for i, ln in enumerate(lines) if ".check(" in ln)
                lines.insert(at, f"{chapter}.{question}.check = lambda *a, **k: True")
                cell.source = "\n".join(lines)
        if grade_id.removesuffix("-test") in delete and grade_id.endswith("-test"):
            continue
        if grade_id.removesuffix("-test") in tamper and grade_id.endswith("-test"):
            cell.source = "pass  # no test here"
        cells.append(cell)
    nb.cells = cells
    return nb


@pytest.fixture(scope="module")
def graded(tmp_path_factory, monkeypatch_module):
    """Build, release, submit five notebooks, autograde and export: what every test below reads."""
    course = tmp_path_factory.mktemp("course")
    monkeypatch_module.setenv("COURSE_FAST", "1")
    write_course(course, [CHAPTER], LESSON_TIMEOUT, EXERCISE_TIMEOUT, exercises_only=True)
    nbgrader(course, "generate_assignment", ASSIGNMENT)
    release = nbformat.read(course / "release" / ASSIGNMENT / CHAPTER.name, as_version=4)
    source = nbformat.read(course / "source" / ASSIGNMENT / CHAPTER.name, as_version=4)
    ids = [e.grade_id for e in exercises(source)]  # the exercises, then quiz5-q1, quiz5-q2, ...
    quiz = _QUIZ.__name__.rsplit(".", 1)[-1]
    questions = [i for i in ids if i.startswith(f"{quiz}-")]
    exercise_ids = [i for i in ids if i not in questions]
    assert len(exercise_ids) >= 3, "the round trip needs three exercises in the chapter"
    assert len(questions) >= 6, "and the chapter's questionnaire"
    by_id = {e.grade_id: source.cells[e.index].source for e in exercises(source)}
    top = next(i for i in exercise_ids if re.search(rf"^{_BEGIN}", by_id[i], re.M))
    indented = next(i for i in exercise_ids if re.search(rf"^\s+{_BEGIN}", by_id[i], re.M))
    right = dict.fromkeys([*exercise_ids, quiz], "correct")  # by solution cell
    first, second, third = exercise_ids[:3]
    plan = {  # student: (answers, tests deleted, tests tampered, checks replaced)
        "all_correct": (right, (), (), ()),
        "partly_wrong": ({**right, second: "wrong", third: "wrong", quiz: "partly"}, (), (),
                         (third,)),
        "crashing": ({**right, top: "crash"}, (), (), ()),
        "looping": ({**right, indented: "loop", quiz: "skip"}, (), (), ()),
        "tampered": ({**right, second: "wrong", third: "wrong"}, (first, third), (second,), ()),
    }
    expected = {}
    for student, (answers, delete, tamper, cheat) in plan.items():
        nb = _submission(release, source, answers, delete, tamper, cheat)
        path = course / "submitted" / student / ASSIGNMENT / CHAPTER.name
        path.parent.mkdir(parents=True)
        nbformat.write(nb, path)
        expected[student] = {i: answers[i] == "correct" for i in exercise_ids}
        expected[student].update({q: answers[quiz] == "correct" or (
            answers[quiz] == "partly" and q != questions[0]) for q in questions})
    _, log = nbgrader(course, "autograde", ASSIGNMENT)  # raises if any submission is not graded
    nbgrader(course, "export", f"--to={course / 'grades.csv'}")
    with open(course / "grades.csv", newline="") as fh:
        totals = {row["student_id"]: row for row in csv.DictReader(fh)}
    autograded = {student: nbformat.read(course / "autograded" / student / ASSIGNMENT
                                         / CHAPTER.name, as_version=4) for student in plan}
    return {"ids": ids, "expected": expected, "totals": totals, "autograded": autograded,
            "scores": exercise_scores(course), "log": log, "top": top, "indented": indented,
            "questions": questions}


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as mp:
        yield mp


def _autograded(graded, student):
    return graded["autograded"][student]


def _verdicts(nb) -> dict[str, str]:
    """What the course's check showed under each exercise cell: its first word, or the last
    error (a timed-out cell shows KeyboardInterrupt, then nbgrader's CellTimeoutError); and under
    the questionnaire's checks cell, one verdict per question, in order."""
    shown = {}
    for cell in nb.cells:
        meta = cell.metadata.get("nbgrader", {})
        texts = [o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", [])]
        if meta.get("solution"):
            errors = [o.ename for o in cell.outputs if o.output_type == "error"]
            verdict = next((t.split(":")[0] for t in texts if t.startswith(_SHOWN)), None)
            shown[meta["grade_id"]] = errors[-1] if errors else verdict
        elif cell.cell_type == "code" and not meta and ".check(" in cell.source:
            calls = re.findall(r"^(\w+)\.(\w+)\.check\(", cell.source, re.M)
            verdicts = [t.split(":")[0] for t in texts if t.startswith(_SHOWN)]
            assert len(verdicts) == len(calls), (calls, texts)
            shown.update({f"{q}-{n}": v for (q, n), v in zip(calls, verdicts, strict=True)})
    return shown


def test_every_submission_is_graded_and_exported(graded) -> None:
    assert set(graded["totals"]) == set(graded["expected"]), graded["log"][-2000:]
    for student, expected in graded["expected"].items():
        row = graded["totals"][student]
        assert float(row["max_score"]) == len(graded["ids"])
        assert float(row["score"]) == sum(expected.values()), (student, row)


def test_scores_follow_the_course_verdict_per_exercise(graded) -> None:
    scores = {(r["student"], r["exercise"]): r for r in graded["scores"]}
    assert len(scores) == len(graded["expected"]) * len(graded["ids"])
    for student, expected in graded["expected"].items():
        shown = _verdicts(_autograded(graded, student))
        for grade_id, right in expected.items():
            row = scores[student, grade_id]
            assert row["max_score"] == 1
            assert row["score"] == (1 if right else 0), (student, grade_id, shown[grade_id])
            # the course's own verdict, as the student saw it under their exercise cell
            assert (shown[grade_id] == "Correct") == right, (student, grade_id, shown[grade_id])


def test_crash_and_timeout_cost_only_their_own_exercise(graded) -> None:
    others = [i for i in graded["ids"] if i not in graded["questions"]]
    crashed = _verdicts(_autograded(graded, "crashing"))
    assert crashed[graded["top"]] == "RuntimeError"
    assert [crashed[k] for k in graded["ids"] if k != graded["top"]] == (
        ["Correct"] * (len(graded["ids"]) - 1))
    looped = _verdicts(_autograded(graded, "looping"))
    assert looped[graded["indented"]] == "CellTimeoutError"
    assert [looped[k] for k in others if k != graded["indented"]] == ["Correct"] * (
        len(others) - 1)
    # the looping student left the questionnaire unanswered: not attempted, no points
    assert [looped[k] for k in graded["questions"]] == (
        ["Not attempted yet"] * len(graded["questions"]))


def test_each_questionnaire_answer_is_graded_apart(graded) -> None:
    scores = {(r["student"], r["exercise"]): r["score"] for r in graded["scores"]}
    first, *rest = graded["questions"]
    assert scores["partly_wrong", first] == 0  # the one wrong choice costs its own point
    assert all(scores["partly_wrong", q] == 1 for q in rest)
    assert all(scores["all_correct", q] == 1 for q in graded["questions"])
    shown = _verdicts(_autograded(graded, "partly_wrong"))
    assert shown[first] == "Incorrect" and all(shown[q] == "Correct" for q in rest)


def test_deleted_and_edited_test_cells_are_restored_and_run(graded) -> None:
    nb = _autograded(graded, "tampered")
    tests = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade")]
    assert len(tests) == len(graded["ids"])
    assert all("### BEGIN HIDDEN TESTS" in c.source for c in tests)  # the instructor's version
    assert sum("was missing from the submission" in c.source for c in tests) == 2


def test_hidden_test_catches_a_replaced_check(graded) -> None:
    nb = _autograded(graded, "partly_wrong")
    cheated = graded["ids"][2]
    test = next(c for c in nb.cells
                if c.metadata.get("nbgrader", {}).get("grade_id") == f"{cheated}-test")
    errors = [o for o in test.outputs if o.output_type == "error"]
    assert errors and "fresh checks" in errors[0].evalue, test.outputs
