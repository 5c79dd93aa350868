"""Checkpoints: round trip, plain metadata, weights_only, atomic writes, clear refusals."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from conftest import tiny_net
from torch import nn

from course_utils import files
from course_utils.run_meta import RunMeta
from course_utils.training import checkpoints
from course_utils.training.checkpoints import (
    CheckpointError,
    load_checkpoint,
    load_into,
    model_from_checkpoint,
    save_checkpoint,
)

CLASSES = ["crow", "eagle", "owl", "swan"]
META = {"arch": "tiny", "class_names": CLASSES, "image_size": 16,
        "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}


def trained_net() -> nn.Module:
    """A tiny net whose BN running statistics are no longer the defaults."""
    torch.manual_seed(0)
    model = tiny_net()
    model.train()
    with torch.no_grad():
        model(torch.randn(8, 3, 16, 16) * 2 + 1)
    return model.eval()


def test_round_trip_gives_identical_outputs(tmp_path):
    model = trained_net()
    path = save_checkpoint(tmp_path / "best.pth", model, epoch=3, metrics={"val_acc": 0.75}, **META)
    torch.manual_seed(1)
    fresh = tiny_net().eval()
    x = torch.randn(5, 3, 16, 16)
    assert not torch.equal(fresh(x), model(x))
    load_into(fresh, load_checkpoint(path))
    with torch.inference_mode():
        assert torch.equal(fresh(x), model(x))


def test_metadata_is_plain_and_complete(tmp_path):
    path = save_checkpoint(tmp_path / "best.pth", trained_net(), epoch=2,
                           metrics={"val_acc": torch.tensor(0.5), "val_loss": 1.25},
                           history=[{"epoch": 1, "val_acc": 0.25}], seed=0, **META)
    checkpoint = load_checkpoint(path)
    assert checkpoint["class_names"] == CLASSES and checkpoint["num_classes"] == 4
    assert checkpoint["image_size"] == 16
    assert checkpoint["mean"] == [0.485, 0.456, 0.406]
    assert checkpoint["epoch"] == 2 and checkpoint["metrics"] == {"val_acc": 0.5, "val_loss": 1.25}
    assert checkpoint["history"] == [{"epoch": 1, "val_acc": 0.25}] and checkpoint["seed"] == 0
    assert checkpoint["path"] == str(path)


def test_file_loads_with_plain_weights_only_torch_load(tmp_path):
    path = save_checkpoint(tmp_path / "best.pth", trained_net(), **META)
    data = torch.load(path, weights_only=True)
    assert data["format"] == checkpoints.FORMAT
    assert all(isinstance(v, torch.Tensor) for v in data["state_dict"].values())


def test_non_plain_metadata_is_refused_with_its_name(tmp_path):
    with pytest.raises(TypeError, match=r"extra\.device is a device"):
        save_checkpoint(tmp_path / "x.pth", trained_net(), device=torch.device("cpu"), **META)
    with pytest.raises(TypeError, match="reserved"):
        save_checkpoint(tmp_path / "x.pth", trained_net(), num_classes=4, **META)
    assert not list(tmp_path.iterdir())


def test_save_refuses_class_names_that_do_not_match_the_head(tmp_path):
    with pytest.raises(CheckpointError, match=r"4 outputs .* 5 class names"):
        save_checkpoint(tmp_path / "x.pth", trained_net(), **{**META, "class_names": list("abcde")})


def test_four_class_checkpoint_refuses_five_class_model(tmp_path):
    path = save_checkpoint(tmp_path / "runs" / "x.pth", trained_net(), **META)
    with pytest.raises(CheckpointError) as caught:
        load_into(tiny_net(num_classes=5), load_checkpoint(path))
    message = str(caught.value)
    assert str(path) in message
    assert "trained for 4 classes" in message and str(CLASSES) in message
    assert "the model has 5 outputs" in message and "num_classes=4" in message


def test_other_architecture_is_refused(tmp_path):
    path = save_checkpoint(tmp_path / "x.pth", trained_net(), **META)
    with pytest.raises(CheckpointError, match="holds a 'tiny' but the model is a 'resnet50'"):
        load_into(tiny_net(), path, arch="resnet50")
    with pytest.raises(CheckpointError, match=r"holds a 'tiny' whose layers do not match.*shapes "
                                              r"differ"):
        load_into(tiny_net(width=4), path)
    children = list(tiny_net().named_children()) + [("extra", nn.Linear(4, 4))]
    deeper = nn.Sequential(OrderedDict(children))
    with pytest.raises(CheckpointError, match="not in the checkpoint"):
        load_into(deeper, path)


def test_missing_and_foreign_files_get_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint file at .*nope.pth"):
        load_checkpoint(tmp_path / "nope.pth")
    bare = tmp_path / "lesson.pth"
    torch.save(trained_net().state_dict(), bare)  # what the lesson saved
    with pytest.raises(CheckpointError, match="bare state dict"):
        load_checkpoint(bare)
    pickled = tmp_path / "whole_model.pth"
    torch.save(trained_net(), pickled)  # a whole pickled module: refused by weights_only
    with pytest.raises(CheckpointError, match="weights_only=True"):
        load_checkpoint(pickled)
    garbage = tmp_path / "notes.pth"
    garbage.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match="notes.pth"):
        load_checkpoint(garbage)


def test_failed_save_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "best.pth", trained_net(), epoch=1, **META)
    before = path.read_bytes()

    def broken_save(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        raise OSError("No space left on device")

    monkeypatch.setattr(checkpoints.torch, "save", broken_save)
    with pytest.raises(OSError, match=r"could not write .*best.pth.: the disk is full"):
        save_checkpoint(path, trained_net(), epoch=2, **META)

    def interrupted_save(obj, f, *args, **kwargs):
        f.write(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoints.torch, "save", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, trained_net(), epoch=3, **META)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["best.pth"]


def test_parent_folders_are_created_even_with_spaces_and_non_ascii(tmp_path):
    path = save_checkpoint(tmp_path / "runs" / "实验 1" / "best model.pth", trained_net(), **META)
    assert load_checkpoint(path)["arch"] == "tiny"


def test_channels_last_model_saves_portably(tmp_path):
    model = trained_net().to(memory_format=torch.channels_last)
    path = save_checkpoint(tmp_path / "best.pth", model, **META)
    fresh = load_into(tiny_net().eval(), path)
    x = torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        torch.testing.assert_close(fresh(x), model(x), rtol=1e-5, atol=1e-6)


def test_model_from_checkpoint_builds_a_ready_model(tmp_path):
    model = trained_net()
    path = save_checkpoint(tmp_path / "best.pth", model, **META)
    rebuilt = model_from_checkpoint(path, tiny_net)
    assert not rebuilt.training
    x = torch.randn(3, 3, 16, 16)
    with torch.inference_mode():
        assert torch.equal(rebuilt(x), model(x))


def test_resnet_checkpoint_round_trip(tmp_path):
    from course_utils.models.resnet import resnet18

    torch.manual_seed(0)
    model = resnet18(num_classes=4).eval()
    path = save_checkpoint(tmp_path / "r18.pth", model, **{**META, "arch": "resnet18"})
    rebuilt = model_from_checkpoint(path, resnet18)
    x = torch.randn(1, 3, 32, 32)
    with torch.inference_mode():
        assert torch.equal(rebuilt(x), model(x))
    with pytest.raises(CheckpointError, match=r"trained for 4 classes .* 5 outputs \(fc.weight is "
                                              r"\[5, 512\]\)"):
        load_into(resnet18(num_classes=5), path)


class Compiled(nn.Module):
    """What torch.compile returns, as far as state dicts go: the model under `_orig_mod`."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self._orig_mod = model


