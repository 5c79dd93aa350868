"""train_one_epoch / evaluate / fit: correctness, safety on Ctrl-C, determinism, speed settings."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
import torch
from conftest import tiny_net
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from course_utils.training import allocator
from course_utils.training.checkpoints import load_checkpoint, load_into
from course_utils.training.fitting import fit
from course_utils.training.history import History, history_path
from course_utils.training.loops import evaluate, predict_loader, train_one_epoch
from course_utils.training.recipes import decay_groups
from course_utils.training.speed import Speed, speed_for, tolerance

CLASSES = ["a", "b", "c", "d"]
META = {"arch": "tiny", "class_names": CLASSES, "image_size": 16,
        "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def tiny_data(n: int = 36, seed: int = 0) -> TensorDataset:
    """16x16 noise images whose per-channel offsets depend on the class: easy to learn."""
    g = torch.Generator().manual_seed(seed)
    offsets = torch.tensor([[1.0, 0, 0], [0, 1, 0], [0, 0, 1], [-1, -1, -1]]).view(4, 3, 1, 1)
    y = torch.arange(n) % 4
    x = 0.5 * torch.randn(n, 3, 16, 16, generator=g) + offsets[y]
    return TensorDataset(x, y)


def loaders(batch_size: int = 8, seed: int = 0):
    train = DataLoader(tiny_data(36, 0), batch_size=batch_size, shuffle=True,
                       generator=torch.Generator().manual_seed(seed))
    val = DataLoader(tiny_data(20, 1), batch_size=batch_size)
    return train, val


def quiet_fit(model, train, val, **kwargs) -> History:
    kwargs.setdefault("epochs", 3)
    kwargs.setdefault("device", "cpu")
    kwargs.setdefault("progress", False)
    kwargs.setdefault("log", None)
    optimizer = kwargs.pop("optimizer", None) or torch.optim.AdamW(model.parameters(), lr=1e-2)
    return fit(model, train, val, optimizer, **kwargs)


def test_loss_falls_on_a_tiny_set():
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    history = quiet_fit(model, train, val, epochs=5, speed=Speed())
    assert len(history) == 5
    assert history[-1]["train_loss"] < 0.7 * history[0]["train_loss"]
    assert history[-1]["val_acc"] >= 0.9


def test_small_model_overfits_one_batch():
    torch.manual_seed(0)
    model = tiny_net()
    x = torch.randn(8, 3, 16, 16)
    y = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0])  # labels unrelated to the pixels: pure memory
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(3):
        train_one_epoch(model, [(x, y)] * 20, optimizer, nn.CrossEntropyLoss(), "cpu",
                        progress=False)
    acc, loss = evaluate(model, [(x, y)], nn.CrossEntropyLoss(), "cpu")
    assert acc == 1.0
    assert loss < 0.1


def test_mean_loss_weights_every_image_once():
    # 7 images in batches of 3, 3, 1: the lesson's mean of batch means over-weights the last one.
    torch.manual_seed(0)
    model = tiny_net().eval()
    data = tiny_data(7)
    loss_fn = nn.CrossEntropyLoss()
    with torch.no_grad():
        logits = model(data.tensors[0])
        exact = loss_fn(logits, data.tensors[1]).item()
        exact_acc = (logits.argmax(1) == data.tensors[1]).float().mean().item()
        batch_means = [loss_fn(model(x), y).item() for x, y in DataLoader(data, batch_size=3)]
    acc, loss = evaluate(model, DataLoader(data, batch_size=3), loss_fn, "cpu")
    assert loss == pytest.approx(exact, rel=1e-6)
    assert acc == pytest.approx(exact_acc)
    lesson = sum(batch_means) / len(batch_means)
    assert abs(lesson - exact) > 1e-4  # the lesson's formula gives a different number


def test_evaluate_changes_neither_bn_statistics_nor_gradients():
    torch.manual_seed(0)
    model = tiny_net().train()
    x, y = tiny_data(8).tensors
    nn.CrossEntropyLoss()(model(x), y).backward()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    grads = {n: p.grad.clone() for n, p in model.named_parameters()}
    evaluate(model, DataLoader(tiny_data(20, 1), batch_size=8), nn.CrossEntropyLoss(), "cpu")
    assert model.training, "evaluate must give the model back in the mode it found it"
    for k, v in model.state_dict().items():
        assert torch.equal(v, state[k]), f"{k} changed during evaluate"
    for n, p in model.named_parameters():
        assert torch.equal(p.grad, grads[n]), f"gradient of {n} changed during evaluate"


def test_train_one_epoch_steps_a_per_batch_scheduler():
    torch.manual_seed(0)
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    train, _ = loaders()
    acc, loss = train_one_epoch(model, train, optimizer, nn.CrossEntropyLoss(), "cpu",
                                scheduler=scheduler, progress=False)
    assert 0.0 <= acc <= 1.0 and loss > 0
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.1 * 0.5 ** len(train))


def test_empty_loader_is_explained():
    model = tiny_net()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="no batches"):
        train_one_epoch(model, [], optimizer, nn.CrossEntropyLoss(), "cpu", progress=False)
    with pytest.raises(ValueError, match="no batches"):
        evaluate(model, [], nn.CrossEntropyLoss(), "cpu")


def _comparable(history):
    return [{k: v for k, v in r.items() if k not in ("seconds", "images_per_s")} for r in history]


def test_same_seed_gives_the_same_history():
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = tiny_net()
        train, val = loaders(seed=0)
        runs.append(_comparable(quiet_fit(model, train, val, epochs=2)))
    assert runs[0] == runs[1]


def test_fit_saves_the_best_epoch_and_the_history(tmp_path, capsys, precision):
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    path = tmp_path / "runs" / "best.pth"
    history = quiet_fit(model, train, val, epochs=3, checkpoint_path=path, meta=META, log=print)
    checkpoint = load_checkpoint(path)
    assert checkpoint["epoch"] == history.best["epoch"]
    assert checkpoint["metrics"]["val_acc"] == history.best["val_acc"]
    assert checkpoint["training_precision"] == precision
    # what chapter 5 does: a fresh model from the file, evaluated again (in fp32, as fit validates)
    acc, loss = evaluate(load_into(tiny_net(), checkpoint), val, nn.CrossEntropyLoss(), "cpu")
    assert acc == checkpoint["metrics"]["val_acc"]
    assert loss == pytest.approx(checkpoint["metrics"]["val_loss"], rel=tolerance("fp32"))
    assert checkpoint["class_names"] == CLASSES
    saved = History.load(history_path(path))
    assert saved == history and not saved.interrupted
    assert set(history[0]) == {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr",
                               "seconds", "images_per_s"}
    assert history.to_dict()["epoch"] == [1, 2, 3]
    out = capsys.readouterr().out
    assert re.search(r"Epoch: 1, Train_acc:\d+\.\d%, Train_loss:\d\.\d{3}, Test_acc \(val\):"
                     r"\d+\.\d%, Test_loss:\d\.\d{3}, Lr:1\.00E-02", out), out
    assert not list(path.parent.glob("*.tmp"))


class InterruptOnEpoch:
    """A loader that raises KeyboardInterrupt (as Ctrl-C would) when epoch `epoch` begins."""

    def __init__(self, loader, epoch: int):
        self.loader, self.epoch, self.started = loader, epoch, 0
        self.dataset = loader.dataset

    def __len__(self):
        return len(self.loader)

    def __iter__(self):
        self.started += 1
        if self.started == self.epoch:
            raise KeyboardInterrupt
        return iter(self.loader)


def test_interrupted_fit_keeps_best_checkpoint_and_history(tmp_path, capsys):
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    path = tmp_path / "best.pth"
    history = quiet_fit(model, InterruptOnEpoch(train, 3), val, epochs=5,
                        checkpoint_path=path, meta=META, log=print)
    assert history.interrupted
    assert [r["epoch"] for r in history] == [1, 2]
    checkpoint = load_checkpoint(path)  # complete and loadable
    assert checkpoint["epoch"] == history.best["epoch"]
    saved = json.loads(history_path(path).read_text())
    assert saved["interrupted"] and len(saved["epochs"]) == 2
    assert not list(tmp_path.glob("*.tmp"))
    assert ("Interrupted during epoch 3 of 5, which is not recorded: returning the history of "
            "the 2 finished epochs; the best checkpoint (epoch ") in capsys.readouterr().out


def test_ctrl_c_after_an_epoch_says_after_and_counts_in_words(tmp_path, capsys):
    """The interrupt of chapter 4 (on_epoch_end raising KeyboardInterrupt) comes once epoch 1 is
    finished and recorded: the line says "after epoch 1", and "1 finished epoch", singular."""
    def press_ctrl_c(record):
        raise KeyboardInterrupt

    train, val = loaders()
    history = quiet_fit(tiny_net(), train, val, epochs=3, checkpoint_path=tmp_path / "best.pth",
                        meta=META, log=print, on_epoch_end=press_ctrl_c)
    assert history.interrupted and len(history) == 1
    out = capsys.readouterr().out
    assert ("Interrupted after epoch 1 of 3: returning the history of the 1 finished epoch; the "
            "best checkpoint (epoch 1, val acc ") in out
    assert "during" not in out and "epoch(s)" not in out
    # interrupted in the first epoch: nothing finished, nothing saved
    history = quiet_fit(tiny_net(), InterruptOnEpoch(train, 1), val, epochs=2, log=print)
    assert ("Interrupted during epoch 1 of 2, which is not recorded: returning an empty history: "
            "no epoch finished; no checkpoint was saved.") in capsys.readouterr().out


def test_ctrl_c_while_saving_keeps_the_previous_best(tmp_path, monkeypatch, capsys):
    from course_utils.training import checkpoints

    real_save, calls = torch.save, []

    def save_then_interrupt_the_second_time(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            f.write(b"half a file")
            raise KeyboardInterrupt
        return real_save(obj, f, *args, **kwargs)

    # Validation accuracy that improves every epoch, so every epoch saves.
    # fit adds up [summed loss, correct images, images] (so that processes can add theirs up too)
    scores = iter(torch.tensor([4 * loss, acc * 4, 4.0], dtype=torch.float64)
                  for acc, loss in [(0.25, 1.0), (0.5, 0.9), (0.75, 0.8)])
    monkeypatch.setattr("course_utils.training.loops.evaluate_totals", lambda *a, **k: next(scores))
    monkeypatch.setattr(checkpoints.torch, "save", save_then_interrupt_the_second_time)
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    path = tmp_path / "best.pth"
    history = quiet_fit(model, train, val, epochs=3, checkpoint_path=path, meta=META, log=print)
    monkeypatch.undo()
    assert history.interrupted and len(history) == 1
    assert load_checkpoint(path)["epoch"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.history.json", "best.pth"]
    assert "best checkpoint (epoch 1, val acc 25.0%) is intact" in capsys.readouterr().out


def test_interrupt_from_a_callback_returns_history():
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()

    def stop(record):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    history = quiet_fit(model, train, val, epochs=4, on_epoch_end=stop)
    assert history.interrupted and len(history) == 2


def test_fit_checks_meta_before_training(tmp_path):
    model = tiny_net()
    train, val = loaders()
    with pytest.raises(ValueError, match="missing \\['image_size'"):
        quiet_fit(model, train, val, checkpoint_path=tmp_path / "x.pth",
                  meta={k: v for k, v in META.items() if k not in ("image_size", "std")})
    with pytest.raises(ValueError, match="5 class names"):
        quiet_fit(model, train, val, checkpoint_path=tmp_path / "x.pth",
                  meta={**META, "class_names": list("abcde")})
    assert not (tmp_path / "x.pth").exists()


@pytest.mark.parametrize("scheduler", ["cosine", "onecycle", "step"])
def test_fit_schedulers_record_the_rate_each_epoch_starts_with(scheduler):
    import math

    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    expected = {"cosine": [0.05 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)],
                "step": [0.05, 0.025, 0.0125],
                "onecycle": [_one_cycle_lr(5 * e, 15, 0.05, 0.3) for e in range(3)]}[scheduler]
    if scheduler == "step":
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)
    history = quiet_fit(model, train, val, epochs=3, optimizer=optimizer, scheduler=scheduler)
    assert history.to_dict()["lr"] == pytest.approx(expected, rel=1e-6)


def _fake_validation(monkeypatch, scores):
    """Make fit's validation report these (accuracy, loss) pairs, one per epoch, over 4 images
    (fit adds up [summed loss, correct images, images], so that processes can add theirs up)."""
    totals = iter(torch.tensor([4 * loss, 4 * acc, 4.0], dtype=torch.float64)
                  for acc, loss in scores)
    monkeypatch.setattr("course_utils.training.loops.evaluate_totals", lambda *a, **k: next(totals))


def test_fit_feeds_the_plateau_scheduler_the_validation_loss(monkeypatch):
    # Validation losses 1.0, 1.0, 0.5, 0.5 (accuracy flat): with patience 0 the rate halves
    # after epochs 2 and 4, whatever the training loss does.
    _fake_validation(monkeypatch, [(0.5, 1.0), (0.5, 1.0), (0.5, 0.5), (0.5, 0.5)])
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
    plateau = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, factor=0.5, patience=0)
    history = quiet_fit(model, train, val, epochs=4, optimizer=optimizer, scheduler=plateau)
    assert history.to_dict()["lr"] == pytest.approx([0.05, 0.05, 0.025, 0.025])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0125)


def test_a_tie_keeps_the_earlier_best_checkpoint(tmp_path, monkeypatch):
    _fake_validation(monkeypatch, [(0.5, 1.0), (0.5, 0.8), (0.25, 0.7)])
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    path = tmp_path / "best.pth"
    history = quiet_fit(model, train, val, epochs=3, checkpoint_path=path, meta=META)
    assert history.best["epoch"] == 1
    assert load_checkpoint(path)["epoch"] == 1, "an equal accuracy later is no improvement"


def test_fit_with_progress_bars_runs(capsys):
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    history = fit(model, train, val, torch.optim.AdamW(model.parameters(), lr=1e-2), epochs=1,
                  device="cpu", progress=True)
    assert len(history) == 1
    assert "Epoch: 1" in capsys.readouterr().out


def test_predict_loader_matches_evaluate():
    torch.manual_seed(0)
    model = tiny_net().eval()
    _, val = loaders()
    true, pred, prob = predict_loader(model, val, "cpu")
    acc, _ = evaluate(model, val, nn.CrossEntropyLoss(), "cpu")
    assert true.shape == pred.shape == (20,) and prob.shape == (20, 4)
    assert (true == pred).float().mean().item() == pytest.approx(acc)
    assert torch.allclose(prob.sum(1), torch.ones(20))


def test_predict_loader_uses_running_statistics_and_changes_nothing():
    torch.manual_seed(0)
    model = tiny_net()
    with torch.no_grad():  # running statistics away from the defaults, as after training
        model.train()(tiny_data(16).tensors[0] * 2 + 1)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    _, val = loaders()
    true, pred, prob = predict_loader(model, val, "cpu")  # called on a model in train mode
    assert model.training
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())
    x, y = val.dataset.tensors
    with torch.no_grad():
        expected = model.eval()(x).softmax(1)
    torch.testing.assert_close(prob, expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(true, y) and torch.equal(pred, expected.argmax(1))


# ----------------------------------------------------------------- speed settings: soundness


def test_fit_takes_one_speed_object(monkeypatch):
    lines = []
    train, val = loaders()
    quiet_fit(tiny_net(), train, val, epochs=1, log=lines.append)  # None: the hardware's choice
    assert speed_for(torch.device("cpu")).describe() in lines[0]
    lines.clear()
    quiet_fit(tiny_net(), train, val, epochs=1, log=lines.append, speed=Speed(torch.bfloat16))
    assert "autocast bfloat16, channels-last off, allocator tuning off" in lines[0]
    monkeypatch.setattr("course_utils.training.allocator._glibc", lambda: None)
    assert Speed(None, True, True).checked() == Speed(None, True, False)  # needs glibc
    with pytest.raises(TypeError, match="speed=True; expected a Speed"):
        quiet_fit(tiny_net(), train, val, epochs=1, speed=True)
    with pytest.raises(ValueError, match="amp_dtype=torch.float64"):
        quiet_fit(tiny_net(), train, val, epochs=1, speed=Speed(torch.float64))
    with pytest.raises(ValueError, match="channels_last='on'"):
        Speed(channels_last="on").checked()


@pytest.mark.skipif(not allocator.can_reuse_memory(), reason="memory reuse needs glibc (Linux)")
@pytest.mark.parametrize("reuse", [True, False])
def test_fit_reuses_memory_only_while_it_runs(reuse):
    during = []
    torch.manual_seed(0)
    train, val = loaders()
    assert not allocator.memory_reuse_enabled()
    quiet_fit(tiny_net(), train, val, epochs=2, speed=Speed(tune_allocator=reuse),
              on_epoch_end=lambda record: during.append(allocator.memory_reuse_enabled()))
    assert during == [reuse, reuse]
    assert not allocator.memory_reuse_enabled()  # given back when fit ends


def test_fit_leaves_the_allocator_alone_unless_asked(monkeypatch):
    calls = []
    monkeypatch.setattr(allocator, "reuse_freed_memory", lambda enable=True: calls.append(enable))
    train, val = loaders()
    quiet_fit(tiny_net(), train, val, epochs=1)  # the default speed settings
    quiet_fit(tiny_net(), train, val, epochs=1, speed=speed_for("cpu"))
    assert calls == []  # not one mallopt: nothing process-wide changed
    quiet_fit(tiny_net(), train, val, epochs=1, speed=speed_for("cpu", tune_allocator=True))
    assert calls == ([True, False] if allocator.can_reuse_memory() else [])


@pytest.mark.skipif(not allocator.can_reuse_memory(), reason="memory reuse needs glibc (Linux)")
@pytest.mark.parametrize("error", [KeyboardInterrupt, RuntimeError])
def test_fit_gives_memory_back_when_stopped(error):
    def stop(record):
        assert allocator.memory_reuse_enabled()
        raise error("stop")

    train, val = loaders()
    with contextlib.suppress(RuntimeError):
        quiet_fit(tiny_net(), train, val, epochs=2, speed=Speed(tune_allocator=True),
                  on_epoch_end=stop)
    assert not allocator.memory_reuse_enabled()


# bf16 keeps 8 significant bits (about 2-3 decimal digits), so logits agree with fp32 to a
# few percent of their scale; we allow 5 % of the largest logit.
BF16_TOLERANCE = 0.05


def test_bf16_autocast_is_close_to_fp32():
    torch.manual_seed(0)
    model = tiny_net().eval()
    x = tiny_data(16).tensors[0]
    with torch.inference_mode():
        reference = model(x)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(x)
    assert low.dtype == torch.bfloat16
    error = (low.float() - reference).abs().max().item()
    assert error <= BF16_TOLERANCE * reference.abs().max().item(), error
    assert (low.float().argmax(1) == reference.argmax(1)).float().mean() >= 0.9


def test_bf16_evaluate_matches_fp32_evaluate():
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    quiet_fit(model, train, val, epochs=2, speed=Speed())
    acc32, loss32 = evaluate(model, val, nn.CrossEntropyLoss(), "cpu")
    acc16, loss16 = evaluate(model, val, nn.CrossEntropyLoss(), "cpu", amp_dtype=torch.bfloat16)
    assert abs(acc16 - acc32) <= 0.1
    assert loss16 == pytest.approx(loss32, rel=BF16_TOLERANCE, abs=0.02)


def test_channels_last_gives_the_same_result():
    torch.manual_seed(0)
    model = tiny_net().eval()
    x = tiny_data(16).tensors[0]
    with torch.inference_mode():
        reference = model(x)
        model.to(memory_format=torch.channels_last)
        fast = model(x.contiguous(memory_format=torch.channels_last))
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(fast, reference, rtol=1e-4, atol=1e-5)


def test_training_with_channels_last_and_bf16_follows_fp32():
    # Two epochs with each setting from the same start: the curves must agree closely.
    histories = {}
    for name, amp, memory in (("fp32", False, False), ("cl", False, True), ("bf16", True, False)):
        torch.manual_seed(0)
        model = tiny_net()
        train, val = loaders(seed=0)
        histories[name] = quiet_fit(model, train, val, epochs=2,
                                    speed=Speed(torch.bfloat16 if amp else None, memory))
    for record_32, record_cl in zip(histories["fp32"], histories["cl"], strict=True):
        assert record_cl["train_loss"] == pytest.approx(record_32["train_loss"], rel=1e-3)
    for record_32, record_bf in zip(histories["fp32"], histories["bf16"], strict=True):
        assert record_bf["train_loss"] == pytest.approx(record_32["train_loss"], rel=0.1)


def test_model_on_another_device_is_explained():
    model = tiny_net().to("meta")  # stands in for "the model is still on the CPU, device is cuda"
    with pytest.raises(ValueError, match="the model is on meta but device is cpu"):
        evaluate(model, [], nn.CrossEntropyLoss(), "cpu")


def test_evaluating_in_channels_last_leaves_a_trainable_model():
    # The format change must happen outside inference_mode, or the weights could no longer train.
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    predict_loader(model, val, "cpu", channels_last=True)
    evaluate(model, val, nn.CrossEntropyLoss(), "cpu", channels_last=True)
    assert model.conv1.weight.is_contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    train_one_epoch(model, train, optimizer, nn.CrossEntropyLoss(), "cpu", progress=False)


# --------------------------------------------------------------------------- chapter 4's recipe


def _one_cycle_lr(step: int, total: int, peak: float, pct: float, div: float = 25.0,
                  final_div: float = 1e4) -> float:
    """OneCycleLR's rate after `step` optimiser steps, written out from its definition:
    cosine from peak/div up to peak over pct of the run, then cosine down to peak/div/final_div."""
    import math

    up = pct * total - 1
    start, low = peak / div, peak / div / final_div
    if step <= up:
        t, a, b = step / up, start, peak
    else:
        t, a, b = (step - up) / (total - 1 - up), peak, low
    return b + (a - b) * (1 + math.cos(math.pi * t)) / 2


def test_fit_steps_a_one_cycle_scheduler_every_batch():
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()  # 36 images in batches of 8: 5 steps per epoch
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, epochs=4,
                                                    steps_per_epoch=len(train), pct_start=0.25)
    history = quiet_fit(model, train, val, epochs=4, optimizer=optimizer, scheduler=scheduler)
    # the rate each epoch starts with is the schedule's value after 0, 5, 10, 15 steps
    expected = [_one_cycle_lr(5 * e, 20, 3e-3, 0.25) for e in range(4)]
    assert history.to_dict()["lr"] == pytest.approx(expected, rel=1e-6)
    assert expected[0] == pytest.approx(3e-3 / 25)  # warm-up starts at a 25th of the peak
    assert scheduler.last_epoch == 20  # stepped after every batch, not every epoch


def test_fit_refuses_a_one_cycle_of_the_wrong_length():
    model = tiny_net()
    train, val = loaders()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=7)
    with pytest.raises(ValueError, match=r"total_steps=7.*3 epochs x 5 batches = 15"):
        quiet_fit(model, train, val, epochs=3, optimizer=optimizer, scheduler=scheduler)


def test_fit_refuses_a_used_one_cycle_or_one_for_another_optimizer():
    model = tiny_net()
    train, val = loaders()
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    used = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=3e-3, total_steps=15)
    optimizer.step()
    used.step()
    with pytest.raises(ValueError, match="already taken 1 steps"):
        quiet_fit(model, train, val, epochs=3, optimizer=optimizer, scheduler=used)
    other = torch.optim.AdamW(tiny_net().parameters(), lr=3e-3)
    foreign = torch.optim.lr_scheduler.OneCycleLR(other, max_lr=3e-3, total_steps=15)
    with pytest.raises(ValueError, match="another optimizer"):
        quiet_fit(model, train, val, epochs=3, optimizer=optimizer, scheduler=foreign)


def test_label_smoothing_is_trained_and_plain_cross_entropy_is_validated(precision):
    torch.manual_seed(0)
    model = tiny_net()
    train, val = loaders()
    # lr 0: the weights never move, so every loss can be computed by hand afterwards
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    smooth = nn.CrossEntropyLoss(label_smoothing=0.1)
    record = quiet_fit(model, train, val, epochs=1, optimizer=optimizer, loss_fn=smooth)[0]
    # validation (first: it changes nothing): plain cross-entropy, not the smoothed value
    _, plain = evaluate(model, val, nn.CrossEntropyLoss(), "cpu")
    _, smoothed = evaluate(model, val, smooth, "cpu")
    # validation runs in fp32 whatever precision trained, so it matches a later evaluate in fp32
    assert record["val_loss"] == pytest.approx(plain, rel=tolerance("fp32"))
    assert abs(plain - smoothed) > 1e-3
    # training: the smoothed loss in train mode (batch statistics), the same batches in order
    model.train()
    by_hand = 0.0
    with torch.no_grad():
        for x, y in DataLoader(tiny_data(36, 0), batch_size=8, shuffle=True,
                               generator=torch.Generator().manual_seed(0)):
            by_hand += smooth(model(x), y).item() * len(y)
    # training ran in `precision`, the sum by hand in fp32
    assert record["train_loss"] == pytest.approx(by_hand / 36, rel=tolerance(precision, "fp32"))


def test_decay_groups_spare_batchnorm_and_biases():
    model = tiny_net()
    groups = decay_groups(model, 0.05)
    decayed = {id(p) for p in groups[0]["params"]}
    spared = {id(p) for p in groups[1]["params"]}
    assert groups[0]["weight_decay"] == 0.05 and groups[1]["weight_decay"] == 0.0
    assert decayed == {id(model.conv1.weight), id(model.conv2.weight), id(model.fc.weight)}
    assert spared == {id(model.bn1.weight), id(model.bn1.bias), id(model.bn2.weight),
                      id(model.bn2.bias), id(model.fc.bias)}
    # AdamW takes them as they are, and a decayed weight shrinks while a spared one does not
    optimizer = torch.optim.AdamW(groups, lr=0.1)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    before_w, before_b = model.fc.weight.detach().clone(), model.bn1.weight.detach().clone()
    optimizer.step()
    assert torch.allclose(model.fc.weight, before_w * (1 - 0.1 * 0.05))
    assert torch.equal(model.bn1.weight, before_b)


def test_a_resumed_run_ends_with_the_weights_of_an_uninterrupted_one():
    """Stopped after epoch 2 of 3 and resumed with its history: the fresh one-cycle schedule is
    moved forward by 2 epochs' steps, so the last epoch takes the very same steps."""
    def run(stop_after=None, resume=None, model=None, optimizer=None):
        if model is None:
            torch.manual_seed(0)
            model = tiny_net()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        train = DataLoader(tiny_data(36, 0), batch_size=8)  # the same order every epoch
        val = DataLoader(tiny_data(20, 1), batch_size=8)
        schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=1e-2, epochs=3,
                                                       steps_per_epoch=len(train))

        def stop(record):
            if record["epoch"] == stop_after:
                raise KeyboardInterrupt

        history = quiet_fit(model, train, val, optimizer=optimizer, scheduler=schedule,
                            on_epoch_end=stop, resume_history=resume, speed=Speed())
        return model, optimizer, history

    straight, _, full = run()
    model, optimizer, first = run(stop_after=2)
    assert first.interrupted and len(first) == 2
    resumed, _, history = run(resume=first, model=model, optimizer=optimizer)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[2]["lr"] == full[2]["lr"]
    for a, b in zip(straight.state_dict().values(), resumed.state_dict().values(), strict=True):
        assert torch.equal(a, b)
    with pytest.raises(ValueError, match="already finished 3 epoch"):
        run(resume=history, model=model, optimizer=optimizer)



