"""The README's measured results, copied from the committed notebooks' stored outputs.

    python -m benchmarks.readme            rewrite the generated blocks in README.md
    python -m benchmarks.readme --check    exit 1 if README.md does not match the notebooks

`make execute` runs it after re-running the notebooks; `make readme-results` runs it alone.
Each block sits between two marker lines naming it (`family`, `training`, `degradation`);
everything in a block comes from the outputs of named cells (by cell id), so the README cannot
drift from what the notebooks printed. `tests/test_readme.py` runs the check.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

# (notebook, cell id): the cells whose printed output the README quotes
FAMILY_TABLE = ("03_resnet50.ipynb", "c15")
LAYER_COUNT = ("03_resnet50.ipynb", "c19b")
LESSON_LINE = ("04_training.ipynb", "c23d")
LADDER_TABLE = ("04_training.ipynb", "c24c")
FINAL_RUN = ("04_training.ipynb", "c24")
TEST_LINE = ("05_evaluation.ipynb", "c17")
CONFIG = ("04_training.ipynb", "c03")
DEGRADATION_TABLE = ("06_why_residuals_work.ipynb", "c21")
DEGRADATION_GAPS = ("06_why_residuals_work.ipynb", "c23")
DEGRADATION_CONFIG = ("06_why_residuals_work.ipynb", "c09")


def begin(name: str) -> str:
    return (f"<!-- BEGIN generated: {name}, by `python -m benchmarks.readme` from the notebooks' "
            "outputs -->")


def end(name: str) -> str:
    return f"<!-- END generated: {name} -->"


def cell(notebook: str, cell_id: str, root: Path = REPO) -> dict:
    nb = json.loads((root / "notebooks" / notebook).read_text(encoding="utf-8"))
    for c in nb["cells"]:
        if c.get("id") == cell_id:
            return c
    raise KeyError(f"no cell with id {cell_id!r} in notebooks/{notebook}")


def printed(notebook: str, cell_id: str, root: Path = REPO) -> str:
    """Everything a code cell printed to stdout, as stored in the notebook."""
    c = cell(notebook, cell_id, root)
    text = "".join("".join(o["text"]) for o in c.get("outputs", [])
                   if o.get("output_type") == "stream" and o.get("name") == "stdout")
    if not text.strip():
        raise ValueError(f"cell {cell_id} of notebooks/{notebook} has no printed output: "
                         "run `make execute` first")
    return text.strip("\n")


def config_line(notebook: str, cell_id: str, name: str, root: Path = REPO) -> str:
    """The line of a configuration cell that sets `name`, without its comment."""
    lines = [line for line in "".join(cell(notebook, cell_id, root)["source"]).splitlines()
             if line.startswith(f"{name} ")]
    if not lines:
        raise ValueError(f"cell {cell_id} of notebooks/{notebook} no longer sets {name}")
    return lines[0].split("#")[0].strip()


def indented(text: str) -> list[str]:
    """A printed table as a Markdown code block (four spaces), blank lines dropped."""
    return [f"    {line}" for line in text.splitlines() if line.strip()]


def family(root: Path = REPO) -> list[str]:
    return [
        "Parameters and multiply-adds at 224×224 (chapter 3, torchinfo, exact):",
        "",
        *indented(printed(*FAMILY_TABLE, root)),
        "",
        "What the number in each name counts (chapter 3):",
        "",
        *indented(printed(*LAYER_COUNT, root)),
    ]


def training(root: Path = REPO) -> list[str]:
    ladder = [line for line in printed(*LADDER_TABLE, root).splitlines() if line.startswith("|")]
    final = printed(*FINAL_RUN, root).splitlines() + printed(*TEST_LINE, root).splitlines()
    return [
        f"The lesson's recipe after one rung of the ladder, diagnosed (chapter 4): "
        f"`{printed(*LESSON_LINE, root).strip()}`",
        "",
        f"The ladder (chapter 4; each rung a fresh ResNet-50, seed 0, "
        f"`{config_line(*CONFIG, 'LADDER_EPOCHS', root)}`):",
        "",
        *ladder,
        "",
        "The final run with the course's recipe (chapter 4) and its test accuracy (chapter 5):",
        "",
        *indented("\n".join(final)),
    ]


def degradation(root: Path = REPO) -> list[str]:
    return [
        f"Chapter 6, `{config_line(*DEGRADATION_CONFIG, 'SEEDS', root)}`, "
        f"`{config_line(*DEGRADATION_CONFIG, 'STEPS', root)}`: each cell is the mean over the "
        "seeds [lowest, highest]:",
        "",
        *indented(printed(*DEGRADATION_TABLE, root)),
        "",
        *indented(printed(*DEGRADATION_GAPS, root)),
    ]


BLOCKS: dict[str, Callable[[Path], list[str]]] = {
    "family": family, "training": training, "degradation": degradation}


def block(name: str, root: Path = REPO) -> str:
    """The generated Markdown of one block, marker lines included, from the notebooks under
    `root`."""
    return "\n".join([begin(name), *BLOCKS[name](root), end(name)])


def update(readme: str, name: str, generated: str) -> str:
    """`readme` with the block called `name` replaced by `generated`."""
    if readme.count(begin(name)) != 1 or readme.count(end(name)) != 1:
        raise ValueError(f"README.md must hold the BEGIN and END marker lines of block {name!r} "
                         "exactly once")
    head, rest = readme.split(begin(name))
    _, tail = rest.split(end(name))
    return head + generated + tail


def update_all(readme: str, root: Path = REPO) -> str:
    for name in BLOCKS:
        readme = update(readme, name, block(name, root))
    return readme


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on a difference")
    args = parser.parse_args(argv)
    path = REPO / "README.md"
    readme = path.read_text(encoding="utf-8")
    new = update_all(readme)
    if args.check:
        if new != readme:
            print("README.md's results differ from the notebooks' outputs: run "
                  "`python -m benchmarks.readme`", file=sys.stderr)
            return 1
        print("README.md's results match the notebooks' outputs")
        return 0
    path.write_text(new, encoding="utf-8")
    print("README.md updated from the notebooks' outputs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
