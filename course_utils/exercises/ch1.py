"""Chapter 1 (data): a training transform, batches per epoch, two loaders."""

from __future__ import annotations

import torch

from .checks import expect_number, package_functions, refuse
from .core import Exercise, Wrong, call, returned_none

# ------------------------------------------------------------------------- q1: a training transform


def _textured_image(seed: int = 0):
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (70, 90, 3), dtype=np.uint8), "RGB")


def _normalize_steps(transform) -> list:
    """The Normalize steps of a Compose (v1 or v2, nested); [] for an opaque function."""
    found, todo = [], [transform]
    while todo:
        t = todo.pop()
        if type(t).__name__ == "Normalize":
            found.append(t)
        todo.extend(getattr(t, "transforms", None) or [])
    return found


def _check_train_transform(make_train_transform) -> str:
    from PIL import Image

    from ..data.transforms import IMAGENET_STD

    if not callable(make_train_transform):
        raise Wrong("make_train_transform should be a function of the image size.")
    forbid = package_functions({"train_transforms": refuse("make_train_transform",
                                                            "the course's train_transforms")},
                               ("course_utils.data.transforms",))
    transform = call(make_train_transform, 40, forbid=forbid)
    if transform is None:
        raise returned_none("make_train_transform(40)")
    if not callable(transform):
        raise Wrong(f"make_train_transform(40) gave a {type(transform).__name__}; return a "
                    "transform (e.g. T.Compose([...])) that can be applied to an image.")
    outs = [call(transform, _textured_image()) for _ in range(6)]  # seeded by the check
    out = outs[0]
    if isinstance(out, Image.Image):
        raise Wrong("your transform returns a PIL image; end it with ToTensor() and "
                    "Normalize(...).")
    if not isinstance(out, torch.Tensor):
        raise Wrong(f"your transform returns a {type(out).__name__}; expected a tensor.")
    if tuple(out.shape) != (3, 40, 40):
        raise Wrong(f"make_train_transform(40) gives a tensor of shape {tuple(out.shape)} for a "
                    "90x70 image; expected (3, 40, 40): the size argument must set the output "
                    "size, square.")
    if not out.is_floating_point():
        raise Wrong(f"your transform returns {out.dtype} pixels; ToTensor() (or ToDtype(float32, "
                    "scale=True)) gives floats between 0 and 1 for Normalize.")
    if all(o.min() >= 0 for o in outs):
        raise Wrong("every value your transform returns is between 0 and 1, as ToTensor gives "
                    "them: did you forget Normalize(IMAGENET_MEAN, IMAGENET_STD) after ToTensor()?")
    for step in _normalize_steps(transform):
        if torch.allclose(torch.as_tensor(step.mean, dtype=torch.float),
                          torch.tensor(IMAGENET_STD)):
            raise Wrong("Normalize takes the mean first, then the std: "
                        "Normalize(IMAGENET_MEAN, IMAGENET_STD).")
    if all(torch.equal(outs[0], o) for o in outs[1:]):
        raise Wrong("your transform gives the same tensor every time; a training transform should "
                    "augment (e.g. RandomResizedCrop and RandomHorizontalFlip).")
    return "random augmentation, a tensor of the right size, normalised."


q1 = Exercise(
    "Chapter 1, question 1 (a training transform)", _check_train_transform,
    hints=["A training transform does three jobs: change the image at random (augmentation), turn "
           "the PIL image into a tensor, and normalise that tensor. Which classes of "
           "`torchvision.transforms` do each?",
           "Augmentation here is a random crop that ends at `size` x `size` plus a random "
           "horizontal flip; after it, the image still has to become a normalised tensor.",
           "Chain the steps with T.Compose([...]). The order matters: the steps that work on PIL "
           "images first, ToTensor next, Normalize last."],
    solution="""
    def make_train_transform(size):
        return T.Compose([
            T.RandomResizedCrop(size, scale=(0.5, 1.0)),
            T.RandomHorizontalFlip(),
            T.ToTensor(),
            T.Normalize(IMAGENET_MEAN, IMAGENET_STD),
        ])""",
    answer="make_train_transform")

