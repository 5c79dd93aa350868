"""Questionnaires: the conceptual questions that close a chapter, checked like the exercises.

    from course_utils.exercises import quiz1
    quiz1.q1.check("B")   # Correct / Incorrect (why that choice is wrong) / Not attempted yet
    quiz1.q1.hint()       # where the chapter answers it
    quiz1.q1.solution()   # the answer, and why

A question is a `Choice` (one letter among A, B, C, ...) or a `Number`. Both are `Exercise`s, so
they have the exercises' three outcomes, their display, and their promise never to raise. Each
chapter's questions sit in `quizN.py`, one definition per question: its text, its choices, the right
one, and why each other choice is wrong. Every text there is an English message marked `N_("...")`:
a question keeps its English and shows each text in the learner's language (`_()`), so its checks,
hint, solution and cells speak Chinese under COURSE_LANG=zh. The notebook's questionnaire cells are
rendered from that one source by `cells(quizN)` and put before the Summary by `insert` (the command
`python -m course_utils.exercises.questionnaire notebooks/01_data.ipynb quiz1` refreshes them after
a question changed); tests/test_exercises.py proves that every notebook shows exactly them.
"""

from __future__ import annotations

import re
import textwrap
from types import ModuleType

from ..i18n import N_, _, using
from .checks import expect_number
from .core import Exercise, Wrong, describe

_HEADING = N_("## Questionnaire")
_INTRO = N_("Answer in the next cell: a letter in quotes for a choice (`\"B\"`), a number where "
            "the question asks for one. The cell after it checks every answer and says why a "
            "choice is right or wrong; `{module}.q1.hint()` points to where the chapter answers "
            "question 1.")


class Choice(Exercise):
    """A multiple-choice question: one right letter, and for every other letter why it is wrong."""

    def __init__(self, name: str, question: str, choices: dict[str, str], answer: str,
                 why: dict[str, str], explanation: str, hint: str, variable: str) -> None:
        if answer not in choices or set(why) != set(choices) - {answer}:
            raise ValueError(f"{name}: the right letter must be a choice, and every other choice "
                             "needs its `why`")
        self.question, self.choices, self.right = question, dict(choices), answer
        self.why, self.explanation = dict(why), explanation
        super().__init__(name, self._check, hints=[hint], solution=f'{variable} = "{answer}"',
                         answer=variable)

    def _check(self, answer) -> str:
        letter = self._letter(answer)
        if letter == self.right:
            return _(_RIGHT).format(letter=letter, explanation=_(self.explanation))
        raise Wrong(_("{letter} is not right: {why}").format(letter=letter,
                                                             why=_(self.why[letter])))

    def _letter(self, answer) -> str:
        letters = ", ".join(self.choices)
        how = _("answer with one letter in quotes, one of {letters} (for example "
                "\"{example}\")").format(letters=letters, example=self.right_free)
        if isinstance(answer, str):
            text = answer.strip()
            bare = text.strip("()[]{}'\" ").rstrip(".):").strip().upper()
            if bare in self.choices:
                return bare
            for letter, choice in self.choices.items():  # the text of a choice, pasted
                if _words(text) in (_words(choice), _words(_(choice))):
                    return letter
            parts = [p for p in re.split(r"[\s,;/&+]+|\band\b|\bor\b", bare, flags=re.I) if p]
            if len(parts) > 1 and all(p in self.choices for p in parts) or (
                    len(bare) > 1 and bare.isalpha() and set(bare) <= set(self.choices)):
                raise Wrong(_(_ONE_LETTER))
            if len(bare) == 1 and bare.isalpha():
                raise Wrong(_("there is no choice {letter} here; {how}.").format(letter=bare,
                                                                              how=how))
            raise Wrong(_("{how}; got the text {text}.").format(
                how=how, text=describe(answer, kind=False)))
        if isinstance(answer, list | tuple | set | frozenset) and answer and all(
                isinstance(a, str) for a in answer):
            raise Wrong(_(_ONE_LETTER))
        if isinstance(answer, int | float) and not isinstance(answer, bool):
            index = answer if isinstance(answer, int) else (
                int(answer) if isinstance(answer, float) and answer.is_integer() else 0)
            guess = (_(" (choice number {index} is \"{letter}\")").format(
                index=index, letter=list(self.choices)[index - 1])
                if 1 <= index <= len(self.choices) else "")
            raise Wrong(_("this question is answered with a letter, not a number: {how}{guess}.")
                        .format(how=how, guess=guess))
        raise Wrong(_("{how}; got {value}.").format(how=how, value=describe(answer)))

    @property
    def right_free(self) -> str:
        """A letter to show in an example that is not the right one."""
        return next(letter for letter in self.choices if letter != self.right)

    def solution(self) -> None:
        """Print the answer, the text of the right choice and why it is right."""
        print(_("Solution:\n{solution}").format(solution=self.solution_source()))
        print(_(_RIGHT).format(letter=self.right, explanation=_(self.choices[self.right])))
        print(_("Why: {explanation}").format(explanation=_(self.explanation)))

    def markdown(self, number: int) -> str:
        lines = [f"**{number}.** {_(self.question)}", ""]
        lines += [f"- **{letter}.** {_(text)}" for letter, text in self.choices.items()]
        return "\n".join(lines)