# ------------------------------------------------------------ training steps checked by hand


def _two_batches() -> DataLoader:
    """8 images in batches of 5 and 3, unshuffled: uneven, so a mean of batch means is wrong."""
    return DataLoader(tiny_data(8, seed=3), batch_size=5)


def _sgd_by_hand(model: nn.Module, batches, lrs) -> list[tuple[float, int, int]]:
    """Plain SGD written out: per batch, the loss in train mode (batch statistics, which also
    moves BatchNorm's running statistics) and w <- w - lr * dL/dw with that batch's gradient
    alone. Returns (loss, correct, images) per batch, from the logits before each update."""
    model.train()
    params = list(model.parameters())
    seen = []
    for (x, y), lr in zip(batches, lrs, strict=True):
        logits = model(x)
        loss = nn.functional.cross_entropy(logits, y)
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for p, g in zip(params, grads, strict=True):
                p -= lr * g
        seen.append((loss.item(), int((logits.argmax(1) == y).sum()), len(y)))
    return seen


def _per_image(batches: list[tuple[float, int, int]]) -> tuple[float, float]:
    """(accuracy, mean loss per image) over batches of (loss, correct, images)."""
    n = sum(size for _, _, size in batches)
    return (sum(c for _, c, _ in batches) / n, sum(loss * size for loss, _, size in batches) / n)


