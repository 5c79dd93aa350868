"""The Chinese edition, notebooks/zh/, from the English notebooks and a translation file a chapter.

    python -m course_utils.instructor.translation           `make zh`: bring each chapter's
        translation file in step with its notebook, then write notebooks/zh/NN_*.ipynb
    python -m course_utils.instructor.translation --check   exit 1, naming chapter and cell, if a
        translation is stale, missing or unused, or notebooks/zh/ is not what `make zh` writes

A chapter's translation file, notebooks/zh/translations/NN_name.po, is gettext's plain text: one
entry per paragraph of the notebook's markdown cells (`msgctxt "c14:2"`: cell c14, its second
paragraph; fenced code and the lines benchmarks.readme writes are no paragraphs), `msgid` the
English, `msgstr` the Chinese. Like msgmerge, `make zh` adds an empty entry for a new paragraph,
keeps a translation whose English is unchanged (even when it moved), and marks one whose English
changed `#, fuzzy`, with the old English as `#| msgid`, for the translator to compare and update.
An empty or fuzzy translation shows the English paragraph in the Chinese notebook.

The Chinese notebook is the English one with a first code cell that sets COURSE_LANG=zh, each
translated paragraph in Chinese, the questionnaire rendered in Chinese (`questionnaire.rendered`)
and the outputs as the Chinese kernel shows them (`rendered.py`); code is the same byte for byte.
"""

from __future__ import annotations

import argparse
import copy
import difflib
import importlib
import re
import sys
import textwrap
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import nbformat
import polib

from ..exercises import questionnaire
from ..files import atomic_write
from ..i18n import catalogue_path
from .generated import GENERATED, chinese_run_time
from .rendered import Renderer

LANG = "zh"
LANG_CELL_ID = "zh-lang"
LANG_CELL = "\n".join([
    "# 中文版：本 notebook 由 `make zh` 根据英文版 notebooks/{name}",
    "# 和翻译文件 notebooks/zh/translations/{stem}.po 生成，请不要直接修改。",
    "# 下面两行让练习反馈和错误信息显示中文（COURSE_LANG=zh）；",
    "# 其余代码单元格与英文版逐字节相同。",
    "import os",
    "",
    'os.environ["COURSE_LANG"] = "zh"',
])
QUIZ_CELL = re.compile(r"(quiz\d+)-(questions|checks)")
FENCE = re.compile(r" {0,3}(`{3,}|~{3,})")
# a link out of notebooks/ needs one more ../ from notebooks/zh/
UP = re.compile(r"\]\(\.\./(?!\.\./)")

PO_HEADER = """\
Chinese translation of notebooks/{name}, for the Chinese edition notebooks/zh/{name}.
One entry per paragraph of the notebook's markdown cells: msgctxt "cell id:paragraph".
Translate msgstr only; keep `code`, numbers and links as they are. Terms: docs/glossary.md.
`make zh` adds new paragraphs and marks a translation whose English changed as fuzzy, with the
English it was made from as `#| msgid`: update msgstr, then delete those two lines."""


@dataclass(frozen=True)
class Unit:
    """One translatable paragraph of a notebook."""
    ctxt: str  # "c14:2"
    cell: str
    english: str


def blocks(source: str) -> list[tuple[str, list[str]]]:
    """A markdown cell cut into ("text" | "code" | "gap" | "generated", lines): paragraphs, fenced
    code blocks, the blank lines between them and the lines `benchmarks.readme` writes. Joining
    every block's lines with newlines gives `source`."""
    found: list[tuple[str, list[str]]] = []
    fence = None
    for line in source.split("\n"):
        if fence:
            found[-1][1].append(line)
            if re.match(rf" {{0,3}}{re.escape(fence)}{fence[0]}*\s*$", line):
                fence = None
            continue
        opening = FENCE.match(line)
        kind = ("code" if opening else "gap" if not line.strip()
                else "generated" if GENERATED.fullmatch(line) else "text")
        if opening:
            fence = opening.group(1)
        if found and found[-1][0] == kind and kind != "code":
            found[-1][1].append(line)
        else:
            found.append((kind, [line]))
    return found


def _translatable(kind: str, lines: list[str]) -> bool:
    return kind == "text" and any(re.search(r"[A-Za-z]", line) for line in lines)