def test_a_compiled_model_saves_the_plain_names(tmp_path):
    model = trained_net()
    assert next(iter(Compiled(model).state_dict())).startswith("_orig_mod.")
    path = save_checkpoint(tmp_path / "best.pth", Compiled(model), **META)
    assert list(load_checkpoint(path)["state_dict"]) == list(model.state_dict())
    fresh = load_into(Compiled(tiny_net()), path)._orig_mod.eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.inference_mode():
        assert torch.equal(fresh(x), model(x))


def test_run_meta_checks_what_a_checkpoint_needs_and_reads_like_a_dict(tmp_path):
    meta = RunMeta.of({**META, "seed": 3})
    assert meta.class_names == tuple(CLASSES) and meta.mean == (0.485, 0.456, 0.406)
    assert meta.extra == {"seed": 3} and dict(meta) == {**META, "class_names": CLASSES,
                                                         "mean": [0.485, 0.456, 0.406],
                                                         "std": [0.229, 0.224, 0.225], "seed": 3}
    assert RunMeta.of(meta) is meta and len(meta) == 6
    path = save_checkpoint(tmp_path / "best.pth", trained_net(), epoch=1, **meta)
    loaded = load_checkpoint(path)
    assert {k: loaded[k] for k in meta} == dict(meta) and loaded["num_classes"] == 4
    bad = [({"class_names": "crow"}, ValueError, "one string"),
           ({"class_names": ["crow", "crow"]}, ValueError, "distinct"),
           ({"image_size": 0}, ValueError, "image_size=0"),
           ({"image_size": 16.5}, ValueError, "image_size=16.5"),
           ({"arch": ""}, ValueError, "arch=''"),
           ({"std": (0.2, 0.2)}, ValueError, "one value per channel"),
           ({"std": (0.2, 0.0, 0.2)}, ValueError, "positive"),
           ({"mean": "abc"}, ValueError, "mean='abc'"),
           ({"epoch": 3}, TypeError, r"reserved names \['epoch'\]"),
           ({"device": torch.device("cpu")}, TypeError, r"extra\.device is a device")]
    for change, error, message in bad:
        with pytest.raises(error, match=message):
            RunMeta.of({**META, **change})
    with pytest.raises(ValueError, match=r"fit\(\) needs meta .* missing \['image_size', 'std'\]"):
        RunMeta.of({k: v for k, v in META.items() if k not in ("image_size", "std")},
                   where="fit()")


def test_run_folder_keeps_fast_runs_apart_and_paths_print_relative(monkeypatch):
    monkeypatch.setenv("COURSE_FAST", "1")
    assert files.run_folder("ch4").parts[-2:] == ("runs", "ch4-fast")
    assert files.run_folder("ch4", fast=False).parts[-2:] == ("runs", "ch4")
    monkeypatch.setenv("COURSE_FAST", "0")
    folder = files.run_folder("ch4")
    assert folder.parent.parent == files.repository() and folder.name == "ch4"
    assert (files.repository() / "pyproject.toml").is_file()
    assert files.shown(folder / "best.pth") == "runs/ch4/best.pth"