def _assert_same_state(model: nn.Module, reference: nn.Module) -> None:
    """Weights and BatchNorm running statistics, tensor by tensor."""
    for (name, value), expected in zip(model.state_dict().items(), reference.state_dict().values(),
                                       strict=True):
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-6, msg=name)


def test_train_one_epoch_is_plain_sgd_computed_by_hand():
    import copy

    torch.manual_seed(2)
    model = tiny_net().eval()  # train_one_epoch must switch to train mode itself
    reference = copy.deepcopy(model)
    batches = _sgd_by_hand(reference, list(_two_batches()), lrs=[0.1, 0.05])
    expected_acc, expected_loss = _per_image(batches)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    halve = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.5)  # 0.1, then 0.05
    acc, loss = train_one_epoch(model, _two_batches(), optimizer, nn.CrossEntropyLoss(), "cpu",
                                scheduler=halve, progress=False)
    _assert_same_state(model, reference)  # catches a missing zero_grad, step order, eval mode
    assert loss == pytest.approx(expected_loss, rel=1e-6)
    assert acc == pytest.approx(expected_acc)
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.025)
    # The case can tell the usual mistakes apart: the batches' losses differ (so a mean of batch
    # means is another number) and the first batch has hits (so its accuracy must count).
    (loss1, hits1, _), (loss2, _, _) = batches
    assert abs((loss1 + loss2) / 2 - expected_loss) > 1e-3 and hits1 > 0


