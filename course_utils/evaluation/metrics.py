"""Metrics in plain torch: accuracy, the confusion matrix and per-class precision/recall/F1.

Accuracy alone hides which classes are confused with which; the confusion matrix and the
per-class numbers show it. Where a ratio has nothing to divide by (a class that was never
predicted, or has no images), it is reported as 0.0, as scikit-learn does.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def _labels(values, name: str) -> torch.Tensor:
    tensor = torch.as_tensor(values).detach().to("cpu")
    if tensor.dim() == 2:  # logits or probabilities: the predicted class is the largest
        tensor = tensor.argmax(1)
    if tensor.dim() != 1:
        raise ValueError(f"{name} has shape {list(tensor.shape)}; expected (N,) labels or (N, C) "
                         f"scores")
    return tensor.long()


def accuracy(predictions, targets) -> float:
    """Fraction of correct predictions; `predictions` are labels (N,) or scores (N, C)."""
    pred, true = _labels(predictions, "predictions"), _labels(targets, "targets")
    if pred.shape != true.shape:
        raise ValueError(f"{len(pred)} predictions but {len(true)} targets")
    if len(true) == 0:
        raise ValueError("accuracy of zero samples is undefined")
    return (pred == true).float().mean().item()


def confusion_matrix(y_true, y_pred, num_classes: int) -> torch.Tensor:
    """(num_classes, num_classes) counts: row = true class, column = predicted class."""
    true, pred = _labels(y_true, "y_true"), _labels(y_pred, "y_pred")
    if true.shape != pred.shape:
        raise ValueError(f"{len(true)} true labels but {len(pred)} predictions")
    for name, labels in (("y_true", true), ("y_pred", pred)):
        bad = labels[(labels < 0) | (labels >= num_classes)]
        if len(bad):
            raise ValueError(f"{name} contains {bad[0].item()}; expected labels "
                             f"0..{num_classes - 1}")
    # Each (true, pred) pair gets its own bin: true * C + pred.
    counts = torch.bincount(true * num_classes + pred, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def _safe_divide(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.where(b > 0, a / b.clamp(min=1e-12), torch.zeros_like(a))


def precision_recall_f1(
    cm: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-class precision, recall, F1 and support (images per true class) from a confusion
    matrix."""
    cm = torch.as_tensor(cm).double()
    correct = cm.diag()
    predicted = cm.sum(0)  # column sums: how often each class was predicted
    support = cm.sum(1)  # row sums: how many images truly belong to each class
    precision = _safe_divide(correct, predicted)
    recall = _safe_divide(correct, support)
    f1 = _safe_divide(2 * precision * recall, precision + recall)
    return precision, recall, f1, support.long()


def per_class_report(cm: torch.Tensor, class_names: Sequence[str] | None = None) -> list[dict]:
    """One dict per class: class, precision, recall, f1, support (plain Python numbers)."""
    precision, recall, f1, support = precision_recall_f1(cm)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(support))]
    if len(names) != len(support):
        raise ValueError(f"{len(names)} class names for a {len(support)}x{len(support)} confusion "
                         f"matrix")
    return [
        {"class": name, "precision": p.item(), "recall": r.item(), "f1": f.item(),
         "support": s.item()}
        for name, p, r, f, s in zip(names, precision, recall, f1, support, strict=True)
    ]


def classification_report(cm: torch.Tensor, class_names: Sequence[str] | None = None,
                          digits: int = 3) -> str:
    """A text table of per-class precision/recall/F1/support with accuracy and macro averages."""
    rows = per_class_report(cm, class_names)
    total = sum(r["support"] for r in rows)
    width = max([len(r["class"]) for r in rows] + [len("weighted avg")])
    head = f"{'':>{width}}  {'precision':>9}  {'recall':>9}  {'f1':>9}  {'support':>7}"
    lines = [head, ""]
    for r in rows:
        lines.append(f"{r['class']:>{width}}  {r['precision']:>9.{digits}f}  "
                     f"{r['recall']:>9.{digits}f}"
                     f"  {r['f1']:>9.{digits}f}  {r['support']:>7d}")
    cm = torch.as_tensor(cm)
    acc = cm.diag().sum().item() / total if total else 0.0
    lines += ["", f"{'accuracy':>{width}}  {'':>9}  {'':>9}  {acc:>9.{digits}f}  {total:>7d}"]
    averages = (("macro avg", [1] * len(rows)), ("weighted avg", [r["support"] for r in rows]))
    for label, weights in averages:
        norm = sum(weights) or 1
        avg = {k: sum(w * r[k] for w, r in zip(weights, rows, strict=True)) / norm
               for k in ("precision", "recall", "f1")}
        lines.append(f"{label:>{width}}  {avg['precision']:>9.{digits}f}  "
                     f"{avg['recall']:>9.{digits}f}"
                     f"  {avg['f1']:>9.{digits}f}  {total:>7d}")
    return "\n".join(lines)
