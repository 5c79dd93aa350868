"""The course as a learner sees it: every notebook opened in JupyterLab in a real (headless)
Chromium, driven by Playwright.

Why Playwright for Python and not Selenium: it waits on selectors by itself (no sleeps), gathers
console messages and page errors through events, and drives any Chromium by its executable path,
so Debian's `chromium` package is enough (browser downloads are impossible offline and in CI).

What is checked, per notebook (copies in a temporary folder, so nothing is written to
notebooks/): it opens with no error dialog and no front-end error, every stored cell is rendered,
every stored figure is displayed, no stored output is an error and no stored progress display is
a stale 0 % widget fallback. Then, through the UI with a real kernel and Shift-Enter: chapter
1's first code cells print the device banner, an exercise check shows its coloured verdict, and
the progress bar of a short `fit` updates while it runs and leaves its final line behind.
Screenshots go to build/ui/.

Without Chromium the tests are skipped, loudly: the reason is printed in pytest's summary and,
through conftest.py, in a banner at the end of the run. Under CI (CI=true), where .ci/run
installs Chromium, a missing browser is a failure instead.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9]*.ipynb"))
SHOTS = ROOT / "build" / "ui"
# $COURSE_CHROMIUM names another Chromium (or, pointing nowhere, shows what a skip looks like)
CHROMIUM = os.environ.get("COURSE_CHROMIUM") or shutil.which("chromium") or shutil.which(
    "chromium-browser")
# The flags that let Chromium run here: as root (no sandbox), with no GPU, and without the
# background connections a closed network refuses.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
TIMEOUT_MS = 120_000  # a busy 2-core machine starts a kernel and renders chapter 4 slowly

# Front-end console errors that are not the course's fault, each with its reason.
ALLOWED_CONSOLE_ERRORS: dict[str, str] = {}


def browser_missing_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    if CHROMIUM is not None and not os.access(CHROMIUM, os.X_OK):
        return f"COURSE_CHROMIUM={CHROMIUM!r} is not an executable file"
    if CHROMIUM is None:
        return ("no Chromium found (looked for `chromium` and `chromium-browser` on PATH, and "
                "$COURSE_CHROMIUM): install Debian's `chromium` package (.ci/run does) to run "
                "the JupyterLab browser tests")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright for Python is not installed (pip install -e '.[test]')"
    return None


MISSING = browser_missing_reason()
if MISSING and os.environ.get("CI", "").lower() == "true":
    # .ci/run installs Chromium: under CI a missing browser is a broken set-up, not a skip.
    raise RuntimeError(f"CI=true but the browser tests cannot run: {MISSING}")
pytestmark = pytest.mark.skipif(MISSING is not None, reason=f"BROWSER TESTS SKIPPED: {MISSING}")


# --------------------------------------------------------------------------- the server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _settings(folder: Path) -> Path:
    """User settings that keep JupyterLab quiet and offline, and render every cell."""
    settings = {
        # every cell in the page, so every figure can be checked (no virtual scrolling)
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
        # no news or update check: the tests run offline and a toast would cover the page
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
            "fetchNews": "false", "checkForUpdates": False},
    }
    for name, value in settings.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value))
    return folder


@contextlib.contextmanager
def jupyterlab(root: Path, home: Path):
    """JupyterLab serving `root`, started as `make lab` starts it (a random token, --allow-root
    as root), on a free port, with its own runtime/config/settings folders under `home`; yields
    its base URL with the token. Kernels inherit COURSE_FAST=1 and this checkout on PYTHONPATH."""
    port, token = _free_port(), secrets.token_hex(24)
    env = dict(os.environ, COURSE_FAST="1", JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTER_CONFIG_DIR=str(home / "config"), IPYTHONDIR=str(home / "ipython"),
               JUPYTER_PLATFORM_DIRS="1",
               PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
        f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
        f"--LabApp.user_settings_dir={_settings(home / 'settings')}",
        f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate", "--LabApp.news_url=",
        "--LabApp.expose_app_in_browser=True",  # window.jupyterapp, to clear outputs
        "--ServerApp.log_level=WARN",
    ] + (["--allow-root"] if hasattr(os, "getuid") and os.getuid() == 0 else [])
    log = (home / "jupyterlab.log").open("w")
    server = subprocess.Popen(command, env=env, cwd=root, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:  # the server answers its status API once it is up
            if server.poll() is not None:
                raise RuntimeError(f"JupyterLab exited with {server.returncode}: "
                                   f"{(home / 'jupyterlab.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=5):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        yield url, token
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One server for the module, over copies of the notebooks plus a scratch notebook."""
    home = tmp_path_factory.mktemp("lab")
    root = home / "notebooks"
    root.mkdir()
    for notebook in NOTEBOOKS:
        shutil.copy(notebook, root / notebook.name)
    with jupyterlab(root, home) as (url, token):
        yield url, token, root


