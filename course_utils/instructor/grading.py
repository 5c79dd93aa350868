"""Grade a class with nbgrader: the course's notebooks become an nbgrader course directory.

    python -m course_utils.instructor.grading release 05 --course build/grading
    python -m course_utils.instructor.grading grade SUBMISSIONS --course build/grading
                                                                         (what `make grade` runs)

The notebooks stay the single source: their exercise cells already carry nbgrader metadata
(`grade_id` chN-qM, `solution`) and solution markers. This module copies each notebook into
`COURSE/source/<stem>/<stem>.ipynb` with an autograder test cell inserted after every exercise
cell, found by that metadata, so exercises added later are graded without changes here. A
questionnaire's answers sit in one solution cell (`grade_id` quizN) and its checks in the next
code cell, one `quizN.qM.check(...)` line per question: each line gets its own test cell, after
the checks' cell, graded as `quizN-qM`. The committed notebooks and `make student` stay free of
test cells.

A test cell is worth `points` and holds two tests:
- visible: the course's own check must call the answer correct (`assert ch5.q1.check(...)`);
- hidden (between nbgrader's hidden-test markers, removed from the released notebook): the
  same check from a freshly imported copy of the checks, after reseeding every global random
  generator with another seed. A notebook that replaced the check (`ch5.q1.check = ...`) or an
  answer that is right only for one random draw then scores 0.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat

from ..files import repository
from .student import _NBVAL

REPO = repository()
COURSE_ID = "resnet-from-scratch"
HIDDEN_SEED = 2024  # any seed but the notebooks' own 0
_CHECK_LINE = re.compile(r"^(\w+)\.(\w+)\.check\((.*)\)\s*$")
_IMPORT = re.compile(r"^from\s+(course_utils\.exercises[\w.]*)\s+import\s+\(?([\w\s,]+)\)?\s*$")

CONFIG = """\
# Written by course_utils.instructor.grading; rewritten on every `release`/`grade`.
c = get_config()  # noqa: F821
c.CourseDirectory.course_id = {course_id!r}


def _timeout(cell):
    # The learner's cells (exercises, autograder tests) get less time than the lesson's cells.
    return {exercise_timeout} if "nbgrader" in cell.metadata else {timeout}


# A cell that runs longer is interrupted and scored like a crash (KeyboardInterrupt, then
# CellTimeoutError in its outputs).
c.Execute.timeout_func = _timeout
# nbgrader gives up on the whole submission when an interrupted kernel is not idle within this
# many seconds (nbclient's default, 4 s, is too short on a busy machine).
c.Execute.iopub_timeout = 60
# A deleted or emptied test cell is put back and run, instead of silently scoring nothing.
c.OverwriteCells.add_missing_cells = True
"""


def write_config(course: Path, timeout: int = 3600, exercise_timeout: int = 300) -> None:
    """nbgrader_config.py: seconds per lesson cell and per exercise or test cell."""
    Path(course, "nbgrader_config.py").write_text(CONFIG.format(
        course_id=COURSE_ID, timeout=timeout, exercise_timeout=exercise_timeout))


class Exercise:
    """One exercise cell of a notebook: where it is and the check call it ends with."""

    def __init__(self, index: int, grade_id: str, call: str, module: str, chapter: str) -> None:
        self.index, self.grade_id, self.call = index, grade_id, call
        self.module, self.chapter = module, chapter  # `from <module> import <chapter>`


def exercises(nb: nbformat.NotebookNode, name: str = "notebook") -> list[Exercise]:
    """Every exercise cell (nbgrader `solution` code cell with a grade_id) and its check call;
    for a questionnaire's answers cell, every check line of the code cell after it."""
    imports = {}
    for cell in nb.cells:
        if cell.cell_type == "code":
            for line in cell.source.splitlines():
                found = _IMPORT.match(line.strip())
                if found:
                    for imported in found.group(2).split(","):
                        imports[imported.strip()] = found.group(1)
    found_exercises = []
    for index, cell in enumerate(nb.cells):
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution") or "grade_id" not in meta:
            continue
        calls = [m for m in map(_CHECK_LINE.match, cell.source.splitlines()) if m]
        graded = [(index, meta["grade_id"], calls[-1])] if calls else []
        checks = next((i for i in range(index + 1, len(nb.cells))
                       if nb.cells[i].cell_type == "code"), None)
        if not calls and checks is not None and "nbgrader" not in nb.cells[checks].metadata:
            graded = [(checks, f"{m.group(1)}-{m.group(2)}", m)  # a questionnaire: one per line
                      for m in map(_CHECK_LINE.match, nb.cells[checks].source.splitlines()) if m]
        if not graded:
            raise ValueError(f"{name}: exercise cell {meta['grade_id']!r} has no "
                             "`chN.qM.check(answer)` line to grade (nor has the cell after it)")
        for where, grade_id, call in graded:
            chapter = call.group(1)
            if chapter not in imports:
                raise ValueError(f"{name}: exercise {grade_id!r} uses {chapter!r}, but no cell "
                                 f"has `from course_utils.exercises... import {chapter}`")
            found_exercises.append(Exercise(where, grade_id, call.group(0).strip(),
                                            imports[chapter], chapter))
    return found_exercises


