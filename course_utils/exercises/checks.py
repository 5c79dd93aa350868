"""Helpers shared by the chapters' checkers: numbers, shapes, modules and refused shortcuts."""

from __future__ import annotations

import importlib
import inspect
import math
import sys

import torch
from torch import nn

from ..i18n import _
from .core import NotAttempted, Wrong, call, describe, returned_none


def as_number(answer, what: str) -> float:
    """A numeric answer as a float, or a Wrong that names what was given instead of a number."""
    if isinstance(answer, bool):
        raise Wrong(_("expected a number for {what}, got {answer}: True and False are not "
                      "numbers here.").format(what=what, answer=answer))
    if isinstance(answer, str | bytes):
        text = answer.decode(errors="replace") if isinstance(answer, bytes) else answer
        try:
            float(text.replace(",", "").replace("_", ""))
        except ValueError:
            raise Wrong(_("expected a number for {what}, got the text {text}.").format(
                what=what, text=describe(text, kind=False))) from None
        raise Wrong(_("{what}: you gave the text {text!r}, not a number: remove the quotes.")
                    .format(what=what, text=text[:40]))
    if isinstance(answer, tuple | list) and len(answer) == 1:
        raise Wrong(_("{what}: you gave a {type} holding one value, {value}: a trailing comma "
                      "(`x = 21,`) makes a tuple. Give the number alone.").format(
                          what=what, type=type(answer).__name__,
                          value=describe(answer, kind=False)))
    if isinstance(answer, torch.Tensor) or type(answer).__module__ == "numpy":
        try:
            count = answer.numel() if isinstance(answer, torch.Tensor) else answer.size
            if count != 1:
                raise Wrong(_("expected one number for {what}, got {value} with {count} values.")
                            .format(what=what, value=describe(answer), count=count))
            answer = answer.item()
        except (RuntimeError, TypeError, ValueError, NotImplementedError):  # meta, sparse, ...
            raise Wrong(_("expected a number for {what}, got {value}.").format(
                what=what, value=describe(answer))) from None
    if callable(answer) and not hasattr(type(answer), "__float__"):
        raise Wrong(_("expected a number for {what}, got {value}: a function or class, not its "
                      "result.").format(what=what, value=describe(answer)))
    try:
        value = float(answer)
    except OverflowError:
        raise Wrong(_("{what}: {value} is far too large to be right; try `.hint()`.").format(
            what=what, value=describe(answer))) from None
    except Exception:  # noqa: BLE001 - whatever the answer's own __float__ raises
        raise Wrong(_("expected a number for {what}, got {value}.").format(
            what=what, value=describe(answer))) from None
    if math.isnan(value):
        raise Wrong(_("{what}: your answer is NaN (not a number), what 0 / 0 or inf - inf give; "
                      "compute it again from the numbers in the question.").format(what=what))
    if math.isinf(value):
        raise Wrong(_("{what}: your answer is infinite (a division by zero, or a number too large "
                      "for a float).").format(what=what))
    return value


def expect_number(answer, expected: float, what: str, known: dict | None = None,
                  rel: float = 0.0) -> None:
    """Compare a numeric answer; a known wrong value gets its own message."""
    value = as_number(answer, what)
    if math.isclose(value, expected, rel_tol=rel, abs_tol=1e-9):
        return
    for wrong_value, message in (known or {}).items():
        if math.isclose(value, wrong_value, rel_tol=max(rel, 1e-9), abs_tol=1e-9):
            raise Wrong(message)
    if rel and math.isclose(value, expected, rel_tol=0.02):
        raise Wrong(_("{what}: {value:g} is close, but rounded too much: keep at least three "
                      "significant digits, or let Python compute the number.").format(
                          what=what, value=value))
    raise Wrong(_("{what}: {value:.6g} is not right; try `.hint()`.").format(what=what,
                                                                             value=value))


