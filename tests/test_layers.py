"""The package's shape: sub-packages that follow the course, in layers, as docs/architecture.md
draws them.

Notebooks import course modules, course modules import each other and torch, and nothing points
back up: no import cycle inside course_utils (also none hidden in a function body), the imports
between its parts are exactly the arrows of the architecture page's picture, no learner-facing part
imports `instructor`, nothing imports the notebooks' neighbours (tests, benchmarks), and no module
grows past ~300 lines (400 for a chapter's exercises and the instructor's tools).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "course_utils"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"
MAX_LINES = 300
# A chapter's exercises keep each question's check, hints and solution side by side, and grading
# is one nbgrader pipeline: these may grow to 400 lines.
LONGER = {"exercises": 400, "instructor": 400}
# The parts of the package: its sub-packages, the command's short name, and the ground floor.
SUB_PACKAGES = ("data", "models", "training", "evaluation", "exercises", "instructor")
# Modules another branch is splitting at the same time; the lead removes an entry once that split
# is merged.
SPLIT_ELSEWHERE: set[str] = set()
# Modules known to be too long today. Each is an expected failure (strict: once the module is split
# the test passes, xfail turns that into a failure, and the entry must go).
KNOWN_TOO_LONG: dict[str, str] = {}


def _modules(root: Path) -> dict[str, Path]:
    """{"data": root/data.py, "exercises.ch2": root/exercises/ch2.py, ...}; a package's
    __init__.py is the package's own name."""
    found = {}
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _imported(node: ast.AST, module: str, is_package: bool, package: str,
              modules: dict[str, Path]) -> list[str]:
    """The package's modules (dotted, without the package's name) one import statement loads."""
    if isinstance(node, ast.Import):
        return [alias.name.removeprefix(package + ".") for alias in node.names
                if alias.name == package or alias.name.startswith(package + ".")]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level == 0:
        if node.module != package and not (node.module or "").startswith(package + "."):
            return []
        base = node.module.removeprefix(package).lstrip(".")
    else:
        here = module.split(".") if module else []
        if not is_package:
            here = here[:-1]  # a module's relative imports start from its package
        here = here[: len(here) - (node.level - 1)] if node.level > 1 else here
        base = ".".join(here + ([node.module] if node.module else []))
    # `from . import runtime` names a module; `from .data import course_data` a name in one.
    named = [f"{base}.{alias.name}".strip(".") for alias in node.names]
    return [name if name in modules else base for name in named]


def import_graph(root: Path = PACKAGE) -> dict[str, set[str]]:
    """Module -> the package's modules it imports anywhere in its text (function bodies too)."""
    package = root.name
    modules = _modules(root)
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            for target in _imported(node, name, path.name == "__init__.py", package, modules):
                while target and target not in modules:  # course_data -> data
                    target = target.rpartition(".")[0]
                if target != name and target in modules:
                    graph[name].add(target)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1: on the current path, 2: finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycle_inside_the_package() -> None:
    graph = import_graph()
    assert {"data.loaders", "runtime", "training.fitting", "training.checkpoints"} <= set(graph)
    assert "runtime" in graph["data.loaders"], "the graph must see loaders' import of runtime"
    assert "training.loops" in graph["training.fitting"], "and `from . import loops`"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def part(module: str) -> str:
    """The part of the package a module belongs to: a sub-package, `train`, or `ground`."""
    top = module.split(".")[0]
    return top if top in (*SUB_PACKAGES, "train") else "ground"


def part_edges(graph: dict[str, set[str]]) -> set[tuple[str, str]]:
    """(importer, imported) between different parts of the package."""
    return {(part(a), part(b)) for a, targets in graph.items() for b in targets
            if part(a) != part(b)}


def drawn_edges(markdown: str) -> set[tuple[str, str]]:
    """The arrows `a --> b` (or `a["label"] --> b`) of the page's mermaid picture."""
    block = re.search(r"```mermaid\n(.*?)```", markdown, re.DOTALL)
    assert block, "the architecture page has no mermaid picture"
    arrow = re.compile(r"^\s*(\w+)(?:\[.*?\])?\s*-->\s*(\w+)", re.MULTILINE)
    return set(arrow.findall(block.group(1)))


def test_the_architecture_picture_draws_exactly_the_imports_between_parts() -> None:
    drawn = drawn_edges(ARCHITECTURE.read_text(encoding="utf-8"))
    found = part_edges(import_graph())
    assert ("training", "data") in found and ("data", "ground") in found  # the graph sees them
    assert not found - drawn, f"imports the picture does not draw: {sorted(found - drawn)}"
    assert not drawn - found, f"arrows no import makes: {sorted(drawn - found)}"
    assert find_cycle({p: {b for a, b in drawn if a == p} for p, _ in drawn} | {"ground": set()}) \
        is None


def test_the_picture_check_sees_an_upward_import(tmp_path) -> None:
    pkg = _write(tmp_path / "course_utils", {
        "__init__.py": "", "runtime.py": "", "data/__init__.py": "",
        "data/loaders.py": "from ..runtime import x\n",
        "training/__init__.py": "", "training/fitting.py": "from ..data import loaders\n",
    })
    page = "```mermaid\nflowchart TD\n    training --> data\n    data --> ground\n```\n"
    assert part_edges(import_graph(pkg)) == drawn_edges(page)
    (pkg / "data" / "loaders.py").write_text("from ..training import fitting\n", encoding="utf-8")
    assert part_edges(import_graph(pkg)) - drawn_edges(page) == {("data", "training")}


def test_no_learner_facing_part_imports_the_instructors_tools() -> None:
    for name, targets in import_graph().items():
        if part(name) != "instructor":
            up = sorted(t for t in targets if part(t) == "instructor")
            assert not up, f"course_utils.{name} imports {up}: instructor/ stays out of the course"


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


def test_the_cycle_check_sees_cycles_hidden_in_functions_and_packages(tmp_path) -> None:
    pkg = _write(tmp_path / "pkg", {
        "__init__.py": "",
        "a.py": "from .b import f\n",
        "b.py": "def f():\n    from . import c  # a lazy import is still an edge\n",
        "c.py": "import pkg.sub.d\n",
        "sub/__init__.py": "",
        "sub/d.py": "from ..a import x\n",
    })
    graph = import_graph(pkg)
    assert graph["a"] == {"b"} and graph["b"] == {"c"} and graph["sub.d"] == {"a"}
    assert graph["c"] == {"sub.d"}
    assert find_cycle(graph) == ["a", "b", "c", "sub.d", "a"]
    (pkg / "sub" / "d.py").write_text("import torch\n", encoding="utf-8")
    assert find_cycle(import_graph(pkg)) is None


def test_the_package_does_not_import_its_callers() -> None:
    for name, path in _modules(PACKAGE).items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level
                     else [])
            up = [n for n in names if n.split(".")[0] in ("tests", "benchmarks", "notebooks")]
            assert not up, f"course_utils.{name} imports {up}: the package sits below them"


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(reason=KNOWN_TOO_LONG[name], strict=True))
    if name in KNOWN_TOO_LONG else name
    for name in sorted(set(_modules(PACKAGE)) - SPLIT_ELSEWHERE)])
def test_each_module_stays_short(name: str) -> None:
    path = _modules(PACKAGE)[name]
    lines = len(path.read_text(encoding="utf-8").splitlines())
    most = LONGER.get(part(name), MAX_LINES)
    assert lines <= most, (f"{path.relative_to(PACKAGE.parent)} has {lines} lines; split it by "
                           f"concept (at most {most})")