def test_one_fit_epoch_in_fp32_equals_one_by_hand_and_leaves_the_model_in_eval_mode():
    # fp32 only (speed=Speed()): the step by hand is float32 arithmetic, compared at rel=1e-6
    import copy

    torch.manual_seed(2)
    model = tiny_net()
    reference = copy.deepcopy(model)
    val = DataLoader(tiny_data(12, seed=4), batch_size=5)  # 5, 5, 2
    train_acc, train_loss = _per_image(_sgd_by_hand(reference, list(_two_batches()), [0.1, 0.1]))
    reference.eval()  # validation: running statistics, every image counted once
    with torch.no_grad():
        x, y = val.dataset.tensors
        logits = reference(x)
        val_loss = nn.functional.cross_entropy(logits, y).item()
        val_acc = (logits.argmax(1) == y).float().mean().item()
    record = quiet_fit(model, _two_batches(), val, epochs=1, speed=Speed(),
                       optimizer=torch.optim.SGD(model.parameters(), lr=0.1))[0]
    _assert_same_state(model, reference)
    assert not model.training, "fit leaves the model ready for evaluation"
    assert record["train_loss"] == pytest.approx(train_loss, rel=1e-6)
    assert record["train_acc"] == pytest.approx(train_acc)
    assert record["val_loss"] == pytest.approx(val_loss, rel=1e-5)
    assert record["val_acc"] == pytest.approx(val_acc)
    assert record["lr"] == 0.1 and record["epoch"] == 1
