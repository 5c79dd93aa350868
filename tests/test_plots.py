"""Figures: they are built without error, return a Figure, and Grad-CAM is a sound heat map."""

from __future__ import annotations

from collections import OrderedDict

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib import font_manager
from matplotlib.figure import Figure
from PIL import Image
from torch import nn

from course_utils.evaluation import curves, explain, plots
from course_utils.training.distributed import plot_data_parallelism
from course_utils.training.history import History

CLASSES = ["crow", "eagle", "owl", "swan"]


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def _history() -> History:
    return History([
        {"epoch": e, "train_loss": 1.0 / e, "train_acc": 0.2 * e, "val_loss": 1.1 / e,
         "val_acc": 0.18 * e, "lr": 1e-4, "seconds": 1.0, "images_per_s": 10.0}
        for e in (1, 2, 3)
    ])


def test_plot_history_takes_history_records_or_columns():
    history = _history()
    for form in (history, list(history), history.to_dict()):
        fig = curves.plot_history(form)
        assert isinstance(fig, Figure) and len(fig.axes) == 2
        assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == [
            "Training Accuracy", "Validation Accuracy"]
        assert list(fig.axes[1].lines[0].get_xdata()) == [1, 2, 3]
        acc, loss = ([y for line in ax.lines for y in line.get_ydata()] for ax in fig.axes)
        assert acc == pytest.approx([20, 40, 60, 18, 36, 54])  # in %, training first
        assert loss == pytest.approx([1, 1 / 2, 1 / 3, 1.1, 1.1 / 2, 1.1 / 3])
    with pytest.raises(ValueError, match="empty"):
        curves.plot_history(History())


def test_plot_history_timestamp_label():
    from datetime import datetime

    fig = curves.plot_history(_history(), timestamp=True)
    assert str(datetime.now().year) in fig.axes[0].get_xlabel()
    fig = curves.plot_history(_history(), timestamp="2026-11-29 student 42")
    assert fig.axes[0].get_xlabel() == "2026-11-29 student 42"


def _cells(ax) -> dict[tuple[int, int], str]:
    """The text written in each cell, by (row, column) = (true class, predicted class)."""
    return {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text()
            for t in ax.texts}


def test_plot_confusion_matrix_writes_counts_and_row_shares_by_value():
    # Off the diagonal, the rows and the columns tell different stories: 3 crows taken for
    # eagles is not 3 eagles taken for crows, and row 0 sums to 6 while column 0 sums to 8.
    cm = torch.tensor([[5, 1, 0, 0], [0, 4, 0, 0], [3, 0, 2, 1], [0, 0, 0, 5]])
    ax = plots.plot_confusion_matrix(cm, CLASSES).axes[0]
    assert _cells(ax) == {(i, j): str(int(cm[i, j])) for i in range(4) for j in range(4)}
    assert _cells(ax)[(2, 0)] == "3" and _cells(ax)[(0, 2)] == "0"
    assert ax.images[0].get_array().tolist() == cm.tolist()  # row i drawn at height i
    assert ax.get_ylabel() == "true class" and ax.get_xlabel() == "predicted class"
    assert plots.plot_confusion_matrix(cm, CLASSES).axes[1].get_ylabel() == "images"
    assert not overlapping_ticks(plots.plot_confusion_matrix(cm, ["a long class name"] * 4))
    # normalised: each true class's row sums to 1 (the recall on the diagonal), by hand
    shares = [[5 / 6, 1 / 6, 0, 0], [0, 1, 0, 0], [3 / 6, 0, 2 / 6, 1 / 6], [0, 0, 0, 1]]
    ax = plots.plot_confusion_matrix(cm, CLASSES, normalize=True).axes[0]
    assert _cells(ax) == {(i, j): f"{shares[i][j]:.2f}" for i in range(4) for j in range(4)}
    assert ax.images[0].get_array().flatten().tolist() == pytest.approx(sum(shares, []))
    with pytest.raises(ValueError, match="for 3 class names"):
        plots.plot_confusion_matrix(cm, CLASSES[:3])


def test_show_misclassified_grid_and_empty_case():
    images = torch.randn(5, 3, 16, 16)
    fig = plots.show_misclassified(images, [0, 1, 2, 3, 0], [1, 2, 3, 0, 2], CLASSES, ncols=3)
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titles) == 5 and titles[0] == "true: crow\npred: eagle"
    fig = plots.show_misclassified(images[:1], [0], [1], CLASSES, confidence=[0.594])
    assert fig.axes[0].get_title() == "true: crow\npred: eagle (59%)"
    assert fig.get_figwidth() >= 3  # a single image is still drawn large enough to read
    fig = plots.show_misclassified(torch.empty(0, 3, 16, 16), [], [], CLASSES)
    assert "no misclassified" in fig.axes[0].texts[0].get_text()


