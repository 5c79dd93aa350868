"""Chapter 5 (evaluation): a confusion matrix, a recall read off one, predicting a batch."""

from __future__ import annotations

import torch

from ..i18n import N_, _
from .checks import expect_number, package_functions, refuse, tensor_answer
from .core import Exercise, LearnerError, Wrong, call, safe_str

# --------------------------------------------------------------------------- q1: a confusion matrix


def _check_confusion(my_confusion_matrix) -> str:
    if not callable(my_confusion_matrix):
        raise Wrong(_("my_confusion_matrix should be a function."))
    forbid = package_functions({"confusion_matrix": refuse("my_confusion_matrix",
                                                           "confusion_matrix")},
                               ("course_utils.evaluation.metrics",))
    y_true = torch.tensor([0, 0, 1, 2, 2, 2, 1, 0, 2, 2])
    y_pred = torch.tensor([0, 1, 1, 2, 0, 2, 2, 0, 2, 1])
    want = torch.zeros(3, 3, dtype=torch.long)
    for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
        want[t, p] += 1
    got = tensor_answer(call(my_confusion_matrix, y_true.clone(), y_pred.clone(), 3, forbid=forbid),
                        "my_confusion_matrix")
    if got.shape != (3, 3):
        raise Wrong(_("for 3 classes the matrix is 3 x 3; yours has shape {shape}.").format(
            shape=tuple(got.shape)))
    if torch.equal(got.long(), want.T):
        raise Wrong(_("your matrix is transposed: rows are the true classes, columns the "
                      "predictions."))
    if got.is_floating_point() and torch.allclose(got.double().sum(1), torch.ones(3).double(),
                                                  atol=1e-4):
        raise Wrong(_("your rows add up to 1: you normalised them. The confusion matrix counts "
                      "images (whole numbers); divide afterwards if you want fractions."))
    if torch.equal(got.long(), (want > 0).long()):
        raise Wrong(_("each (true, predicted) pair is counted once, not once per image: `cm[t, p] "
                      "= 1`, or `cm[y_true, y_pred] += 1` with index tensors (which adds a "
                      "repeated pair only once). Add 1 per image, in a loop or with "
                      "index_put_(..., accumulate=True)."))
    for message, a, b in (
            (N_("you counted (prediction, prediction) pairs: the row comes from y_true, the "
                "column from y_pred."), y_pred, y_pred),
            (N_("you counted (true, true) pairs: the row comes from y_true, the column from "
                "y_pred."), y_true, y_true)):
        same = torch.zeros(3, 3, dtype=torch.long)
        for t, q in zip(a.tolist(), b.tolist(), strict=True):
            same[t, q] += 1
        if torch.equal(got.long(), same):
            raise Wrong(_(message))
    if got.sum() != len(y_true):
        raise Wrong(_("your counts add up to {total:g}; every one of the {count} images should be "
                      "counted exactly once.").format(total=got.sum().item(), count=len(y_true)))
    if not torch.equal(got.long(), want) or not torch.equal(got, got.round()):
        raise Wrong(_("expected\n{want}\ngot\n{got}\n(row = true class, column = prediction).")
                    .format(want=want.tolist(), got=got.tolist()))
    try:
        raw = call(my_confusion_matrix, torch.tensor([3]), torch.tensor([3]), 5, forbid=forbid)
    except LearnerError as wrapped:
        raise Wrong(_("with 5 classes and a single image of class 3, your function raised "
                      "{error}: {text}. Size the matrix by num_classes (torch.bincount needs "
                      "minlength=num_classes ** 2), even when some classes never appear.").format(
                          error=type(wrapped.__cause__).__name__,
                          text=safe_str(wrapped.__cause__))) from None
    extra = tensor_answer(raw, "my_confusion_matrix")
    if extra.shape != (5, 5):
        raise Wrong(_("use num_classes for the size, even when some classes never appear."))
    return _("rows are true classes, columns predictions; the diagonal holds the correct ones.")


q1 = Exercise(
    N_("Chapter 5, question 1 (a confusion matrix)"), _check_confusion,
    hints=[N_("Start from a num_classes x num_classes tensor of zeros: one row per true class, one "
              "column per predicted class."),
           N_("Each (true, predicted) pair adds one image to one cell: which row, which "
              "column?")],
    solution="""
    def my_confusion_matrix(y_true, y_pred, num_classes):
        cm = torch.zeros(num_classes, num_classes, dtype=torch.long)
        for t, p in zip(y_true.tolist(), y_pred.tolist(), strict=True):
            cm[t, p] += 1
        return cm""",
    answer="my_confusion_matrix")

# --------------------------------------------------------------------------- q2: recall

CM_EXAMPLE = [[20, 1, 0, 1], [2, 18, 1, 1], [0, 0, 21, 1], [1, 0, 3, 18]]  # rows: true class


