"""Old import paths, kept for one release: each still works, warns and names the new path.

Until issue 28 the package was 28 flat modules (`course_utils.fastpath`, `course_utils.loops`, ...);
they now live in sub-packages that follow the course (docs/architecture.md). An old path gives
the very same object as the new one, with a DeprecationWarning that says where it lives now:

    from course_utils.training import evaluate   # -> course_utils.training.loops.evaluate
    from course_utils.fastpath import fast_path  # -> course_utils.training.speed.speed_for

Old modules that no longer exist as files are made on first import by `Finder` (installed by
course_utils/__init__.py); old names in a module or package that still exists (`runtime`,
`train`, `data`, `models`, `training`) are looked up by its `__getattr__` (PEP 562). Delete this
module, its finder and those `__getattr__` lines in the next release.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import sys
import types
import warnings
from pathlib import Path

_P = "course_utils."
# (a constant has no __module__: it is named after the first home that holds it, so the
# modules that define constants come before those that import them)
_DATA = ("data.images", "data.shapes", "data.transforms", "data.scan", "data.folders",
         "data.splits", "run_meta", "runtime", "data.loaders")
_TRAINING = ("training.fitting", "training.loops", "training.history", "training.recipes",
             "training.distributed", "training.speed")

# old module -> where its names live now, searched in this order
HOMES: dict[str, tuple[str, ...]] = {
    "checkpoints": ("training.checkpoints", "run_meta"),
    "cifar": ("models.cifar", "training.steps"),
    "data": _DATA,
    "distributed": ("training.distributed", "runtime"),
    "explain": ("evaluation.explain",),
    "fastpath": ("training.speed", "runtime"),
    "folders": ("data.scan", "data.folders"),
    "gradients": ("models.gradients",),
    "grading": ("instructor.grading",),
    "history": ("training.history",),
    "images": ("data.images",),
    "loops": ("training.loops",),
    "malloc_tuning": ("training.allocator",),
    "metrics": ("evaluation.metrics",),
    "models": ("models.resnet", "models.gradients"),
    "plots": ("data.transforms", "evaluation.plots", "evaluation.curves", "evaluation.explain",
              "data.figures", "training.distributed"),
    "predict": ("evaluation.predict",),
    "progress": ("training.progress",),
    "recipes": ("data.transforms", "training.recipes"),
    "runtime": ("training.speed",),
    "shapes": ("data.shapes",),
    "splits": ("data.splits",),
    "student": ("instructor.student",),
    "train": ("models.architectures", "training.command"),
    "training": _TRAINING,
    "transforms": ("data.transforms",),
}
# (old module, old name) -> (new module, new name), where the name changed too
RENAMED = {
    ("fastpath", "FastPath"): ("training.speed", "Speed"),
    ("fastpath", "fast_path"): ("training.speed", "speed_for"),
    ("runtime", "fast_path"): ("training.speed", "speed_for"),
    ("training", "FastPath"): ("training.speed", "Speed"),
    ("training", "fast_path"): ("training.speed", "speed_for"),
}
# (old module, old name) -> what to use instead, where nothing takes its place one for one
GONE = {
    ("distributed", name): "course_utils.data.loaders.make_loader(dataset, batch_size, train=..., "
                           "rank=world.rank, world_size=world.world_size)"
    for name in ("train_loader", "eval_loader", "shard", "loader_workers")
}
GONE[("train", "save_resume_state")] = ("course_utils.training.checkpoints.save_checkpoint(path, "
                                        "model, optimizer=optimizer, **meta)")
GONE[("train", "RESUME_FORMAT")] = "course_utils.training.checkpoints.FORMAT"


def resolve(old: str, name: str):
    """The object that `course_utils.<old>.<name>` was, with a DeprecationWarning naming its new
    path; AttributeError when there is none."""
    if name.startswith("_") or old not in HOMES:  # private and special names never moved
        raise AttributeError(f"module {_P + old!r} has no attribute {name!r}")
    if (old, name) in GONE:  # an ImportError, so that `from ... import` shows this message
        raise ImportError(f"{_P}{old}.{name} was removed in issue 28; use {GONE[old, name]} "
                          "instead")
    homes = [RENAMED[old, name]] if (old, name) in RENAMED else [(h, name) for h in HOMES[old]]
    for home, new_name in homes:
        module = importlib.import_module(_P + home)
        value = vars(module).get(new_name)  # vars: never another module's __getattr__
        # a module is never a moved name: `from course_utils.training import loops` is the
        # submodule, which the import system loads once this raises AttributeError
        if value is not None and not isinstance(value, types.ModuleType):
            where = getattr(value, "__module__", None)
            if not (isinstance(where, str) and where.startswith(_P)
                    and new_name in vars(sys.modules.get(where, module))):
                where = module.__name__  # a constant: the module we found it in
            warnings.warn(f"{_P}{old}.{name} moved to {where}.{new_name}; import it from there "
                          "(the old path works for one release)", DeprecationWarning, stacklevel=3)
            return value
    raise AttributeError(f"module {_P + old!r} has no attribute {name!r}")


def module_getattr(module_name: str):
    """A module-level `__getattr__` (PEP 562) that finds the names that moved away from it."""
    old = module_name.removeprefix(_P)

    def __getattr__(name: str):
        return resolve(old, name)

    return __getattr__


class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Makes `import course_utils.<old module>` work for the modules that are no files any more."""

    def find_spec(self, fullname, path=None, target=None):
        old = fullname.removeprefix(_P)
        if not fullname.startswith(_P) or old not in HOMES or "." in old:
            return None
        here = Path(__file__).parent
        if (here / old).is_dir() or (here / f"{old}.py").is_file():
            return None  # a module that still exists (data, models, training, runtime, train)
        return importlib.machinery.ModuleSpec(fullname, self)

    def create_module(self, spec):
        return None  # the default: an empty module

    def exec_module(self, module: types.ModuleType) -> None:
        module.__doc__ = (f"Moved: {module.__name__} is now in "
                          + ", ".join(_P + home for home in HOMES[module.__name__[len(_P):]])
                          + ". This alias warns and goes away in the next release.")
        module.__getattr__ = module_getattr(module.__name__)


def install() -> None:
    """Put the finder first, once (it answers only for old names that are no file any more, so
    no other copy of the package on the path, an older install say, is imported by mistake)."""
    if not any(isinstance(finder, Finder) for finder in sys.meta_path):
        sys.meta_path.insert(0, Finder())
