"""The history of a run: one record per finished epoch, saved as JSON next to the checkpoint."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..files import atomic_write


class History(list):
    """One dict per finished epoch (epoch, train_loss, train_acc, val_loss, val_acc, lr,
    seconds, images_per_s); a list, so `history[-1]["val_acc"]` and `len(history)` work."""

    interrupted: bool = False
    stopped: str | None = None  # why fit stopped early on a non-finite loss, if it did

    def to_dict(self) -> dict[str, list]:
        """Columns: {"epoch": [1, 2, ...], "val_acc": [...], ...}, ready for plotting."""
        keys = list(self[0]) if self else []
        return {k: [record.get(k) for record in self] for k in keys}

    @property
    def best(self) -> dict | None:
        """The record with the highest validation accuracy (the earliest on a tie), or None."""
        return max(self, key=lambda r: r["val_acc"], default=None)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the history as JSON, atomically (a crash never leaves half a file)."""
        record = {"interrupted": self.interrupted, "epochs": list(self)}
        if self.stopped:
            record["stopped"] = self.stopped
        text = json.dumps(record, indent=1)
        return atomic_write(path, lambda f: f.write(text.encode("utf-8")))

    @classmethod
    def load(cls, path: str | os.PathLike) -> History:
        """Read a history written by `save` (or by `fit` next to its checkpoint)."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        history = cls(data["epochs"])
        history.interrupted = bool(data.get("interrupted", False))
        history.stopped = data.get("stopped")
        return history


def history_path(checkpoint_path: str | os.PathLike) -> Path:
    """Where `fit` writes the history: next to the checkpoint, e.g. runs/best.history.json."""
    path = Path(checkpoint_path)
    return path.with_name(path.stem + ".history.json")
