"""Claims that cannot rot: what the README, docs/ and the notebooks' prose cite must exist.

- every `course_utils` file path and dotted module or function name they cite can be found (and
  not only through a deprecated alias);
- every relative link resolves to a file, and to a heading where it names one;
- each notebook's `##` sections are numbered 1, 2, 3... in order;
- the README stays a page a newcomer finishes: at most 1,500 words outside fenced code blocks.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import json
import re
import sys
import types
import warnings
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README_WORDS = 1500
# Unnumbered `##` sections a chapter may close with, after its last numbered one.
CLOSING = ("Going deeper", "Exercises", "Questionnaire", "Summary", "Next", "What next",
           "Further reading", "References")
# Notebooks known to break the numbering today (none since issue 26 fixed chapters 6 and 7).
# Each is an expected failure (strict: once the notebook is fixed the test passes, xfail turns
# that into a failure, and the entry must go).
KNOWN_BAD_NUMBERING: dict[str, str] = {}


# --- the texts -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Text:
    """Markdown from a page or one notebook cell; `where` names it in failure messages."""
    where: str
    path: Path  # the file it is in: relative links start from its folder
    text: str

    def line(self, offset: int) -> str:
        return f"{self.where} line {self.text.count(chr(10), 0, offset) + 1}"


def pages(root: Path = REPO) -> list[Path]:
    found = [root / name for name in ("README.md", "README.zh.md") if (root / name).is_file()]
    return found + sorted((root / "docs").glob("*.md"))


def notebooks(root: Path = REPO) -> list[Path]:
    return sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def markdown_cells(path: Path) -> list[tuple[str, str]]:
    """(cell id, source) of every markdown cell of a notebook."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [(c.get("id", f"#{i}"), "".join(c["source"])) for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "markdown"]


def texts(root: Path = REPO) -> list[Text]:
    found = [Text(str(p.relative_to(root)), p, p.read_text(encoding="utf-8")) for p in pages(root)]
    for nb in notebooks(root):
        found += [Text(f"{nb.relative_to(root)} cell {cell_id}", nb, source)
                  for cell_id, source in markdown_cells(nb)]
    return found


FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.M | re.S)
CODE_SPAN = re.compile(r"(`+)[^`\n]+?\1")


def without_code(text: str, spans: bool = True) -> str:
    """`text` with fenced blocks (and inline code spans) blanked out, lines and offsets kept."""
    blank = lambda m: re.sub(r"[^\n]", " ", m.group(0))  # noqa: E731
    text = FENCE.sub(blank, text)
    return CODE_SPAN.sub(blank, text) if spans else text


# --- (a) every course_utils name cited exists ----------------------------------------------------

PATH = re.compile(r"\bcourse_utils/[\w./-]*")
DOTTED = re.compile(r"\bcourse_utils(?:\.\w+)+")
FROM_IMPORT = re.compile(r"\bfrom\s+(course_utils(?:\.\w+)*)\s+import\s+(\([^)]*\)|[\w ,]+)")


def cited_names(text: str) -> list[tuple[int, str]]:
    """(offset, dotted name) of every course_utils module or name cited, imports included."""
    found = [(m.start(), m.group(0)) for m in DOTTED.finditer(text)]
    for m in FROM_IMPORT.finditer(text):
        for name in re.findall(r"(\w+)(?:\s+as\s+\w+)?", m.group(2)):
            found.append((m.start(), f"{m.group(1)}.{name}"))
    return found


def cited_paths(text: str) -> list[tuple[int, str]]:
    return [(m.start(), m.group(0).rstrip(".,;:")) for m in PATH.finditer(text)]


def _has_file(module: types.ModuleType) -> bool:
    return getattr(module, "__file__", None) is not None


def _walk(parts: list[str], aliases: list[str]) -> str | None:
    """Follow `parts` from the top package; the reason it cannot be found, or None. Each step
    that goes through a deprecated alias is added to `aliases`."""
    obj: object = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], start=1):
        here, name = ".".join(parts[:i]), ".".join(parts[:i + 1])
        if not isinstance(obj, types.ModuleType):
            if not hasattr(obj, part):
                return f"{here} has no attribute {part!r}"
            obj = getattr(obj, part)
            continue
        if not _has_file(obj):
            aliases.append(_alias(obj))
        if part in vars(obj):
            obj = vars(obj)[part]
            continue
        try:
            obj = importlib.import_module(name)
            continue
        except ModuleNotFoundError as error:
            if error.name != name:
                raise
        if not hasattr(obj, part):
            return f"{here} has no attribute or submodule {part!r}"
        if _has_file(obj):  # an alias module's __getattr__ is reported once, above
            aliases.append(f"{name} is found only through {here}.__getattr__, an alias")
        obj = getattr(obj, part)
    if isinstance(obj, types.ModuleType) and not _has_file(obj):
        aliases.append(_alias(obj))
    return None


