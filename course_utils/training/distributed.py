"""Data parallelism: one process per device, started by `torchrun`, trained with PyTorch's DDP.

`torchrun --nproc-per-node=N script ...` starts N copies of the same program and tells each
who it is through environment variables: RANK (0 .. WORLD_SIZE-1 over all machines),
LOCAL_RANK (on this machine), WORLD_SIZE, LOCAL_WORLD_SIZE, and MASTER_ADDR / MASTER_PORT,
where they meet. Every process builds the same model; DistributedDataParallel (DDP) averages
the gradients of all processes after each backward pass (an all-reduce), so every optimizer
step is the same everywhere and the replicas stay identical. Each process reads its own share
of every batch (DistributedSampler). This module holds the few steps around that which are easy
to get wrong: the device before the process group, the model on its device before DDP, a new
shuffle every epoch, metrics added up over all processes, files written by one process only.
Without torchrun everything here falls back to a single ordinary process.

Each process's share of the data comes from the one loader builder, `data.loaders.make_loader`
(`rank=`, `world_size=`), which chapter 1's loaders also come from; `fit` runs unchanged in every
process and calls the `sync` object below between its steps.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from .. import runtime
from ..i18n import _
from .checkpoints import unwrap_model

# How long a collective (all-reduce, barrier) waits for a missing process before it fails.
DEFAULT_TIMEOUT_S = 300


@dataclass(frozen=True)
class World:
    """Who this process is among the processes of one training job."""

    rank: int = 0  # 0 .. world_size-1 over every machine; rank 0 writes the files
    local_rank: int = 0  # 0 .. local_world_size-1 on this machine: which GPU to use
    world_size: int = 1
    local_world_size: int = 1
    device: torch.device = torch.device("cpu")
    backend: str | None = None  # "gloo" (CPU) or "nccl" (CUDA); None: one plain process

    @property
    def distributed(self) -> bool:
        return self.backend is not None

    @property
    def is_main(self) -> bool:
        """True on the one process that prints, saves and writes (global rank 0)."""
        return self.rank == 0

    def describe(self) -> str:
        if not self.distributed:
            return f"1 process on {self.device}"
        return (f"{self.world_size} processes ({self.local_world_size} on this machine), "
                f"backend {self.backend}, this one is rank {self.rank} on {self.device}")


def launched_by_torchrun() -> bool:
    """True inside a process that torchrun (or another launcher setting RANK and WORLD_SIZE)
    started."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def _env_int(name: str, default: int | None = None) -> int:
    value = os.environ.get(name)
    if value is None:
        if default is None:
            raise RuntimeError(_("${name} is not set; start the program with torchrun").format(
                name=name))
        return default
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(_("${name}={value!r} is not an integer").format(
            name=name, value=value)) from None


def init(prefer: str | None = None, timeout_s: float = DEFAULT_TIMEOUT_S) -> World:
    """Join the job torchrun started (or stay a single process without it); returns the World.

    CUDA: NCCL, one GPU per local rank, chosen with `torch.cuda.set_device` *before* the process
    group is created (NCCL binds each process to its current GPU; in the other order every
    process would start on GPU 0). CPU: gloo. Apple's MPS has no DDP backend: the CPU is used.
    """
    if not launched_by_torchrun():
        return World(device=runtime.pick_device(prefer))
    rank, world_size = _env_int("RANK"), _env_int("WORLD_SIZE")
    local_rank = _env_int("LOCAL_RANK", 0)
    local_world_size = _env_int("LOCAL_WORLD_SIZE", world_size)
    prefer = prefer or os.environ.get("COURSE_DEVICE")
    use_cuda = torch.cuda.is_available() if prefer is None else torch.device(prefer).type == "cuda"
    if use_cuda:
        if local_rank >= torch.cuda.device_count():
            raise RuntimeError(_(
                "local rank {rank} has no GPU: this machine has {count}; start torchrun with "
                "--nproc-per-node={count} or fewer").format(rank=local_rank,
                                                            count=torch.cuda.device_count()))
        device, backend = torch.device("cuda", local_rank), "nccl"
        torch.cuda.set_device(device)
    else:
        device, backend = torch.device("cpu"), "gloo"
    dist.init_process_group(backend, timeout=timedelta(seconds=timeout_s),
                            device_id=device if use_cuda else None)
    return World(rank, local_rank, world_size, local_world_size, device, backend)


def shutdown(world: World) -> None:
    """Leave the process group (every process, at the end: PyTorch warns otherwise)."""
    if world.distributed and dist.is_initialized():
        dist.destroy_process_group()


def choose_threads(world: World, threads: int | None = None) -> int:
    """Set and return the compute threads of this process.

    torchrun sets OMP_NUM_THREADS=1 for every process when it starts several: safe, but on a
    CPU it leaves all but N cores idle. On a CPU we give each of the N processes on this machine
    an equal share of the cores instead (2 cores, 2 processes: 1 thread each, no process waits
    on another's threads). On a GPU the process mostly waits for the GPU: torchrun's 1 stays.
    An explicit `threads` wins.
    """
    if threads is None:
        if world.device.type != "cpu" or not world.distributed:
            return torch.get_num_threads()
        threads = max(1, runtime.usable_cores() // world.local_world_size)
    if threads < 1:
        raise ValueError(_("threads={threads}; expected at least 1").format(threads=threads))
    torch.set_num_threads(threads)
    return threads


def has_batch_norm(model: nn.Module) -> bool:
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())