def test_grad_cam_on_a_resnet_layer4():
    from course_utils.models.resnet import resnet18

    torch.manual_seed(0)
    model = resnet18(num_classes=4).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    image = torch.randn(3, 32, 32)
    with torch.inference_mode():  # as a notebook might call it; grad_cam must still work
        heat = explain.grad_cam(model, image, model.layer4)
    assert heat.shape == (32, 32)
    assert heat.min() >= 0 and heat.max() <= 1 and torch.isfinite(heat).all()
    assert model.training, "grad_cam must give the model back in the mode it found it"
    assert all(p.grad is None for p in model.parameters()), "grad_cam must not touch .grad"
    for k, v in model.state_dict().items():  # eval mode inside: BatchNorm statistics stay
        assert torch.equal(v, before[k]), f"grad_cam changed {k}"
    other = explain.grad_cam(model, image.unsqueeze(0), model.layer4, class_idx=2)
    assert other.shape == (32, 32)
    with pytest.raises(ValueError, match="class_idx=7"):
        explain.grad_cam(model, image, model.layer4, class_idx=7)
    with pytest.raises(ValueError, match="expected \\(3, H, W\\)"):
        explain.grad_cam(model, torch.randn(2, 3, 32, 32), model.layer4)


def test_grad_cam_finds_the_evidence():
    # A net that only looks at the left half: the heat map must be there, not on the right.
    torch.manual_seed(0)
    conv = nn.Conv2d(3, 4, 3, padding=1)
    model = nn.Sequential(OrderedDict(conv=conv, relu=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1),
                                      flat=nn.Flatten(), fc=nn.Linear(4, 2)))
    image = torch.zeros(3, 16, 16)
    image[:, :, :8] = 1.0
    with torch.no_grad():
        conv.weight.fill_(0.1)
        conv.bias.zero_()
        model.fc.weight.fill_(1.0)
    heat = explain.grad_cam(model, image, model.conv, class_idx=0)
    assert heat[:, :6].mean() > 0.5 > heat[:, 10:].mean()


def test_show_cam_overlay():
    heat = torch.rand(8, 8)
    fig = plots.show_cam(torch.randn(3, 32, 32), heat, title="owl")
    assert isinstance(fig, Figure) and len(fig.axes) == 4  # three panels and the colour bar
    assert fig.axes[1].get_title() == "Grad-CAM"
    assert "evidence for the predicted class" in fig.axes[3].get_ylabel()
    fig = plots.show_cam(Image.new("RGB", (20, 10), "white"), heat)
    assert fig.axes[2].images[1].get_array().shape == (10, 20)
    # a map without positive evidence says so in the figure, not only in a printed line
    fig = plots.show_cam(torch.randn(3, 32, 32), torch.zeros(3, 3))
    assert fig.axes[1].get_title() == "Grad-CAM: blank, no positive evidence"


def test_use_cjk_font_without_a_chinese_font_says_so_once(monkeypatch, capsys):
    monkeypatch.setattr(plots, "_said_no_cjk", [])
    monkeypatch.setattr(font_manager.fontManager, "ttflist",
                        [f for f in font_manager.fontManager.ttflist
                         if f.name not in plots.CJK_FONTS])
    with matplotlib.rc_context():
        before = list(matplotlib.rcParams["font.sans-serif"])
        assert plots.use_cjk_font() is None
        assert plots.use_cjk_font() is None
        assert matplotlib.rcParams["font.sans-serif"] == before
    out = capsys.readouterr()
    assert len(out.out.strip().splitlines()) == 1 and "Chinese font" in out.out
    assert out.err == ""


def test_use_cjk_font_picks_an_installed_one(monkeypatch, capsys):
    fake = font_manager.FontEntry(fname="/nonexistent/NotoSansCJK.ttc", name="Noto Sans CJK JP")
    monkeypatch.setattr(font_manager.fontManager, "ttflist",
                        [*font_manager.fontManager.ttflist, fake])
    with matplotlib.rc_context():
        assert plots.use_cjk_font() in plots.CJK_FONTS  # ours, or a real one listed earlier
        assert matplotlib.rcParams["font.sans-serif"][-1] == "DejaVu Sans"
        assert matplotlib.rcParams["axes.unicode_minus"] is False
    assert capsys.readouterr().out == ""