def autograder_source(ex: Exercise) -> str:
    """The autograder cell for one exercise: a visible assertion, then the hidden test.

    Names it binds start with `_` so that it cannot clobber the learner's variables.
    """
    question = ex.call.split(".")[1]
    args = _CHECK_LINE.match(ex.call).group(3)
    return f"""\
# Autograder test for {ex.grade_id} (do not edit: this cell is restored when grading).
import contextlib as _contextlib
import io as _io

from {ex.module} import {ex.chapter}

with _contextlib.redirect_stderr(_io.StringIO()):  # nbgrader scores any stderr output as 0
    _verdict = {ex.call}
assert _verdict, f"{ex.grade_id} is {{_verdict.outcome}}: {{_verdict.message}}"
### BEGIN HIDDEN TESTS
# The verdict must hold again from freshly imported checks and other random draws.
import importlib as _importlib
import random as _random
import sys as _sys

import numpy as _numpy
import torch as _torch

for _name in [n for n in _sys.modules if n.startswith("course_utils.exercises")]:
    del _sys.modules[_name]
_fresh = getattr(_importlib.import_module("{ex.module}"), "{ex.chapter}").{question}
_random.seed({HIDDEN_SEED})
_numpy.random.seed({HIDDEN_SEED})
_torch.manual_seed({HIDDEN_SEED})
with _contextlib.redirect_stderr(_io.StringIO()):
    _again = _fresh.check({args})
assert _again, (f"{ex.grade_id} (fresh checks, seed {HIDDEN_SEED}) is "
                f"{{_again.outcome}}: {{_again.message}}")
### END HIDDEN TESTS"""


def autograder_cell(ex: Exercise, cell_id: str, points: float) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(autograder_source(ex))
    cell.id = f"{cell_id}-test"[:64]
    cell.metadata["editable"] = False
    cell.metadata["deletable"] = False
    cell.metadata["nbgrader"] = {"grade": True, "grade_id": f"{ex.grade_id}-test", "locked": True,
                                 "points": points, "schema_version": 3, "solution": False,
                                 "task": False}
    return cell


