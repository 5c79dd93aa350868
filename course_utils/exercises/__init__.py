"""Exercises with automatic feedback: `ch2.q1.check(answer)`, `ch2.q1.hint()`, `ch2.q1.solution()`.

    from course_utils.exercises import ch2
    ch2.q2.check(MyBasicBlock)   # shows the verdict and returns it (truthy when correct)
    ch2.q2.hint()                # hint 1; hint(2), hint(3) say more, none is the solution

`core` holds Exercise, Result and the three outcomes; `checks` and `blocks` the helpers the
checkers share; `ch1` ... `ch7` one module per chapter, each question's check, hints and solution
side by side.
"""

from . import ch1, ch2, ch3, ch4, ch5, ch6, ch7
from .ch5 import CM_EXAMPLE
from .core import CORRECT, NOT_ATTEMPTED, WRONG, Exercise, Result

CHAPTERS = {1: ch1, 2: ch2, 3: ch3, 4: ch4, 5: ch5, 6: ch6, 7: ch7}


def exercises(chapter) -> dict[str, Exercise]:
    """{'q1': Exercise, ...} of one chapter module, in order."""
    return {name: value for name, value in sorted(vars(chapter).items())
            if name[:1] == "q" and name[1:].isdigit() and isinstance(value, Exercise)}


__all__ = ["CHAPTERS", "CM_EXAMPLE", "CORRECT", "NOT_ATTEMPTED", "WRONG", "Exercise", "Result",
           "ch1", "ch2", "ch3", "ch4", "ch5", "ch6", "ch7", "exercises"]
