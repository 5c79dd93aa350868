"""ResNet from scratch: the helper package behind the course's notebooks.

Sub-packages follow the course (docs/architecture.md has the picture): `data` (chapter 1),
`models` (chapters 2, 3 and 6), `training` (chapters 4 and 7), `evaluation` (chapter 5),
`exercises` (every chapter's checks) and `instructor` (the student edition and grading, which no
learner-facing module imports); `runtime`, `files`, `run_meta` and `i18n` (messages in the
learner's language, COURSE_LANG) are the ground floor they share.
Import each name from the module that defines it, e.g.
`from course_utils.data.loaders import course_data`.
"""

from . import _moved

_moved.install()  # the old flat module paths, with a DeprecationWarning, for one release
