"""The stored outputs of a translated notebook: the English run's outputs, with every message the
package shows through its catalogue written as the translated kernel shows it.

The Chinese notebooks carry the English notebooks' outputs (nobody re-runs chapter 4 for a
translation), and most outputs (tables, numbers, figures) are the same in every language. But a
check's verdict and a learner-facing error go through `course_utils.i18n`, so under COURSE_LANG=zh
the kernel prints them in Chinese, and nbval compares a checked cell's output with the stored one.
`Renderer` turns such a stored English message into the translated one: it matches the English
text against the catalogue's messages (a field, `{path!r}`, matches any text) and writes the
translation with the same field values, translating a field that is itself a message. What the
kernel printed is kept as it was wherever no message matches.

Only two kinds of output are rewritten: a check's verdict (the coloured `display_data` that
`Result.show` makes: its text and its HTML) and whole lines of printed text that match a message
with at least `MIN_LITERAL` characters of its own (short fragments such as "a {type}" would match
ordinary output); a shorter message matches only where a field holds a message of its own (a right
choice's `{letter}. {explanation}`). nbval on notebooks/zh/01_data.ipynb proves that the result is
what the kernel prints; tests/test_zh.py proves it for every questionnaire's verdicts.
"""

from __future__ import annotations

import copy
import html
import re
import string
from dataclasses import dataclass

import polib

MIN_LITERAL = 20  # characters of a message's own text (fields excluded) to match a printed line
VERDICTS = ("Correct: {message}", "Not attempted yet: {message}", "Incorrect: {message}")
_SPAN = re.compile(r'<span style="color:(#[0-9a-fA-F]{6})">(.*)</span>', re.S)


@dataclass
class Template:
    msgid: str
    msgstr: str
    regex: re.Pattern
    literal: int  # characters outside the fields


def template(msgid: str, msgstr: str) -> Template:
    pattern, seen, literal = "", set(), 0
    for text, name, _, _ in string.Formatter().parse(msgid):
        pattern += re.escape(text)
        literal += len(text)
        if name is None:
            continue
        group = "f_" + re.sub(r"\W", "_", name)
        pattern += f"(?P={group})" if group in seen else f"(?P<{group}>.*?)"
        seen.add(group)
    return Template(msgid, msgstr, re.compile(pattern, re.S), literal)


def fill(msgstr: str, values: dict[str, str]) -> str:
    """`msgstr` with each field replaced by the text it stood for (already converted and
    formatted, so `{path!r}` takes the quoted path as printed, not its repr again)."""
    out = []
    for text, name, _, _ in string.Formatter().parse(msgstr):
        out.append(text)
        if name is not None:
            out.append(values["f_" + re.sub(r"\W", "_", name)])
    return "".join(out)


class Renderer:
    """Rewrites stored English outputs in the language of catalogue `po`."""

    def __init__(self, po: polib.POFile) -> None:
        self.exact: dict[str, str] = {}
        self.templates: list[Template] = []
        for entry in po:
            if entry.obsolete or "fuzzy" in entry.flags:
                continue
            pairs = [(entry.msgid, entry.msgstr)] if not entry.msgid_plural else [
                (msgid, entry.msgstr_plural.get(0, "")) for msgid in
                (entry.msgid, entry.msgid_plural)]
            for msgid, msgstr in pairs:
                if not msgstr:
                    continue
                made = template(msgid, msgstr)
                if made.literal == len(msgid):  # no fields
                    self.exact[msgid] = msgstr
                else:
                    self.templates.append(made)
        self.templates.sort(key=lambda t: -t.literal)  # the most specific message first
        self.verdicts = [t for t in self.templates if t.msgid in VERDICTS]

    def message(self, text: str, among: list[Template] | None = None) -> str | None:
        """The translation of one whole English message, or None when none matches."""
        if text in self.exact:
            return self.exact[text]
        for made in among if among is not None else self.templates:
            match = made.regex.fullmatch(text)
            if not match or among is None and made.literal < MIN_LITERAL and not any(
                    value in self.exact for value in match.groupdict().values()):
                continue  # a short message, such as "a {type}", matches only around a message
            values = {k: self.message(v) or v for k, v in match.groupdict().items()}
            return fill(made.msgstr, values)
        return None

    def text(self, printed: str) -> str:
        """Printed text with every whole line that is a message translated."""
        lines = printed.split("\n")
        return "\n".join(self.message(line) or line if line.strip() else line for line in lines)

    def verdict(self, data: dict) -> dict | None:
        """A check's verdict (text and HTML) translated; None when `data` is not a verdict."""
        plain, rich = data.get("text/plain"), data.get("text/html")
        if not isinstance(plain, str) or not isinstance(rich, str) or set(data) != {
                "text/plain", "text/html"}:
            return None
        span = _SPAN.fullmatch(rich)
        if not span or html.unescape(span.group(2)) != plain:
            return None
        translated = self.message(plain, self.verdicts)
        if translated is None:
            return None
        colour = span.group(1)
        return {"text/plain": translated,
                "text/html": f'<span style="color:{colour}">{html.escape(translated)}</span>'}

    def outputs(self, outputs: list) -> list:
        """A copy of a code cell's outputs, its messages translated."""
        new = copy.deepcopy(outputs)
        for output in new:
            kind = output.get("output_type")
            if kind == "stream":
                output["text"] = self.text(output["text"])
            elif kind in ("display_data", "execute_result"):
                translated = self.verdict(output.get("data", {}))
                if translated is not None:
                    output["data"] = type(output["data"])(translated)
        return new
