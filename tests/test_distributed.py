"""Data-parallel training (chapter 7) and the training command, on CPU processes with gloo.

Most checks run in one torchrun job of two processes (tests/ddp_worker.py), started once for this
module: starting PyTorch in two processes costs seconds on a 2-core machine. torchrun's
--standalone rendezvous picks a free port, so parallel test runs never collide.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
from PIL import Image
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset

from course_utils import runtime, train
from course_utils.data.loaders import course_data, make_loader
from course_utils.models.architectures import ARCHITECTURES
from course_utils.models.cifar import cifar_net
from course_utils.training import command, distributed
from course_utils.training.checkpoints import (
    FORMAT,
    CheckpointError,
    load_checkpoint,
    load_into,
    model_from_checkpoint,
    save_checkpoint,
)
from course_utils.training.fitting import fit
from course_utils.training.history import History, history_path
from course_utils.training.loops import evaluate
from course_utils.training.speed import Speed, tolerance

# torchrun's error recorder (command.main's @record) cannot reach a file number under pytest's
# capture.
pytestmark = pytest.mark.filterwarnings("ignore:Unable to enable fault handler")
ROOT = Path(__file__).resolve().parent.parent
JOB_TIMEOUT_S = 240  # far above the ~20-40 s the job takes on a busy 2-core machine: a hang fails
TWO = distributed.World(rank=0, world_size=2, local_world_size=2, backend="gloo")  # no group needed


def tiny_folder(root: Path, per_class: int = 10) -> Path:
    """4 classes of random 20x20 images: 24 training, 8 validation, 8 test images."""
    rng = np.random.default_rng(0)
    for name in ("a", "b", "c", "d"):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i}.png")
    return root


def args_for(data: Path, out: Path, *extra: str) -> list[str]:
    return ["--data", str(data), "--arch", "resnet20", "--image-size", "16", "--batch-size", "4",
            "--no-progress", "--threads", "1", "--out", str(out), *extra]


# --------------------------------------------------------------------------- the two-process job


@pytest.fixture(scope="module", params=["fp32", "bf16"])
def job(request, tmp_path_factory):
    """Run tests/ddp_worker.py under torchrun once per training precision (COURSE_PRECISION:
    bf16 runs on any CPU, emulated where it has no native bf16); returns (results folder, data,
    process, seconds, precision)."""
    results = tmp_path_factory.mktemp(f"ddp_{request.param}")
    data = tiny_folder(results / "data")
    threads = torch.get_num_threads()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COURSE_PRECISION", request.param)
        try:  # a single-process run, for phase 3 to resume under DDP
            assert train.main(args_for(data, results / "single", "--epochs", "1")) == 0
        finally:
            torch.set_num_threads(threads)
        start = time.perf_counter()
        process = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2",
             str(ROOT / "tests" / "ddp_worker.py"), str(results), str(data)],
            cwd=ROOT, capture_output=True, text=True, timeout=JOB_TIMEOUT_S,
            # this checkout's course_utils, as in pytest; the decoded copies in results/home
            env={**os.environ, "PYTHONPATH": str(ROOT),
                 "COURSE_DATA_HOME": str(results / "home")})
    return results, data, process, time.perf_counter() - start, request.param


def ranks(results: Path) -> list[dict]:
    found = sorted(results.glob("rank*.json"))
    assert [p.name for p in found] == ["rank0.json", "rank1.json"], "the job stopped before phase 3"
    return [json.loads(p.read_text()) for p in found]


def test_parameters_are_bit_identical_on_both_ranks_after_ddp_steps(job):
    results = job[0]
    rank0, rank1 = (torch.load(results / f"params_rank{r}.pt") for r in (0, 1))
    assert rank0.numel() == sum(p.numel() for p in cifar_net(20, True, 4).parameters())
    assert torch.equal(rank0, rank1)  # bit for bit, though each rank started from other weights


def test_one_ddp_step_over_two_shards_equals_one_step_over_the_whole_batch(job):
    for found in ranks(job[0]):
        # BatchNorm in eval mode normalises with fixed statistics: the averaged gradient of the two
        # half-batches is exactly the gradient of the whole batch, up to float rounding.
        assert found["one_step"]["eval"] < 1e-5, found
        # In train mode each process normalises with the statistics of its own 4 images, not of
        # all 8: another function of the images, so the step differs (SyncBatchNorm fixes it on
        # GPUs).
        assert found["one_step"]["train"] > 1e-4, found


def test_only_rank_0_writes_files(job):
    rank0, rank1 = ranks(job[0])
    assert rank1["written"] == []
    # 3 epochs (2 from scratch, 1 resumed): the history and the resume state after every epoch,
    # the checkpoint when the epoch was the best so far
    assert rank0["written"].count("best.history.json") == 3
    assert rank0["written"].count("last.pth") == 3
    assert "best.pth" in rank0["written"]


def test_each_image_is_decoded_once_for_both_ranks(job):
    results, data = job[0], job[1]
    rank0, rank1 = ranks(results)
    images = sorted(p.name for p in data.rglob("*.png"))
    copies = sorted(p.name for p in (results / "home" / "decoded").rglob("*.rgb"))
    # one copy per image at the training size (16 px: flip-shift and evaluation alike), on disk
    # because both processes read it
    assert len(images) == len(copies) == 40 and all(c.endswith("-16.rgb") for c in copies)
    # rank 0 decoded and wrote each once while rank 1 waited; then rank 1 read rank 0's copies
    assert sorted(n for n in rank0["written"] if n.endswith(".rgb")) == copies
    assert rank1["written"] == []


def test_ddp_checkpoint_loads_in_chapter_5s_helpers_and_validation_covered_the_whole_split(job):
    results, data = job[0], job[1]
    ckpt = load_checkpoint(results / "ddp" / "best.pth")
    assert ckpt["training_precision"] == job[4]
    assert not any(k.startswith("module.") for k in ckpt["state_dict"])
    assert ckpt["world_size"] == 2 and ckpt["global_batch"] == 8
    model = model_from_checkpoint(ckpt, ARCHITECTURES[ckpt["arch"]])
    split = course_data(data, image_size=ckpt["image_size"], seed=ckpt["seed"], batch_size=4)
    # In one process, on the whole validation split: the metrics the two ranks added up. Both
    # in fp32 (fit validates in fp32, whatever precision trained), so they agree to fp32 rounding.
    acc, loss = evaluate(model, split.val_loader, nn.CrossEntropyLoss(), "cpu")
    assert len(split.val_set) == 8
    assert acc == ckpt["metrics"]["val_acc"]
    assert loss == pytest.approx(ckpt["metrics"]["val_loss"], rel=tolerance("fp32"))
    assert len(History.load(history_path(results / "ddp" / "best.pth"))) == 2


def test_resume_moves_between_one_process_and_two(job):
    results, data = job[0], job[1]
    # phase 3 resumed the single-process run under DDP: epoch 1 from one process, 2 from two
    epochs = History.load(results / "single" / "best.history.json")
    assert [r["epoch"] for r in epochs] == [1, 2]
    state = command.load_resume_state(results / "single" / "last.pth")
    assert state["epoch"] == 2 and state["world_size"] == 2
    # and now the DDP run continues in this single process
    assert train.main(args_for(data, results / "ddp", "--epochs", "3", "--resume")) == 0
    history = History.load(results / "ddp" / "best.history.json")
    assert [r["epoch"] for r in history] == [1, 2, 3]
    state = command.load_resume_state(results / "ddp" / "last.pth")
    assert state["epoch"] == 3 and state["world_size"] == 1
    assert not any(k.startswith("module.") for k in state["state_dict"])


def test_last_pth_is_a_course_checkpoint_and_an_old_resume_file_still_resumes(tmp_path):
    data, out = tiny_folder(tmp_path / "data"), tmp_path / "run"
    assert train.main(args_for(data, out, "--epochs", "1")) == 0
    last = load_checkpoint(out / "last.pth")  # one format, one loader: chapter 5's
    assert last["format"] == FORMAT and last["epoch"] == 1 and "optimizer" in last
    assert sorted(last["metrics"]) == ["train_acc", "train_loss", "val_acc", "val_loss"]
    model_from_checkpoint(last, ARCHITECTURES[last["arch"]])
    with pytest.raises(CheckpointError, match="without the optimizer's state"):
        command.load_resume_state(out / "best.pth")  # fit's best epoch: weights only
    # a last.pth that the command wrote before issue 28 still resumes
    old = torch.load(out / "last.pth", weights_only=True)
    for key in ("metrics", "saved_at", "torch_version"):
        del old[key]
    torch.save({**old, "format": "course_utils.resume/1"}, out / "last.pth")
    assert train.main(args_for(data, out, "--epochs", "2", "--resume")) == 0
    assert [r["epoch"] for r in History.load(out / "best.history.json")] == [1, 2]
    assert load_checkpoint(out / "last.pth")["format"] == FORMAT  # rewritten in the new one


def test_a_rank_that_dies_ends_the_job_with_its_error(job):
    results, _, process, seconds, _ = job
    ranks(results)  # the phases before it ran to the end
    assert process.returncode != 0
    output = process.stdout + process.stderr
    assert "rank 1 fails on purpose" in output  # torchrun's summary names the cause
    assert seconds < JOB_TIMEOUT_S


# --------------------------------------------------------------------------- single process


class Indices(Dataset):
    """Item i is (a constant image, label 0) and remembers that it was read."""

    def __init__(self, n: int) -> None:
        self.n, self.seen = n, []

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        self.seen.append(i)
        return torch.zeros(2), 0


def epoch_shares(n: int, epochs: int) -> list[list[list[int]]]:
    """[epoch][rank] -> the indices that rank's training loader gives in that epoch."""
    shares = []
    for epoch in range(epochs):
        this = []
        for rank in range(2):
            loader = make_loader(Indices(n), 4, train=True, rank=rank, world_size=2)
            loader.sampler.set_epoch(epoch)
            this.append(list(loader.sampler))
        shares.append(this)
    return shares