def wrap(model: nn.Module, world: World, log=print) -> nn.Module:
    """The model on this process's device, wrapped in DDP when there are several processes.

    DDP must see the model on its final device (and memory format): it broadcasts rank 0's
    weights to every process when it is built and registers the gradients it will average.
    On CUDA BatchNorm becomes SyncBatchNorm, which normalises with the statistics of the whole
    global batch; PyTorch has no SyncBatchNorm on a CPU, so there each process normalises with
    its own share of the batch (said once, by rank 0).
    """
    model = model.to(world.device)
    if not world.distributed:
        return model
    if world.device.type == "cuda":
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        return DistributedDataParallel(model, device_ids=[world.device.index])
    if has_batch_norm(model) and world.is_main and log is not None:
        log("BatchNorm: plain, per process (PyTorch's SyncBatchNorm runs on CUDA only), so each "
            "process normalises with the statistics of its own share of the batch")
    return DistributedDataParallel(model)


class LocalSync:
    """What `fit` does between processes when there is only one: nothing.

    Data-parallel training runs `fit` in every process of a torchrun job and passes
    `ProcessGroupSync`, which does these three steps across the processes.
    """

    def sum(self, totals: torch.Tensor) -> torch.Tensor:
        """The sum of `totals` over all processes (losses, correct images, image counts)."""
        return totals

    def same_buffers(self, model: nn.Module) -> None:
        """Give every process the main process's buffers (BatchNorm's running statistics)."""

    def barrier(self) -> None:
        """Wait until every process has reached this point."""


class ProcessGroupSync(LocalSync):
    """`fit`'s steps between the processes of a torchrun job (see LocalSync)."""

    def sum(self, totals: torch.Tensor) -> torch.Tensor:
        totals = totals.clone()
        dist.all_reduce(totals, op=dist.ReduceOp.SUM)
        return totals

    def same_buffers(self, model: nn.Module) -> None:
        # DDP broadcasts rank 0's buffers before each training forward pass, but every process
        # then updates its BatchNorm statistics with its own images: after the last step they
        # differ. Rank 0's are the ones its checkpoint stores, so every process takes them.
        for buffer in unwrap_model(model).buffers():
            dist.broadcast(buffer, src=0)

    def barrier(self) -> None:
        dist.barrier()


def sync_for(world: World) -> LocalSync:
    """What `fit` needs between the processes of `world` (nothing for a single process)."""
    return ProcessGroupSync() if world.distributed else LocalSync()


# --------------------------------------------------------------------------- the picture


def plot_data_parallelism(processes: int = 2, images_per_process: int = 4):
    """How DDP trains: the global batch split over `processes` identical replicas, each computing
    the gradient of its share, one all-reduce averaging them, the same step everywhere."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    if processes < 1 or images_per_process < 1:
        raise ValueError(_("processes={processes}, images_per_process={images}; expected >= 1")
                         .format(processes=processes, images=images_per_process))
    colours = plt.get_cmap("tab10").colors
    width = processes * (images_per_process + 1.5)
    fig, ax = plt.subplots(figsize=(min(12, 1.0 * width), 4.6))
    ax.set(xlim=(-0.4, width - 1.35), ylim=(-0.6, 7.4))
    ax.axis("off")

    def box(x, y, w, h, text, colour, **kwargs):
        ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.08", facecolor=colour,
                                    edgecolor="black", linewidth=0.8, **kwargs))
        ax.text(x + w / 2, y + h / 2, text, ha="center", va="center", fontsize=9)

    def arrow(x0, y0, x1, y1):
        ax.annotate("", (x1, y1), (x0, y0), arrowprops={"arrowstyle": "->", "linewidth": 1})

    total = processes * images_per_process
    ax.text(width / 2 - 0.75, 7.1, f"one global batch of {total} images = {images_per_process} per "
            f"process x {processes} processes (DistributedSampler)", ha="center", fontsize=10)
    for rank in range(processes):
        x0 = rank * (images_per_process + 1.5)
        for i in range(images_per_process):  # its images: every processes-th of the batch
            ax.add_patch(plt.Rectangle((x0 + i, 6.0), 0.85, 0.8, color=colours[rank % 10],
                                       alpha=0.6))
            ax.text(x0 + i + 0.425, 6.4, f"img {i * processes + rank + 1}",
                    ha="center", va="center", fontsize=8)
        centre = x0 + images_per_process / 2 - 0.1
        arrow(centre, 5.95, centre, 5.35)
        box(x0, 4.2, images_per_process - 0.15, 1.0,
            f"rank {rank}: the same model\n(identical weights)",
            "#e8eef7")
        arrow(centre, 4.1, centre, 3.5)
        box(x0, 2.75, images_per_process - 0.15, 0.65, f"gradient $g_{rank}$ of its images",
            colours[rank % 10], alpha=0.35)
        arrow(centre, 2.65, centre, 2.05)
        arrow(centre, 1.25, centre, 0.55)
        box(x0, -0.35, images_per_process - 0.15, 0.8,
            "the same optimizer step\n-> weights stay identical",
            "#e8eef7")
    terms = " + ".join(f"$g_{r}$" for r in range(min(processes, 4)))
    terms += " + ..." if processes > 4 else ""
    box(0, 1.3, width - 1.65, 0.65, f"all-reduce: every rank receives  g = ({terms}) / {processes}",
        "#fff2cc")
    fig.tight_layout()
    return fig
