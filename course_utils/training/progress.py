"""Progress bars that read well live *and* once the notebook is saved.

tqdm's notebook bar is an ipywidget. A saved notebook keeps only the text it had when it was
first displayed ("epochs: 0%| 0/10"), so a learner opening a committed notebook saw a row of
stale 0 % bars. Here each bar is still tqdm's live widget while the cell runs, but:

- a bar that stays (leave=True, the epoch bar of `fit`) is shown under a display id and replaced,
  when it closes, by one line of text with its final state: "epochs: 10/10 in 6:02 (36.2 s/epoch)";
- a bar that goes (leave=False, one epoch's batches) is drawn inside the open bar that stays, below
  it, and removed when it closes: nothing of it is stored; with no such bar open it gets a display
  of its own, emptied when it closes.

Outside a Jupyter kernel (a terminal, `python -m course_utils.train`) the bars are tqdm's usual
text bars. `write` prints a line above a live terminal bar instead of through it.
"""

from __future__ import annotations

import warnings

from tqdm import TqdmExperimentalWarning
from tqdm import tqdm as _text_tqdm

with warnings.catch_warnings():  # as tqdm.auto does: the notebook bar is "experimental"
    warnings.simplefilter("ignore", category=TqdmExperimentalWarning)
    from tqdm.autonotebook import tqdm as _chosen_tqdm  # tqdm's "are we in a Jupyter kernel?"

write = _text_tqdm.write


def in_notebook() -> bool:
    """True when tqdm draws widgets here (a Jupyter kernel with ipywidgets)."""
    return _chosen_tqdm is not _text_tqdm


def progress_bar(iterable=None, *, total: int | None = None, desc: str, unit: str,
                 leave: bool = True, disable: bool = False):
    """A tqdm bar (same arguments) whose stored form in a notebook is its final state."""
    cls = _stored_bar_class() if in_notebook() and not disable else _text_tqdm
    return cls(iterable, total=total, desc=desc, unit=unit, leave=leave, disable=disable)


def final_line(desc: str, n: int, total: int | None, elapsed: float, unit: str) -> str:
    """What a finished bar leaves: 'epochs: 10/10 in 6:02 (36.2 s/epoch)', or '... stopped at
    3/10 after 1:05 ...' when it did not get to the end."""
    count = f"{n}/{total}" if total else f"{n}"
    when = f"in {_text_tqdm.format_interval(elapsed)}"
    if total and n < total:
        when = f"stopped at {count} after {_text_tqdm.format_interval(elapsed)}"
        count = ""
    rate = f" ({elapsed / n:.1f} s/{unit})" if n else ""
    return f"{desc}: {count + ' ' if count else ''}{when}{rate}"


_OPEN: list = []  # the bars that stay, innermost last: where a bar that goes is drawn
_CLASS = None


def _stored_bar_class():
    global _CLASS
    if _CLASS is None:
        _CLASS = _make_stored_bar_class()
    return _CLASS


def _make_stored_bar_class():
    # Imported only in a kernel: ipywidgets and IPython are not needed anywhere else.
    from IPython.display import display
    from ipywidgets import VBox
    from tqdm.notebook import tqdm as notebook_tqdm

    class StoredBar(notebook_tqdm):
        """tqdm's notebook bar that leaves its final state (or nothing) in the saved output."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, display=False, **kwargs)
            self._handle = self._host = None
            if self.leave or not _OPEN:
                self._box = VBox([self.container])
                self._handle = display(self._box, display_id=True)
                if self.leave:
                    _OPEN.append(self)
            else:  # drawn under the innermost bar that stays
                self._host = _OPEN[-1]
                self._host._box.children += (self.container,)
            self.displayed = True

        def close(self):
            if self.disable:
                return
            super().close()
            if self._host is not None:
                box = self._host._box
                box.children = tuple(c for c in box.children if c is not self.container)
            if self._handle is not None:
                d = self.format_dict
                text = (final_line(self.desc, d["n"], d["total"], d["elapsed"], self.unit)
                        if self.leave else "")
                self._handle.update({"text/plain": text}, raw=True)
                self._box.close()
            if self in _OPEN:
                _OPEN.remove(self)
            self.container.close()

    return StoredBar
