"""Exercises with automatic feedback: `ch2.q1.check(answer)`, `ch2.q1.hint()`, `ch2.q1.solution()`.

    from course_utils.exercises import ch2
    ch2.q2.check(MyBasicBlock)   # shows the verdict and returns it (truthy when correct)
    ch2.q2.hint()                # hint 1; hint(2), hint(3) say more, none is the solution

`core` holds Exercise, Result and the three outcomes; `checks` and `blocks` the helpers the
checkers share; `ch1` ... `ch8` one module per chapter, each question's check, hints and solution
side by side. `questionnaire` holds the conceptual questions' two kinds (Choice, Number) and renders
a chapter's questionnaire cells; `quiz1` ... `quiz8` one questionnaire per chapter, checked like the
exercises (`quiz2.q4.check("D")`).
"""

from . import (
    ch1,
    ch2,
    ch3,
    ch4,
    ch5,
    ch6,
    ch7,
    ch8,
    quiz1,
    quiz2,
    quiz3,
    quiz4,
    quiz5,
    quiz6,
    quiz7,
    quiz8,
)
from .ch5 import CM_EXAMPLE
from .core import CORRECT, NOT_ATTEMPTED, WRONG, Exercise, Result

CHAPTERS = {1: ch1, 2: ch2, 3: ch3, 4: ch4, 5: ch5, 6: ch6, 7: ch7, 8: ch8}
QUIZZES = {1: quiz1, 2: quiz2, 3: quiz3, 4: quiz4, 5: quiz5, 6: quiz6, 7: quiz7, 8: quiz8}


def exercises(chapter) -> dict[str, Exercise]:
    """{'q1': Exercise, ...} of one chapter or questionnaire module, in order."""
    found = {name: value for name, value in vars(chapter).items()
             if name[:1] == "q" and name[1:].isdigit() and isinstance(value, Exercise)}
    return dict(sorted(found.items(), key=lambda item: int(item[0][1:])))


__all__ = ["CHAPTERS", "CM_EXAMPLE", "CORRECT", "NOT_ATTEMPTED", "QUIZZES", "WRONG", "Exercise",
           "Result", "ch1", "ch2", "ch3", "ch4", "ch5", "ch6", "ch7", "ch8", "exercises", "quiz1",
           "quiz2", "quiz3", "quiz4", "quiz5", "quiz6", "quiz7", "quiz8"]