def _section(nb: nbformat.NotebookNode, found: list[Exercise]) -> list[int]:
    """Indices of the setup cell (first code cell) and of every exercise with the markdown right
    before it (its prompt, up to a `## ` heading) and, for a questionnaire, its answers cell: a
    quick assignment for notebooks whose exercises stand alone. Lesson code between exercises (a
    chapter may put some exercises inside a section, as chapter 4 does) is left out."""
    def solution_cell(i: int) -> bool:
        cell = nb.cells[i]
        return cell.cell_type == "code" and bool(cell.metadata.get("nbgrader", {}).get("solution"))

    keep = {next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")}
    for ex in found:
        start = ex.index
        keep.add(start)
        while start > 0 and (nb.cells[start - 1].cell_type == "markdown"
                             or solution_cell(start - 1)):
            start -= 1
            keep.add(start)
            if nb.cells[start].source.startswith("## "):  # e.g. the "## Exercises" heading
                break
    return sorted(keep)


def grading_notebook(nb: nbformat.NotebookNode, points: float = 1, exercises_only: bool = False,
                     name: str = "notebook") -> nbformat.NotebookNode:
    """The nbgrader source notebook: test cells after exercise cells, no outputs, no NBVAL marks."""
    found = exercises(nb, name)
    if not found:
        raise ValueError(f"{name}: no exercise cells (nbgrader metadata with solution=True)")
    keep = _section(nb, found) if exercises_only else range(len(nb.cells))
    by_index: dict[int, list[Exercise]] = {}
    for ex in found:
        by_index.setdefault(ex.index, []).append(ex)
    out = nbformat.from_dict(nb)
    out.cells = []
    for i in keep:
        cell = nbformat.from_dict(nb.cells[i])
        if cell.cell_type == "code":
            cell.source = "\n".join(ln for ln in cell.source.splitlines() if not _NBVAL.match(ln))
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        out.cells.append(cell)
        graded = by_index.get(i, [])
        for ex in graded:  # one after an exercise; one per question after a questionnaire's checks
            cell_id = cell.id if len(graded) == 1 else f"{cell.id}-{ex.grade_id.split('-')[-1]}"
            out.cells.append(autograder_cell(ex, cell_id, points))
    return out


def course_notebooks(chapters: list[str] | None = None, notebook_dir: Path = REPO / "notebooks"):
    """The numbered notebooks whose name starts with one of `chapters` ("05", "05_evaluation")."""
    paths = sorted(Path(notebook_dir).glob("[0-9]*.ipynb"))
    if chapters:
        chosen = [p for p in paths if any(p.stem.startswith(c) for c in chapters)]
        unknown = [c for c in chapters if not any(p.stem.startswith(c) for p in paths)]
        if unknown:
            raise FileNotFoundError(f"no notebook in {str(notebook_dir)!r} starts with {unknown}; "
                                    f"there are {[p.stem for p in paths]}")
        paths = chosen
    return [p for p in paths if exercises(nbformat.read(p, as_version=4), p.name)]


def write_course(course: Path, notebooks: list[Path], timeout: int = 3600,
                 exercise_timeout: int = 300, points: float = 1,
                 exercises_only: bool = False) -> list[str]:
    """Write nbgrader_config.py and source/<stem>/<stem>.ipynb; return the assignment names."""
    course = Path(course)
    course.mkdir(parents=True, exist_ok=True)
    write_config(course, timeout, exercise_timeout)
    names = []
    for path in notebooks:
        nb = grading_notebook(nbformat.read(path, as_version=4), points, exercises_only, path.name)
        target = course / "source" / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(target)
        names.append(path.stem)
    return names


def nbgrader(course: Path, *args: str, check: bool = True) -> tuple[int, str]:
    """Run one nbgrader command in the course directory; its kernels import this checkout.

    Returns (exit status, log); with `check`, a failure raises with the end of the log.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    # nbgrader runs `alembic` (its database migrations) from PATH: use this environment's.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    run = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env,
                         capture_output=True, text=True)
    if check and run.returncode != 0:
        raise RuntimeError(f"`nbgrader {' '.join(args)}` failed in {course} "
                           f"(exit {run.returncode}):\n{run.stderr[-6000:]}")
    return run.returncode, run.stderr  # nbgrader logs to stderr


def collect(submissions: Path, course: Path, assignments: list[str]) -> dict[str, list[str]]:
    """Copy SUBMISSIONS/<student>/<notebook>.ipynb to COURSE/submitted/<student>/<stem>/.

    Returns {assignment: [students]}. A folder that is missing, empty, or holds notebooks
    with names the course does not know is an error that names them: none is skipped silently.
    """
    submissions = Path(submissions)
    if not submissions.is_dir():
        raise FileNotFoundError(f"submissions folder {str(submissions)!r} does not exist; expected "
                                "SUBMISSIONS/<student>/<notebook>.ipynb, "
                                "e.g. alice/05_evaluation.ipynb")
    found = sorted(p for p in submissions.glob("*/*.ipynb") if not p.name.startswith("."))
    if not found:
        raise FileNotFoundError(f"no notebooks in {str(submissions)!r}: expected one folder per "
                                "student holding the notebooks, e.g. alice/05_evaluation.ipynb")
    unknown = [str(p.relative_to(submissions)) for p in found if p.stem not in assignments]
    if unknown:
        raise ValueError(f"submitted notebooks not named like a course notebook {assignments}: "
                         f"{unknown}; rename them as released")
    graded: dict[str, list[str]] = {}
    for path in found:
        student = path.parent.name
        target = Path(course) / "submitted" / student / path.stem / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
        graded.setdefault(path.stem, []).append(student)
    return graded


def exercise_scores(course: Path) -> list[dict]:
    """One row per student, assignment and exercise, read from nbgrader's gradebook."""
    from nbgrader.api import Gradebook

    rows = []
    with Gradebook(f"sqlite:///{Path(course).resolve() / 'gradebook.db'}") as gb:
        for assignment in gb.assignments:
            for submission in assignment.submissions:
                for nb in submission.notebooks:
                    for grade in nb.grades:
                        rows.append({"student": submission.student.id,
                                     "assignment": assignment.name,
                                     "exercise": grade.name.removesuffix("-test"),
                                     "score": grade.score, "max_score": grade.max_score})
    return sorted(rows, key=lambda r: (r["assignment"], r["student"], r["exercise"]))


def write_csv(rows: list[dict], path: Path) -> None:
    tmp = Path(path).with_suffix(".tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["student"])
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


def release(course: Path, chapters: list[str] | None, timeout: int = 3600,
            exercise_timeout: int = 300, exercises_only: bool = False) -> list[str]:
    """Build the course and `nbgrader generate_assignment`: COURSE/release/<a>/ goes to students."""
    names = write_course(course, course_notebooks(chapters), timeout, exercise_timeout,
                         exercises_only=exercises_only)
    for name in names:
        nbgrader(course, "generate_assignment", name, "--force")
    return names


_FAILED = re.compile(r"error processing assignment '([^']+)' for student '([^']+)'")


def grade(submissions: Path, course: Path, chapters: list[str] | None = None,
          timeout: int = 3600, exercise_timeout: int = 300) -> Path:
    """Autograde every submission and export COURSE/grades.csv (+ grades_by_exercise.csv).

    The submissions are checked first (clear errors before anything slow runs); the nbgrader
    course is (re)built from the notebooks for the assignments that were handed in. A
    submission nbgrader cannot grade does not stop the others: the grades are exported, then
    the run fails naming it, with nbgrader's log in COURSE/autograde-<assignment>.log.
    """
    course = Path(course)
    notebooks = {p.stem: p for p in course_notebooks(chapters)}
    handed_in = collect(submissions, course, sorted(notebooks))
    write_course(course, [notebooks[name] for name in sorted(handed_in)], timeout,
                 exercise_timeout)
    failed = []
    for assignment, students in sorted(handed_in.items()):
        nbgrader(course, "generate_assignment", assignment, "--force")
        print(f"autograding {assignment}: {len(students)} submissions", flush=True)
        status, log = nbgrader(course, "autograde", assignment, "--force", check=False)
        (course / f"autograde-{assignment}.log").write_text(log)
        failed += [f"{student} ({name})" for name, student in _FAILED.findall(log)]
        if status != 0 and not failed:
            raise RuntimeError(f"nbgrader autograde {assignment} failed: see "
                               f"{course / f'autograde-{assignment}.log'}\n{log[-3000:]}")
    csv_path = course / "grades.csv"
    nbgrader(course, "export", f"--to={csv_path}")
    write_csv(exercise_scores(course), course / "grades_by_exercise.csv")
    if failed:
        raise RuntimeError(f"wrote {csv_path}, but nbgrader could not grade {', '.join(failed)}: "
                           f"see the autograde-*.log files in {course}")
    return csv_path


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m course_utils.instructor.grading",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    rel = sub.add_parser("release", help="build the nbgrader course; notebooks for students "
                                         "land in COURSE/release/")
    rel.add_argument("chapters", nargs="*", help="notebook prefixes, e.g. 05 (default: all)")
    gra = sub.add_parser("grade", help="autograde SUBMISSIONS/<student>/<notebook>.ipynb")
    gra.add_argument("submissions", type=Path)
    for p in (rel, gra):
        p.add_argument("--course", type=Path, default=REPO / "build" / "grading")
        p.add_argument("--timeout", type=int, default=3600,
                       help="seconds per lesson cell (default 3600, as `make execute`)")
        p.add_argument("--exercise-timeout", type=int, default=300,
                       help="seconds per exercise or test cell (default 300)")
    args = parser.parse_args(argv)
    try:
        if args.command == "release":
            for name in release(args.course, args.chapters, args.timeout, args.exercise_timeout):
                print(f"released {args.course / 'release' / name}")
        else:
            csv_path = grade(args.submissions, args.course, timeout=args.timeout,
                             exercise_timeout=args.exercise_timeout)
            print(f"wrote {csv_path} and {csv_path.with_name('grades_by_exercise.csv')}")
    except (FileNotFoundError, ValueError, RuntimeError) as error:
        raise SystemExit(f"error: {error}") from None


if __name__ == "__main__":
    main()