@pytest.fixture(scope="module")
def app(lab):
    """JupyterLab loaded once in a headless Chromium; notebooks are opened and closed in it."""
    from playwright.sync_api import sync_playwright

    url, token, _ = lab
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield App(chromium, f"{url}/lab?token={token}&reset")
        finally:
            chromium.close()


class App:
    """The JupyterLab page: records front-end errors, opens one notebook at a time."""

    def __init__(self, browser, url: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        self.page.goto(url)
        # window.jupyterapp is there because of --LabApp.expose_app_in_browser
        self.page.wait_for_function("() => window.jupyterapp && window.jupyterapp.started")
        self.page.evaluate("() => window.jupyterapp.started")
        self.page.wait_for_selector(".jp-DirListing-item")  # the file browser has loaded

    def _console(self, message) -> None:
        if message.type == "error" and not any(pattern in message.text
                                               for pattern in ALLOWED_CONSOLE_ERRORS):
            self.errors.append(f"console error: {message.text}")

    @contextlib.contextmanager
    def notebook(self, name: str):
        """Open notebook `name` as a double click in the file browser would; yields a function
        that lists the front-end errors since it was opened. The notebook is ready once it
        is rendered and its kernel idle, or once JupyterLab shows a dialog instead."""
        before = len(self.errors)
        # not awaited: the command resolves only once the kernel has started, or never when
        # the file cannot be opened; NOTEBOOK_READY waits for what matters
        self.page.evaluate("name => { window.jupyterapp.commands.execute('docmanager:open', "
                           "{path: name, factory: 'Notebook'}); }", name)
        self.page.wait_for_function(NOTEBOOK_READY, arg=name)
        try:
            yield lambda: self.errors[before:]
        finally:
            self.close_all()

    def close_all(self) -> None:
        """Close every dialog and document without saving (these are copies)."""
        for _ in range(5):
            self.page.evaluate("""() => {
                for (const widget of [...window.jupyterapp.shell.widgets('main')]) {
                    if (widget.context) widget.context.model.dirty = false;
                    widget.dispose();
                }
            }""")
            buttons = self.page.locator(".jp-Dialog .jp-Dialog-button")
            if not buttons.count():
                break
            # "Discard" in a save prompt, else the first button (Close, Cancel)
            discard = buttons.filter(has_text="Discard")
            (discard if discard.count() else buttons).first.click()
        self.page.wait_for_selector(".jp-NotebookPanel, .jp-Dialog", state="detached")


NOTEBOOK_READY = """name => {
    if (document.querySelector('.jp-Dialog')) return true;
    const panel = window.jupyterapp.shell.currentWidget;
    if (!panel || !panel.context || panel.context.path !== name) return false;
    const kernel = panel.sessionContext && panel.sessionContext.session
        && panel.sessionContext.session.kernel;
    return !!panel.node.querySelector('.jp-Notebook .jp-Cell') && !!kernel
        && kernel.connectionStatus === "connected" && kernel.status === "idle";
}"""


def dialogs(page) -> list[str]:
    return [d.inner_text() for d in page.query_selector_all(".jp-Dialog")]


def stored_counts(path: Path) -> tuple[int, int, int] | None:
    """(cells, figures, error outputs) as stored in the file; None if it is not valid JSON."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError):
        return None
    outputs = [o for c in notebook.get("cells", []) for o in c.get("outputs", [])]
    figures = sum(any(m.startswith("image/") for m in o.get("data", {})) for o in outputs)
    errors = sum(o.get("output_type") == "error" for o in outputs)
    return len(notebook.get("cells", [])), figures, errors


def problems(page, path: Path, errors: list[str]) -> list[str]:
    """What is wrong with the notebook at `path` as the page shows it: error dialogs, front-end
    `errors`, cells not rendered, figures not displayed, error outputs. Empty when all is well."""
    found = [f"error dialog: {text!r}" for text in dialogs(page)]
    counts = stored_counts(path)
    if counts is None:
        return found + [f"{path.name} is not valid JSON"] + errors
    cells, figures, stored_errors = counts
    rendered = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").count()
    if rendered != cells:
        found.append(f"{rendered} cells rendered, {cells} stored")
    # every stored figure is an <img> that has loaded, with a real size
    page.wait_for_function("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                           ".every(img => img.complete)")
    sizes = page.evaluate("() => [...document.querySelectorAll('.jp-OutputArea-output img')]"
                          ".map(img => [img.naturalWidth, img.naturalHeight])")
    shown = sum(w > 0 and h > 0 for w, h in sizes)
    if shown != figures:
        found.append(f"{shown} figures displayed ({sizes}), {figures} stored")
    # a stored error output is shown as red stderr text holding the traceback
    tracebacks = page.locator(
        ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
        ":has-text('Error')").count()
    if stored_errors or tracebacks:
        found.append(f"{stored_errors} stored error output(s), {tracebacks} shown")
    return found + errors


def screenshot(page, name: str) -> Path:
    """The whole notebook in one picture: the window made as tall as the notebook (capped)."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    height = page.evaluate("() => document.querySelector("
                           "'.jp-NotebookPanel .jp-WindowedPanel-outer')?.scrollHeight ?? 0")
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": max(size["height"],
                                                                   min(height + 200, 12_000))})
    path = SHOTS / f"{Path(name).stem}.png"
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