def test_show_images_draws_one_titled_panel_per_image() -> None:
    from course_utils.data.figures import show_images

    images = torch.randn(5, 3, 8, 8)
    fig = show_images(images, [0, 1, 2, 0, 1], ["a", "b", "c"], ncols=3, title="grid")
    titles = [ax.get_title() for ax in fig.axes if ax.images]
    assert titles == ["a", "b", "c", "a", "b"] and len(fig.axes) == 6
    shown = fig.axes[0].images[0].get_array()
    assert shown.min() >= 0 and shown.max() <= 1, "images are de-normalised into [0, 1]"


def test_plot_class_counts_single_and_per_split() -> None:
    from course_utils.data.figures import plot_class_counts

    fig = plot_class_counts({"a": 3, "b": 5})
    assert [round(p.get_height()) for p in fig.axes[0].patches] == [3, 5]
    assert fig.axes[0].get_xlabel() == "class" and fig.axes[0].get_ylabel() == "images"
    many = {f"{name}_from_my_own_photos": 10 for name in "abcdefgh"}  # your own folder names
    assert not overlapping_ticks(plot_class_counts(many))
    assert not legend_covers_data(plot_class_counts({"train": many, "test": many}))
    fig = plot_class_counts({"train": {"a": 3, "b": 5}, "test": {"a": 1, "b": 2}})
    assert sorted(round(p.get_height()) for p in fig.axes[0].patches) == [1, 2, 3, 5]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["train", "test"]


def overlapping_ticks(fig) -> list[tuple[str, str]]:
    """Pairs of neighbouring tick labels, on any axis of the figure, whose boxes overlap."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    pairs = []
    for ax in fig.axes:
        for labels in (ax.get_xticklabels(), ax.get_yticklabels()):
            boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in labels
                     if t.get_text() and t.get_visible()]
            pairs += [(a, b) for (a, box_a), (b, box_b) in zip(boxes, boxes[1:], strict=False)
                      if box_a.overlaps(box_b)]
    return pairs


def legend_covers_data(fig) -> list[str]:
    """The legends (of the axes and of the figure) whose box holds a data point of a line or the
    top of a bar: a legend that hides what it explains."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    covered = []
    for legend in legends:
        box = legend.get_window_extent(renderer)
        for ax in fig.axes:
            points = [ax.transData.transform(xy) for line in ax.lines
                      for xy in line.get_xydata()]
            points += [ax.transData.transform((p.get_x() + p.get_width() / 2, p.get_height()))
                       for p in ax.patches if hasattr(p, "get_height")]
            covered += [f"{legend.get_texts()[0].get_text()}: {xy}" for xy in points
                        if box.contains(*xy)]
    return covered


def test_the_figure_checks_see_a_covering_legend_and_overlapping_ticks():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.plot([0, 1, 2], [0, 1, 2], label="a line")
    ax.legend(loc="center")  # right on the line's middle point
    assert legend_covers_data(fig)
    ax.set_xticks([0, 1], ["a very long label", "another long label"])
    assert overlapping_ticks(fig)


def test_curves_legends_never_cover_a_curve():
    rising = History([{**r, "train_loss": 1.4 - 0.3 * r["epoch"], "val_loss": 1.5 - 0.35 * r[
        "epoch"], "train_acc": 0.3 * r["epoch"], "val_acc": 0.32 * r["epoch"]} for r in _history()])
    for history in (_history(), rising):
        assert not legend_covers_data(curves.plot_history(history, num_classes=4, title="t"))
        assert not legend_covers_data(curves.plot_history(history, timestamp=True))
    runs = {f"rung {k}": rising for k in range(5)}
    assert not legend_covers_data(curves.plot_runs(runs, num_classes=4, title="ladder"))


def test_plot_history_keeps_the_chance_line_inside_the_loss_panel():
    import math

    flat = History([{**r, "train_loss": 1.2, "val_loss": 1.1} for r in _history()])
    loss = curves.plot_history(flat, num_classes=4).axes[1]
    assert loss.get_ylim()[1] > 1.05 * math.log(4)  # not on the panel's top edge
    assert curves.plot_history(flat, num_classes=4).axes[0].get_ylim() == (0, 103)


def test_plot_history_draws_the_chance_lines():
    import math

    fig = curves.plot_history(_history(), num_classes=4)
    acc, loss = fig.axes
    # the last line of each panel is the horizontal guide, at 1/C and at ln(C)
    assert list(acc.lines[-1].get_ydata()) == [25.0, 25.0]
    assert list(loss.lines[-1].get_ydata()) == pytest.approx([math.log(4)] * 2)
    assert "chance (25 %)" in [t.get_text() for t in acc.get_legend().get_texts()]
    assert "ln 4" in loss.get_legend().get_texts()[-1].get_text()
    fig = curves.plot_history(_history(), num_classes=2)
    assert list(fig.axes[0].lines[-1].get_ydata()) == [50.0, 50.0]
    assert len(curves.plot_history(_history()).axes[0].lines) == 2  # no guide unless asked
    with pytest.raises(ValueError, match="num_classes=1"):
        curves.plot_history(_history(), num_classes=1)


