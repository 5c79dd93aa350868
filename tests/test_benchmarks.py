"""The benchmark suite's machinery (`make bench` runs it; here nothing is timed)."""

from __future__ import annotations

import json
import multiprocessing

import pytest
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from benchmarks import run


def tiny_net() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(4, 4))


def test_interleaved_alternates_the_order_and_reports_every_function():
    calls = []

    def bench(name, images):
        def fn():
            calls.append(name)
            return images
        return fn

    rates = run.interleaved({"a": bench("a", 4), "b": bench("b", 8)}, 3, torch.device("cpu"))
    # one warm-up each, then A B, B A, A B: neither side always runs second
    assert calls == ["a", "b", "a", "b", "b", "a", "a", "b"]
    assert set(rates) == {"a", "b"} and all(r > 0 for r in rates.values())


def test_fresh_processes_run_each_spec_as_described(monkeypatch):
    runs = []

    class Done:
        returncode, stderr = 0, ""

        def __init__(self, spec):
            self.stdout = f"noise\n{{\"img_s\": {spec['batch']}.0}}\n"

    def fake_run(command, **kwargs):
        spec = json.loads(command[command.index("--child") + 1])
        runs.append(spec["batch"])
        return Done(spec)

    monkeypatch.setattr(run.subprocess, "run", fake_run)
    rates = run.in_fresh_processes({"small": {"batch": 4}, "big": {"batch": 32}}, 3)
    assert runs == [4, 32, 32, 4, 4, 32]  # interleaved, and not always in the same order
    assert rates == {"small": 4.0, "big": 32.0}


def test_a_failing_child_names_its_benchmark(monkeypatch):
    class Failed:
        returncode, stdout, stderr = 1, "", "RuntimeError: out of memory"

    monkeypatch.setattr(run.subprocess, "run", lambda command, **kwargs: Failed())
    with pytest.raises(RuntimeError, match="'big' failed:\n.*out of memory"):
        run.in_fresh_processes({"big": {"batch": 32}}, 1)


def test_a_child_measures_one_spec(capsys):
    spec = {"device": "cpu", "size": 32, "images": 2, "kind": "eval", "context": "no_grad",
            "batch": 2, "channels_last": True, "reuse": False, "amp": None}
    run.child(spec)
    assert json.loads(capsys.readouterr().out)["img_s"] > 0


def test_steps_process_at_least_the_images_asked_for():
    cpu = torch.device("cpu")
    model = tiny_net()
    before = [p.detach().clone() for p in model.parameters()]
    assert run.train_step(model, 4, 8, cpu, images=10)() == 12  # 3 steps of 4
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    assert run.forward_only(tiny_net(), 4, 8, cpu, images=8, channels_last=True)() == 8


def test_epoch_slice_stops_its_loader_workers():
    data = TensorDataset(torch.randn(64, 3, 8, 8), torch.randint(0, 4, (64,)))
    loaders = []  # kept alive, with persistent workers: only an explicit shutdown stops them

    def factory():
        loaders.append(DataLoader(data, batch_size=4, shuffle=True, num_workers=1,
                                  persistent_workers=True))
        return loaders[-1]

    bench = run.epoch_slice(factory, tiny_net(), torch.device("cpu"), images=10)
    assert bench() == 12
    # no worker left prefetching while the next function is timed
    assert multiprocessing.active_children() == []


def test_training_flops_follow_the_pixels():
    assert run.resnet50_train_flops(224) == pytest.approx(4.089e9 * 6)
    assert run.resnet50_train_flops(112) == pytest.approx(run.resnet50_train_flops(224) / 4)


def test_time_to_accuracy_counts_minutes_to_the_first_epoch_past_the_threshold():
    from benchmarks import time_to_accuracy as tta

    history = [{"epoch": e, "val_acc": acc, "seconds": 60.0}
               for e, acc in enumerate([0.3, 0.79, 0.8, 0.85, 0.92, 0.95, 0.93], start=1)]
    assert tta.time_to(history, 0.8) == {"epoch": 3, "minutes": 3.0}  # reached means >=
    assert tta.time_to(history, 0.9) == {"epoch": 5, "minutes": 5.0}
    assert tta.time_to(history, 0.99) is None
    course = tta.summarise("the course", history)
    assert course["best_val_acc"] == 0.95 and course["best_epoch"] == 6 and course["minutes"] == 7.0
    lesson = tta.summarise("the lesson", [{"epoch": 1, "val_acc": 0.26, "seconds": 30.0}])
    lines = tta.table([course, lesson]).splitlines()
    assert lines[0] == ("| recipe | to 80 % val acc | to 90 % val acc | best val acc | "
                        "minutes in all |")
    assert lines[2] == ("| the course | 3.0 min (epoch 3) | 5.0 min (epoch 5) | 95.0% (epoch 6) | "
                        "7.0 |")
    assert lines[3] == ("| the lesson | not reached in 1 epochs | not reached in 1 epochs | "
                        "26.0% (epoch 1) | 0.5 |")


def test_latency_restores_threads_and_writes_one_row_per_model(tmp_path):
    from benchmarks import latency

    threads = torch.get_num_threads()
    calls = []
    net = tiny_net()
    net.register_forward_hook(lambda *args: calls.append(torch.get_num_threads()))
    assert latency.cpu_latency_ms(net, 8, runs=3, threads=1, warmup=2) > 0
    assert calls == [1] * 5  # two warm-up runs and three timed ones, all on the thread count asked
    assert torch.get_num_threads() == threads
    with pytest.raises(ValueError, match="runs must be at least 1"):
        latency.cpu_latency_ms(net, 8, runs=0, threads=1)
    out = tmp_path / "latency.json"
    assert latency.main(["--size", "32", "--runs", "1", "--depths", "18", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["depth"], r["size"], r["runs"]) for r in rows] == [(18, 32, 1)]
    assert rows[0]["ms_1_thread"] > 0 and rows[0]["ms_all_threads"] > 0


def test_the_allocator_benchmark_pairs_each_default_with_its_tuned_run():
    from benchmarks import allocator

    s = allocator.summarise(default=[10.0, 8.0, 9.0], tuned=[12.0, 8.0, 9.9])
    assert s["default_img_s"] == 9.0 and s["tuned_img_s"] == 9.9
    # ratios of the pairs 1.2, 1.0, 1.1: not the ratio of the medians
    assert s["ratio_median"] == pytest.approx(1.1) and s["ratio_low"] == 1.0
    assert s["ratio_high"] == pytest.approx(1.2)


def test_phone_photos_are_made_once_some_stored_sideways(tmp_path):
    from benchmarks import phone_photos

    root = phone_photos.make_phone_photos(tmp_path / "photos", count=8, size=(120, 90))
    files = sorted(root.rglob("*.jpg"))
    assert len(files) == 8 and len({f.parent.name for f in files}) == 4
    stamps = [f.stat().st_mtime_ns for f in files]
    orientations = []
    for path in files:
        with Image.open(path) as image:
            assert image.size == (120, 90) and image.format == "JPEG"
            orientations.append(image.getexif().get(0x0112, 1))
    assert 6 in orientations and 1 in orientations  # portraits stored sideways, as phones do
    assert phone_photos.make_phone_photos(tmp_path / "photos", count=8, size=(120, 90)) == root
    assert [f.stat().st_mtime_ns for f in files] == stamps, "made once, then reused"
    costs = phone_photos.decode_costs(files[:2], 16)
    assert len(costs) == 5 and all(ms > 0 for ms in costs.values())