# --------------------------------------------------------------------------- q2: batches per epoch


def _check_batches(answer) -> str:
    if isinstance(answer, float) and not answer.is_integer():
        raise Wrong("a number of batches is a whole number: a partial batch is still one batch.")
    expect_number(answer, 21, "batches per epoch", {
        20: "you rounded down: the last batch holds the remaining 40 images, and the DataLoader "
            "keeps it (unless drop_last=True).",
        1000: "that is the number of images; a batch holds 48 of them.",
        48: "that is the batch size; how many batches of 48 hold 1,000 images?",
    })
    return "ceil(1000 / 48) = 21 batches; the last one has 40 images."


q2 = Exercise(
    "Chapter 1, question 2 (batches per epoch)", _check_batches,
    hints=["Divide the number of images by the batch size.",
           "The division leaves a remainder. With drop_last=False, what happens to the images left "
           "over: are they dropped, or do they form a batch of their own?"],
    solution="batches_per_epoch = math.ceil(1000 / 48)",
    answer="batches_per_epoch")

# --------------------------------------------------------------------------- q3: two loaders


def _check_loaders(make_loaders) -> str:
    from torch.utils.data import DataLoader, RandomSampler, TensorDataset

    if not callable(make_loaders):
        raise Wrong("make_loaders should be a function of (train_set, test_set, batch_size).")
    train = TensorDataset(torch.arange(10.0), torch.zeros(10, dtype=torch.long))
    test = TensorDataset(torch.arange(6.0), torch.zeros(6, dtype=torch.long))
    result = call(make_loaders, train, test, 4)
    if result is None:
        raise returned_none("make_loaders")
    if not isinstance(result, tuple | list) or len(result) != 2:
        raise Wrong("make_loaders should return two loaders: (train_loader, test_loader).")
    train_loader, test_loader = result
    if not all(isinstance(loader, DataLoader) for loader in result):
        raise Wrong("make_loaders should return two torch.utils.data.DataLoader objects; got "
                    f"{type(train_loader).__name__} and {type(test_loader).__name__}.")
    if train_loader.dataset is test and test_loader.dataset is train:
        raise Wrong("the two loaders are swapped: return (train_loader, test_loader).")
    for name, loader, data in (("train", train_loader, train), ("test", test_loader, test)):
        if loader.dataset is not data:
            raise Wrong(f"the {name} loader does not read the {name} set.")
        if loader.batch_size != 4:
            raise Wrong(f"the {name} loader's batch size is {loader.batch_size}; use the "
                        "batch_size argument.")
    if isinstance(test_loader.sampler, RandomSampler):
        raise Wrong("your test loader shuffles (the lesson's mistake): the order cannot change the "
                    "accuracy, so keep shuffle=False for evaluation.")
    if test_loader.drop_last:
        raise Wrong("your test loader drops its last, short batch (drop_last=True): those test "
                    "images would never be scored. Keep drop_last=False for evaluation.")
    if not isinstance(train_loader.sampler, RandomSampler):
        raise Wrong("your training loader does not shuffle: every epoch would see the batches in "
                    "the same order. Pass shuffle=True.")
    return "only the training loader shuffles, and every test image is scored."


q3 = Exercise(
    "Chapter 1, question 3 (loaders)", _check_loaders,
    hints=["DataLoader(dataset, batch_size=..., shuffle=...) builds a loader. Which of the two "
           "loaders should see its images in a new order every epoch?",
           "Shuffling helps training (each epoch's batches differ); for evaluation the order "
           "changes nothing, and every test image must be scored once."],
    solution="""
    def make_loaders(train_set, test_set, batch_size):
        train_loader = DataLoader(train_set, batch_size=batch_size, shuffle=True)
        test_loader = DataLoader(test_set, batch_size=batch_size, shuffle=False)
        return train_loader, test_loader""",
    answer="make_loaders")
