"""predict: any image mode, the checkpoint's own transforms, clear errors."""

from __future__ import annotations

import math

import conftest
import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from course_utils.data.transforms import eval_transforms
from course_utils.evaluation.predict import predict, prepare_image
from course_utils.training.checkpoints import (
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)

CLASSES = ["crow", "eagle", "owl", "swan"]
META = {"arch": "tiny", "class_names": CLASSES, "image_size": 16,
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def tiny_net(num_classes: int = 4) -> nn.Module:
    return conftest.tiny_net(num_classes, seed=0)


def _rgb(width=30, height=20) -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def _check(result, topk=3):
    assert len(result) == topk
    names = [name for name, _ in result]
    probs = [p for _, p in result]
    assert set(names) <= set(CLASSES) and len(set(names)) == topk
    assert all(isinstance(p, float) and 0 <= p <= 1 for p in probs)
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6


def test_grayscale_png(tmp_path):
    path = tmp_path / "gray.png"
    _rgb().convert("L").save(path)
    _check(predict(tiny_net(), path, META))


def test_rgba_image_file_and_pil(tmp_path):
    rgba = _rgb().convert("RGBA")
    rgba.putalpha(128)
    path = tmp_path / "with alpha 透明.png"
    rgba.save(path)
    _check(predict(tiny_net(), path, META))
    _check(predict(tiny_net(), rgba, META, topk=2), topk=2)


@pytest.mark.parametrize("mode", ["P", "CMYK", "I;16", "LA", "1"])
def test_other_modes(mode):
    image = _rgb()
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image.convert("L"), dtype="<u2") * 257)  # 16-bit gray
        assert image.mode == "I;16"
    else:
        image = image.convert(mode)
    tensor = prepare_image(image, META)
    assert tensor.shape == (3, 16, 16) and torch.isfinite(tensor).all()
    _check(predict(tiny_net(), image, META))


def test_uses_the_evaluation_transforms_of_the_metadata():
    image = _rgb(40, 24)
    expected = eval_transforms(16, META["mean"], META["std"])(image)
    assert torch.equal(prepare_image(image, META), expected)
    tuple_meta = (CLASSES, 16, META["mean"], META["std"])
    assert torch.equal(prepare_image(image, tuple_meta), expected)


def test_topk_is_capped_and_model_mode_is_kept():
    model = tiny_net().train()
    result = predict(model, _rgb(), META, topk=10)
    assert len(result) == 4
    assert sum(p for _, p in result) == pytest.approx(1.0, abs=1e-5)
    assert model.training


def test_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no image file at .*missing.jpg"):
        predict(tiny_net(), tmp_path / "missing.jpg", META)
    with pytest.raises(ValueError, match="5 outputs but the metadata names 4 classes"):
        predict(tiny_net(num_classes=5), _rgb(), META)
    with pytest.raises(ValueError, match=r"lacks \['image_size'\]"):
        predict(tiny_net(), _rgb(), {k: v for k, v in META.items() if k != "image_size"})


def test_end_to_end_from_a_checkpoint(tmp_path):
    model = tiny_net().eval()
    path = save_checkpoint(tmp_path / "best.pth", model, **META)
    checkpoint = load_checkpoint(path)
    rebuilt = model_from_checkpoint(checkpoint, tiny_net)
    image = _rgb()
    assert predict(rebuilt, image, checkpoint) == predict(model, image, META)


def _fixed_logits(logits: list[float]) -> nn.Module:
    """A tiny net whose head ignores the image and always outputs `logits`."""
    model = tiny_net(num_classes=len(logits))
    with torch.no_grad():
        model.fc.weight.zero_()
        model.fc.bias.copy_(torch.tensor(logits))
    return model


def test_names_and_probabilities_follow_the_model_outputs():
    # Outputs 0, 3, 1, 2 for classes in an order that is not alphabetical: by hand, the top
    # three are output 1 ("crow"), 3 ("eagle"), 2 ("owl"), with softmax probabilities e^k / S.
    names = ["swan", "crow", "owl", "eagle"]
    meta = {**META, "class_names": names}
    total = sum(math.exp(k) for k in (0, 3, 1, 2))
    result = predict(_fixed_logits([0.0, 3.0, 1.0, 2.0]), _rgb(), meta)
    assert [name for name, _ in result] == ["crow", "eagle", "owl"]
    assert [p for _, p in result] == pytest.approx([math.exp(k) / total for k in (3, 2, 1)])


def test_predict_uses_running_statistics_and_changes_nothing():
    model = tiny_net()
    with torch.no_grad():  # running statistics far from the defaults, as after training
        model.train()(torch.randn(16, 3, 16, 16) * 3 + 2)
    model.train()  # a notebook may call predict in the middle of training
    before = {k: v.clone() for k, v in model.state_dict().items()}
    image = _rgb()
    result = dict(predict(model, image, META, topk=4))
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), f"predict changed {k}"
    assert model.training
    # the expectation: the same image, prepared by hand, through the model in eval mode
    x = eval_transforms(16, META["mean"], META["std"])(image).unsqueeze(0)
    with torch.no_grad():
        expected = model.eval()(x).softmax(1)[0]
    assert [result[name] for name in CLASSES] == pytest.approx(expected.tolist(), rel=1e-5)
