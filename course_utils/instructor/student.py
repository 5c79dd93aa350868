"""Write the student edition: solutions replaced by stubs, outputs cleared.

    python -m course_utils.instructor.student notebooks build/student   (what `make student` runs)

Solutions sit between nbgrader's markers, `### BEGIN SOLUTION` and `### END SOLUTION`, so
nbgrader can use the same notebooks. Inside a function or class body the stub raises
NotImplementedError (the check then says "not attempted yet"); at the top level of a cell it is
a comment, and the answer keeps the `None` it was given before the markers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
CODE_STUB = "# YOUR CODE HERE"
RAISE_STUB = 'raise NotImplementedError("your code here")'
MARKDOWN_STUB = "YOUR ANSWER HERE"
# Instructor-only markers that would make no sense without the stored outputs.
_NBVAL = re.compile(r"^\s*# NBVAL_\w+\s*$")


def strip_solutions(source: str, markdown: bool = False) -> str:
    """Replace every BEGIN/END SOLUTION region of one cell's source by a stub."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        stripped = line.strip()
        if stripped == BEGIN:
            if inside:
                raise ValueError(f"nested {BEGIN!r} in cell:\n{source}")
            inside = True
            indent = line[: len(line) - len(line.lstrip())]
            if markdown:
                out.append(MARKDOWN_STUB)
            else:
                out.append(indent + (RAISE_STUB if indent else CODE_STUB))
        elif stripped == END:
            if not inside:
                raise ValueError(f"{END!r} without {BEGIN!r} in cell:\n{source}")
            inside = False
        elif not inside and not _NBVAL.match(line):
            out.append(line)
    if inside:
        raise ValueError(f"{BEGIN!r} without {END!r} in cell:\n{source}")
    return "\n".join(out)


def student_notebook(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """A copy of `nb` with solutions stubbed and every output and execution count cleared."""
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type in ("code", "markdown"):
            cell.source = strip_solutions(cell.source, markdown=cell.cell_type == "markdown")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            cell.metadata.pop("execution", None)
    return nb


def write_student_edition(source_dir: Path, target_dir: Path) -> list[Path]:
    """Convert every numbered notebook of `source_dir` into `target_dir`; return the new paths."""
    notebooks = sorted(Path(source_dir).glob("[0-9]*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no numbered notebooks (01_*.ipynb, ...) in {str(source_dir)!r}")
    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        nb = student_notebook(nbformat.read(path, as_version=4))
        out = target_dir / path.name
        tmp = out.with_suffix(".ipynb.tmp")
        nbformat.write(nb, tmp)
        tmp.replace(out)  # never leave a half-written notebook for a student to open
        written.append(out)
    return written


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m course_utils.instructor.student NOTEBOOK_DIR OUTPUT_DIR")
    for path in write_student_edition(Path(args[0]), Path(args[1])):
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