def _check_recall(answer) -> str:
    expect_number(answer, 21 / 22, _("the recall of 'star'"), {
        21 / 25: _("that is the precision (of all images predicted 'star', how many are stars); "
                   "recall divides by the row: of all true stars, how many were found."),
        21: _("recall is a fraction: the correct stars divided by all true stars."),
        21 / 88: _("divide by the number of true stars (the row's sum), not by all images."),
        21 / 22 * 100: _("give recall as a fraction between 0 and 1, not a percentage."),
        22 / 21: _("recall is at most 1: the correct stars (21) divided by all true stars (22), "
                   "not the other way round."),
        1 / 22: _("that is the share of stars the model missed (1 - recall)."),
        18 / 22: _("that is the recall of another class (square or triangle): 'star' is the third "
                   "row, cm_example[2], counting from 0."),
        77 / 88: _("that is the accuracy over all classes; recall looks at one class, its row."),
        2 * (21 / 25) * (21 / 22) / (21 / 25 + 21 / 22): _("that is the F1 score, which combines "
                                                           "precision and recall; the question "
                                                           "asks for recall alone."),
        0: _("0 comes from integer division (21 // 22); use / for a fraction."),
    }, rel=1e-3)
    return _("21 / 22 = 0.955: 21 of the 22 true stars were found.")


q2 = Exercise(
    N_("Chapter 5, question 2 (recall)"), _check_recall,
    hints=[N_("Recall asks: of all the images that truly are stars, what fraction did the model "
              "call star?"),
           N_("The true stars are one row of the matrix (rows are true classes); the correct ones "
              "sit on the diagonal.")],
    solution="star_recall = cm_example[2][2] / sum(cm_example[2])",
    answer="star_recall")

# --------------------------------------------------------------------------- q3: predicting a batch


def _predict_setup():
    """A tiny model whose predictions for the batch cover all three classes."""
    from .blocks import randomise_bn
    from .ch4 import tiny_setup

    model, _ = tiny_setup(seed=4)
    randomise_bn(model, seed=4)
    x = torch.randn(9, 6, generator=torch.Generator().manual_seed(3)) * 2
    return model, x


def _check_predict(my_predict) -> str:
    if not callable(my_predict):
        raise Wrong(_("my_predict should be a function."))
    model, x = _predict_setup()
    model.train()
    calls: list = []
    model.register_forward_pre_hook(
        lambda m, args: calls.append((m.training, torch.is_grad_enabled())))
    forbid = package_functions({"predict": refuse("my_predict", "predict")},
                               ("course_utils.evaluation.predict",))
    raw = call(my_predict, model, x.clone(), forbid=forbid)
    if not calls:
        raise Wrong(_("your function never calls the model."))
    if calls[0][0]:
        raise Wrong(_("the model ran in training mode: call model.eval() before predicting (with "
                      "the parentheses: `model.eval` alone does nothing), or BatchNorm uses this "
                      "batch's statistics and the answer depends on the batch."))
    if calls[0][1]:
        raise Wrong(_("gradients were being recorded: predict inside `with "
                      "torch.inference_mode():`."))
    if isinstance(raw, tuple) and len(raw) == 2 and hasattr(raw, "indices"):
        raise Wrong(_("torch.max(..., 1) returns (values, indices): return only the indices, or "
                      "use argmax(1)."))
    got = tensor_answer(raw, "my_predict")
    model.eval()
    with torch.no_grad():
        want = model(x).argmax(1)
    if got.shape == (len(x), 3):
        raise Wrong(_("you return the scores of every class; return the index of the best one "
                      "(argmax(1))."))
    if got.is_floating_point():
        raise Wrong(_("you return {dtype} values (scores or probabilities); return class indices: "
                      "integers, one per image (argmax(1)).").format(dtype=got.dtype))
    if got.shape == (len(x), 1):
        raise Wrong(_("for a batch of {count} images return {count} class indices; got shape "
                      "{shape} (keepdim=True keeps a dimension of size 1).").format(
                          count=len(x), shape=tuple(got.shape)))
    if got.shape != want.shape:
        raise Wrong(_("for a batch of {count} images return {count} class indices; got shape "
                      "{shape}.").format(count=len(x), shape=tuple(got.shape)))
    if not torch.equal(got.long(), want):
        raise Wrong(_("expected class indices {want}, got {got}: the index of the largest score "
                      "of each row (argmax over dim 1, the classes).").format(
                          want=want.tolist(), got=got.tolist()))
    one = tensor_answer(call(my_predict, model, x[:1].clone(), forbid=forbid), "my_predict")
    if one.shape != (1,):
        raise Wrong(_("for a batch of one image return one index, shape (1,); got shape {shape}: "
                      "squeeze() or argmax() without dim=1 drops the batch dimension when it has "
                      "size 1.").format(shape=tuple(one.shape)))
    return _("eval mode, no graph, one class index per image.")


q3 = Exercise(
    N_("Chapter 5, question 3 (predicting)"), _check_predict,
    hints=[N_("Predicting is evaluating without labels: which mode, and which context for "
              "gradients?"),
           N_("The model gives one score per class for each image; the prediction is the position "
              "of the largest score in each row.")],
    solution="""
    def my_predict(model, x):
        model.eval()
        with torch.inference_mode():
            return model(x).argmax(1)""",
    answer="my_predict")
