"""Learner-facing messages in the learner's language: English by default, Chinese with
COURSE_LANG=zh (the Chinese notebooks in notebooks/zh/ set it in their first cell).

    from ..i18n import _, ngettext

    raise DataError(_("data folder {path!r} ... does not exist; ...").format(path=str(folder)))

A message is a gettext msgid written as a whole sentence with named fields, formatted *after*
translation, so a translator sees the sentence and may move its fields. A message built at import
time (a module constant) is marked with `N_()` and translated where it is used: `_(CONSTANT)`.

The catalogues are plain-text gettext files, `course_utils/locale/<lang>/LC_MESSAGES/
course_utils.po`. The first message asked for in a language compiles that catalogue in memory
(polib writes the .mo bytes, nothing is written to disk, so no compiled file can go stale) and
Python's own `gettext` looks messages up in it. English needs no catalogue: the msgids are the
English text. A message with no translation (missing, empty or marked fuzzy), a language without
a catalogue and COURSE_LANG unset all give the English text. docs/maintainers.md ("Translating")
has the workflow; `python -m course_utils.instructor.messages` updates the catalogue from the code.
"""

from __future__ import annotations

import functools
import gettext
import io
import os
import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

LANG_ENV = "COURSE_LANG"
DOMAIN = "course_utils"
LOCALE_DIR = Path(__file__).resolve().parent / "locale"
ENGLISH = "en"


def language() -> str:
    """The language messages are shown in: COURSE_LANG's language code ("zh" for zh, zh_CN,
    zh-CN.UTF-8 ...), "en" when it is unset or empty."""
    raw = os.environ.get(LANG_ENV, "").strip().lower()
    return re.split(r"[-_.@]", raw, maxsplit=1)[0] or ENGLISH


def catalogue_path(lang: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


def available() -> list[str]:
    """The languages messages can be shown in: English and every language with a catalogue."""
    found = sorted(p.parent.parent.name for p in LOCALE_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po"))
    return [ENGLISH, *found]


@functools.cache
def translations(lang: str, locale_dir: Path = LOCALE_DIR) -> gettext.NullTranslations:
    """The compiled catalogue of `lang` (cached per process), or English when it has none."""
    path = catalogue_path(lang, locale_dir)
    if lang == ENGLISH:
        return gettext.NullTranslations()
    if not path.is_file():
        warnings.warn(f"{LANG_ENV}={lang!r}: there is no catalogue for this language ({path}), "
                      f"so messages stay in English; available: {', '.join(available())}",
                      stacklevel=3)
        return gettext.NullTranslations()
    import polib  # a dependency of the course: parses the .po and writes the .mo bytes

    return gettext.GNUTranslations(io.BytesIO(polib.pofile(str(path)).to_binary()))


def _(message: str) -> str:
    """`message` (an English msgid) in the current language; English when it has no
    translation. Format the result, not the msgid: `_("... {path!r} ...").format(path=...)`."""
    return translations(language()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    """The singular or plural message for the count `n`, in the current language (Chinese has
    one form for every count, which the catalogue's Plural-Forms header says)."""
    return translations(language()).ngettext(singular, plural, n)


def N_(message: str) -> str:  # noqa: N802 - gettext's conventional name
    """Mark a message for the catalogue without translating it now (a module constant, which
    is translated where it is shown: `_(CONSTANT)`)."""
    return message


@contextmanager
def using(lang: str) -> Iterator[None]:
    """Show messages in `lang` inside the block (the generators write the English notebooks
    under `using("en")` and the Chinese ones under `using("zh")`), then restore COURSE_LANG."""
    before = os.environ.get(LANG_ENV)
    os.environ[LANG_ENV] = lang
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(LANG_ENV, None)
        else:
            os.environ[LANG_ENV] = before


__all__ = ["LANG_ENV", "N_", "_", "available", "catalogue_path", "language", "ngettext",
           "translations", "using"]
