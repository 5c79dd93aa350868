"""The core of the exercises: an Exercise, the Result of a check and its three outcomes.

A check has three outcomes, as on Kaggle Learn: correct; not attempted yet (the answer is still
`None`, or the function still raises NotImplementedError); or wrong, with a message that names the
mistake. Checks test behaviour (shapes, parameter counts, outputs with shared weights, gradients,
train/eval behaviour), never source text, and never raise into the notebook (Ctrl-C excepted).

Every check runs in `isolated()`: the random generators are seeded and restored afterwards, autograd
is on and the default dtype is float32 while it runs, so a verdict depends neither on what the
notebook did before nor on the random draws of the day. The learner's code is called through
`call()`, which tells an error in the learner's code from a fault of the checker itself.
"""

from __future__ import annotations

import random
import sys
import sysconfig
import textwrap
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import escape
from pathlib import Path

import torch

from ..i18n import N_, _, ngettext

CORRECT, NOT_ATTEMPTED, WRONG = "correct", "not attempted", "wrong"
# How a verdict is shown (translated when shown: COURSE_LANG=zh gives Chinese).
_VERDICTS = {CORRECT: N_("Correct: {message}"), NOT_ATTEMPTED: N_("Not attempted yet: {message}"),
             WRONG: N_("Incorrect: {message}")}
_COLOURS = {CORRECT: "#1a7f37", NOT_ATTEMPTED: "#9a6700", WRONG: "#cf222e"}


class Wrong(Exception):
    """Raised inside a checker to report a named mistake in the learner's words."""


class NotAttempted(Exception):
    """Raised inside a checker when the learner has not written an answer yet."""


class LearnerError(Exception):
    """The learner's code raised; the original exception is `__cause__`."""


@dataclass
class Result:
    """What a check found; truthy when correct; shows as one coloured line in a notebook."""

    outcome: str
    message: str

    def __bool__(self) -> bool:
        return self.outcome == CORRECT

    def __repr__(self) -> str:
        return _(_VERDICTS[self.outcome]).format(message=self.message)

    def _repr_html_(self) -> str:
        return f'<span style="color:{_COLOURS[self.outcome]}">{escape(repr(self))}</span>'

    def show(self) -> None:
        """Show the verdict once: coloured HTML under IPython/Jupyter, a plain line elsewhere."""
        self._shown = True
        try:
            from IPython import get_ipython
            from IPython.display import display
        except ImportError:  # IPython is optional for the checks themselves
            get_ipython = None
        if get_ipython is not None and get_ipython() is not None:
            display({"text/plain": repr(self), "text/html": self._repr_html_()}, raw=True)
        else:
            print(repr(self))

    def _ipython_display_(self) -> None:
        # `check(...)` has shown the verdict already; a cell ending in it must not show it twice.
        if not getattr(self, "_shown", False):
            self.show()


@contextmanager
def isolated(seed: int = 0) -> Iterator[None]:
    """Run a check with seeded generators, autograd on and float32; restore everything after."""
    import numpy as np

    grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    python_state, numpy_state = random.getstate(), np.random.get_state()
    with torch.random.fork_rng(devices=[]), torch.inference_mode(False):
        torch.random.default_generator.manual_seed(seed)
        random.seed(seed)
        np.random.seed(seed)
        torch.set_grad_enabled(True)
        torch.set_default_dtype(torch.float32)
        try:
            yield
        finally:
            torch.set_grad_enabled(grad)
            torch.set_default_dtype(dtype)
            random.setstate(python_state)
            np.random.set_state(numpy_state)


def call(fn: Callable, *args, forbid: dict | None = None, **kwargs):
    """Call the learner's code; its exceptions become LearnerError, forbidden shortcuts Wrong.

    `forbid` maps code objects (the package's own solution, torchvision's model) to the message
    given when the learner's code runs them: handing those in is not writing the exercise.
    """
    hits: list[str] = []
    grad, dtype = torch.is_grad_enabled(), torch.get_default_dtype()
    previous = sys.getprofile()
    if forbid:
        def watch(frame, event, arg):
            if event == "call" and frame.f_code in forbid:
                hits.append(forbid[frame.f_code])
        sys.setprofile(watch)
    try:
        result = fn(*args, **kwargs)
    except (Wrong, NotAttempted, KeyboardInterrupt):
        raise
    except NotImplementedError as error:
        if 'missing the required "forward"' in safe_str(error):  # nn.Module without forward
            raise Wrong(_(_NO_FORWARD)) from None
        raise NotAttempted from None
    except BaseException as error:  # the learner's code may raise anything, even SystemExit
        if hits:
            raise Wrong(hits[0]) from None
        raise LearnerError() from error
    finally:
        if forbid:
            sys.setprofile(previous)
    if hits:
        raise Wrong(hits[0])
    if torch.is_grad_enabled() != grad or torch.get_default_dtype() != dtype:
        torch.set_grad_enabled(grad)
        torch.set_default_dtype(dtype)
        raise Wrong(_(_LEAK))
    return result


