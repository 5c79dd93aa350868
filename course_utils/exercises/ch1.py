"""Chapter 1 (data): a training transform, batches per epoch, two loaders."""

from __future__ import annotations

import math

import torch

from ..i18n import N_, _
from .checks import as_number, expect_number, package_functions, refuse
from .core import Exercise, LearnerError, Wrong, call, describe, returned_none, safe_str

# ------------------------------------------------------------------------- q1: a training transform


def _textured_image(seed: int = 0, size: tuple[int, int] = (90, 70)):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB")


def _grey(level: int):
    from PIL import Image

    return Image.new("RGB", (90, 70), (level, level, level))


def _normalisation(transform) -> tuple[torch.Tensor, torch.Tensor] | None:
    """The (mean, std) per channel the transform applies after scaling pixels to [0, 1], measured
    on a black and a white image; None when those do not come out as two different tensors.

    Augmentation may dim a white image (colour jitter) or solarise it, but it never makes a black
    image brighter nor a white one brighter than white: over a few draws the darkest black and the
    brightest white show the normalisation itself.
    """
    def levels(level: int, pick) -> torch.Tensor | None:
        outs = [call(transform, _grey(level)) for _ in range(8)]
        if not all(isinstance(o, torch.Tensor) and o.dim() == 3 and o.shape[0] == 3
                   and o.is_floating_point() for o in outs):
            return None
        return pick(torch.stack([o.flatten(1).median(1).values for o in outs]), 0).values

    black, white = levels(0, torch.min), levels(255, torch.max)
    if black is None or white is None or not bool((white - black > 1e-6).all()):
        return None
    std = 1 / (white - black)
    return -black * std, std


def _near(a: torch.Tensor, b, tol: float) -> bool:
    return bool(((a - torch.as_tensor(b, dtype=a.dtype)).abs() <= tol).all())


def _check_statistics(transform) -> None:
    from ..data.transforms import IMAGENET_MEAN, IMAGENET_STD

    seen = _normalisation(transform)
    if seen is None:
        return
    mean, std = seen
    m, s = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
    shown = _("mean ~ {mean}, std ~ {std}").format(mean=[round(v, 3) for v in mean.tolist()],
                                                   std=[round(v, 3) for v in std.tolist()])
    if _near(mean, s, 0.01) and _near(std, m, 0.01):
        raise Wrong(_("Normalize takes the mean first, then the std: "
                      "Normalize(IMAGENET_MEAN, IMAGENET_STD)."))
    if bool((std > 2).any()) or bool((mean.abs() > 2).any()):
        raise Wrong(_("your Normalize uses statistics of 0-255 pixel values ({shown}), but "
                      "ToTensor() has already scaled the pixels to 0-1: a white and a black pixel "
                      "come out almost equal. Divide those statistics by 255, or use "
                      "IMAGENET_MEAN and IMAGENET_STD, which are on the 0-1 scale.").format(
                          shown=shown))
    if _near(mean, 0.5, 0.01) and _near(std, 0.5, 0.01):
        raise Wrong(_("you normalised with 0.5 / 0.5, which only stretches [0, 1] to [-1, 1]: use "
                      "the statistics of the images, IMAGENET_MEAN and IMAGENET_STD (the "
                      "network's inputs then have about zero mean and unit spread per channel)."))
    if _near(std, s ** 2, 0.004):
        if _near(mean, m * (1 + s), 0.01):
            raise Wrong(_("your transform normalises twice (two Normalize steps, or Normalize "
                          "after a transform that already normalises): keep one, at the end."))
        raise Wrong(_("your std looks like a variance ({shown}; IMAGENET_STD squared is "
                      "{squared}): Normalize divides by the standard deviation, the square root "
                      "of the variance.").format(shown=shown,
                                                 squared=[round(v, 3) for v in (s ** 2).tolist()]))
    if _near(std, 1.0, 0.02):
        raise Wrong(_("your Normalize divides by 1: it subtracts the mean but leaves the spread as "
                      "it was. Pass IMAGENET_STD as the second argument."))
    plausible = ((mean > 0.05) & (mean < 0.95)).all() and ((std > 0.1) & (std < 0.5)).all()
    if not bool(plausible):
        raise Wrong(_("your normalisation is not the images' statistics ({shown}); use "
                      "Normalize(IMAGENET_MEAN, IMAGENET_STD): mean (0.485, 0.456, 0.406), std "
                      "(0.229, 0.224, 0.225).").format(shown=shown))


def _apply(transform, image, what: str):
    try:
        return call(transform, image)
    except LearnerError as wrapped:
        error = safe_str(wrapped.__cause__)
        if "crop size" in error.lower() and "larger than" in error.lower():
            raise Wrong(_("{what}: RandomCrop(size) fails on an image smaller than `size` "
                          "({error}). Photos come in all sizes: frame the image first, as the "
                          "evaluation transform does (T.Resize(size), then T.CenterCrop(size)).")
                        .format(what=what, error=error)) from None
        if "PIL" in error and "ensor" in error:
            raise Wrong(_("{what}: a step that works on tensors got a PIL image ({error}). "
                          "Normalize works on tensors: put it after ToTensor().").format(
                              what=what, error=error)) from None
        raise


