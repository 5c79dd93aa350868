"""Helpers shared by the chapters' checkers: numbers, shapes, modules and refused shortcuts."""

from __future__ import annotations

import importlib
import inspect
import math
import sys

import torch
from torch import nn

from .core import NotAttempted, Wrong, call, returned_none


def expect_number(answer, expected: float, what: str, known: dict | None = None,
                  rel: float = 0.0) -> None:
    """Compare a numeric answer; a known wrong value gets its own message."""
    if isinstance(answer, bool) or not isinstance(answer, int | float | torch.Tensor) and not (
            hasattr(answer, "__float__")):
        raise Wrong(f"expected a number for {what}, got {type(answer).__name__} {answer!r}.")
    try:
        value = float(answer)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"expected a number for {what}, got {type(answer).__name__} "
                    f"{answer!r}.") from None
    if math.isclose(value, expected, rel_tol=rel, abs_tol=1e-9):
        return
    for wrong_value, message in (known or {}).items():
        if math.isclose(value, wrong_value, rel_tol=rel, abs_tol=1e-9):
            raise Wrong(message)
    raise Wrong(f"{what}: {answer!r} is not right; try `.hint()`.")


def as_float(value, what: str) -> float:
    """A learner's returned number as a float, or a Wrong that says what came back instead."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value.item())
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    raise Wrong(f"{what} should be one number; got {type(value).__name__} {value!r:.80}.")


def as_pair(result, what: str) -> tuple[float, float]:
    """(accuracy, mean_loss) as two floats, or a Wrong naming what came back."""
    if result is None:
        raise returned_none(what)
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise Wrong(f"return (accuracy, mean_loss); got {type(result).__name__} {result!r:.80}.")
    return as_float(result[0], "the accuracy"), as_float(result[1], "the mean loss")


def params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def as_module(obj, *args, forbid: dict | None = None) -> nn.Module:
    """Build the learner's module from a class or factory, with clear errors."""
    if isinstance(obj, nn.Module):
        raise Wrong("pass the class (or a function that builds the module), not a module already "
                    "built: the check builds it with several settings.")
    if not callable(obj):
        raise Wrong("expected a class or function that builds an nn.Module, got "
                    f"{type(obj).__name__}.")
    module = call(obj, *args, forbid=forbid)
    if module is None:
        raise returned_none("your function")
    if not isinstance(module, nn.Module):
        raise Wrong(f"calling it gave a {type(module).__name__}, not an nn.Module.")
    if params(module) == 0:
        raise Wrong("your module has no parameters: create its layers in __init__ and assign them "
                    "to self (e.g. self.conv1 = nn.Conv2d(...)).")
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
    return (f"you handed in {theirs} instead of writing {answer_name} yourself: the exercise is to "
            "write it (calling it from your function is the same).")


def tensor_answer(value, what: str) -> torch.Tensor:
    """A returned value as a tensor, or a Wrong that says what came back."""
    if value is None:
        raise returned_none(what)
    if isinstance(value, torch.Tensor):
        return value
    try:
        return torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError):
        raise Wrong(f"{what} should return a tensor; got {type(value).__name__} "
                    f"{value!r:.80}.") from None


__all__ = ["NotAttempted", "as_float", "as_module", "as_pair", "expect_number", "package_functions",
           "params", "refuse", "tensor_answer"]