class Number(Exercise):
    """A question answered with a number; known wrong numbers get their own explanation."""

    def __init__(self, name: str, question: str, expected: float, known: dict[float, str],
                 explanation: str, hint: str, variable: str, what: str, rel: float = 0.0,
                 solution: str | None = None) -> None:
        self.question, self.expected, self.known = question, expected, dict(known)
        self.explanation, self.what, self.rel = explanation, what, rel
        super().__init__(name, self._check, hints=[hint],
                         solution=solution or f"{variable} = {expected!r}", answer=variable)

    def _check(self, answer) -> str:
        expect_number(answer, self.expected, _(self.what),
                      {value: _(why) for value, why in self.known.items()}, rel=self.rel)
        return _(self.explanation)

    def solution(self) -> None:
        """Print the answer and why."""
        print(_("Solution:\n{solution}").format(solution=self.solution_source()))
        print(_("Why: {explanation}").format(explanation=_(self.explanation)))

    def markdown(self, number: int) -> str:
        return _("**{number}.** {question} *(a number)*").format(number=number,
                                                               question=_(self.question))


_ONE_LETTER = N_("choose one letter: exactly one choice is right.")
# The right choice's letter and why it is right (a verdict), or the choice's text (the solution).
_RIGHT = N_("{letter}. {explanation}")


def _fill(text: str) -> str:
    """Wrap at 100 columns; Chinese has no spaces to wrap at, and stays one line."""
    return textwrap.fill(text, 100) if text.isascii() else text


def _words(text: str) -> str:
    return " ".join(re.sub(r"[`*_.,;:!?()\"']", " ", text).lower().split())


def questions(module: ModuleType) -> dict[str, Choice | Number]:
    """{'q1': question, ...} of one questionnaire module, in order."""
    found = {name: value for name, value in vars(module).items()
             if name[:1] == "q" and name[1:].isdigit() and isinstance(value, Choice | Number)}
    return dict(sorted(found.items(), key=lambda item: int(item[0][1:])))


def _name(module: ModuleType) -> str:
    return module.__name__.rsplit(".", 1)[-1]


def markdown(module: ModuleType) -> str:
    """The questionnaire's markdown cell: a heading, how to answer, then every question, in the
    current language (the English notebooks are written under `i18n.using("en")`)."""
    parts = [_(_HEADING), "", _fill(_(_INTRO).format(module=_name(module)))]
    for number, question in enumerate(questions(module).values(), start=1):
        parts += ["", question.markdown(number)]
    return "\n".join(parts)


def answers_source(module: ModuleType) -> str:
    """The answers' cell: every answer `None` first, the solutions between nbgrader's markers."""
    found = questions(module).values()
    lines = [f"from course_utils.exercises import {_name(module)}", "",
             "# your answers: a letter in quotes, or a number"]
    lines += [f"{q.answer} = None" for q in found]
    lines += ["### BEGIN SOLUTION", *(q.solution_source() for q in found), "### END SOLUTION"]
    return "\n".join(lines)


