"""The message catalogues: which messages the code marks for translation, and keeping each
language's catalogue in step with them.

    python -m course_utils.instructor.messages           add new messages to every catalogue,
                                                         retire the ones the code no longer has
    python -m course_utils.instructor.messages --check   exit 1 if a catalogue is out of step

A message is marked where the package says it: `_("...")`, `N_("...")` (a constant translated
later) or `ngettext("one ...", "many ...", n)`, with string literals only (never an f-string:
fields are named, `{path!r}`, and filled after translation). The catalogue is
`course_utils/locale/<lang>/LC_MESSAGES/course_utils.po`; `course_utils.i18n` reads it.
tests/test_i18n.py runs `problems()`: a marked message without an entry, an entry the code no
longer has, a translation whose fields differ from its message's, and a fuzzy (unchecked) one.
"""

from __future__ import annotations

import argparse
import ast
import string
import sys
from dataclasses import dataclass, field
from pathlib import Path

import polib

from ..i18n import LOCALE_DIR, catalogue_path

PACKAGE = Path(__file__).resolve().parent.parent
MARKERS = {"_": 1, "N_": 1, "ngettext": 2}  # function name -> how many string arguments it marks
HEADER = {
    "Project-Id-Version": "course-utils",
    "Language": "zh_CN",
    "MIME-Version": "1.0",
    "Content-Type": "text/plain; charset=UTF-8",
    "Content-Transfer-Encoding": "8bit",
    "Plural-Forms": "nplurals=1; plural=0;",
}


@dataclass
class Message:
    msgid: str
    plural: str | None = None
    where: list[tuple[str, int]] = field(default_factory=list)  # (file, line)


def marked(root: Path = PACKAGE) -> tuple[dict[str, Message], list[str]]:
    """Every message the package marks, in the order met (file by file), and the calls that
    cannot be extracted (a marker called with an f-string or a variable that is not a
    constant's name)."""
    found: dict[str, Message] = {}
    bad: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root.parent).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=rel)
        calls = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Call)),
                       key=lambda n: (n.lineno, n.col_offset))
        for node in calls:
            if not (isinstance(node.func, ast.Name) and node.func.id in MARKERS
                    and path.name != "i18n.py"):
                continue
            count = MARKERS[node.func.id]
            args = node.args[:count]
            if all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in args) \
                    and len(args) == count:
                msgid = args[0].value
                message = found.setdefault(msgid, Message(msgid, args[1].value if count == 2
                                                          else None))
                message.where.append((rel, node.lineno))
            elif node.func.id == "_" and len(args) == 1 and isinstance(
                    args[0], ast.Name | ast.Attribute | ast.Call | ast.Subscript):
                # _(CONSTANT), _(tip), _(_VERDICTS[x]), _(self.question): marked with N_ where made
                continue
            else:
                bad.append(f"{rel}:{node.lineno}: {node.func.id}() needs string literals "
                           "(a message with named fields, formatted after translation)")
        bad += _hidden(tree, rel)
    return found, bad


def _hidden(tree: ast.AST, rel: str) -> list[str]:
    """Functions that both call `_()` and bind `_` (`for path, _ in ...`): there `_` is the
    loop's value, not the translation function, and the message raises TypeError."""
    bad = []
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        names = [n for n in ast.walk(function) if isinstance(n, ast.Name) and n.id == "_"]
        if any(isinstance(n.ctx, ast.Store) for n in names) and any(
                isinstance(n.ctx, ast.Load) for n in names):
            bad.append(f"{rel}:{function.lineno}: binds `_`, which hides the translation "
                       "function `_()` in the same function: name the value (`_label`)")
    return bad


def fields(template: str) -> set[str]:
    """The named fields of a message, `{path!r}` -> "path"; "" for a positional `{}`."""
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as error:
        return {f"<unparsable: {error}>"}


def load(lang: str, locale_dir: Path = LOCALE_DIR) -> polib.POFile:
    path = catalogue_path(lang, locale_dir)
    if path.is_file():
        return polib.pofile(str(path), wrapwidth=100)
    po = polib.POFile(wrapwidth=100)
    po.metadata = dict(HEADER, Language=lang)
    return po


def update(po: polib.POFile, messages: dict[str, Message]) -> polib.POFile:
    """The catalogue with an (untranslated) entry for every new message, the code's places as
    references, and entries the code no longer has dropped (kept as obsolete `#~` when
    translated, so a message that comes back finds its translation)."""
    old = {e.msgid: e for e in po}
    entries = []
    for msgid, message in messages.items():
        entry = old.pop(msgid, None)
        if entry is None:
            entry = polib.POEntry(msgid=msgid)
            if message.plural is not None:
                entry.msgid_plural, entry.msgstr_plural = message.plural, {0: ""}
        entry.obsolete = False
        if message.plural is not None:
            entry.msgid_plural = message.plural
        # the files only: line numbers would change the catalogue with every edit of the code
        entry.occurrences = [(f, "") for f in dict.fromkeys(f for f, _ in message.where)]
        entries.append(entry)
    for entry in old.values():
        if translated(entry):
            entry.obsolete, entry.occurrences = True, []
            entries.append(entry)
    po[:] = entries
    return po


def translated(entry: polib.POEntry) -> bool:
    return bool(entry.msgstr or any(entry.msgstr_plural.values()))


def problems(po: polib.POFile, messages: dict[str, Message]) -> list[str]:
    """What is wrong between a catalogue and the code, one line each, naming the msgid."""
    found = []
    entries = {e.msgid: e for e in po if not e.obsolete}
    for msgid in messages:
        if msgid not in entries:
            where = "{}:{}".format(*messages[msgid].where[0])
            found.append(f"no catalogue entry for {msgid!r} ({where}): run "
                         "`python -m course_utils.instructor.messages`")
    for msgid, entry in entries.items():
        if msgid not in messages:
            found.append(f"the catalogue has {msgid!r}, which the code no longer marks")
        if "fuzzy" in entry.flags:
            found.append(f"{msgid!r}: the translation is marked fuzzy (not checked since the "
                         "English changed): check it, then remove the flag")
        texts = [entry.msgstr] if not entry.msgid_plural else list(entry.msgstr_plural.values())
        for text in filter(None, texts):
            if fields(text) != fields(msgid):
                found.append(f"{msgid!r}: the translation's fields {sorted(fields(text))} differ "
                             f"from the message's {sorted(fields(msgid))}")
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 on a problem")
    args = parser.parse_args(argv)
    messages, bad = marked()
    if bad:
        print("\n".join(bad), file=sys.stderr)
        return 1
    failed = False
    for path in sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po")):
        lang = path.parent.parent.name
        po = load(lang)
        if args.check:
            found = problems(po, messages)
            print("\n".join(found) or f"{path}: in step with the code ({len(messages)} messages)")
            failed |= bool(found)
            continue
        update(po, messages).save(str(path))
        todo = sum(not translated(e) for e in po if not e.obsolete)
        print(f"{path}: {len(messages)} messages, {todo} untranslated")
    return int(failed)


if __name__ == "__main__":
    sys.exit(main())