def _check_train_transform(make_train_transform) -> str:
    from PIL import Image

    if not callable(make_train_transform):
        raise Wrong(_("make_train_transform should be a function of the image size."))
    forbid = package_functions({"train_transforms": refuse("make_train_transform",
                                                            "train_transforms")},
                               ("course_utils.data.transforms",))
    transform = call(make_train_transform, 40, forbid=forbid)
    if transform is None:
        raise returned_none("make_train_transform(40)")
    if not callable(transform):
        raise Wrong(_("make_train_transform(40) gave {value}; return a transform (e.g. "
                      "T.Compose([...])) that can be applied to an image.").format(
                          value=describe(transform, 40)))
    what = _("make_train_transform(40) applied to a 90x70 image")
    outs = [_apply(transform, _textured_image(), what) for _i in range(6)]  # seeded by the check
    out = outs[0]
    if isinstance(out, Image.Image):
        raise Wrong(_("your transform returns a PIL image; end it with ToTensor() and "
                      "Normalize(...)."))
    if not isinstance(out, torch.Tensor):
        raise Wrong(_("your transform returns {value}; expected a tensor.").format(
            value=describe(out, 40)))
    if tuple(out.shape) != (3, 40, 40):
        raise Wrong(_("make_train_transform(40) gives a tensor of shape {shape} for a 90x70 "
                      "image; expected (3, 40, 40): the size argument must set the output size, "
                      "square.").format(shape=tuple(out.shape)))
    if not out.is_floating_point():
        raise Wrong(_("your transform returns {dtype} pixels; ToTensor() (or ToDtype(float32, "
                      "scale=True)) gives floats between 0 and 1 for Normalize.").format(
                          dtype=out.dtype))
    other = call(make_train_transform, 33, forbid=forbid)
    odd = _apply(other, _textured_image(1), "make_train_transform(33)") if callable(other) else None
    odd_shape = tuple(odd.shape) if isinstance(odd, torch.Tensor) else None
    if odd_shape == (3, 40, 40):
        raise Wrong(_("make_train_transform(33) gives {value}; expected a tensor of shape (3, 33, "
                      "33): you fixed the size at 40; use the argument `size`.").format(
                          value=odd_shape))
    if odd_shape != (3, 33, 33):
        raise Wrong(_("make_train_transform(33) gives {value}; expected a tensor of shape (3, 33, "
                      "33): use the argument `size` for the output size.").format(
                          value=odd_shape or describe(odd, 40)))
    small = _apply(transform, _textured_image(2, (31, 24)),
                   _("make_train_transform(40) applied to a 31x24 image"))
    small_shape = tuple(small.shape) if isinstance(small, torch.Tensor) else None
    if small_shape != (3, 40, 40):
        raise Wrong(_("for a 31x24 image make_train_transform(40) gives {value}; expected (3, 40, "
                      "40): photos come in all sizes, smaller ones too.").format(
                          value=small_shape or describe(small, 40)))
    if all(o.min() >= 0 for o in outs):
        raise Wrong(_("every value your transform returns is between 0 and 1, as ToTensor gives "
                      "them: did you forget Normalize(IMAGENET_MEAN, IMAGENET_STD) after "
                      "ToTensor()?"))
    _check_statistics(transform)
    if all(torch.equal(outs[0], o) for o in outs[1:]):
        raise Wrong(_("your transform gives the same tensor every time; a training transform "
                      "should augment (for example a random flip and a small shift: RandomCrop "
                      "with padding)."))
    if _stretches(transform):
        return _("random augmentation, a tensor of the right size, normalised. One thing to "
                 "know: RandomResizedCrop stretches a random part of the picture to a square, "
                 "which can cut these shapes out of the frame or squash them (section 2); the "
                 "chapter's flip and shift keeps their proportions.")
    return _("random augmentation, a tensor of the right size, normalised.")


def _stretches(transform, depth: int = 0) -> bool:
    """Whether a RandomResizedCrop (torchvision's v1 or v2) is among the transform's steps."""
    if type(transform).__name__ == "RandomResizedCrop":
        return True
    steps = getattr(transform, "transforms", None)
    if steps is None and isinstance(transform, torch.nn.Sequential):
        steps = list(transform)
    return depth < 5 and isinstance(steps, list | tuple) and any(
        _stretches(step, depth + 1) for step in steps)