def as_float(value, what: str) -> float:
    """A learner's returned number as a float, or a Wrong that says what came back instead."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        try:
            return float(value.item())
        except (RuntimeError, TypeError, ValueError, NotImplementedError):
            raise Wrong(_("{what} should be one number; got {value}.").format(
        what=what, value=describe(value))) from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise Wrong(_("{what} should be one number; got {value}.").format(
        what=what, value=describe(value))) from None
    raise Wrong(_("{what} should be one number; got {value}.").format(
        what=what, value=describe(value)))


def as_pair(result, what: str) -> tuple[float, float]:
    """(accuracy, mean_loss) as two floats, or a Wrong naming what came back."""
    if result is None:
        raise returned_none(what)
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise Wrong(_("return (accuracy, mean_loss); got {value}.").format(
            value=describe(result)))
    return as_float(result[0], _("the accuracy")), as_float(result[1], _("the mean loss"))


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def as_module(obj, *args, forbid: dict | None = None) -> nn.Module:
    """Build the learner's module from a class or factory, with clear errors."""
    if isinstance(obj, nn.Module):
        raise Wrong(_("pass the class (or a function that builds the module), not a module "
                      "already built: the check builds it with several settings."))
    if not callable(obj):
        raise Wrong(_("expected a class or function that builds an nn.Module, got {type}.")
                    .format(type=type(obj).__name__))
    module = call(obj, *args, forbid=forbid)
    if module is None:
        raise Wrong(_("your function returned None: did you forget `return`?"))
    if isinstance(module, type):
        raise Wrong(_("calling it gave {value} itself; return a model built from it, e.g. "
                      "{name}(...).").format(value=describe(module), name=module.__name__))
    if not isinstance(module, nn.Module):
        raise Wrong(_("calling it gave {value}, not an nn.Module.").format(
            value=describe(module, 40)))
    if call(params, module) == 0:
        raise Wrong(_("your module has no parameters: create its layers in __init__ and assign "
                      "them to self (e.g. self.conv1 = nn.Conv2d(...))."))
    return module


def package_functions(names: dict[str, str], modules: tuple[str, ...]) -> dict:
    """{code object: message} for the package's own functions the learner is asked to write.

    Found by name in the given modules (and any loaded `course_utils` module), so that moving a
    function between modules keeps the refusal working.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError:
            continue
    codes = {}
    for module_name, module in list(sys.modules.items()):
        if module is None or not (module_name.startswith("course_utils.")
                                  or module_name in modules):
            continue
        if module_name.startswith("course_utils.exercises"):
            continue
        for name, message in names.items():
            # vars, not getattr: an old module path would answer with a DeprecationWarning
            fn = vars(module).get(name)
            if fn is None:
                continue
            fn = inspect.unwrap(fn.__init__ if isinstance(fn, type) else fn)  # past decorators
            code = getattr(fn, "__code__", None)
            if code is not None:
                codes[code] = message
    return codes


def refuse(answer_name: str, theirs: str) -> str:
    """The message for handing in the package's function `theirs` (a function's name, shown as
    "the course's <theirs>") instead of writing `answer_name`."""
    return _("you handed in the course's {theirs} instead of writing {answer} yourself: the "
             "exercise is to write it (calling it from your function is the same).").format(
                 theirs=theirs, answer=answer_name)


def tensor_answer(value, what: str) -> torch.Tensor:
    """A returned value as a tensor, or a Wrong that says what came back."""
    if value is None:
        raise returned_none(what)
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(value)
        except Exception:  # noqa: BLE001 - whatever converting the learner's object raises
            raise Wrong(_("{what} should return a tensor; got {value}.").format(
                what=what, value=describe(value))) from None
    if value.is_meta:
        raise Wrong(_("{what} returned a tensor on the meta device, which has a shape but no "
                      "values.").format(what=what))
    if value.is_complex():
        raise Wrong(_("{what} returned complex numbers ({dtype}); expected real ones.").format(
            what=what, dtype=value.dtype))
    return value.detach()


__all__ = ["NotAttempted", "as_float", "as_module", "as_number", "as_pair", "expect_number",
           "package_functions", "params", "refuse", "tensor_answer"]
