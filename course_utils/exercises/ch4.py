"""Chapter 4 (training): one training epoch, an evaluation, the mean loss of an epoch.

The loops run on a tiny model (Linear, BatchNorm, ReLU, Linear) and 20 samples in batches of
8, 8 and 4, seeded so that the three batches score different accuracies and losses: the mean of
the per-batch values then differs from the per-image mean, and each mistake leaves its own trace.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from ..i18n import N_, _
from .checks import as_pair, expect_number, package_functions, refuse
from .core import Exercise, Wrong, call

SEED = 3  # tests/test_exercise_mutations.py proves this setup tells the variants apart


def tiny_setup(seed: int = SEED):
    from torch.utils.data import DataLoader, TensorDataset

    g = torch.Generator().manual_seed(seed)
    x = torch.randn(20, 6, generator=g)
    y = torch.randint(0, 3, (20,), generator=g)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=False)  # last batch: 4
    return model, loader


def reference_train(model, loader, optimizer, loss_fn, *, zero_grad="before", set_train=True,
                    step=True):
    """The reference loop with switches for typical mistakes; returns per-batch statistics."""
    if set_train:
        model.train()
    batches = []
    for x, y in loader:
        pred = model(x)
        loss = loss_fn(pred, y)
        if zero_grad == "before":
            optimizer.zero_grad()
        loss.backward()
        if zero_grad == "after":
            optimizer.zero_grad()
        if step:
            optimizer.step()
        batches.append(((pred.argmax(1) == y).sum().item(), loss.item(), len(y)))
    return batches


def per_image(batches) -> tuple[float, float]:
    seen = sum(n for _, _, n in batches)
    return sum(c for c, _, _ in batches) / seen, sum(v * n for _, v, n in batches) / seen


def per_batch(batches) -> tuple[float, float]:
    return (sum(c / n for c, _, n in batches) / len(batches),
            sum(v for _, v, _ in batches) / len(batches))


def _recorder(model: nn.Module) -> list:
    """Record (training mode, grad enabled) at every forward call."""
    calls: list = []
    model.register_forward_pre_hook(
        lambda m, args: calls.append((m.training, torch.is_grad_enabled())))
    return calls


def _pair(result, what: str) -> tuple[float, float]:
    """(accuracy, mean_loss) as floats; a loss that still holds a graph is a named mistake."""
    if isinstance(result, tuple | list) and len(result) == 2 and any(
            isinstance(v, torch.Tensor) and v.requires_grad for v in result):
        raise Wrong(_("you return a tensor that still holds the autograd graph: adding up `loss` "
                      "(the tensor) keeps every batch's graph alive until the end of the epoch. "
                      "Add loss.item() (a Python number) instead."))
    return as_pair(result, what)


def _check_numbers(acc, loss, batches, lesson_loss_message: str) -> None:
    ref_acc, ref_loss = per_image(batches)
    batch_acc, batch_loss = per_batch(batches)
    seen, count = sum(n for _right, _loss, n in batches), len(batches)

    def near(a, b):
        return math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-9)
    if near(acc, ref_loss) and near(loss, ref_acc) and not near(acc, ref_acc):
        raise Wrong(_("you return (mean_loss, accuracy); return them the other way round: "
                      "(accuracy, mean_loss)."))
    if ref_acc and math.isclose(acc, ref_acc * 100, rel_tol=1e-6):
        raise Wrong(_("return the accuracy as a fraction between 0 and 1; format it as % when "
                      "printing."))
    if near(acc, ref_acc * seen / count) and not near(acc, ref_acc):
        raise Wrong(_("you divided the number of correct predictions by the number of batches; "
                      "divide it by the number of images."))
    if not math.isclose(acc, ref_acc, rel_tol=1e-6, abs_tol=1e-9):
        if math.isclose(acc, batch_acc, rel_tol=1e-6, abs_tol=1e-9):
            raise Wrong(_("your accuracy is the mean of the per-batch accuracies; the last batch "
                          "is smaller, so count the correct predictions over all images and "
                          "divide by the number of images."))
        raise Wrong(_("accuracy {accuracy:.4f}; expected {expected:.4f}: count correct "
                      "predictions (pred.argmax(1) == y).sum() over all images and divide by the "
                      "number of images.").format(accuracy=acc, expected=ref_acc))
    if not math.isclose(loss, ref_loss, rel_tol=1e-5):
        if math.isclose(loss, batch_loss, rel_tol=1e-5):
            raise Wrong(_(lesson_loss_message))
        if near(loss, batch_loss * count / seen):
            raise Wrong(_("you added the batch means (loss.item()) and divided by the number of "
                          "images: each is a mean over its batch, so multiply it by the batch "
                          "size before adding."))
        if near(loss, ref_loss * seen / count):
            raise Wrong(_("you divided the summed loss by the number of batches; it adds up the "
                          "loss of every image, so divide by the number of images."))
        raise Wrong(_("mean loss {loss:.5f}; expected {expected:.5f} (loss.item() * batch size, "
                      "summed, divided by the number of images).").format(loss=loss,
                                                                          expected=ref_loss))


# --------------------------------------------------------------------------- q1: one training epoch


class _OrderedLoss(nn.CrossEntropyLoss):
    """CrossEntropyLoss that names the mistake of passing (targets, predictions)."""

    def forward(self, input, target):  # noqa: A002 - nn.CrossEntropyLoss's own names
        if (isinstance(input, torch.Tensor) and isinstance(target, torch.Tensor)
                and not input.is_floating_point() and target.is_floating_point()):
            raise Wrong(_("you call loss_fn(y, pred): a loss takes the predictions first, then "
                          "the targets, loss_fn(pred, y)."))
        return super().forward(input, target)


def _step_before_backward(events: list[str]) -> bool:
    """Did a step run after a forward with no backward between them?"""
    since_forward: list[str] = []
    for event in events:
        if event == "forward":
            since_forward = []
        elif event == "step" and "backward" not in since_forward:
            return True
        else:
            since_forward.append(event)
    return False


def _check_train_epoch(my_train_one_epoch) -> str:
    if not callable(my_train_one_epoch):
        raise Wrong(_("my_train_one_epoch should be a function."))
    runs = {}
    for name, options in {"reference": {}, "no_zero_grad": {"zero_grad": "never"},
                          "no_train": {"set_train": False}}.items():
        model, loader = tiny_setup()
        model.eval()  # a correct loop switches to training mode itself
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        runs[name] = (model, reference_train(model, loader, optimizer, nn.CrossEntropyLoss(),
                                             **options))
    model, loader = tiny_setup()
    model.eval()
    calls = _recorder(model)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    steps: list[bool] = []  # at each step: did any gradient hold a value?
    events: list[str] = []  # forward, backward and step, in the order they ran
    model.register_forward_pre_hook(lambda m, args: events.append("forward"))
    model[-1].weight.register_post_accumulate_grad_hook(lambda p: events.append("backward"))
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: events.append("step"))
    optimizer.register_step_pre_hook(lambda opt, args, kwargs: steps.append(any(
        p.grad is not None and bool(p.grad.any()) for p in model.parameters())))
    forbid = package_functions({"train_one_epoch": refuse("my_train_one_epoch",
                                                          "train_one_epoch")},
                               ("course_utils.training.loops",))
    result = call(my_train_one_epoch, model, loader, optimizer, _OrderedLoss(),
                  torch.device("cpu"), forbid=forbid)
    acc, loss = _pair(result, "my_train_one_epoch")
    if not calls:
        raise Wrong(_("your function never calls the model."))
    if not calls[0][0]:
        raise Wrong(_("the model ran in evaluation mode: call model.train() at the start, so "
                      "BatchNorm uses the batch statistics (and dropout is active)."))
    if not steps:
        raise Wrong(_("the weights did not change: call optimizer.step() after loss.backward()."))
    if _step_before_backward(events):
        raise Wrong(_("optimizer.step() runs before loss.backward(): a step applies the "
                      "gradients, so compute them first. Per batch: zero_grad, backward, step."))
    if not any(steps):
        raise Wrong(_("you reset the gradients between loss.backward() and optimizer.step(), so "
                      "each step has nothing to apply: call optimizer.zero_grad() before "
                      "backward()."))
    if len(steps) != len(loader):
        raise Wrong(_("optimizer.step() ran {steps} times for {batches} batches: one step per "
                      "batch, inside the loop.").format(steps=len(steps), batches=len(loader)))

    def same_weights(other):
        return all(torch.allclose(a, b, atol=1e-6) for a, b in zip(
            model.state_dict().values(), other.state_dict().values(), strict=True))
    if same_weights(runs["no_zero_grad"][0]):
        raise Wrong(_("you never reset the gradients: call optimizer.zero_grad() before "
                      "loss.backward(), or each step adds up the gradients of all earlier "
                      "batches."))
    if not same_weights(runs["reference"][0]):
        raise Wrong(_("after one epoch your weights differ from the reference: one forward, "
                      "zero_grad, backward and step per batch, in that order, with the loss_fn "
                      "given."))
    _check_numbers(acc, loss, runs["reference"][1],
                   N_("your loss is the mean of the batch means (the lesson's way); the last batch "
                      "is smaller, so weight each batch's loss by its size and divide by the "
                      "number of images."))
    return _("train mode, zero_grad/backward/step per batch, accuracy and a per-image mean loss.")


q1 = Exercise(
    N_("Chapter 4, question 1 (one training epoch)"), _check_train_epoch,
    hints=[N_("Put the model in training mode, then for each batch: move it to the device, "
              "compute the predictions and the loss, and update the weights."),
           N_("Updating takes three calls on the optimizer and the loss, in a fixed order: reset "
              "the old gradients, compute the new ones, take the step."),
           N_("For the statistics, add up correct predictions and loss x batch size over the "
              "epoch, and divide both by the number of images at the end (the last batch is "
              "smaller).")],
    solution="""
    def my_train_one_epoch(model, loader, optimizer, loss_fn, device):
        model.train()
        correct, loss_sum, seen = 0, 0.0, 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            pred = model(x)
            loss = loss_fn(pred, y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            correct += (pred.argmax(1) == y).sum().item()
            loss_sum += loss.item() * len(y)
            seen += len(y)
        return correct / seen, loss_sum / seen""",
    answer="my_train_one_epoch")

# --------------------------------------------------------------------------- q2: evaluation


def _check_evaluate(my_evaluate) -> str:
    from .blocks import randomise_bn

    if not callable(my_evaluate):
        raise Wrong(_("my_evaluate should be a function."))
    model, loader = tiny_setup(seed=SEED + 1)
    randomise_bn(model, seed=1)
    model.train()  # a correct evaluate switches to evaluation mode itself
    before = {k: v.clone() for k, v in model.state_dict().items()}
    calls = _recorder(model)
    forbid = package_functions({"evaluate": refuse("my_evaluate", "evaluate")},
                               ("course_utils.training.loops",))
    result = call(my_evaluate, model, loader, nn.CrossEntropyLoss(), torch.device("cpu"),
                  forbid=forbid)
    acc, loss = _pair(result, "my_evaluate")
    if not calls:
        raise Wrong(_("your function never calls the model."))
    if calls[0][0]:
        raise Wrong(_("the model ran in training mode: call model.eval() first (with the "
                      "parentheses: `model.eval` alone does nothing), before the loop. Otherwise "
                      "BatchNorm normalises with each test batch's statistics and overwrites its "
                      "running averages with test data."))
    if calls[0][1]:
        raise Wrong(_("gradients were being recorded: wrap the loop in `with "
                      "torch.inference_mode():` (or torch.no_grad()); evaluation needs no graph, "
                      "and building one costs memory."))
    if any(not torch.equal(before[k], v) for k, v in model.state_dict().items()):
        raise Wrong(_("evaluation changed the model's weights or statistics; it must only read "
                      "them."))
    model.eval()
    loss_fn = nn.CrossEntropyLoss()
    with torch.no_grad():
        batches = [((model(x).argmax(1) == y).sum().item(), loss_fn(model(x), y).item(), len(y))
                   for x, y in loader]
    _check_numbers(acc, loss, batches,
                   N_("your loss is the mean of the batch means; the last batch is smaller, so "
                      "weight each batch's loss by its size and divide by the number of images."))
    return _("eval mode, no graph, nothing changed, a per-image mean loss.")


q2 = Exercise(
    N_("Chapter 4, question 2 (evaluation)"), _check_evaluate,
    hints=[N_("Evaluation reads the model and changes nothing. Which mode makes BatchNorm use its "
              "running statistics instead of the batch's?"),
           N_("No update, so no graph: run the loop inside a block that switches gradient "
              "recording off."),
           N_("Then the same loop as training without zero_grad, backward or step, and the same "
              "per-image statistics.")],
    solution="""
    def my_evaluate(model, loader, loss_fn, device):
        model.eval()
        correct, loss_sum, seen = 0, 0.0, 0
        with torch.inference_mode():
            for x, y in loader:
                x, y = x.to(device), y.to(device)
                pred = model(x)
                correct += (pred.argmax(1) == y).sum().item()
                loss_sum += loss_fn(pred, y).item() * len(y)
                seen += len(y)
        return correct / seen, loss_sum / seen""",
    answer="my_evaluate")

# --------------------------------------------------------------------------- q3: the mean loss


def _check_mean_loss(answer) -> str:
    expect_number(answer, 32.8 / 72, _("the mean loss per image"), {
        1.7 / 3: _("that is the mean of the three batch means (the lesson's way): the last batch "
                   "has only 8 images, so it must count less."),
        32.8: _("that is the sum of the losses of all images; divide by the number of images."),
        32.8 / 3: _("you divided the sum of the images' losses by the number of batches (3); "
                    "divide it by the number of images (72)."),
        1.7 / 72: _("you added the three batch means and divided by the images: turn each mean "
                    "back into a sum first (mean x batch size)."),
        32.8 / 96: _("the last batch holds 8 images, not 32: there are 72 images in all."),
        32.8 / 64: _("divide by all 72 images, the last batch's 8 included."),
        3280 / 72: _("a loss is not a percentage: give the number itself."),
        0.5: _("0.50 is the first batch's mean loss alone; the epoch's mean weighs all three "
               "batches by their sizes."),
    }, rel=1e-3)
    return _("(0.50 x 32 + 0.30 x 32 + 0.90 x 8) / 72 = 0.4556.")


q3 = Exercise(
    N_("Chapter 4, question 3 (the mean loss of an epoch)"), _check_mean_loss,
    hints=[N_("Each batch's loss is a mean over its images. Do all three batches weigh the "
              "same?"),
           N_("Section 1's problem 3 computes both averages for a whole epoch: which of the two "
              "counts every image once?")],
    solution="mean_loss = (0.50 * 32 + 0.30 * 32 + 0.90 * 8) / (32 + 32 + 8)",
    answer="mean_loss")
