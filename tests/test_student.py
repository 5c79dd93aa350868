"""The student edition: solutions stubbed (the questionnaires' answers too), outputs cleared, and
every notebook runs top to bottom with each check saying "not attempted yet"."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_utils.instructor.student import strip_solutions, student_notebook, write_student_edition

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))

CELL = '''x = None
### BEGIN SOLUTION
x = 42
### END SOLUTION
q.check(x)

class Block:
    def forward(self, x):
        ### BEGIN SOLUTION
        return secret(x)
        ### END SOLUTION'''


def test_strip_solutions_stubs_by_context() -> None:
    out = strip_solutions(CELL)
    assert "42" not in out and "secret" not in out and "SOLUTION" not in out
    assert out.splitlines()[:3] == ["x = None", "# YOUR CODE HERE", "q.check(x)"]
    assert out.splitlines()[-1] == '        raise NotImplementedError("your code here")'
    compile(out, "<cell>", "exec")  # still valid Python


def test_strip_solutions_rejects_unbalanced_markers() -> None:
    with pytest.raises(ValueError, match="without"):
        strip_solutions("### BEGIN SOLUTION\nx = 1")
    with pytest.raises(ValueError, match="without"):
        strip_solutions("x = 1\n### END SOLUTION")


def test_student_notebook_clears_outputs_and_checks() -> None:
    nb = nbformat.v4.new_notebook()
    code = nbformat.v4.new_code_cell("# NBVAL_CHECK_OUTPUT\n" + CELL, execution_count=3)
    code.outputs = [nbformat.v4.new_output("stream", text="Correct: yes")]
    nb.cells = [code, nbformat.v4.new_markdown_cell("Why?\n### BEGIN SOLUTION\nBecause.\n### END "
                                                    "SOLUTION")]
    student = student_notebook(nb)
    assert student.cells[0].outputs == [] and student.cells[0].execution_count is None
    assert "NBVAL" not in student.cells[0].source
    assert student.cells[1].source == "Why?\nYOUR ANSWER HERE"
    assert nb.cells[0].outputs, "the instructor's notebook itself is left alone"


def test_every_exercise_cell_has_a_solution_region() -> None:
    for path in NOTEBOOKS:
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        checks = [i for i, c in enumerate(code) if ".check(" in c.source]
        assert len(checks) >= 3, (f"{path.name} has {len(checks)} exercise checks; expected at "
                                  "least 3")
        for i in checks:  # an exercise holds its solution; a questionnaire's checks follow theirs
            region = code[i].source if "nbgrader" in code[i].metadata else code[i - 1].source
            assert "### BEGIN SOLUTION" in region, (f"{path.name}: a check without a solution "
                                                    "region")


def test_the_questionnaire_answers_are_stripped() -> None:
    from course_utils.exercises import QUIZZES, questionnaire

    for path in NOTEBOOKS:
        chapter = int(path.name[:2])
        student = student_notebook(nbformat.read(path, as_version=4))
        [answers] = [c for c in student.cells
                     if c.metadata.get("nbgrader", {}).get("grade_id") == f"quiz{chapter}"]
        lines = answers.source.splitlines()
        quiz = questionnaire.questions(QUIZZES[chapter])
        assert [f"{q.answer} = None" for q in quiz.values()] == [ln for ln in lines
                                                                if ln.endswith("= None")]
        assert not any(q.solution_source() in answers.source for q in quiz.values())
        assert "# YOUR CODE HERE" in lines and "SOLUTION" not in answers.source
        sources = [c.source for c in student.cells]
        assert questionnaire.markdown(QUIZZES[chapter]) in sources  # the questions stay
        assert questionnaire.checks_source(QUIZZES[chapter]).replace(
            "# NBVAL_CHECK_OUTPUT\n", "") in sources  # and the checks


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_student_edition_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    assert os.environ.get("COURSE_FAST") == "1", "run under `make test` (fast mode)"
    [written] = write_student_edition_single(path, tmp_path)
    nb = nbformat.read(written, as_version=4)
    NotebookClient(nb, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    verdicts = []
    for cell in nb.cells:
        if cell.cell_type == "code" and ".check(" in cell.source:
            text = "".join(o.get("text", "") if o.output_type == "stream"
                           else o.get("data", {}).get("text/plain", "") for o in cell.outputs)
            verdicts.append(text)
    assert verdicts, "no exercise checks ran"
    for text in verdicts:  # a cell may print other lines (e.g. the data it asks about) first
        assert "Not attempted yet" in text, text
        assert "Correct:" not in text and "Incorrect:" not in text, text
    checks = [c for c in nb.cells if c.cell_type == "code" and ".check(" in c.source]
    questionnaire = checks[-1]  # one verdict per question, each "not attempted"
    shown = [o.get("data", {}).get("text/plain", "") for o in questionnaire.outputs]
    assert len(shown) == questionnaire.source.count(".check(") >= 6
    assert all(text.startswith("Not attempted yet") for text in shown), shown


def write_student_edition_single(path: Path, target: Path) -> list[Path]:
    source = target / "src"
    source.mkdir()
    (source / path.name).write_bytes(path.read_bytes())
    return write_student_edition(source, target / "student")
