"""Progress displays: live in a kernel, and what a saved notebook keeps of them."""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from course_utils.training import progress

ROOT = Path(__file__).resolve().parent.parent
WIDGET = "application/vnd.jupyter.widget-view+json"

FIT = '''
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.training.progress import in_notebook
from course_utils.training.fitting import fit

assert in_notebook()
torch.manual_seed(0)
x = torch.randn(48, 4)
y = (x[:, 0] > 0).long()
train = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
val = DataLoader(TensorDataset(x[:16], y[:16]), batch_size=8)
model = nn.Linear(4, 2)
opt = torch.optim.SGD(model.parameters(), lr=0.1)
'''


def test_final_line_says_how_far_and_how_long() -> None:
    assert (progress.final_line("epochs", 10, 10, 362.0, "epoch")
            == "epochs: 10/10 in 06:02 (36.2 s/epoch)")
    assert (progress.final_line("epochs", 3, 10, 65.0, "epoch")
            == "epochs: stopped at 3/10 after 01:05 (21.7 s/epoch)")
    assert progress.final_line("eval", 0, None, 0.5, "batch") == "eval: 0 in 00:00"


def test_outside_a_kernel_the_bars_are_tqdm_text_bars(capsys) -> None:
    from tqdm import tqdm

    assert not progress.in_notebook()
    bar = progress.progress_bar(range(3), desc="epochs", unit="epoch")
    assert type(bar) is tqdm and list(bar) == [0, 1, 2]


def _stored_outputs(tmp_path, monkeypatch, cell: str) -> list[dict]:
    """Run FIT + `cell` in a real kernel, as `make execute` would, and return what is stored."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(FIT),
                                         nbformat.v4.new_code_cell(cell)])
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    # importing course_utils warns about nothing (tqdm's "experimental" notebook warning)
    assert not [o for o in nb.cells[0].outputs if o.get("name") == "stderr"], nb.cells[0].outputs
    return nb.cells[1].outputs


@pytest.mark.parametrize("stop_after", [None, 1], ids=["finished", "interrupted"])
def test_a_saved_fit_keeps_the_final_state_of_its_bars(tmp_path, monkeypatch, stop_after) -> None:
    stop = ("def stop(record):\n    raise KeyboardInterrupt\n" if stop_after else "stop = None\n")
    outputs = _stored_outputs(tmp_path, monkeypatch, stop + "history = fit(model, train, val, opt, "
                              "epochs=3, device='cpu', on_epoch_end=stop)\nprint(len(history))")
    assert not [o for o in outputs if WIDGET in o.get("data", {})], "a widget was stored"
    displays = [o for o in outputs if o.output_type in ("display_data", "execute_result")]
    # one display (the epoch bar, the batch bars drawn inside it) that became its final line
    assert len(displays) == 1, displays
    line = displays[0]["data"]["text/plain"]
    expected = (r"epochs: 3/3 in \d\d:\d\d \(\d+\.\d s/epoch\)" if stop_after is None
                else r"epochs: stopped at 1/3 after \d\d:\d\d \(\d+\.\d s/epoch\)")
    assert re.fullmatch(expected, line), line
    assert not [o for o in outputs if o.get("name") == "stderr"], outputs  # no warning either
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    epochs = 3 if stop_after is None else 1
    assert text.count("Epoch:") == epochs and text.rstrip().endswith(str(epochs))


NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem[:2] for n in NOTEBOOKS])
def test_a_committed_notebook_stores_no_stale_progress_widget(notebook) -> None:
    """A learner opening the notebook sees each bar's final state, not a '0%|' widget fallback."""
    cells = nbformat.read(notebook, as_version=4).cells
    stale = [(cell.get("id"), o["data"].get("text/plain", "")) for cell in cells
             for o in cell.get("outputs", []) if WIDGET in o.get("data", {})]
    assert not stale, f"{notebook.name} stores progress widgets, shown as: {stale[:3]}"
