"""One process of the two-process job that tests/test_distributed.py starts with torchrun.

    torchrun --standalone --nproc-per-node=2 tests/ddp_worker.py RESULTS DATA

Each phase writes what it found to RESULTS (the test asserts on it), in this order:
1. a few DDP steps of a ResNet with BatchNorm in train mode: this rank's parameters afterwards;
2. one DDP step over two shards of B images against one plain step over all 2B images, with
   BatchNorm in eval mode and in train mode: the largest difference of the parameters;
3. the command's own `run` under DDP: a run from scratch (RESULTS/ddp) and the resumption of a
   single-process run (RESULTS/single, made by the test beforehand); every file this rank wrote;
4. rank 1 fails on purpose during a third run: the job must end with an error, not hang.
"""

from __future__ import annotations

import copy
import json
import os
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel

from course_utils.models.cifar import cifar_net
from course_utils.training import command, distributed, loops

torch.set_num_threads(1)
RESULTS, DATA = Path(sys.argv[1]), sys.argv[2]
ARGS = ["--data", DATA, "--arch", "resnet20", "--image-size", "16", "--batch-size", "4",
        "--threads", "1", "--no-progress"]


def batch(seed: int, n: int = 8) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, 16, 16, generator=g), torch.randint(0, 4, (n,), generator=g)


def sgd_step(model, images, labels) -> None:
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    torch.nn.functional.cross_entropy(model(images), labels).backward()
    optimizer.step()


def flat(model) -> torch.Tensor:
    return torch.cat([p.detach().flatten() for p in distributed.unwrap_model(model).parameters()])


def phase_identical(world) -> None:
    torch.manual_seed(world.rank)  # different initial weights: DDP must broadcast rank 0's
    model = distributed.wrap(cifar_net(20, True, num_classes=4), world, log=None)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    for step in range(3):
        images, labels = batch(seed=100 * step + world.rank, n=4)  # every rank its own images
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(images), labels).backward()
        optimizer.step()
    torch.save(flat(model), RESULTS / f"params_rank{world.rank}.pt")


def phase_one_step(world) -> dict:
    images, labels = batch(seed=7)  # the same 2B = 8 images on both ranks
    mine = slice(4 * world.rank, 4 * world.rank + 4)  # B = 4 of them each
    found = {}
    for mode in ("eval", "train"):
        torch.manual_seed(0)
        plain = cifar_net(20, True, num_classes=4).train(mode == "train")
        ddp = distributed.wrap(copy.deepcopy(plain), world, log=None)
        sgd_step(plain, images, labels)  # one process, all 2B images
        sgd_step(ddp, images[mine], labels[mine])  # two processes, B images each
        found[mode] = (flat(ddp) - flat(plain)).abs().max().item()
    return found


def phase_command(world) -> list[str]:
    """The command's body under DDP; records every file this rank renames into place."""
    written, real_replace = [], os.replace

    def recording_replace(src, dst, *args, **kwargs):
        written.append(Path(dst).name)
        return real_replace(src, dst, *args, **kwargs)

    os.replace = recording_replace  # files.atomic_write ends with os.replace
    try:
        parser = command.build_parser()
        command.run(parser.parse_args([*ARGS, "--epochs", "2", "--out", str(RESULTS / "ddp")]),
                    world)
        command.run(parser.parse_args([*ARGS, "--epochs", "2", "--out", str(RESULTS / "single"),
                                       "--resume"]), world)
    finally:
        os.replace = real_replace
    return written


def phase_die(world) -> None:
    if world.rank == 1:
        def fail(*args, **kwargs):
            raise RuntimeError("rank 1 fails on purpose")
        loops.train_epoch_totals = fail  # fit looks it up at each epoch
    parser = command.build_parser()
    command.run(parser.parse_args([*ARGS, "--epochs", "2", "--out", str(RESULTS / "die")]), world)


def main() -> None:
    world = distributed.init(timeout_s=60)
    assert isinstance(world, distributed.World) and world.world_size == 2 and dist.is_initialized()
    phase_identical(world)
    result = {"rank": world.rank, "one_step": phase_one_step(world),
              "written": phase_command(world), "ddp_type": DistributedDataParallel.__name__}
    (RESULTS / f"rank{world.rank}.json").write_text(json.dumps(result))
    dist.barrier()
    phase_die(world)
    distributed.shutdown(world)


if __name__ == "__main__":
    record(main)()
