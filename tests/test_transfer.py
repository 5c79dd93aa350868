"""Transfer learning (chapter 8): freezing the backbone, its own learning rate, and the command's
`--pretrained`, `--freeze-backbone`, `--backbone-lr-scale` and `--download-weights`.

The pretrained files are made here: a course ResNet-18 with random weights and randomised
BatchNorm statistics, saved as torchvision saves its own (`torch.save(model.state_dict())`).
Nothing touches the network.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from course_utils import runtime, train
from course_utils.data.loaders import course_data
from course_utils.models.architectures import ARCHITECTURES
from course_utils.models.resnet import count_parameters, randomise_batch_norm, resnet18
from course_utils.models.transfer import (
    backbone_and_head,
    backbone_is_frozen,
    freeze_backbone,
    unfreeze_backbone,
)
from course_utils.training.checkpoints import load_checkpoint, model_from_checkpoint
from course_utils.training.fitting import fit
from course_utils.training.loops import evaluate
from course_utils.training.recipes import COURSE, LESSON, transfer_groups
from course_utils.training.steps import augment, batches, train_steps

# the command's error recorder (command.main's @record) cannot reach a file number under pytest
pytestmark = pytest.mark.filterwarnings("ignore:Unable to enable fault handler")
ROOT = Path(__file__).resolve().parent.parent


def tiny_folder(root: Path, per_class: int = 10) -> Path:
    """4 classes of random 20x20 images: 28 training, 6 validation, 6 test images."""
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c", "d"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(
                root / name / f"{i}.png")
    return root


def pretrained_file(path: Path, num_classes: int = 8) -> Path:
    """A course ResNet-18 in torchvision's file format, with weights and BN statistics that a
    fresh model does not have (so equal tensors mean loaded tensors)."""
    torch.manual_seed(123)
    model = resnet18(num_classes=num_classes)
    randomise_batch_norm(model, seed=7)
    torch.save(model.state_dict(), path)
    return path


def backbone_state(state: dict) -> dict:
    return {k: v.clone() for k, v in state.items() if not k.startswith("fc.")}


def assert_same_backbone(state: dict, reference: dict) -> None:
    keys = [k for k in state if not k.startswith("fc.")]
    assert len(keys) == 120 and set(keys) <= set(reference)  # weights and BN buffers, all
    changed = [k for k in keys if not torch.equal(state[k], reference[k])]
    assert not changed, f"{len(changed)} backbone tensors changed, e.g. {changed[:3]}"


# --------------------------------------------------------------------------- freezing


def test_freeze_leaves_every_backbone_tensor_bit_identical_through_fit_while_the_head_learns(
        tmp_path):
    data = course_data(tiny_folder(tmp_path / "data"), image_size=32, batch_size=4,
                       num_workers=0)
    torch.manual_seed(0)
    model = resnet18(num_classes=4)
    randomise_batch_norm(model, seed=1)  # statistics that a BN in training mode would move
    frozen = freeze_backbone(model)
    assert frozen == count_parameters(model) - (512 * 4 + 4)
    assert count_parameters(model, trainable_only=True) == 512 * 4 + 4
    before = {k: v.clone() for k, v in model.state_dict().items()}
    modes = []
    model.layer2[1].bn1.register_forward_hook(lambda m, i, o: modes.append(m.training))
    optimizer, scheduler, loss_fn = COURSE.build(model, 2, len(data.train_loader))
    fit(model, data.train_loader, data.val_loader, optimizer, epochs=2, device="cpu",
        loss_fn=loss_fn, scheduler=scheduler, progress=False, log=None)
    after = model.state_dict()
    assert_same_backbone(after, before)  # weights, running means and variances, counters
    assert not torch.equal(after["fc.weight"], before["fc.weight"])
    assert not torch.equal(after["fc.bias"], before["fc.bias"])
    # fit put the model in training mode every epoch; the frozen BN still ran in eval mode
    assert len(modes) > 2 and not any(modes)
    assert backbone_is_frozen(model)


def test_requires_grad_alone_does_not_freeze_batchnorm(tmp_path):
    """Why freeze_backbone also keeps the backbone in eval mode: without that, fit's
    model.train() lets every BatchNorm move its running statistics on the new data."""
    data = course_data(tiny_folder(tmp_path / "data"), image_size=32, batch_size=4,
                       num_workers=0)
    torch.manual_seed(0)
    model = resnet18(num_classes=4)
    randomise_batch_norm(model, seed=1)
    backbone, _ = backbone_and_head(model)
    for param in backbone:
        param.requires_grad_(False)
    before = model.layer1[0].bn1.running_mean.clone()
    optimizer, scheduler, loss_fn = COURSE.build(model, 1, len(data.train_loader))
    fit(model, data.train_loader, data.val_loader, optimizer, epochs=1, device="cpu",
        loss_fn=loss_fn, scheduler=scheduler, progress=False, log=None)
    assert not torch.equal(model.layer1[0].bn1.running_mean, before)
    assert model.layer1[0].conv1.weight.grad is None


def test_unfreeze_undoes_freeze_and_freezing_twice_changes_nothing():
    model = resnet18(num_classes=3)
    freeze_backbone(model)
    freeze_backbone(model)
    hooks = [len(part._forward_pre_hooks) for part in (model.conv1, model.layer3, model.fc)]
    assert hooks == [1, 1, 0]  # one hook per part of the backbone, none on the head
    twin = copy.deepcopy(model)  # a copy is frozen too
    assert backbone_is_frozen(twin)
    model.train()
    model(torch.randn(2, 3, 32, 32))
    assert model.training and model.fc.training and not model.layer4[0].bn2.training
    unfreeze_backbone(model)
    assert not backbone_is_frozen(model) and all(p.requires_grad for p in model.parameters())
    assert model.layer4[0].bn2.training  # follows the model's mode again
    model(torch.randn(2, 3, 32, 32))
    assert model.layer4[0].bn2.training
    assert backbone_is_frozen(twin), "unfreezing one model must not unfreeze its copy"
    with pytest.raises(ValueError, match="head is a Linear layer named 'fc'"):
        freeze_backbone(torch.nn.Sequential(torch.nn.Linear(2, 2)))


def test_backbone_and_head_split_every_trainable_parameter_once():
    model = resnet18(num_classes=5)
    backbone, head = backbone_and_head(model)
    assert [p.shape for p in head] == [torch.Size([5, 512]), torch.Size([5])]
    assert len(backbone) + len(head) == len(list(model.parameters()))
    assert {id(p) for p in backbone}.isdisjoint({id(p) for p in head})
    freeze_backbone(model)
    assert backbone_and_head(model)[0] == []


# --------------------------------------------------------------------------- learning rates


def test_transfer_groups_give_the_backbone_a_scaled_rate_and_the_head_comes_first():
    model = resnet18(num_classes=4)
    groups = transfer_groups(model, 2e-3, 0.01, 0.05)
    assert [(g["name"], g["lr"], g["weight_decay"]) for g in groups] == [
        ("head", 2e-3, 0.05), ("head", 2e-3, 0.0),
        ("backbone", pytest.approx(2e-5), 0.05), ("backbone", pytest.approx(2e-5), 0.0)]
    assert [p.shape for p in groups[0]["params"]] == [torch.Size([4, 512])]  # decay: weights
    assert sum(len(g["params"]) for g in groups) == len(list(model.parameters()))
    assert len(transfer_groups(model, 1e-4, 0.5, 0.01, decay_norm_and_bias=True)) == 2
    freeze_backbone(model)
    assert [g["name"] for g in transfer_groups(model, 2e-3, 0.01, 0.05)] == ["head", "head"]
    for bad in (0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="backbone_lr_scale"):
            transfer_groups(model, 2e-3, bad, 0.05)


def test_the_one_cycle_schedule_keeps_the_backbone_at_its_fraction_of_the_head_rate():
    model = resnet18(num_classes=4)
    optimizer, scheduler, _ = COURSE.build(model, 2, 5, backbone_lr_scale=0.01)
    for _ in range(4):
        optimizer.step()
        scheduler.step()
        head, backbone = optimizer.param_groups[0]["lr"], optimizer.param_groups[2]["lr"]
        assert backbone == pytest.approx(0.01 * head)
    assert optimizer.param_groups[0]["max_lr"] == COURSE.lr
    # without a scale the optimiser is chapter 4's: two groups, decay on weights only
    optimizer, _, _ = COURSE.build(model, 2, 5)
    assert len(optimizer.param_groups) == 2
    optimizer, _, _ = LESSON.build(model, 2, 5)
    assert len(optimizer.param_groups) == 1


def test_a_frozen_model_gives_the_optimiser_the_head_only():
    model = resnet18(num_classes=4)
    freeze_backbone(model)
    optimizer, _, _ = COURSE.build(model, 1, 4)
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == 512 * 4 + 4
    optimizer, _, _ = LESSON.build(model, 1, 4)
    assert sum(p.numel() for g in optimizer.param_groups for p in g["params"]) == 512 * 4 + 4


def test_train_steps_runs_a_recipe_on_tensors_with_chapter_4s_augmentation():
    torch.manual_seed(0)
    x, y = torch.randn(12, 3, 16, 16), torch.arange(12) % 3
    model = resnet18(num_classes=3)
    optimizer, scheduler, loss_fn = COURSE.build(model, 1, 6, backbone_lr_scale=0.1)
    curve = train_steps(model, batches(x, y, 32, seed=0, train_augment="flip-shift"), 6,
                        optimizer=optimizer, scheduler=scheduler, loss_fn=loss_fn, log_every=3,
                        channels_last=True)
    assert curve["step"] == [3, 6]
    assert scheduler.last_epoch == 6  # stepped once per step, as fit steps it per batch
    with pytest.raises(ValueError, match="a scheduler goes with the optimizer"):
        train_steps(model, batches(x, y, 4), 1, optimizer="adam", scheduler=scheduler)
    # flip-shift repeats the border: a flat image stays flat (the CIFAR padding brings zeros)
    flat = torch.full((4, 3, 16, 16), 2.0)
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(augment(flat, generator, 2, "replicate"), flat)
    assert (augment(flat, generator, 2) == 0).any()
    assert next(batches(x, y, 32))[0].shape[0] == 12  # a batch is never larger than the data


# --------------------------------------------------------------------------- the command


def command_args(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--arch", "resnet18", "--image-size", "32", "--batch-size", "4",
            "--epochs", "2", "--no-progress", "--threads", "1", "--out", str(out), *extra]


@pytest.fixture(scope="module")
def command_runs(tmp_path_factory):
    """One frozen and one fine-tuned run of the command from the same pretrained file."""
    root = tmp_path_factory.mktemp("transfer")
    data = tiny_folder(root / "data")
    weights = pretrained_file(root / "source backbone ñ.pth")
    threads = torch.get_num_threads()
    try:
        frozen = train.main(command_args(data, root / "frozen", "--pretrained", str(weights),
                                         "--freeze-backbone"))
        tuned = train.main(command_args(data, root / "tuned", "--pretrained", str(weights)))
    finally:
        torch.set_num_threads(threads)
    assert (frozen, tuned) == (0, 0)
    return root, data, weights


def test_freeze_backbone_in_the_command_keeps_the_pretrained_backbone_bit_identical(command_runs):
    root, _, weights = command_runs
    saved = torch.load(weights, weights_only=True)
    for name in ("best.pth", "last.pth"):
        state = load_checkpoint(root / "frozen" / name)
        assert_same_backbone(state["state_dict"], saved)
        assert (state["pretrained"], state["frozen_backbone"], state["backbone_lr_scale"]) == (
            weights.name, True, None)
    last = load_checkpoint(root / "frozen" / "last.pth")
    moments = last["optimizer"]["state"]
    assert sorted(tuple(s["exp_avg"].shape) for s in moments.values()) == [(4,), (4, 512)]
    # the head trained: it is not the head the command started from (seed 0)
    runtime.seed_everything(0)
    start = ARCHITECTURES["resnet18"](num_classes=4)
    assert not torch.equal(last["state_dict"]["fc.weight"], start.fc.weight)


def test_fine_tuning_in_the_command_moves_the_backbone_at_its_own_rate(command_runs):
    root, _, weights = command_runs
    saved = torch.load(weights, weights_only=True)
    last = load_checkpoint(root / "tuned" / "last.pth")
    assert (last["pretrained"], last["frozen_backbone"], last["backbone_lr_scale"]) == (
        weights.name, False, 0.01)
    assert not torch.equal(last["state_dict"]["layer4.1.conv2.weight"],
                           saved["layer4.1.conv2.weight"])
    peaks = [(g["name"], g["max_lr"]) for g in last["optimizer"]["param_groups"]]
    assert peaks == [("head", 2e-3), ("head", 2e-3), ("backbone", pytest.approx(2e-5)),
                     ("backbone", pytest.approx(2e-5))]


def test_chapter_5s_tools_evaluate_a_transferred_checkpoint_unchanged(command_runs):
    root, data, _ = command_runs
    for run in ("frozen", "tuned"):
        ckpt = load_checkpoint(root / run / "best.pth")
        model = model_from_checkpoint(ckpt, ARCHITECTURES[ckpt["arch"]])
        again = course_data(data, image_size=ckpt["image_size"], batch_size=4, seed=ckpt["seed"],
                            max_per_class=ckpt["max_per_class"], num_workers=0)
        acc, _ = evaluate(model, again.val_loader, torch.nn.CrossEntropyLoss(), "cpu")
        assert abs(acc - ckpt["metrics"]["val_acc"]) <= 1 / len(again.val_set)


def test_resuming_needs_the_same_transfer_flags(command_runs, capsys):
    root, data, weights = command_runs
    capsys.readouterr()
    more = command_args(data, root / "frozen", "--resume", "--epochs", "3")
    assert train.main(more) == 1
    assert "trained from source backbone ñ.pth with the backbone frozen" in capsys.readouterr().err
    assert train.main([*more, "--pretrained", str(weights)]) == 1  # fine-tuning, not frozen
    assert train.main([*more, "--pretrained", str(weights), "--freeze-backbone"]) == 0
    state = load_checkpoint(root / "frozen" / "last.pth")
    assert state["epoch"] == 3
    assert_same_backbone(state["state_dict"], torch.load(weights, weights_only=True))


def test_imagenet_without_its_file_stops_the_command_at_once_without_a_traceback(tmp_path):
    home = tmp_path / "empty torch home"
    out = tmp_path / "out"
    start = time.perf_counter()
    process = subprocess.run(
        [sys.executable, "-m", "course_utils.train", "--arch", "resnet18", "--pretrained",
         "imagenet", "--data", str(tmp_path / "no such folder"), "--out", str(out)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT), "TORCH_HOME": str(home),
             "XDG_CACHE_HOME": str(tmp_path / "cache")})
    seconds = time.perf_counter() - start
    assert process.returncode == 1, process.stderr
    assert seconds < 60, f"{seconds:.0f} s"
    err = process.stderr
    assert "resnet18-f37072fd.pth" in err and str(home / "hub" / "checkpoints") in err
    assert "--download-weights" in err and "Traceback" not in err
    assert err.count("\n") == 1 and err.startswith("error: ")  # one message
    # the weights were checked first: the missing data folder was never looked at
    assert "no such folder" not in err and not out.exists()
    assert "loaded" not in process.stdout


def test_transfer_flags_that_would_do_nothing_are_refused(tmp_path, capsys):
    data = tmp_path / "data"
    weights = pretrained_file(tmp_path / "w.pth")
    for extra, words in [
        (["--freeze-backbone"], "--freeze-backbone only apply to pretrained weights"),
        (["--backbone-lr-scale", "0.1"], "--backbone-lr-scale only apply"),
        (["--download-weights"], "--download-weights only apply"),
        (["--pretrained", str(weights), "--download-weights"], "applies to --pretrained imagenet"),
        (["--pretrained", str(weights), "--freeze-backbone", "--backbone-lr-scale", "0.1"],
         "exclude each other"),
        (["--pretrained", str(weights), "--backbone-lr-scale", "0"], "expected a number > 0"),
    ]:
        with pytest.raises(SystemExit) as stop:
            train.main(command_args(data, tmp_path / "out", *extra))
        assert stop.value.code == 2
        assert words in capsys.readouterr().err, extra
    # a file for another network: refused before the data is read, no traceback
    assert train.main(command_args(data, tmp_path / "out", "--arch", "resnet34",
                                   "--pretrained", str(weights))) == 1
    err = capsys.readouterr().err
    assert "holds a ResNet-18's weights; you built a ResNet-34" in err
    assert not (tmp_path / "out").exists()