_NO_FORWARD = N_("your module has no method named `forward`, so calling it runs nn.Module's "
                 "placeholder: check the spelling (`def forward(self, x):`) and that it is "
                 "indented inside the class. (nn.ModuleList holds layers but has no forward: use "
                 "nn.Sequential to chain them.)")
_LEAK = N_("your code changed PyTorch's global state for the rest of the notebook (autograd "
           "switched off by torch.set_grad_enabled(False) or no_grad().__enter__(), or a new "
           "default dtype): use `with torch.no_grad():` / `with torch.inference_mode():`, which "
           "switch back at the end.")


def describe(value, limit: int = 80, kind: bool = True) -> str:
    """`type value` for a message, whatever the value: a repr that raises or runs long is cut."""
    name = _type_name(value)
    try:
        if type(value) is int and value.bit_length() > 200:  # noqa: E721 - not bool, not a subclass
            digits = len(str(abs(value))) if value.bit_length() < 14_000 else round(
                value.bit_length() * 0.30103)
            return _("an integer with {digits:,} digits").format(digits=digits)
        if type(value) is type:
            return _("the class {name}").format(name=value.__qualname__)
        if isinstance(value, types.FunctionType | types.BuiltinFunctionType | types.MethodType):
            return _("the function {name}").format(name=value.__qualname__)
        text = repr(value)
    except Exception:  # noqa: BLE001 - a learner's __repr__ may raise anything
        return _("a {type} (its repr raises)").format(type=name)
    if not isinstance(text, str):
        return _("a {type}").format(type=name)
    named = text.lstrip("<").lower().startswith(name.lower())  # "tensor(...)", "<generator ...>"
    prefix = f"{name} " if kind and not named else ""
    return f"{prefix}{text[:limit]}{'...' if len(text) > limit else ''}"


def safe_str(value, limit: int = 300) -> str:
    """str(value) for a message, or a stand-in when the learner's __str__ raises."""
    try:
        text = str(value)
    except Exception:  # noqa: BLE001 - an exception's __str__ may itself raise
        return _("(a {type} whose text cannot be shown)").format(type=_type_name(value))
    if not isinstance(text, str):
        return _("(a {type})").format(type=_type_name(value))
    return text[:limit] + ("..." if len(text) > limit else "")


def _type_name(value) -> str:
    try:
        return type(value).__name__
    except Exception:  # noqa: BLE001
        return "object"


def returned_none(what: str) -> Wrong:
    """The message for a function that returns nothing: usually a forgotten `return`."""
    return Wrong(_("{what} returned None: did you forget `return`?").format(what=what))