def test_shards_never_overlap_and_set_epoch_reshuffles_them():
    shares = epoch_shares(20, epochs=2)
    for rank0, rank1 in shares:
        assert len(rank0) == len(rank1) == 10 and not set(rank0) & set(rank1)
        assert sorted(rank0 + rank1) == list(range(20))
    assert shares[0][0] != shares[1][0] and shares[0][1] != shares[1][1]
    # 21 images: DistributedSampler pads to 22 by repeating one, so both ranks take 11 steps
    rank0, rank1 = epoch_shares(21, epochs=1)[0]
    assert len(rank0) == len(rank1) == 11 and set(rank0 + rank1) == set(range(21))


def test_fit_calls_set_epoch_so_each_epoch_has_a_new_order():
    dataset = Indices(16)
    loader = DataLoader(dataset, batch_size=4, sampler=torch.utils.data.DistributedSampler(
        dataset, num_replicas=2, rank=0, shuffle=True, seed=0))  # rank 0's share, one process
    val = DataLoader(Indices(4), batch_size=4)
    model = nn.Linear(2, 2)
    fit(model, loader, val, torch.optim.SGD(model.parameters(), lr=0.1), epochs=2, device="cpu",
        progress=False, log=None, speed=Speed())
    first, second = dataset.seen[:8], dataset.seen[8:]
    assert len(second) == 8 and first != second
    for epoch, seen in ((1, first), (2, second)):
        loader.sampler.set_epoch(epoch)
        assert seen == list(loader.sampler)