def _alias(module: types.ModuleType) -> str:
    doc = (module.__doc__ or "").strip().split("\n")[0]
    return f"{module.__name__} is an alias module with no file of its own" + (
        f" ({doc})" if doc else "")


@cache
def stale(dotted: str) -> str | None:
    """Why `dotted` (course_utils.x.y) cannot be cited as it is, or None when it can: it must
    import or be an attribute, found without a deprecated alias (a module with no file, a
    module's `__getattr__`, a DeprecationWarning). The warning, which says where the name
    went, ends the message."""
    aliases: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            missing = _walk(dotted.split("."), aliases)
        except Exception as error:  # noqa: BLE001 - an import that fails is the finding
            missing = f"{type(error).__name__}: {error}"
    if missing:
        return missing
    moved = [f"DeprecationWarning: {w.message}" for w in caught
             if issubclass(w.category, DeprecationWarning) and "course_utils" in str(w.message)]
    return "; ".join(aliases + moved[:1]) or None


def name_problems(root: Path = REPO) -> list[str]:
    """Every stale name or path, as 'where line N: name: why', in the order of the texts."""
    problems = []
    for t in texts(root):
        found = []
        for offset, name in cited_names(t.text):
            if reason := stale(name):
                found.append((offset, f"{t.line(offset)}: {name}: {reason}"))
        for offset, path in cited_paths(t.text):
            target = root / path
            if not (target.is_dir() if path.endswith("/") else target.exists()):
                found.append((offset, f"{t.line(offset)}: {path}: no such "
                                      f"{'folder' if path.endswith('/') else 'file'}"))
        problems += [message for _, message in sorted(found)]
    return problems


def test_every_cited_course_utils_name_and_path_exists():
    problems = name_problems()
    assert not problems, (f"{len(problems)} stale course_utils name(s) or path(s) in the README, "
                          "docs/ or the notebooks' markdown:\n" + "\n".join(problems))