def run_cell(page, index: int):
    """Run cell `index` as a learner does: click into it, Shift-Enter; returns the cell once it
    has run (its prompt shows an execution count)."""
    from playwright.sync_api import expect

    cell = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").nth(index)
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Shift+Enter")
    expect(cell.locator(".jp-InputPrompt")).to_have_text(re.compile(r"\[\d+\]:"),
                                                         timeout=TIMEOUT_MS)
    return cell


def clear_outputs(page) -> None:
    """Clear the stored outputs (of the copy), so what is checked after a run is what it printed."""
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs')")
    page.wait_for_function(
        "() => !document.querySelector('.jp-NotebookPanel .jp-OutputArea-output')")


# --------------------------------------------------------------------------- the tests


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=[n.stem[:2] for n in NOTEBOOKS])
def test_notebook_opens_with_its_stored_outputs_and_no_error(app, lab, notebook) -> None:
    with app.notebook(notebook.name) as errors:
        found = problems(app.page, lab[2] / notebook.name, errors())
        screenshot(app.page, notebook.name)
    assert not found, f"{notebook.name} in JupyterLab: " + "; ".join(found)


BROKEN = {
    "not_json": '{"cells": [{"cell_type": "code", "source": "1 +',
    "error_output": json.dumps({
        "nbformat": 4, "nbformat_minor": 5, "metadata": {"kernelspec": {
            "name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": "c1", "metadata": {}, "execution_count": 1,
                   "source": "1 / 0", "outputs": [{
                       "output_type": "error", "ename": "ZeroDivisionError",
                       "evalue": "division by zero",
                       "traceback": ["Traceback (most recent call last)",
                                     "ZeroDivisionError: division by zero"]}]}]}),
}


@pytest.mark.parametrize("kind", BROKEN)
def test_a_broken_notebook_is_caught(app, lab, kind) -> None:
    """The checks above must fail on a notebook that does not open or stores an error."""
    path = lab[2] / f"broken_{kind}.ipynb"
    path.write_text(BROKEN[kind], encoding="utf-8")
    with app.notebook(path.name) as errors:
        found = problems(app.page, path, errors())
    expected = {"not_json": "error dialog: 'File Load Error", "error_output": "stored error output"}
    assert any(expected[kind] in problem for problem in found), found


def test_chapter1_first_cells_print_the_device_banner_within_the_notebook_width(app) -> None:
    page = app.page
    with app.notebook("01_data.ipynb") as errors:
        clear_outputs(page)
        cells = page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell")
        kinds = cells.evaluate_all("cells => cells.map(c => c.classList.contains('jp-CodeCell'))")
        first, second = [i for i, is_code in enumerate(kinds) if is_code][:2]
        cell = run_cell(page, first)
        output = cell.locator(".jp-OutputArea-output")
        text = output.inner_text()
        assert "device: cpu" in text and "torch " in text and "native bf16:" in text, text
        # drawn without wrapping: as many lines on the screen as were printed
        lines = text.strip("\n").split("\n")
        height, line_height = output.locator("pre").evaluate(
            "pre => [pre.getBoundingClientRect().height, "
            "parseFloat(getComputedStyle(pre).lineHeight)]")
        assert round(height / line_height) == len(lines), (height, line_height, lines)
        run_cell(page, second)  # the chapter's constants, from the FAST flag the first cell set
        assert not cell.locator("[data-mime-type='application/vnd.jupyter.stderr']").count()
        assert not errors(), errors()