def test_evaluation_shards_hold_every_item_exactly_once():
    for n in (5, 8):
        parts = [list(make_loader(range(n), 4, train=False, rank=r, world_size=2).dataset)
                 for r in range(2)]
        assert sorted(parts[0] + parts[1]) == list(range(n))
        shares = [[int(i) for batch in make_loader(range(n), 4, train=False, rank=r,
                                                   world_size=2) for i in batch]
                  for r in range(2)]
        assert sorted(shares[0] + shares[1]) == list(range(n))  # in order, never shuffled
        assert shares[0] == sorted(shares[0])
    assert make_loader(range(5), 4, train=False).dataset == range(5)  # one process: everything
    with pytest.raises(ValueError, match="rank=2, world_size=2"):
        make_loader(range(5), 4, train=False, rank=2, world_size=2)


def test_the_command_uses_chapter_1s_loader_builder_for_each_share(tmp_path):
    data = tiny_folder(tmp_path / "data")
    shares = [course_data(data, image_size=16, batch_size=4, rank=r, world_size=2)
              for r in range(2)]
    for split in ("train", "val"):
        one = course_data(data, image_size=16, batch_size=4)
        both = [getattr(s, f"{split}_loader") for s in shares]
        whole = len(getattr(one, f"{split}_set"))
        if split == "train":  # DistributedSampler: equal shares that never overlap
            assert [len(b.sampler) for b in both] == [whole // 2] * 2
            assert not set(both[0].sampler) & set(both[1].sampler)
        else:
            assert sum(len(b.dataset) for b in both) == whole


@pytest.fixture
def one_process_group():
    """A process group of one, in memory (no port): enough to build a real DDP model."""
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    yield
    dist.destroy_process_group()


def test_a_ddp_checkpoint_loads_into_a_plain_model_and_back(tmp_path, one_process_group):
    torch.manual_seed(0)
    ddp = DistributedDataParallel(cifar_net(20, True, num_classes=4))
    assert next(iter(ddp.state_dict())).startswith("module.")
    meta = {"arch": "resnet20", "class_names": list("abcd"), "image_size": 16,
            "mean": [0.5] * 3, "std": [0.5] * 3}
    save_checkpoint(tmp_path / "ddp.pth", ddp, **meta)
    saved = load_checkpoint(tmp_path / "ddp.pth")["state_dict"]
    assert not any(k.startswith("module.") for k in saved)
    plain = load_into(cifar_net(20, True, num_classes=4), tmp_path / "ddp.pth")
    x = torch.randn(2, 3, 16, 16)
    assert torch.equal(plain.eval()(x), ddp.module.eval()(x))
    save_checkpoint(tmp_path / "plain.pth", plain, **meta)
    torch.manual_seed(1)
    other = DistributedDataParallel(cifar_net(20, True, num_classes=4))
    load_into(other, tmp_path / "plain.pth")
    assert torch.equal(other.module.eval()(x), plain(x))


def test_threads_share_the_cores_between_the_processes_of_a_machine(monkeypatch):
    monkeypatch.setattr(runtime, "usable_cores", lambda: 8)
    before = torch.get_num_threads()
    try:
        assert distributed.choose_threads(TWO) == 4 == torch.get_num_threads()
        assert distributed.choose_threads(TWO, threads=3) == 3
        assert distributed.choose_threads(distributed.World()) == 3  # one process: unchanged
    finally:
        torch.set_num_threads(before)


def test_learning_rate_rules():
    assert command.scaled_lr(2e-3, 64, "none")[0] == 2e-3
    assert command.scaled_lr(2e-3, 64, "linear")[0] == pytest.approx(4e-3)
    assert command.scaled_lr(2e-3, 128, "sqrt")[0] == pytest.approx(4e-3)
    assert "64/32" in command.scaled_lr(2e-3, 64, "linear")[1]


def test_help_explains_the_options(capsys):
    with pytest.raises(SystemExit) as stop:
        command.build_parser().parse_args(["--help"])
    assert stop.value.code == 0
    text = capsys.readouterr().out
    for words in ("torchrun --standalone --nproc-per-node=2", "--resume", "per process",
                  "best.pth", "--lr-scaling", "resnet50", "--tune-allocator"):
        assert words in text, words
    assert train.main is command.main  # `python -m course_utils.train` runs the command
    assert "allocator tuning off" in command.speed_for("cpu").describe()


def test_bad_input_gets_a_clear_error(tmp_path, capsys):
    data = tiny_folder(tmp_path / "data", per_class=3)
    with pytest.raises(SystemExit):
        train.main(args_for(data, tmp_path / "out", "--epochs", "0"))
    assert "--epochs 0: expected at least 1" in capsys.readouterr().err
    assert train.main(args_for(data, tmp_path / "out", "--resume")) == 1
    assert "no last.pth in" in capsys.readouterr().err
    assert train.main(args_for(tmp_path / "nowhere", tmp_path / "out")) == 1
    assert "nowhere" in capsys.readouterr().err
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "best.pth").write_bytes(b"a learner's earlier run")
    assert train.main(args_for(data, tmp_path / "out")) == 1
    assert "already holds a run" in capsys.readouterr().err
    assert (tmp_path / "out" / "best.pth").read_bytes() == b"a learner's earlier run"