class Exercise:
    """One question: `check(answer)`, graduated `hint()`, `hint(2)`, ... and `solution()`."""

    def __init__(self, name: str, checker: Callable[..., str], hints: list[str] | str,
                 solution: str, answer: str) -> None:
        self.name = name
        self.answer = answer  # the name the learner's cell defines
        self._checker = checker
        self._hints = [hints] if isinstance(hints, str) else list(hints)
        self._solution = solution

    def title(self) -> str:
        """The exercise's name in the learner's language (the chapters mark it with `N_`)."""
        return _(self.name)

    def check(self, *answer, **named) -> Result:
        """Check the answer, show the verdict and return it (truthy when correct).

        Never raises, except on Ctrl-C, so an autograder can `assert ch1.q1.check(answer)`.
        """
        result = self._verdict(*answer, **named)
        result.show()
        return result

    def _verdict(self, *answer, **named) -> Result:
        if named:  # check(answer=14): accept one answer by any name, explain anything else
            if answer or len(named) > 1:
                return Result(WRONG, _("{name}: pass your answer alone, as in `check({answer})`.")
                              .format(name=self.title(), answer=self.answer))
            answer = tuple(named.values())
        if not answer or all(a is None or a is Ellipsis for a in answer):
            return Result(NOT_ATTEMPTED, _("{name}: fill in your answer, then run this cell "
                                           "again.").format(name=self.title()))
        if len(answer) > 1:  # check(21, 21), or check(x, y) for a function of (x, y)
            return Result(WRONG, _("{name}: you passed {count} answers; pass one, as in "
                                   "`check({answer})`.").format(
                                       name=self.title(), count=len(answer), answer=self.answer))
        try:
            with isolated():
                message = self._checker(*answer)
                if not torch.is_grad_enabled() or torch.get_default_dtype() != torch.float32:
                    raise Wrong(_(_LEAK))
            return Result(CORRECT, safe_str(message, 1000) if message else _("well done."))
        except NotAttempted:
            return Result(NOT_ATTEMPTED, _("{name}: replace `raise NotImplementedError` with your "
                                           "code, then run this cell again.").format(
                                               name=self.title()))
        except Wrong as mistake:
            return Result(WRONG, safe_str(mistake, 2000))
        except LearnerError as wrapped:
            return Result(WRONG, _learner_message(wrapped.__cause__))
        except KeyboardInterrupt:
            raise  # the learner asked to stop
        except BaseException as error:
            if _raised_in_learner_code(error, self._checker):  # e.g. the answer's __float__
                return Result(WRONG, _learner_message(error))
            return Result(WRONG, _("the check itself failed ({error}: {text}). This is a fault "
                                   "of the course's checker, not a verdict on your answer: please "
                                   "report it, with your answer.").format(
                                       error=type(error).__name__, text=safe_str(error)))

    def hint(self, number: int = 1) -> None:
        """Print hint `number` (1, 2, ...): each says a little more, none is the solution."""
        count = len(self._hints)
        if not 1 <= number <= count:
            print(ngettext("There is {count} hint: hint(1) ... hint({count}); .solution() shows a "
                           "solution.",
                           "There are {count} hints: hint(1) ... hint({count}); .solution() shows "
                           "a solution.", count).format(count=count))
            return
        more = _(" (more: .hint({next}))").format(next=number + 1) if number < count else ""
        hint = self._hints[number - 1]  # marked with N_ where the exercise is defined
        print(_("Hint {number}/{count}: {hint}{more}").format(
            number=number, count=count, hint=textwrap.dedent(_(hint)).strip(), more=more))

    def solution(self) -> None:
        """Print the reference solution."""
        print(_("Solution:\n{solution}").format(solution=self.solution_source()))

    def solution_source(self) -> str:
        """The solution as code, the same text as the notebook's solution region (a test compares)."""  # noqa: E501
        return textwrap.dedent(self._solution).strip()

    def __repr__(self) -> str:
        return f"<exercise {self.name}: .check(...), .hint(), .solution()>"


# Errors whose text alone does not say what to change, and what to change.
_KNOWN_ERRORS = {
    "does not support the context manager protocol":
        N_("; a context manager is called, with parentheses: `with torch.no_grad():`"),
    "cannot be converted to Scalar": N_("; .item() reads a tensor of one value only: keep the "
                                        "tensor when it holds several"),
    "changed during iteration": N_("; build a new dict rather than changing the one you loop "
                                   "over"),
}


def _learner_message(error: BaseException) -> str:
    if isinstance(error, RecursionError):
        return _("your code calls itself without end (RecursionError).")
    text = safe_str(error)
    advice = "".join(_(tip) for words, tip in _KNOWN_ERRORS.items() if words in text)
    return _("your code raised {error}: {text}{where}{advice}").format(
        error=_type_name(error), text=text, where=_learner_frame(error), advice=advice)


# Frames in these folders are not the learner's: this package, the standard library, installed
# packages. Anything else (a notebook cell, a learner's module, a test) is.
_NOT_LEARNER = tuple(str(Path(p).resolve()) for p in {
    Path(__file__).resolve().parent.parent, *(sysconfig.get_paths()[k] for k in (
        "stdlib", "platstdlib", "purelib", "platlib"))})


def _is_learner_file(filename: str) -> bool:
    if filename.startswith("<"):  # <frozen ...> is Python's; <string>, <stdin>, <ipython-...> not
        return not filename.startswith("<frozen")
    try:
        path = str(Path(filename).resolve())
    except (OSError, ValueError):
        return True
    return not path.startswith(_NOT_LEARNER) and "site-packages" not in path


def _raised_in_learner_code(error: BaseException, checker: Callable) -> bool:
    """Did the error come out of the learner's code (a method of the answer the checker used)?"""
    own = getattr(checker, "__code__", None)
    return any(_is_learner_file(frame.f_code.co_filename) and frame.f_code is not own
               for frame, _lineno in traceback.walk_tb(error.__traceback__))


def _learner_frame(error: BaseException) -> str:
    """' (in your code, line N: ...)' for the innermost frame outside this package and libraries."""
    try:
        frames = traceback.extract_tb(error.__traceback__)
    except Exception:  # noqa: BLE001 - a frame whose source cannot be read
        return ""
    for frame in reversed(frames):
        if _is_learner_file(frame.filename):
            return (_(" (in your code, line {line}: {source})").format(
                line=frame.lineno, source=frame.line) if frame.line else "")
    return ""