SCRATCH_CELLS = [
    # an exercise check, answered wrong and right, as a learner would (each cell stands alone)
    "import math\n\nfrom course_utils.exercises import ch1\n\n"
    "batches_per_epoch = 1000 // 48  # rounds down\nch1.q2.check(batches_per_epoch)",
    "import math\n\nfrom course_utils.exercises import ch1\n\n"
    "batches_per_epoch = math.ceil(1000 / 48)\nch1.q2.check(batches_per_epoch)",
    # a short fit whose batches take long enough (a sleep per image) to watch the bar move
    """import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.training.fitting import fit


class SlowImages(TensorDataset):
    def __getitem__(self, index):
        time.sleep(0.02)
        return super().__getitem__(index)


torch.manual_seed(0)
x, y = torch.randn(48, 4), torch.randint(0, 2, (48,))
model = nn.Linear(4, 2)
history = fit(model, DataLoader(SlowImages(x, y), batch_size=8),
              DataLoader(SlowImages(x[:8], y[:8]), batch_size=8),
              torch.optim.SGD(model.parameters(), lr=0.1), epochs=3, device="cpu")""",
]


@pytest.fixture(scope="module")
def scratch(app, lab):
    """A learner's own notebook with the cells above, open in JupyterLab."""
    notebook = {"nbformat": 4, "nbformat_minor": 5, "metadata": {
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [{"cell_type": "code", "id": f"s{i}", "metadata": {}, "execution_count": None,
                   "source": source, "outputs": []} for i, source in enumerate(SCRATCH_CELLS)]}
    (lab[2] / "scratch.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
    with app.notebook("scratch.ipynb") as errors:
        yield app.page, errors


@pytest.mark.parametrize(("index", "verdict", "colour"), [
    (0, "Incorrect: you rounded down", "rgb(207, 34, 46)"),
    (1, "Correct: ceil(1000 / 48) = 21", "rgb(26, 127, 55)"),
], ids=["wrong", "right"])
def test_an_exercise_check_shows_its_coloured_verdict(scratch, index, verdict, colour) -> None:
    page, errors = scratch
    cell = run_cell(page, index)
    span = cell.locator(".jp-OutputArea-output[data-mime-type='text/html'] span")
    assert span.count() == 1, cell.inner_text()  # shown once
    assert span.inner_text().startswith(verdict), span.inner_text()
    assert span.evaluate("s => getComputedStyle(s).color") == colour
    assert not cell.locator("[data-mime-type='application/vnd.jupyter.stderr']").count(), (
        cell.inner_text())  # no warning (importing course_utils is quiet)
    assert not errors(), errors()


def test_the_progress_bar_of_fit_updates_live_and_leaves_its_final_line(scratch) -> None:
    page, errors = scratch
    # record every text the bars show while the cell runs (no polling, no sleeps)
    page.evaluate("""() => {
        window.barTexts = [];
        new MutationObserver(() => {
            const bars = '.jp-OutputArea-output .widget-hprogress';
            for (const bar of document.querySelectorAll(bars)) {
                const text = bar.parentElement.innerText.replace(/\\s+/g, ' ').trim();
                if (window.barTexts.at(-1) !== text) window.barTexts.push(text);
            }
        }).observe(document.body, {subtree: true, childList: true, characterData: true,
                                   attributes: true});
    }""")
    cell = run_cell(page, 2)
    screenshot(page, "scratch_exercise_and_fit")  # the verdicts and the bar's final line
    seen = page.evaluate("() => window.barTexts")
    epochs = {m for text in seen for m in re.findall(r"\b([0-3])/3\b", text)}
    assert {"0", "1", "2"} <= epochs, seen  # the epoch bar moved while fit ran
    assert any(re.search(r"epoch \d train", text) for text in seen), seen  # and the batch bar
    text = cell.locator(".jp-OutputArea").inner_text()
    assert re.search(r"epochs: 3/3 in \d\d:\d\d \(\d+\.\d s/epoch\)", text), text
    assert text.count("Epoch:") == 3, text
    assert cell.locator(".widget-hprogress").count() == 0  # no bar left behind
    assert not cell.locator("[data-mime-type='application/vnd.jupyter.stderr']").count(), text
    assert not errors(), errors()


if __name__ == "__main__":  # `make test` ends with this: a skipped browser test is not missed
    if MISSING:
        print(f"\n{'!' * 79}\n!!! THE JUPYTERLAB BROWSER TESTS DID NOT RUN: {MISSING}\n{'!' * 79}")
