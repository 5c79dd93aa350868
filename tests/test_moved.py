"""The old flat import paths (before issue 28) keep working for one release: the same object,
with a DeprecationWarning that names the new path. The course itself uses only the new ones."""

from __future__ import annotations

import ast
import importlib
import json
import re
import subprocess
import sys
import types
import warnings
from pathlib import Path

import pytest

from course_utils import _moved

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("old", "name", "new", "new_name"), [
    ("course_utils.training", "evaluate", "course_utils.training.loops", "evaluate"),
    ("course_utils.training", "fit", "course_utils.training.fitting", "fit"),
    ("course_utils.data", "course_data", "course_utils.data.loaders", "course_data"),
    ("course_utils.data", "IMAGENET_MEAN", "course_utils.data.transforms", "IMAGENET_MEAN"),
    ("course_utils.models", "resnet50", "course_utils.models.resnet", "resnet50"),
    ("course_utils.models", "gradient_norms_at_init", "course_utils.models.gradients",
     "gradient_norms_at_init"),
    ("course_utils.fastpath", "FastPath", "course_utils.training.speed", "Speed"),
    ("course_utils.fastpath", "fast_path", "course_utils.training.speed", "speed_for"),
    ("course_utils.runtime", "fast_path", "course_utils.training.speed", "speed_for"),
    ("course_utils.checkpoints", "RunMeta", "course_utils.run_meta", "RunMeta"),
    ("course_utils.checkpoints", "load_checkpoint", "course_utils.training.checkpoints",
     "load_checkpoint"),
    ("course_utils.plots", "grad_cam", "course_utils.evaluation.explain", "grad_cam"),
    ("course_utils.plots", "plot_history", "course_utils.evaluation.curves", "plot_history"),
    ("course_utils.cifar", "train_steps", "course_utils.training.steps", "train_steps"),
    ("course_utils.malloc_tuning", "reuse_freed_memory", "course_utils.training.allocator",
     "reuse_freed_memory"),
    ("course_utils.train", "ARCHITECTURES", "course_utils.models.architectures", "ARCHITECTURES"),
    ("course_utils.student", "strip_solutions", "course_utils.instructor.student",
     "strip_solutions"),
])
def test_an_old_path_warns_and_gives_the_same_object(old, name, new, new_name) -> None:
    expected = getattr(importlib.import_module(new), new_name)
    with pytest.warns(DeprecationWarning, match=re.escape(f"{new}.{new_name}")) as caught:
        found = getattr(importlib.import_module(old), name)
    assert found is expected
    assert any(f"{old}.{name} moved to" in str(w.message) for w in caught)


def test_an_old_from_import_names_the_callers_line(tmp_path) -> None:
    script = tmp_path / "learner.py"
    script.write_text("from course_utils.loops import evaluate\n", encoding="utf-8")
    run = subprocess.run([sys.executable, "-W", "always::DeprecationWarning", str(script)],
                         capture_output=True, text=True, cwd=ROOT, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": ""})
    assert f"{script}:1: DeprecationWarning: course_utils.loops.evaluate moved to " \
           "course_utils.training.loops.evaluate" in run.stderr


def test_new_paths_and_submodules_stay_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        from course_utils.data import folders  # a submodule, not a moved name
        from course_utils.training import loops
        from course_utils.training.loops import evaluate
    assert evaluate is loops.evaluate and folders.ImageFolderDataset


def test_a_removed_name_says_what_replaces_it() -> None:
    with pytest.raises(ImportError, match=r"make_loader\(dataset, batch_size, train=\.\.\., rank="):
        from course_utils.distributed import train_loader  # noqa: F401
    with pytest.raises(AttributeError, match="has no attribute 'nonsense'"):
        importlib.import_module("course_utils.metrics").nonsense  # noqa: B018


def test_every_old_module_is_an_alias_and_every_home_exists() -> None:
    for old, homes in _moved.HOMES.items():
        for home in homes:
            importlib.import_module(f"course_utils.{home}")
        assert not (ROOT / "course_utils" / f"{old}.py").exists() or old in ("runtime", "train")


def old_imports(source: str) -> list[str]:
    """The imports in `source` that only an old path (an alias module, a `__getattr__`) answers."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
            names = []
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            modules = [node.module]
            names = [alias.name for alias in node.names]
        else:
            continue
        for module in (m for m in modules if m.startswith("course_utils")):
            if not is_real_module(module):
                found.append(f"{module} (an alias module)")
                continue
            for name in names:
                value = vars(importlib.import_module(module)).get(name)
                if isinstance(value, types.ModuleType) or value is None and is_submodule(
                        f"{module}.{name}"):
                    real = is_real_module(f"{module}.{name}")
                else:
                    real = value is not None
                if not real:
                    found.append(f"from {module} import {name}")
    return found


def is_submodule(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


def is_real_module(name: str) -> bool:
    """A module with a file of its own, not one of _moved's aliases."""
    return is_submodule(name) and getattr(sys.modules[name], "__file__", None) is not None


def test_the_old_import_check_sees_each_kind_of_old_path() -> None:
    assert old_imports("from course_utils.training import fit, loops\n") == [
        "from course_utils.training import fit"]  # a moved name, not the submodule
    assert old_imports("import course_utils.plots\nfrom course_utils import fastpath\n") == [
        "course_utils.plots (an alias module)", "from course_utils import fastpath"]
    assert old_imports("from course_utils.fastpath import tolerance\n") == [
        "course_utils.fastpath (an alias module)"]
    assert old_imports("from course_utils.training.fitting import fit\n"
                       "from course_utils.training import loops\nimport course_utils.train\n"
                       "from course_utils import runtime\n") == []


def test_the_course_uses_only_new_paths() -> None:
    """Notebooks, tests and benchmarks import every name from its new home (the pages are
    checked by tests/test_docs.py)."""
    sources = {p: p.read_text(encoding="utf-8") for p in [
        *ROOT.glob("tests/*.py"), *ROOT.glob("benchmarks/*.py")] if p != Path(__file__)}
    for nb in ROOT.glob("notebooks/*.ipynb"):
        for cell in json.loads(nb.read_text(encoding="utf-8"))["cells"]:
            if cell["cell_type"] == "code":
                sources[Path(f"{nb.name} cell {cell.get('id')}")] = "".join(cell["source"])
    found = [f"{path.name}: {problem}" for path, text in sources.items()
             for problem in old_imports(text)]
    assert not found, found
