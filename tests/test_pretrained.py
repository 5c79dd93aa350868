"""Pretrained weights into the course's ResNets: torchvision's files load, anything else is
refused with a message that says what the file is; "imagenet" never downloads by itself.

Every file here is made by the test (random weights in torchvision's format); nothing touches
the network.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict

import pytest
import torch
import torchvision
from torch import nn

from course_utils.models import resnet as models
from course_utils.models.cifar import cifar_net
from course_utils.models.pretrained import (
    DOWNLOAD_FLAG,
    PretrainedError,
    identify_architecture,
    imagenet_file_names,
    imagenet_folder,
    load_pretrained,
    open_pretrained,
)


def torchvision_state(builder=torchvision.models.resnet18, seed: int = 0, **kwargs) -> dict:
    """A torchvision ResNet's state dict with random weights and non-trivial BN statistics, so
    that equal tensors after loading mean copied tensors, not two fresh initialisations."""
    torch.manual_seed(seed)
    net = builder(weights=None, **kwargs)
    models.randomise_batch_norm(net, seed=seed)
    return net.state_dict()


def snapshot(model: nn.Module) -> dict:
    return {k: v.clone() for k, v in model.state_dict().items()}


def assert_unchanged(model: nn.Module, before: dict) -> None:
    after = model.state_dict()
    assert all(torch.equal(after[k], before[k]) for k in before), "a refused file changed weights"


@pytest.fixture
def resnet18_file(tmp_path):
    path = tmp_path / "resnet18 weights ñ.pth"  # a space and a non-ASCII character, on purpose
    torch.save(torchvision_state(), path)
    return path


@pytest.fixture
def empty_torch_home(tmp_path, monkeypatch):
    home = tmp_path / "torch home"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    return home


# --------------------------------------------------------------------------- files that load


def test_torchvision_resnet18_file_loads_into_the_course_resnet18(resnet18_file):
    saved = torch.load(resnet18_file, weights_only=True)
    torch.manual_seed(1)
    model = models.resnet18(num_classes=3)
    params_before = [id(p) for p in model.parameters()]  # an optimizer made earlier keeps working
    head_before = {k: v.clone() for k, v in model.fc.state_dict().items()}

    report = load_pretrained(model, resnet18_file)

    state = model.state_dict()
    backbone = [k for k in state if not k.startswith("fc.")]
    assert len(backbone) == 120
    for key in backbone:
        assert torch.equal(state[key], saved[key]), key
    # the head: the model's own, for 3 classes, untouched by the file's 1000-class head
    assert model.fc.out_features == 3 and saved["fc.weight"].shape[0] == 1000
    assert all(torch.equal(model.fc.state_dict()[k], v) for k, v in head_before.items())
    assert [id(p) for p in model.parameters()] == params_before
    assert (report.architecture, report.loaded, report.head_outputs, report.file_head_outputs) == (
        "ResNet-18", 120, 3, 1000)
    assert report.values == sum(saved[k].numel() for k in backbone)
    assert report.not_in_file == ()
    text = str(report)
    assert "120 backbone tensors" in text and "ResNet-18" in text and "3 outputs" in text
    assert resnet18_file.name in text


def test_loaded_backbone_computes_what_torchvision_computes(resnet18_file):
    reference = torchvision.models.resnet18(weights=None)
    reference.load_state_dict(torch.load(resnet18_file, weights_only=True))
    model = models.resnet18(num_classes=3)
    load_pretrained(model, resnet18_file)
    reference.fc = model.fc = nn.Identity()  # compare the 512 features the new head will see
    x = torch.randn(2, 3, 64, 64)
    with torch.inference_mode():
        assert torch.allclose(model.eval()(x), reference.eval()(x), atol=1e-5)


def test_the_head_is_never_loaded_even_when_its_shape_fits(tmp_path):
    path = tmp_path / "three_classes.pth"
    torch.save(models.resnet18(num_classes=3).state_dict(), path)
    model = models.resnet18(num_classes=3)
    head = model.fc.weight.clone()
    report = load_pretrained(model, path)
    assert torch.equal(model.fc.weight, head) and report.file_head_outputs == 3


def test_a_backbone_without_head_and_an_old_file_without_bn_counters_load(tmp_path):
    # torchvision's older files predate BatchNorm's num_batches_tracked; some people save the
    # backbone alone. Both are fine: the counters are never used with BN's default momentum.
    state = {k: v for k, v in torchvision_state().items()
             if not k.endswith("num_batches_tracked") and not k.startswith("fc.")}
    torch.save(state, tmp_path / "old.pth", _use_new_zipfile_serialization=False)
    model = models.resnet18(num_classes=5)
    report = load_pretrained(model, tmp_path / "old.pth")
    assert len(report.not_in_file) == 20 and report.loaded == 100
    assert all(k.endswith("num_batches_tracked") for k in report.not_in_file)
    assert report.file_head_outputs is None and "no head" in str(report)
    assert torch.equal(model.layer4[1].bn2.running_var, state["layer4.1.bn2.running_var"])


def test_a_wrapped_model_gets_the_weights(resnet18_file):
    wrapped = nn.DataParallel(models.resnet18(num_classes=2))  # DDP wraps the same way
    load_pretrained(wrapped, resnet18_file)
    saved = torch.load(resnet18_file, weights_only=True)
    assert torch.equal(wrapped.module.conv1.weight, saved["conv1.weight"])


# --------------------------------------------------------------------------- files that do not


def test_resnet18_file_into_resnet50_names_both(resnet18_file):
    model = models.resnet50(num_classes=3)
    before = snapshot(model)
    with pytest.raises(PretrainedError, match=r"this file holds a ResNet-18's weights; you "
                                              r"built a ResNet-50"):
        load_pretrained(model, resnet18_file)
    assert_unchanged(model, before)


@pytest.mark.parametrize(("builder", "name"), [
    (torchvision.models.resnet34, "ResNet-34"),
    (torchvision.models.resnet101, "ResNet-101"),
    (torchvision.models.resnet152, "ResNet-152"),
    (torchvision.models.wide_resnet50_2, "Wide ResNet-50-2"),
    (torchvision.models.resnext50_32x4d, "ResNeXt-50 32x4d"),
    (torchvision.models.resnext101_64x4d, "ResNeXt-101 64x4d"),
])
def test_other_architectures_are_recognised_from_keys_and_shapes(builder, name):
    with torch.device("meta"):  # shapes only, no memory
        state = builder().state_dict()
        ours = models.resnet50().state_dict()
    assert identify_architecture(state) == name
    assert identify_architecture(ours) == "ResNet-50"


def test_a_chapter6_cifar_net_is_named(tmp_path):
    path = tmp_path / "cifar.pth"
    torch.save(cifar_net(20, residual=True, num_classes=4).state_dict(), path)
    with pytest.raises(PretrainedError, match=r"holds a CIFAR-style ResNet-20's weights; you "
                                              r"built a ResNet-18"):
        load_pretrained(models.resnet18(num_classes=4), path)


def _renamed(state: dict, rename) -> OrderedDict:
    return OrderedDict((rename(k), v) for k, v in state.items())


def _timm_style(key: str) -> str:
    for stage in (1, 2, 3, 4):
        key = key.replace(f"layer{stage}.", f"stages.{stage - 1}.blocks.")
    return key.replace("conv1.", "stem.conv.", 1) if key.startswith("conv1.") else (
        key.replace("fc.", "head.fc.") if key.startswith("fc.") else key)


def _keras_style(key: str) -> str:
    return key.replace(".", "_").replace("_weight", "/kernel:0").replace("_bias", "/bias:0")


@pytest.mark.parametrize(("rename", "expected"), [
    (_timm_style, r"timm-style names.*"),
    (_keras_style, r"TensorFlow/Keras variable names"),
])
def test_another_librarys_names_are_refused_with_examples(tmp_path, rename, expected):
    path = tmp_path / "renamed.pth"
    torch.save(_renamed(torchvision_state(), rename), path)
    model = models.resnet18(num_classes=3)
    before = snapshot(model)
    with pytest.raises(PretrainedError) as error:
        load_pretrained(model, path)
    message = str(error.value)
    assert "does not use torchvision's ResNet names" in message
    assert repr(rename("conv1.weight")) in message  # a key of the file's, by name
    assert "'conv1.weight'" in message  # a model key the file lacks, by name
    assert re.search(expected, message), message
    assert_unchanged(model, before)


def test_a_wrapper_prefix_is_named_with_the_fix(tmp_path):
    path = tmp_path / "ddp.pth"
    torch.save(_renamed(torchvision_state(), lambda k: "module." + k), path)
    with pytest.raises(PretrainedError, match=r"every key starts with 'module\.'.*"
                                              r"removeprefix\('module\.'\)"):
        load_pretrained(models.resnet18(num_classes=3), path)


def test_a_full_checkpoint_says_which_key_holds_the_weights(tmp_path):
    state = torchvision_state()
    for key in ("state_dict", "model"):
        path = tmp_path / f"{key}.pth"
        torch.save({"epoch": 7, "best_acc": 0.91, key: state,
                    "optimizer": {"state": {}, "param_groups": []}}, path)
        with pytest.raises(PretrainedError, match=rf"full checkpoint .*the weights are under "
                                                  rf"'{key}'"):
            load_pretrained(models.resnet18(num_classes=3), path)


def test_a_course_checkpoint_is_a_full_checkpoint(tmp_path):
    from course_utils.training.checkpoints import save_checkpoint

    path = save_checkpoint(tmp_path / "best.pth", models.resnet18(num_classes=2), arch="resnet18",
                           class_names=["a", "b"], image_size=32, mean=(0.5,) * 3, std=(0.5,) * 3)
    with pytest.raises(PretrainedError, match=r"under 'state_dict'"):
        load_pretrained(models.resnet18(num_classes=2), path)


def test_same_network_with_another_shape_lists_the_difference(tmp_path):
    state = torchvision_state()
    state["conv1.weight"] = torch.randn(64, 1, 7, 7)  # a greyscale stem
    torch.save(state, tmp_path / "grey.pth")
    with pytest.raises(PretrainedError, match=r"shapes differ \(e\.g\. conv1\.weight: file "
                                              r"\[64, 1, 7, 7\] vs model \[64, 3, 7, 7\]"):
        load_pretrained(models.resnet18(num_classes=3), tmp_path / "grey.pth")


@pytest.mark.parametrize("new_format", [True, False])
def test_a_truncated_file_is_called_truncated(tmp_path, resnet18_file, new_format):
    whole = tmp_path / "whole.pth"
    torch.save(torch.load(resnet18_file, weights_only=True), whole,
               _use_new_zipfile_serialization=new_format)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    model = models.resnet18(num_classes=3)
    before = snapshot(model)
    with pytest.raises(PretrainedError, match=r"cut\.pth.*truncated or damaged"):
        load_pretrained(model, cut)
    assert_unchanged(model, before)


@pytest.mark.parametrize(("content", "expected"), [
    (b"", r"empty \(0 bytes\)"),
    (b"<html><body>404 Not Found</body></html>\n", r"a text file, not a PyTorch file"),
    (b"hello world\n" * 20, r"a text file, not a PyTorch file"),  # torch.load: KeyError 101
    (b"\x89HDF\r\n\x1a\n" + bytes(200), r"an HDF5 file \(Keras"),
    (len(b'{"a":1}').to_bytes(8, "little") + b'{"a":1}', r"safetensors file"),
    (bytes(range(256)) * 4, r"not a PyTorch file"),
])
def test_a_non_pytorch_file_says_what_it_is(tmp_path, content, expected):
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(PretrainedError, match=rf"cannot read .*weights\.pth.*{expected}"):
        load_pretrained(models.resnet18(num_classes=3), path)


def test_a_pickled_model_is_refused_safely(tmp_path):
    path = tmp_path / "model.pth"
    torch.save(torchvision.models.resnet18(weights=None), path)  # the whole object
    with pytest.raises(PretrainedError, match=r"pickles whole Python objects.*state_dict\(\)"):
        load_pretrained(models.resnet18(num_classes=3), path)


def test_a_missing_file_or_a_folder_is_named(tmp_path):
    missing = tmp_path / "nowhere" / "resnet50.pth"
    with pytest.raises(PretrainedError, match=r"nowhere/resnet50\.pth' does not exist"):
        load_pretrained(models.resnet18(num_classes=3), missing)
    with pytest.raises(PretrainedError, match=r"is a folder, not a file"):
        load_pretrained(models.resnet18(num_classes=3), tmp_path)


# --------------------------------------------------------------------------- "imagenet"


def test_torchvision_file_names_are_its_own():
    assert imagenet_file_names(18) == ["resnet18-f37072fd.pth"]
    assert imagenet_file_names(50) == ["resnet50-11ad3fa6.pth", "resnet50-0676ba61.pth"]
    names = {w.url.rsplit("/", 1)[-1] for w in torchvision.models.ResNet50_Weights}
    assert set(imagenet_file_names(50)) == names


@pytest.mark.parametrize(("build", "name"), [(models.resnet18, "resnet18-f37072fd.pth"),
                                             (models.resnet50, "resnet50-11ad3fa6.pth")])
def test_imagenet_without_the_file_fails_at_once_with_name_folder_and_flag(
        empty_torch_home, build, name):
    model = build(num_classes=3)
    before = snapshot(model)
    start = time.perf_counter()
    with pytest.raises(PretrainedError) as error:
        load_pretrained(model, "imagenet")
    assert time.perf_counter() - start < 5  # no download attempt, no waiting for a network
    message = str(error.value)
    folder = empty_torch_home / "hub" / "checkpoints"
    assert name in message and repr(str(folder)) in message and DOWNLOAD_FLAG in message
    assert "Nothing was loaded" in message
    assert imagenet_folder() == folder
    assert not folder.exists(), "looking must not create the folder"
    assert_unchanged(model, before)  # no silent fallback: the caller sees the error


def test_imagenet_uses_torchvisions_file_from_its_cache(empty_torch_home):
    folder = empty_torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    # ResNet-50: only the V1 file is there; it is torchvision's other accepted name
    state = torchvision_state(torchvision.models.resnet50)
    torch.save(state, folder / "resnet50-0676ba61.pth")
    model = models.resnet50(num_classes=3)
    report = load_pretrained(model, "imagenet")
    assert report.source == str(folder / "resnet50-0676ba61.pth")
    assert report.architecture == "ResNet-50" and report.loaded == 318
    assert torch.equal(model.layer3[5].conv2.weight, state["layer3.5.conv2.weight"])


def test_imagenet_has_no_file_for_a_cifar_net(empty_torch_home):
    with pytest.raises(PretrainedError, match=r"no ImageNet weights for CIFAR-style ResNet-20"):
        load_pretrained(cifar_net(20, residual=True, num_classes=4), "imagenet")


def test_download_is_only_for_imagenet(resnet18_file):
    with pytest.raises(PretrainedError, match=r"download=True applies to source='imagenet'"):
        load_pretrained(models.resnet18(num_classes=3), resnet18_file, download=True)


def test_open_pretrained_checks_a_file_without_touching_the_model(resnet18_file):
    model = models.resnet18(num_classes=2)
    before = snapshot(model)
    weights = open_pretrained(resnet18_file, model)
    assert_unchanged(model, before)
    assert (weights.path, weights.architecture, weights.imagenet) == (resnet18_file, "ResNet-18",
                                                                       None)
    assert weights.origin == resnet18_file.name  # what a checkpoint records: the name only
    other = models.resnet18(num_classes=7)  # the head is never read: any number of classes
    report = load_pretrained(other, weights)
    assert report.origin == resnet18_file.name and report.head_outputs == 7
    assert torch.equal(other.layer1[0].conv1.weight, weights.state["layer1.0.conv1.weight"])
    with pytest.raises(PretrainedError, match=r"holds a ResNet-18's weights; you built a "
                                              r"ResNet-50"):
        load_pretrained(models.resnet50(num_classes=2), weights)


def test_imagenet_origin_names_torchvisions_file_and_weights(empty_torch_home):
    folder = empty_torch_home / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(torchvision_state(), folder / "resnet18-f37072fd.pth")
    weights = open_pretrained("imagenet", models.resnet18(num_classes=3))
    assert weights.origin == "imagenet (torchvision file resnet18-f37072fd.pth, IMAGENET1K_V1)"