def test_plot_runs_one_line_per_run_and_chance():
    import math

    other = History([{**r, "val_acc": r["val_acc"] / 2, "val_loss": 1.4} for r in _history()])
    fig = curves.plot_runs({"lesson": other, "final": _history()}, num_classes=4)
    acc, loss = fig.axes
    [legend] = fig.legends  # one legend for both panels, the runs in the same colours in both
    assert [t.get_text() for t in legend.get_texts()] == [
        "lesson", "final", "chance: 25 % accuracy, loss ln 4 = 1.39"]
    assert acc.get_legend() is None and loss.get_legend() is None
    assert [line.get_color() for line in acc.lines[:2]] == [line.get_color()
                                                            for line in loss.lines[:2]]
    assert list(acc.lines[0].get_ydata()) == pytest.approx([9.0, 18.0, 27.0])  # val_acc / 2, in %
    assert list(acc.lines[1].get_ydata()) == pytest.approx([18.0, 36.0, 54.0])
    assert list(loss.lines[0].get_ydata()) == [1.4, 1.4, 1.4]
    assert list(loss.lines[-1].get_ydata()) == pytest.approx([math.log(4)] * 2)
    with pytest.raises(ValueError, match="no runs"):
        curves.plot_runs({})
    with pytest.raises(ValueError, match="'empty'"):
        curves.plot_runs({"empty": History()})
    with pytest.raises(ValueError, match="num_classes=0"):
        curves.plot_runs({"final": _history()}, num_classes=0)


def test_data_parallelism_figure_draws_every_process_and_the_all_reduce():
    fig = plot_data_parallelism(processes=3, images_per_process=2)
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert ("one global batch of 6 images = 2 per process x 3 processes (DistributedSampler)"
            in texts)
    assert [t for t in texts if t.startswith("rank ")] == [
        f"rank {r}: the same model\n(identical weights)" for r in range(3)]
    assert any(t.startswith("all-reduce") and "/ 3" in t for t in texts)
    assert sum(isinstance(p, matplotlib.patches.Rectangle) for p in fig.axes[0].patches) >= 6
    # each image is labelled with its place in the batch: DistributedSampler deals them out
    # in turn, so process 0 of 3 gets images 1 and 4
    assert [t for t in texts if t.startswith("img ")] == [
        "img 1", "img 4", "img 2", "img 5", "img 3", "img 6"]
    plt.close(fig)
    with pytest.raises(ValueError, match="processes=0"):
        plot_data_parallelism(processes=0)


def test_grad_cam_shows_only_the_evidence_for_the_class():
    # Channel 0 sees the left half and speaks for class 0; channel 1 sees the right half and
    # speaks against it. Grad-CAM keeps the positive part: the right half must stay cold.
    conv = nn.Conv2d(3, 2, 1, bias=False)
    model = nn.Sequential(OrderedDict(conv=conv, relu=nn.ReLU(), pool=nn.AdaptiveAvgPool2d(1),
                                      flat=nn.Flatten(), fc=nn.Linear(2, 2, bias=False)))
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[1.0, 0, 0], [0, 1.0, 0]]).view(2, 3, 1, 1))
        model.fc.weight.copy_(torch.tensor([[1.0, -1.0], [0.0, 0.0]]))
    image = torch.zeros(3, 16, 16)
    image[0, :, :8] = 1.0
    image[1, :, 8:] = 1.0
    heat = explain.grad_cam(model, image, model.conv, class_idx=0)
    assert heat[:, :7].min() > 0.9 and heat[:, 9:].max() == 0


def test_feature_shapes_of_resnet_stages():
    from course_utils.models.resnet import resnet18

    model = resnet18(num_classes=4).train()
    shapes = explain.feature_shapes(model, torch.randn(3, 40, 40), ["layer3", "layer4"])
    assert shapes == {"layer3": (256, 3, 3), "layer4": (512, 2, 2)}  # 40 / 16, 40 / 32 rounded up
    assert explain.feature_shapes(model, torch.randn(1, 3, 224, 224), ["layer4"]) == {
        "layer4": (512, 7, 7)}
    assert model.training and not model.layer4._forward_hooks  # mode kept, no hook left behind
    with pytest.raises(ValueError, match="no layer named \\['layer5'\\]"):
        explain.feature_shapes(model, torch.randn(3, 40, 40), ["layer5"])