def checks_source(module: ModuleType) -> str:
    """The checks' cell: one check per question (the autograder grades each line apart)."""
    name = _name(module)
    return "\n".join(["# NBVAL_CHECK_OUTPUT", *(f"{name}.{key}.check({q.answer})"
                                                 for key, q in questions(module).items())])


def cells(module: ModuleType) -> tuple[str, str, str]:
    """The sources of the three questionnaire cells: questions, answers, checks."""
    return markdown(module), answers_source(module), checks_source(module)


def rendered(module: ModuleType, count: int, lang: str = "en") -> list:
    """The questionnaire's three cells as nbformat cells, in `lang`: the questions, the answers
    (execution count `count + 1`) and the checks (`count + 2`), with the outputs a kernel shows
    for the solutions' checks. The code cells are the same in every language; the questions and
    the verdicts are in `lang` (make zh writes the Chinese edition's cells with "zh")."""
    import nbformat

    name = _name(module)
    with using(lang):
        questions_md, answers, checks = cells(module)
        new = [nbformat.v4.new_markdown_cell(questions_md),
               nbformat.v4.new_code_cell(answers, execution_count=count + 1),
               nbformat.v4.new_code_cell(checks, execution_count=count + 2)]
        for cell, suffix in zip(new, ("questions", "answers", "checks"), strict=True):
            cell.id = f"{name}-{suffix}"
        new[1].metadata["nbgrader"] = {"grade": False, "grade_id": name, "locked": False,
                                       "schema_version": 3, "solution": True, "task": False}
        namespace: dict = {}
        exec(answers.replace("### BEGIN SOLUTION", "").replace("### END SOLUTION", ""),
             namespace)
        for question in questions(module).values():
            verdict = question._verdict(namespace[question.answer])
            if not verdict:
                raise ValueError(f"{question.name}: its own solution is refused: "
                                 f"{verdict.message}")
            new[2].outputs.append(nbformat.v4.new_output(
                "display_data",
                data={"text/plain": repr(verdict), "text/html": verdict._repr_html_()}))
    return new


def insert(nb, module: ModuleType):
    """Put the questionnaire's three cells just before the notebook's `## Summary`, replacing the
    ones an earlier call put there, with the outputs a kernel shows for the solutions' checks, in
    English. Every other cell, output and execution count stays as it is; returns the notebook."""
    ids = {f"{_name(module)}-{suffix}" for suffix in ("questions", "answers", "checks")}
    kept = [c for c in nb.cells if c.get("id") not in ids]
    summary = next((i for i, c in enumerate(kept) if c.cell_type == "markdown"
                    and c.source.startswith("## Summary")), None)
    if summary is None:
        raise ValueError("the notebook has no markdown cell starting with '## Summary' to put the "
                         "questionnaire before")
    count = max((c.execution_count or 0 for c in kept[:summary] if c.cell_type == "code"),
                default=0)
    nb.cells = kept[:summary] + rendered(module, count, "en") + kept[summary:]
    return nb


def main(argv: list[str] | None = None) -> None:
    """python -m course_utils.exercises.questionnaire NOTEBOOK quizN: (re)write the cells."""
    import importlib
    import sys
    from pathlib import Path

    import nbformat

    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        raise SystemExit("usage: python -m course_utils.exercises.questionnaire NOTEBOOK quizN")
    path = Path(args[0])
    module = importlib.import_module(f"course_utils.exercises.{args[1]}")
    nb = insert(nbformat.read(path, as_version=4), module)
    tmp = path.with_suffix(".ipynb.tmp")
    tmp.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")  # nbformat's own layout
    tmp.replace(path)
    print(f"wrote {len(questions(module))} questions into {path}")


__all__ = ["Choice", "Number", "answers_source", "cells", "checks_source", "insert", "markdown",
           "questions", "rendered"]


if __name__ == "__main__":
    # Run as `python -m`, this file is a second module, `__main__`, whose Choice and Number are
    # not the classes the quiz modules use: hand over to the package's own module.
    from course_utils.exercises import questionnaire as _package

    _package.main()
