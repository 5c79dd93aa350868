"""Metrics against small examples computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from course_utils.evaluation.metrics import (
    accuracy,
    classification_report,
    confusion_matrix,
    per_class_report,
    precision_recall_f1,
)

# 7 images, 3 classes. By hand:
#            pred 0  pred 1  pred 2
#   true 0      1       1       0
#   true 1      0       2       0
#   true 2      1       0       2
Y_TRUE = [0, 0, 1, 1, 2, 2, 2]
Y_PRED = [0, 1, 1, 1, 2, 0, 2]
CM = [[1, 1, 0], [0, 2, 0], [1, 0, 2]]


def test_accuracy_from_labels_and_from_logits():
    assert accuracy(Y_PRED, Y_TRUE) == pytest.approx(5 / 7)
    logits = torch.nn.functional.one_hot(torch.tensor(Y_PRED), 3).float() * 3 - 1
    assert accuracy(logits, torch.tensor(Y_TRUE)) == pytest.approx(5 / 7)
    assert accuracy(np.array([1, 1]), np.array([1, 0])) == 0.5
    with pytest.raises(ValueError, match="3 predictions but 2 targets"):
        accuracy([0, 1, 2], [0, 1])


def test_confusion_matrix_rows_are_true_classes():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    assert cm.tolist() == CM
    assert cm.dtype == torch.int64
    assert cm.sum().item() == 7


def test_confusion_matrix_rejects_labels_out_of_range():
    with pytest.raises(ValueError, match="y_pred contains 3; expected labels 0..2"):
        confusion_matrix([0, 1], [0, 3], 3)
    with pytest.raises(ValueError, match="y_true contains -1"):
        confusion_matrix([-1, 1], [0, 1], 3)


def test_precision_recall_f1_by_hand():
    precision, recall, f1, support = precision_recall_f1(torch.tensor(CM))
    assert precision.tolist() == pytest.approx([1 / 2, 2 / 3, 1.0])
    assert recall.tolist() == pytest.approx([1 / 2, 1.0, 2 / 3])
    assert f1.tolist() == pytest.approx([0.5, 0.8, 0.8])
    assert support.tolist() == [2, 2, 3]


def test_zero_division_gives_zero_not_nan():
    # Class 3 never appears and is never predicted; class 2 is never predicted.
    cm = confusion_matrix([0, 1, 2], [0, 1, 1], 4)
    precision, recall, f1, support = precision_recall_f1(cm)
    assert not torch.isnan(torch.stack([precision, recall, f1])).any()
    assert precision[2] == 0 and recall[2] == 0 and f1[2] == 0
    assert precision[3] == 0 and recall[3] == 0 and support[3] == 0


def test_per_class_report_and_table():
    rows = per_class_report(torch.tensor(CM), ["crow", "eagle", "owl"])
    assert rows[1] == {"class": "eagle", "precision": pytest.approx(2 / 3), "recall": 1.0,
                       "f1": pytest.approx(0.8), "support": 2}
    table = classification_report(torch.tensor(CM), ["crow", "eagle", "owl"])
    assert "eagle" in table and "accuracy" in table and "macro avg" in table
    accuracy_line = next(line for line in table.splitlines() if "accuracy" in line)
    assert "0.714" in accuracy_line and accuracy_line.rstrip().endswith("7")
    with pytest.raises(ValueError, match="2 class names for a 3x3"):
        per_class_report(torch.tensor(CM), ["a", "b"])


def _row(table: str, label: str) -> list[float]:
    line = next(line for line in table.splitlines() if line.strip().startswith(label))
    return [float(v) for v in line[len(line) - len(line.lstrip()) + len(label):].split()]


def test_average_rows_by_hand():
    # Per class (see test_precision_recall_f1_by_hand): precision 1/2, 2/3, 1; recall 1/2, 1,
    # 2/3; F1 1/2, 4/5, 4/5; support 2, 2, 3 (7 images).
    table = classification_report(torch.tensor(CM), ["crow", "eagle", "owl"], digits=4)
    macro = [(1 / 2 + 2 / 3 + 1) / 3, (1 / 2 + 1 + 2 / 3) / 3, (1 / 2 + 4 / 5 + 4 / 5) / 3]
    # weighted by support: each class counts as many times as it has images
    weighted = [(2 * 1 / 2 + 2 * 2 / 3 + 3 * 1) / 7,  # 16/21 = 0.7619
                (2 * 1 / 2 + 2 * 1 + 3 * 2 / 3) / 7,  # 5/7 = 0.7143 (= the accuracy, always)
                (2 * 1 / 2 + 2 * 4 / 5 + 3 * 4 / 5) / 7]  # 5/7
    assert _row(table, "macro avg") == pytest.approx([*macro, 7], abs=5e-5)
    assert _row(table, "weighted avg") == pytest.approx([*weighted, 7], abs=5e-5)
    assert _row(table, "accuracy") == pytest.approx([5 / 7, 7], abs=5e-5)
    assert _row(table, "owl") == pytest.approx([1.0, 2 / 3, 0.8, 3], abs=5e-5)