q1 = Exercise(
    N_("Chapter 1, question 1 (a training transform)"), _check_train_transform,
    hints=[N_("A training transform does three jobs: change the image at random (augmentation), "
              "turn the PIL image into a tensor, and normalise that tensor. Which classes of "
              "`torchvision.transforms` do each?"),
           N_("Frame the image as the evaluation transform does (which two transforms resize the "
              "shorter side and keep the central square?), then flip it, and shift it a little: "
              "which transform pads an image and crops it back to the same size?"),
           N_("Chain the steps with T.Compose([...]). The order matters: the steps that work on "
              "PIL images first, ToTensor next, Normalize last.")],
    solution="""
    def make_train_transform(size):
        return T.Compose([
            T.Resize(size),  # the shorter side to `size`, as the evaluation transform does
            T.CenterCrop(size),
            T.RandomHorizontalFlip(),
            T.RandomCrop(size, padding=size // 8, padding_mode="edge"),  # a shift of up to size / 8
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])""",
    answer="make_train_transform")

# --------------------------------------------------------------------------- q2: batches per epoch


def _check_batches(answer) -> str:
    what = _("batches per epoch")
    value = as_number(answer, what)
    if math.isclose(value, 48 / 1000, rel_tol=1e-3):
        raise Wrong(_("you divided the batch size by the number of images; divide the images by "
                      "the batch size."))
    if not value.is_integer():
        raise Wrong(_("a number of batches is a whole number: a partial batch is still one "
                      "batch."))
    expect_number(value, 21, what, {
        20: _("you rounded down: the last batch holds the remaining 40 images, and the DataLoader "
              "keeps it (unless drop_last=True)."),
        1000: _("that is the number of images; a batch holds 48 of them."),
        48: _("that is the batch size; how many batches of 48 hold 1,000 images?"),
        40: _("40 is the remainder, the size of the last batch; the question asks how many "
              "batches there are."),
        48_000: _("you multiplied the images by the batch size; a batch holds 48 images, so "
                  "divide."),
        22: _("one batch too many: 20 full batches of 48 hold 960 images, and the 40 left over "
              "make one more."),
    })
    return _("ceil(1000 / 48) = 21 batches; the last one has 40 images.")


q2 = Exercise(
    N_("Chapter 1, question 2 (batches per epoch)"), _check_batches,
    hints=[N_("Divide the number of images by the batch size."),
           N_("The division leaves a remainder. With drop_last=False, what happens to the images "
              "left over: are they dropped, or do they form a batch of their own?")],
    solution="batches_per_epoch = math.ceil(1000 / 48)",
    answer="batches_per_epoch")

# --------------------------------------------------------------------------- q3: two loaders


def _check_loaders(make_loaders) -> str:
    from torch.utils.data import DataLoader, RandomSampler, TensorDataset

    if not callable(make_loaders):
        raise Wrong(_("make_loaders should be a function of (train_set, test_set, batch_size)."))
    train = TensorDataset(torch.arange(10.0), torch.zeros(10, dtype=torch.long))
    test = TensorDataset(torch.arange(6.0), torch.zeros(6, dtype=torch.long))
    result = call(make_loaders, train, test, 4)
    if result is None:
        raise returned_none("make_loaders")
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise Wrong(_("make_loaders should return two loaders: (train_loader, test_loader)."))
    train_loader, test_loader = result
    if not all(isinstance(loader, DataLoader) for loader in result):
        raise Wrong(_("make_loaders should return two torch.utils.data.DataLoader objects; got "
                      "{train} and {test}.").format(train=type(train_loader).__name__,
                                                    test=type(test_loader).__name__))
    if train_loader.dataset is test and test_loader.dataset is train:
        raise Wrong(_("the two loaders are swapped: return (train_loader, test_loader)."))
    if train_loader.dataset is not train:
        raise Wrong(_("the train loader does not read the train set."))
    if train_loader.batch_size != 4:
        raise Wrong(_("the train loader's batch size is {size}; use the batch_size argument.")
                    .format(size=train_loader.batch_size))
    if test_loader.dataset is not test:
        raise Wrong(_("the test loader does not read the test set."))
    if test_loader.batch_size != 4:
        raise Wrong(_("the test loader's batch size is {size}; use the batch_size argument.")
                    .format(size=test_loader.batch_size))
    if isinstance(test_loader.sampler, RandomSampler):
        raise Wrong(_("your test loader shuffles (the lesson's mistake): the order cannot change "
                      "the accuracy, so keep shuffle=False for evaluation."))
    if test_loader.drop_last:
        raise Wrong(_("your test loader drops its last, short batch (drop_last=True): those test "
                      "images would never be scored. Keep drop_last=False for evaluation."))
    if not isinstance(train_loader.sampler, RandomSampler):
        raise Wrong(_("your training loader does not shuffle: every epoch would see the batches "
                      "in the same order. Pass shuffle=True."))
    return _("only the training loader shuffles, and every test image is scored.")


q3 = Exercise(
    N_("Chapter 1, question 3 (loaders)"), _check_loaders,
    hints=[N_("DataLoader(dataset, batch_size=..., shuffle=...) builds a loader. Which of the two "
              "loaders should see its images in a new order every epoch?"),
           N_("Shuffling helps training (each epoch's batches differ); for evaluation the order "
              "changes nothing, and every test image must be scored once.")],
    solution="""
    def make_loaders(train_set, test_set, batch_size):
        train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
        test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False)
        return train_loader, test_loader""",
    answer="make_loaders")