class _WarnsOnImport(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes `course_utils.old_home`, a module with a file that warns it moved when imported."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "course_utils.old_home":
            return importlib.machinery.ModuleSpec(fullname, self, origin=__file__)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        module.__file__ = __file__
        module.thing = 1
        warnings.warn("course_utils.old_home moved to course_utils.new_home", DeprecationWarning,
                      stacklevel=2)


def test_the_name_check_finds_missing_moved_and_aliased_names(monkeypatch):
    stale.cache_clear()
    assert stale("course_utils.data.loaders.course_data") is None
    assert stale("course_utils.training") is None
    assert "has no attribute or submodule 'no_such_thing'" in stale("course_utils.no_such_thing")
    assert "has no attribute 'nope'" in stale("course_utils.data.loaders.course_data.nope")
    # the real old paths of the flat layout: a package's `__getattr__`, an alias module
    assert stale("course_utils.data.course_data").startswith(
        "course_utils.data.course_data is found only through course_utils.data.__getattr__")
    assert "course_utils.fastpath is an alias module" in stale("course_utils.fastpath.tolerance")
    # a module `__getattr__` (PEP 562) that still answers for a name that moved away
    shapes = importlib.import_module("course_utils.data.shapes")

    def moved(name):
        if name == "old_name":
            warnings.warn("course_utils.data.shapes.old_name moved", DeprecationWarning,
                          stacklevel=2)
            return 1
        raise AttributeError(name)

    monkeypatch.setattr(shapes, "__getattr__", moved, raising=False)
    assert stale("course_utils.data.shapes.old_name") == (
        "course_utils.data.shapes.old_name is found only through "
        "course_utils.data.shapes.__getattr__, an alias; DeprecationWarning: "
        "course_utils.data.shapes.old_name moved")
    # an alias module made on import, with no file of its own
    alias = types.ModuleType("course_utils.old_module", "Moved: now in course_utils.new_module.\n")
    alias.thing = 1
    monkeypatch.setitem(sys.modules, "course_utils.old_module", alias)
    assert stale("course_utils.old_module") == stale("course_utils.old_module.thing") == (
        "course_utils.old_module is an alias module with no file of its own (Moved: now in "
        "course_utils.new_module.)")
    # a module that imports, but warns that it moved
    monkeypatch.setattr(sys, "meta_path", [_WarnsOnImport(), *sys.meta_path])
    try:
        assert stale("course_utils.old_home.thing") == (
            "DeprecationWarning: course_utils.old_home moved to course_utils.new_home")
    finally:
        sys.modules.pop("course_utils.old_home", None)
        vars(importlib.import_module("course_utils")).pop("old_home", None)
        stale.cache_clear()


def test_cited_names_are_found_in_prose_code_and_imports(tmp_path: Path):
    text = ("Use `course_utils.data.course_data`, as in\n```python\nfrom course_utils.training "
            "import fit, evaluate as ev\nfrom course_utils.models import (\n    resnet50,\n)\n"
            "```\nand `python -m course_utils.train`. Not `from course_utils.<module> import ...`"
            " nor course_utils/; course_utils/data.py.")
    names = [name for _, name in cited_names(text)]
    assert names == ["course_utils.data.course_data", "course_utils.training",
                     "course_utils.models", "course_utils.train", "course_utils.training.fit",
                     "course_utils.training.evaluate", "course_utils.models.resnet50"]
    assert [p for _, p in cited_paths(text)] == ["course_utils/", "course_utils/data.py"]
    (tmp_path / "README.md").write_text("See `course_utils/nope.py` and\n"
                                        "`course_utils.data.nope`.\n")
    (tmp_path / "notebooks").mkdir()
    assert name_problems(tmp_path) == [
        "README.md line 1: course_utils/nope.py: no such file",
        "README.md line 2: course_utils.data.nope: course_utils.data has no attribute or "
        "submodule 'nope'"]


# --- (b) every relative link resolves ------------------------------------------------------------

LINK = re.compile(r"!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.M)
HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
HTML_ANCHOR = re.compile(r"<a\s+(?:id|name)=\"([^\"]+)\"")


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text, lower-case, punctuation dropped, spaces
    as hyphens (`## 1 vs 2 processes` -> `1-vs-2-processes`)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link counts as its text
    text = re.sub(r"<[^>]+>", "", text).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every anchor a Markdown file offers: its headings' slugs (-1, -2 for repeats) and
    explicit `<a id=...>`."""
    text = path.read_text(encoding="utf-8")
    found: set[str] = set(HTML_ANCHOR.findall(text))
    seen: dict[str, int] = {}
    for m in HEADING.finditer(without_code(text, spans=False)):
        base = slug(m.group(2))
        found.add(f"{base}-{seen[base]}" if base in seen else base)
        seen[base] = seen.get(base, 0) + 1
    return found


def link_problems(root: Path = REPO) -> list[str]:
    problems = []
    for t in texts(root):
        text = without_code(t.text)
        links = [(m.start(), m.group(1)) for m in LINK.finditer(text)]
        links += [(m.start(), m.group(1)) for m in REFERENCE.finditer(text)]
        for offset, link in links:
            if re.match(r"[A-Za-z][\w+.-]*:", link):  # https:, mailto: ...: not ours to check
                continue
            path, _, anchor = link.partition("#")
            target = (t.path.parent / path).resolve() if path else t.path
            if not target.exists():
                problems.append(f"{t.line(offset)}: {link}: no such file or folder")
            elif anchor and target.suffix != ".md":
                problems.append(f"{t.line(offset)}: {link}: an anchor into a file that is not "
                                "Markdown cannot be checked; link to the file")
            elif anchor and anchor not in anchors(target):
                problems.append(f"{t.line(offset)}: {link}: {target.name} has no heading with "
                                f"the anchor #{anchor}")
    return problems


def test_every_relative_link_resolves():
    problems = link_problems()
    assert not problems, "links that lead nowhere:\n" + "\n".join(problems)


def test_the_link_check_finds_missing_files_and_anchors(tmp_path: Path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "notebooks").mkdir()
    (tmp_path / "docs" / "a.md").write_text(
        "# A\n\n## 1 vs 2 processes: one `make grade`\n\n## Repeat\n\n## Repeat\n\n"
        "```bash\n# not a heading\n```\n")
    (tmp_path / "README.md").write_text(
        "[ok](docs/a.md) [ok](docs/a.md#1-vs-2-processes-one-make-grade) [ok](docs/a.md#repeat-1)"
        "\n[web](https://example.org/x) [self](#readme) `[code](nope.md)`\n"
        "[gone](docs/b.md)\n[bad anchor](docs/a.md#not-a-heading)\n[ref]: docs/c.md\n"
        "```\n[in a block](nowhere.md)\n```\n# README\n")
    assert link_problems(tmp_path) == [
        "README.md line 3: docs/b.md: no such file or folder",
        "README.md line 4: docs/a.md#not-a-heading: a.md has no heading with the anchor "
        "#not-a-heading",
        "README.md line 5: docs/c.md: no such file or folder"]


# --- (c) each notebook's sections are numbered in order ------------------------------------------

def section_problems(path: Path) -> list[str]:
    problems, expected, closing = [], 1, None
    for cell_id, source in markdown_cells(path):
        for m in re.finditer(r"^## (.+)$", without_code(source, spans=False), re.M):
            heading = m.group(1).strip()
            number = re.match(r"(\d+)\.\s", heading)
            if number:
                if closing:
                    problems.append(f"cell {cell_id}: '## {heading}' comes after the closing "
                                    f"section '## {closing}'")
                if int(number.group(1)) != expected:
                    problems.append(f"cell {cell_id}: '## {heading}' should be section {expected}")
                expected = int(number.group(1)) + 1
            elif heading.startswith(CLOSING):
                closing = closing or heading
            else:
                problems.append(f"cell {cell_id}: '## {heading}' is neither numbered ('## "
                                f"{expected}. ...') nor a closing section ({', '.join(CLOSING)})")
    if expected == 1:
        problems.append("no numbered '## 1. ...' section")
    return problems


@pytest.mark.parametrize("name", [
    pytest.param(p.name, marks=pytest.mark.xfail(strict=True, raises=AssertionError,
                                                 reason=KNOWN_BAD_NUMBERING[p.name]))
    if p.name in KNOWN_BAD_NUMBERING else p.name
    for p in notebooks()])
def test_notebook_sections_are_numbered_in_order(name: str):
    problems = section_problems(REPO / "notebooks" / name)
    assert not problems, f"notebooks/{name}:\n" + "\n".join(problems)


def test_known_bad_numbering_names_existing_notebooks():
    assert set(KNOWN_BAD_NUMBERING) <= {p.name for p in notebooks()}


def test_the_numbering_check(tmp_path: Path):
    def problems(*headings: str) -> list[str]:
        cells = [{"cell_type": "markdown", "id": f"c{i}", "source": h}
                 for i, h in enumerate(headings)]
        (tmp_path / "nb.ipynb").write_text(json.dumps({"cells": cells}))
        return section_problems(tmp_path / "nb.ipynb")

    assert problems("# Chapter", "## 1. A\ntext", "## 2. B\n```bash\n## 4. not a heading\n```",
                    "## Going deeper: C", "## Exercises", "## Summary") == []
    assert problems("## 1. A", "## 2. B", "## 4. D", "## 5. E") == [
        "cell c2: '## 4. D' should be section 3"]
    assert problems("## A", "## Summary") == [
        "cell c0: '## A' is neither numbered ('## 1. ...') nor a closing section "
        f"({', '.join(CLOSING)})", "no numbered '## 1. ...' section"]
    assert problems("## 1. A", "## Exercises", "## 2. B") == [
        "cell c2: '## 2. B' comes after the closing section '## Exercises'"]


# --- (d) the README stays short ------------------------------------------------------------------

def words_outside_code(text: str) -> int:
    """Counted as the project's stop hook counts: fenced blocks removed, split on whitespace."""
    return len(re.sub(r"```.*?```", " ", text, flags=re.S).split())


def test_readme_is_at_most_1500_words_outside_code_blocks():
    words = words_outside_code((REPO / "README.md").read_text(encoding="utf-8"))
    assert words <= README_WORDS, (
        f"README.md has {words} words outside fenced code blocks; the front page stays at "
        f"{README_WORDS} or fewer: move details to docs/")


def test_the_word_count():
    assert words_outside_code("one two\n```bash\nnot these\n```\nthree\n    four five") == 5
