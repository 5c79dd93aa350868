"""`python -m course_utils.train` (and `resnet-train`): chapter 4's training as one command.

The command itself lives in course_utils/training/command.py; this module only starts it, so that
the short name keeps working.
"""

from __future__ import annotations

import sys

from ._moved import module_getattr
from .training.command import main

__all__ = ["main"]
__getattr__ = module_getattr(__name__)  # the names that lived here before, with a warning

if __name__ == "__main__":
    sys.exit(main())
