"""Recipes: what each builds for `fit`, and that the ladder changes one thing per rung."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from course_utils.training import recipes
from course_utils.training.fitting import fit
from course_utils.training.recipes import COURSE, LADDER, LESSON, Recipe
from tests.test_training import loaders, tiny_net


def _settings(recipe: Recipe) -> dict:
    return {k: v for k, v in dataclasses.asdict(recipe).items() if k != "name"}


def test_the_lesson_recipe_is_the_lessons():
    model = tiny_net()
    optimizer, scheduler, loss_fn = LESSON.build(model, epochs=10, steps_per_epoch=5)
    assert isinstance(optimizer, torch.optim.AdamW) and len(optimizer.param_groups) == 1
    assert optimizer.param_groups[0]["lr"] == 1e-4
    assert optimizer.param_groups[0]["weight_decay"] == 0.01  # AdamW's default, on everything
    assert scheduler is None
    assert isinstance(loss_fn, nn.CrossEntropyLoss) and loss_fn.label_smoothing == 0.0
    assert LESSON.augment == "crop"


def test_the_course_recipe_builds_adamw_one_cycle_and_smoothing():
    model = tiny_net()
    optimizer, scheduler, loss_fn = COURSE.build(model, epochs=4, steps_per_epoch=5)
    decayed, spared = optimizer.param_groups
    assert decayed["weight_decay"] == COURSE.weight_decay == 0.05 and spared["weight_decay"] == 0.0
    assert {id(p) for p in spared["params"]} == {id(p) for p in model.parameters() if p.ndim == 1}
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR)
    assert scheduler.total_steps == 20
    # warm-up: starts at max_lr / 25 and peaks after 25 % of the steps (OneCycleLR's pct_start)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(COURSE.lr / 25)
    rates = []
    for _ in range(20):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert max(rates) == pytest.approx(COURSE.lr) and rates.index(max(rates)) == 0.25 * 20 - 1
    assert loss_fn.label_smoothing == 0.1
    assert COURSE.augment == "flip-shift"


def test_fit_runs_the_recipe_it_is_given():
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    optimizer, scheduler, loss_fn = COURSE.build(model, epochs=2, steps_per_epoch=len(train))
    history = fit(model, train, val, optimizer, epochs=2, device="cpu", scheduler=scheduler,
                  loss_fn=loss_fn, progress=False, log=None)
    assert history[0]["lr"] == pytest.approx(COURSE.lr / 25)  # the warm-up's first rate
    assert scheduler.last_epoch == 2 * len(train)  # one step per batch, as the recipe means it


def test_the_ladder_changes_one_thing_per_rung_and_ends_at_the_course():
    assert LADDER[0] is LESSON
    assert _settings(LADDER[-1]) == _settings(COURSE)
    changed = []
    for before, after in zip(LADDER, LADDER[1:], strict=False):
        diff = {k for k in _settings(after) if _settings(after)[k] != _settings(before)[k]}
        assert diff, f"rung {after.name!r} changes nothing"
        changed.append(diff)
    # the fields that move together are one idea: lr with its schedule, decay with its target
    assert changed == [{"lr", "one_cycle"}, {"augment"}, {"label_smoothing"},
                       {"weight_decay", "decay_norm_and_bias"}]
    assert len({r.name for r in LADDER}) == len(LADDER)


def test_one_cycle_on_a_tiny_run_still_warms_up_or_says_why():
    model = tiny_net()
    with pytest.raises(ValueError, match="at least 3 optimiser steps, got 1 epoch"):
        COURSE.build(model, epochs=1, steps_per_epoch=2)
    # 4 steps: PyTorch's own pct_start=0.25 would divide by zero; the warm-up spans 2 steps
    optimizer, scheduler, _ = COURSE.build(model, epochs=2, steps_per_epoch=2)
    rates = []
    for _ in range(4):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(COURSE.lr / 25) and rates[1] == pytest.approx(COURSE.lr)
    assert rates[3] < rates[2] < rates[1]


def test_chapter_4_writes_out_the_course_recipe():
    """Chapter 4's final cell spells the recipe out; it must build what COURSE.build builds."""
    import json
    from pathlib import Path
    from types import SimpleNamespace

    nb = json.loads((Path(__file__).resolve().parent.parent / "notebooks" /
                     "04_training.ipynb").read_text(encoding="utf-8"))
    source = "".join(next(c for c in nb["cells"] if c.get("id") == "c25a")["source"])
    data = SimpleNamespace(classes=list("abcd"), train_loader=range(5), augment=COURSE.augment)
    namespace = {"recipes": recipes, "torch": torch, "SEED": 0, "EPOCHS": 4, "data": data,
                 "resnet50": lambda num_classes, zero_init_residual: tiny_net(num_classes)}
    exec(source, namespace)
    written = namespace["optimizer"], namespace["scheduler"], namespace["loss_fn"]
    built = COURSE.build(tiny_net(), epochs=4, steps_per_epoch=5)
    for key in ("lr", "weight_decay", "betas"):
        assert [g[key] for g in written[0].param_groups] == [g[key] for g in built[0].param_groups]
    assert [len(g["params"]) for g in written[0].param_groups] == [
        len(g["params"]) for g in built[0].param_groups]
    assert type(written[0]) is type(built[0]) and type(written[1]) is type(built[1])
    assert written[2].label_smoothing == built[2].label_smoothing
    rates = {"written": [], "built": []}
    for name, (optimizer, scheduler, _) in (("written", written), ("built", built)):
        for _ in range(20):  # the whole schedule, step by step
            rates[name].append(optimizer.param_groups[0]["lr"])
            optimizer.step()
            scheduler.step()
    assert rates["written"] == pytest.approx(rates["built"])


def test_bad_recipes_are_refused():
    with pytest.raises(ValueError, match="augment='rotate'"):
        Recipe("x", augment="rotate")
    with pytest.raises(ValueError, match="label_smoothing=1"):
        Recipe("x", label_smoothing=1)
    with pytest.raises(ValueError, match="lr=0"):
        Recipe("x", lr=0)
    with pytest.raises(ValueError, match="lr=nan"):
        Recipe("x", lr=float("nan"))
    with pytest.raises(ValueError, match="warmup=1"):
        Recipe("x", warmup=1)
    with pytest.raises(ValueError, match="weight_decay=-0.1"):
        Recipe("x", weight_decay=-0.1)


def test_describe_names_the_settings():
    text = COURSE.describe()
    assert "AdamW lr 0.002" in text and "one-cycle (warm-up 25%, beta1 cycled)" in text
    assert "label smoothing 0.1" in text and "weight decay 0.05 on weights only" in text
    assert "constant" in recipes.LESSON.describe()


def test_ladder_table_reads_each_history():
    def record(epoch, val_acc, val_loss=1.0, train_acc=0.5, seconds=30.0):
        return {"epoch": epoch, "val_acc": val_acc, "val_loss": val_loss, "train_acc": train_acc,
                "seconds": seconds}

    table = recipes.ladder_table({
        "lesson": [record(1, 0.3, 1.386), record(2, 0.25, 1.39, 0.3)],  # best is not last
        "course": [record(1, 0.5), record(2, 0.95, 0.2, 0.9, 90.0)],
    })
    lines = table.splitlines()
    assert lines[0].startswith("| rung | best val acc | last val acc")
    assert lines[2] == "| lesson | 30.0% | 25.0% | 1.390 | 30.0% | 1.0 |"
    assert lines[3] == "| course | 95.0% | 95.0% | 0.200 | 90.0% | 2.0 |"
    with pytest.raises(ValueError, match="'empty'"):
        recipes.ladder_table({"empty": []})