def units(nb) -> list[Unit]:
    """Every translatable paragraph of the notebook's markdown cells, in order (the
    questionnaire's questions are rendered from their module instead, in the catalogue)."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown" or QUIZ_CELL.fullmatch(cell.get("id", "")):
            continue
        paragraphs = ["\n".join(lines) for kind, lines in blocks(cell.source)
                      if _translatable(kind, lines)]
        found += [Unit(f"{cell.id}:{i}", cell.id, text) for i, text in
                  enumerate(paragraphs, start=1)]
    return found


def translated(entry: polib.POEntry) -> bool:
    return bool(entry.msgstr) and not entry.obsolete


def usable(entry: polib.POEntry | None, english: str) -> bool:
    """Does the Chinese notebook show this entry's translation for `english`?"""
    return (entry is not None and translated(entry) and "fuzzy" not in entry.flags
            and entry.msgid == english)


# --- keeping a translation file in step (msgmerge's rules) ---------------------------------------

def _index(entry: polib.POEntry) -> int:
    return int(entry.msgctxt.rpartition(":")[2])


def sync(po: polib.POFile, found: list[Unit]) -> polib.POFile:
    """`po` brought in step with the notebook's paragraphs `found` (see the module's doc)."""
    old: dict[str, list[polib.POEntry]] = defaultdict(list)
    pool: list[polib.POEntry] = []  # translated entries no paragraph kept: reused or obsolete
    for entry in po:
        if entry.obsolete:
            pool.append(entry)
        else:
            old[entry.msgctxt.rpartition(":")[0]].append(entry)
    new: dict[str, list[Unit]] = defaultdict(list)
    for unit in found:
        new[unit.cell].append(unit)
    paired: dict[str, polib.POEntry] = {}
    for cell, cell_units in new.items():
        olds = sorted(old.pop(cell, []), key=_index)
        matcher = difflib.SequenceMatcher(None, [e.msgid for e in olds],
                                          [u.english for u in cell_units], autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            pairs = min(i2 - i1, j2 - j1) if tag in ("equal", "replace") else 0
            for k in range(pairs):
                paired[cell_units[j1 + k].ctxt] = olds[i1 + k]
            pool += olds[i1 + pairs:i2]
    pool += [e for entries in old.values() for e in entries]  # cells that are gone
    spare = {e.msgid: e for e in pool if translated(e) or e.obsolete and e.msgstr}
    entries = []
    for unit in found:
        entry = paired.get(unit.ctxt)
        if entry is None or entry.msgid != unit.english and unit.english in spare:
            entry = spare.pop(unit.english, None) or polib.POEntry(msgid=unit.english)
            if entry.msgid == unit.english:  # reused as it is: a moved paragraph
                entry.obsolete = False
        if entry.msgid != unit.english:
            if entry.msgstr:  # translated from other English: keep it, marked for checking
                entry.previous_msgid = entry.previous_msgid or entry.msgid
                if "fuzzy" not in entry.flags:
                    entry.flags.append("fuzzy")
            entry.msgid = unit.english
        if not entry.msgstr:
            entry.flags, entry.previous_msgid = [], None
        entry.msgctxt, entry.previous_msgctxt = unit.ctxt, None
        entries.append(entry)
    used = {id(e) for e in entries}
    for entry in pool:  # translations of paragraphs that are gone: obsolete, until deleted
        if entry.msgstr and id(entry) not in used:
            entry.obsolete = True
            entries.append(entry)
    po[:] = entries
    return po


# --- what is wrong with a translation file -------------------------------------------------------

def _unwrap(text: str) -> list[str]:
    """A paragraph's lines with markdown's soft line breaks joined (a list item, a table row, a
    heading or a quote starts a new line)."""
    lines: list[str] = []
    for line in text.split("\n"):
        if lines and not re.match(r"\s*([-*+>#|]|\d+\.)\s", line):
            lines[-1] += " " + line.strip()
        else:
            lines.append(line.rstrip())
    return lines


def _columns(left: str, right: str, width: int = 50) -> list[str]:
    a = [line for para in _unwrap(left) for line in textwrap.wrap(para, width) or [""]]
    b = [line for para in _unwrap(right) for line in textwrap.wrap(para, width) or [""]]
    a, b = a + [""] * (len(b) - len(a)), b + [""] * (len(a) - len(b))
    return [f"    {x:<{width}} | {y}" for x, y in zip(a, b, strict=True)]


def _changes(old: str, new: str) -> str:
    a, b = old.split(), new.split()
    out = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            out.append(" ".join(a[i1:i2]) if i2 - i1 <= 6 else
                       f"{' '.join(a[i1:i1 + 3])} ... {' '.join(a[i2 - 3:i2])}")
        else:
            out += ([f"[-{' '.join(a[i1:i2])}-]"] if i2 > i1 else []) + (
                [f"{{+{' '.join(b[j1:j2])}+}}"] if j2 > j1 else [])
    return " ".join(out)


def side_by_side(where: str, why: str, old: str, new: str) -> str:
    lines = [f"{where}: {why}", *_columns("translated from (old English)", "English now"),
             *_columns("-" * 29, "-" * 11), *_columns(old, new),
             f"    changed: {_changes(old, new)}"]
    return "\n".join(lines)


def problems(po: polib.POFile, found: list[Unit], chapter: str) -> list[str]:
    """Stale, missing and unused translations of one chapter, each naming its cell; empty
    translations are not problems here (`untranslated` lists them)."""
    out = []
    entries = {e.msgctxt: e for e in po if not e.obsolete}
    for unit in found:
        where = f"{chapter}, cell {unit.cell} (paragraph {unit.ctxt.rpartition(':')[2]})"
        entry = entries.pop(unit.ctxt, None)
        if entry is None:
            out.append(side_by_side(where, "new English text without a translation entry (run "
                                           "`make zh`, then translate it)", "", unit.english))
        elif entry.msgid != unit.english and entry.msgstr:
            out.append(side_by_side(where, "the English changed after it was translated (run "
                                           "`make zh`, then update the fuzzy translation)",
                                    entry.previous_msgid or entry.msgid, unit.english))
        elif entry.msgid != unit.english:
            out.append(side_by_side(where, "the translation file still has the old English of "
                                           "this untranslated paragraph (run `make zh`)",
                                    entry.msgid, unit.english))
        elif "fuzzy" in entry.flags:
            out.append(side_by_side(where, "the English changed after it was translated: update "
                                           "the translation, then delete its `#, fuzzy` and "
                                           "`#| msgid` lines", entry.previous_msgid or "",
                                    entry.msgid))
    for ctxt, entry in entries.items():
        out.append(f"{chapter}: the entry {ctxt!r} translates a paragraph that no longer exists "
                   f"({entry.msgid[:60]!r}...): run `make zh`")
    out += [f"{chapter}: an obsolete (#~) translation of a paragraph that no longer exists "
            f"({e.msgid[:60]!r}...): reuse it where the text moved, or delete it"
            for e in po if e.obsolete and e.msgstr]
    return out


def untranslated(po: polib.POFile, found: list[Unit]) -> list[str]:
    entries = {e.msgctxt: e for e in po if not e.obsolete}
    return [u.ctxt for u in found if not translated(entries.get(u.ctxt, polib.POEntry()))]


# --- the Chinese notebook ------------------------------------------------------------------------

def translate_markdown(source: str, cell_id: str, entries: dict[str, polib.POEntry]) -> str:
    out, index = [], 0
    for kind, lines in blocks(source):
        text = "\n".join(lines)
        if _translatable(kind, lines):
            index += 1
            entry = entries.get(f"{cell_id}:{index}")
            text = UP.sub("](../../", entry.msgstr if usable(entry, text) else text)
        elif kind == "generated":
            text = "\n".join(chinese_run_time(line) for line in lines)
        out.append(text)
    return "\n".join(out)


def chinese_notebook(nb, po: polib.POFile, renderer: Renderer, name: str):
    """The Chinese edition of English notebook `nb` (not changed), translated with `po`."""
    zh = copy.deepcopy(nb)
    entries = {e.msgctxt: e for e in po if not e.obsolete}
    for cell in zh.cells:
        quiz = QUIZ_CELL.fullmatch(cell.get("id", ""))
        if quiz:
            module = importlib.import_module(f"course_utils.exercises.{quiz.group(1)}")
            count = (cell.get("execution_count") or 2) - 2  # the checks' cell is count + 2
            questions, _, checks = questionnaire.rendered(module, count, LANG)
            if quiz.group(2) == "questions":
                cell.source = questions.source
            elif checks.source != cell.source:
                raise ValueError(f"notebooks/{name} cell {cell.id} is not what "
                                 f"questionnaire.rendered writes: run the questionnaire command")
            else:
                cell.outputs = checks.outputs
        elif cell.cell_type == "markdown":
            cell.source = translate_markdown(cell.source, cell.id, entries)
        elif cell.cell_type == "code":
            cell.outputs = renderer.outputs(cell.outputs)
    first = next((i for i, c in enumerate(zh.cells) if c.cell_type == "code"), len(zh.cells))
    lang_cell = nbformat.v4.new_code_cell(LANG_CELL.format(name=name, stem=Path(name).stem),
                                          execution_count=0)  # runs before the English cell 1
    lang_cell.id = LANG_CELL_ID
    zh.cells.insert(first, lang_cell)
    return zh


# --- the chapters --------------------------------------------------------------------------------

def chapters(english: Path) -> list[Path]:
    found = sorted(Path(english).glob("[0-9][0-9]_*.ipynb"))
    if not found:
        raise FileNotFoundError(f"no chapters (01_*.ipynb, ...) in {str(english)!r}")
    return found


def po_path(notebook: Path, target: Path) -> Path:
    return target / "translations" / f"{notebook.stem}.po"


def load_po(path: Path, notebook: Path) -> polib.POFile:
    if path.is_file():
        return polib.pofile(str(path), wrapwidth=100)
    po = polib.POFile(wrapwidth=100)
    po.header = PO_HEADER.format(name=notebook.name)
    po.metadata = {"Project-Id-Version": "resnet-from-scratch", "Language": "zh_CN",
                   "MIME-Version": "1.0", "Content-Type": "text/plain; charset=UTF-8",
                   "Content-Transfer-Encoding": "8bit"}
    return po


def renderer() -> Renderer:
    return Renderer(polib.pofile(str(catalogue_path(LANG))))


def written(notebook: Path, po: polib.POFile, render: Renderer) -> str:
    """The text of the Chinese notebook, as `make zh` writes it."""
    nb = nbformat.read(notebook, as_version=4)
    return nbformat.writes(chinese_notebook(nb, po, render, notebook.name)) + "\n"


def check(english: Path, target: Path) -> list[str]:
    """Everything `--check` reports: stale, missing or unused translations, and Chinese
    notebooks that differ from what `make zh` writes now (or are missing, or extra)."""
    found, render = [], renderer()
    names = set()
    for notebook in chapters(english):
        names.add(notebook.name)
        chapter = f"notebooks/{notebook.name}"
        nb = nbformat.read(notebook, as_version=4)
        po = load_po(po_path(notebook, target), notebook)
        found += problems(po, units(nb), chapter)
        out = target / notebook.name
        if not out.is_file() or out.read_text(encoding="utf-8") != written(notebook, po, render):
            found.append(f"notebooks/zh/{notebook.name} is not what `make zh` writes now from "
                         f"{chapter} and its translation file: run `make zh`")
    extra = sorted(p.name for p in target.glob("[0-9][0-9]_*.ipynb") if p.name not in names)
    found += [f"notebooks/zh/{n} has no English chapter: delete it" for n in extra]
    return found


def write_all(english: Path, target: Path) -> list[str]:
    """`make zh`: sync every chapter's translation file, write every Chinese notebook."""
    render, report = renderer(), []
    for notebook in chapters(english):
        nb = nbformat.read(notebook, as_version=4)
        path = po_path(notebook, target)
        path.parent.mkdir(parents=True, exist_ok=True)
        found = units(nb)
        po = sync(load_po(path, notebook), found)
        po.save(str(path.with_suffix(".po.tmp")))
        path.with_suffix(".po.tmp").replace(path)
        text = written(notebook, po, render)
        atomic_write(target / notebook.name, lambda f, text=text: f.write(text.encode("utf-8")))
        todo = untranslated(po, found)
        fuzzy = sum("fuzzy" in e.flags for e in po if not e.obsolete)
        report.append(f"notebooks/zh/{notebook.name}: {len(found) - len(todo)} of {len(found)} "
                      "paragraphs translated"
                      + (f", {fuzzy} of them fuzzy (the English changed: check them)" if fuzzy
                         else ""))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("english", nargs="?", default="notebooks", type=Path)
    parser.add_argument("target", nargs="?", default=None, type=Path,
                        help="default: the zh folder inside the English one")
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on a problem")
    args = parser.parse_args(argv)
    target = args.target or args.english / LANG
    if args.check:
        found = check(args.english, target)
        print("\n\n".join(found) or "notebooks/zh/ and its translation files are in step")
        return int(bool(found))
    print("\n".join(write_all(args.english, target)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
