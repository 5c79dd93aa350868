"""`python -m course_utils.train`: chapter 4's training as one command, on one process or many.

    python -m course_utils.train                                   # one process, chapter 4's run
    torchrun --standalone --nproc-per-node=2 -m course_utils.train # two processes, data-parallel

The same model (any ResNet of the course, from scratch or from pretrained weights: transfer.py),
data pipeline (chapter 1), recipe (chapter 4's `recipes.COURSE`) and `fit`; under torchrun each
process trains on its share of every batch with DistributedDataParallel (see distributed.py).
Global rank 0 writes the files chapter 5 reads: OUT/best.pth (the best epoch) and
OUT/best.history.json, plus OUT/last.pth, the last epoch as a course checkpoint with the
optimizer's state, which `--resume` continues from (one process or many; resume.py checks it);
train.py starts `main`.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path

import torch
from torch.distributed.elastic.multiprocessing.errors import record

from .. import runtime
from ..data.folders import resolve_data_dir
from ..data.images import DataError
from ..data.loaders import course_data
from ..i18n import _
from ..models.architectures import ARCHITECTURES, build_model, depth
from . import distributed, transfer
from .checkpoints import CheckpointError, load_into, save_checkpoint, unwrap_model
from .fitting import METRICS, fit
from .history import History, history_path
from .recipes import COURSE
from .resume import check_resumable, load_resume_state, resume_history
from .speed import speed_for

REFERENCE_BATCH = 32  # chapter 4 measured the recipe at a (global) batch of 32
LR_RULES = ("none", "linear", "sqrt")
CHECKPOINT_NAME, RESUME_NAME = "best.pth", "last.pth"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.train",
        description="Train a ResNet on an image folder with chapter 4's recipe "
                    f"({COURSE.describe()}), from scratch or from pretrained weights (chapter "
                    "8). Run it plainly for one process, or under torchrun for several "
                    "(data-parallel, one share of every batch per process).",
        epilog="examples:\n"
               "  python -m course_utils.train --epochs 3 --out runs/try\n"
               "  torchrun --standalone --nproc-per-node=2 -m course_utils.train --out runs/ddp\n"
               "  python -m course_utils.train --out runs/ddp --epochs 12 --resume\n"
               "  python -m course_utils.train --data ~/photos --pretrained imagenet "
               "--image-size 224 --out runs/photos\n"
               "The best epoch goes to OUT/best.pth with its history in OUT/best.history.json "
               "(chapter 5 loads both); OUT/last.pth is what --resume continues from.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", metavar="DIR",
                        help="an image folder with one sub-folder per class (default: "
                             "$COURSE_DATA, "
                             "else the course's generated shapes)")
    parser.add_argument("--arch", default="resnet50", choices=sorted(ARCHITECTURES, key=depth),
                        help="which network (default: %(default)s); resnet20/32/56 are chapter 6's "
                             "small CIFAR ResNets")
    parser.add_argument("--image-size", type=int, metavar="PIXELS",
                        help="side of the square images (default: 128 on a GPU, 40 on a CPU, as in "
                             "chapter 4)")
    parser.add_argument("--epochs", type=int, default=10,
                        help="epochs in all, also when resuming (default: %(default)s)")
    parser.add_argument("--batch-size", type=int, default=REFERENCE_BATCH, metavar="N",
                        help="images per step *per process*; the global batch is N x processes "
                             "(default: %(default)s)")
    parser.add_argument("--lr", type=float, default=COURSE.lr,
                        help="peak learning rate of the one-cycle schedule (default: %(default)g, "
                             f"tuned at a global batch of {REFERENCE_BATCH})")
    parser.add_argument("--lr-scaling", choices=LR_RULES, default="none",
                        help="adapt --lr to the global batch: none (keep it), linear (x global "
                             f"batch / {REFERENCE_BATCH}, Goyal et al. 2017) or sqrt (default: "
                             "%(default)s)")
    parser.add_argument("--max-per-class", type=int, metavar="N",
                        help="use at most N images of each class (a quick run; default: all)")
    parser.add_argument("--out", default="runs/train", metavar="DIR",
                        help="folder for best.pth, best.history.json and last.pth "
                             "(default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the split, the initial weights and the shuffling (default: "
                             "%(default)s)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its last finished epoch (with any "
                             "number of processes) up to --epochs in all")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh even if --out already holds a run (its files are "
                             "replaced)")
    parser.add_argument("--device", help="cpu or cuda (default: CUDA if there is a GPU, else the "
                                         "CPU)")
    parser.add_argument("--threads", type=int,
                        help="compute threads per process (default: the usable cores shared out "
                             "among this machine's processes on a CPU; PyTorch's choice otherwise)")
    parser.add_argument("--tune-allocator", action="store_true",
                        help="keep freed memory for the next step (glibc's malloc, CPU on Linux; "
                             "faster at large batches, but the whole process keeps its peak size: "
                             "training/allocator.py). Off by default")
    parser.add_argument("--decode-cache", action=argparse.BooleanOptionalAction, default=None,
                        help="decode each image once, at the training size, and read that copy "
                             "later (in memory, or in data/decoded/); --no-decode-cache decodes in "
                             "every epoch (default: on, unless $COURSE_DECODE_CACHE=off)")
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                        help="progress bars (default: only when the output is a terminal)")
    transfer.add_arguments(parser)
    return parser


def scaled_lr(lr: float, global_batch: int, rule: str) -> tuple[float, str]:
    """The learning rate for `global_batch` by `rule`, and one line saying what was done."""
    ratio = global_batch / REFERENCE_BATCH
    if rule == "none":
        return lr, (f"learning rate {lr:g}, as given (--lr-scaling none; the recipe was tuned at a "
                    f"global batch of {REFERENCE_BATCH})")
    if rule == "linear":  # Goyal et al. 2017: k times the batch, k times the rate (with warm-up)
        return lr * ratio, (f"learning rate {lr:g} x {global_batch}/{REFERENCE_BATCH} = "
                            f"{lr * ratio:g} (linear scaling)")
    if rule == "sqrt":  # often preferred for Adam: the gradient noise falls with sqrt(batch)
        return lr * ratio**0.5, (f"learning rate {lr:g} x sqrt({global_batch}/{REFERENCE_BATCH}) = "
                                 f"{lr * ratio**0.5:g} (square-root scaling)")
    raise ValueError(_("lr scaling {rule!r}; expected one of {choices}").format(rule=rule,
                                                                                 choices=LR_RULES))


# --------------------------------------------------------------------------- the command


def run(args: argparse.Namespace, world: distributed.World) -> History:
    """Train as `args` says in this process of `world`; rank 0 prints and writes the files."""
    main = world.is_main
    say = print if main else (lambda *a, **k: None)
    out = Path(args.out)
    if main and not args.resume and not args.overwrite and (out / CHECKPOINT_NAME).exists():
        raise FileExistsError(_("{path!r} already holds a run ({name}); pass --resume to continue "
                                "it, --overwrite to replace it, or another --out").format(
                                    path=str(out), name=CHECKPOINT_NAME))
    # Pretrained weights are found and checked before any data is read: a missing file fails now.
    plan = transfer.TransferPlan.from_args(args)
    threads = distributed.choose_threads(world, args.threads)
    say(runtime.describe_runtime(world.device))
    say(f"processes: {world.describe()} | threads per process: {threads}")

    # The embedded dataset is generated once, by rank 0, while the others wait for it.
    if main:
        resolve_data_dir(args.data)
    if world.distributed:
        torch.distributed.barrier()
    size = args.image_size or (128 if world.device.type == "cuda" else 40)

    def load_data():
        runtime.seed_everything(args.seed)  # the same split and initial weights everywhere
        return course_data(args.data, image_size=size, batch_size=args.batch_size,
                           seed=args.seed, max_per_class=args.max_per_class, device=world.device,
                           augment=COURSE.augment, rank=world.rank, world_size=world.world_size,
                           num_workers=runtime.default_num_workers(world.device,
                                                                   world.local_world_size),
                           decode_cache=args.decode_cache)

    # Checking the data decodes every image once, at the training size, and keeps the copies
    # (data/decoded.py): one process per machine does it while the others wait, then they read
    # its copies instead of decoding every image again.
    first = world.local_rank == 0
    data = load_data() if first else None
    if world.distributed:
        torch.distributed.barrier()
    if data is None:
        data = load_data()
    say(data)
    model = build_model(args.arch, len(data.classes))
    state = None
    if args.resume:
        state = load_resume_state(out / RESUME_NAME)
        check_resumable(state, args.arch, data.classes, size, plan)
        load_into(model, state)  # into the plain model, before DDP copies rank 0's weights out
    if plan is not None:  # before DDP, which registers which parameters train
        plan.apply(model, say, load=state is None)
    speed = speed_for(world.device, tune_allocator=args.tune_allocator)
    if speed.channels_last:  # before DDP, which registers the weights' layout
        model.to(memory_format=torch.channels_last)
    model = distributed.wrap(model, world, log=say)
    torch.manual_seed(args.seed + world.rank)  # augmentation: a different random stream per process

    # chapter 4's loaders; under torchrun, each gives this process its share (make_loader)
    train_loader, val_loader = data.train_loader, data.val_loader
    global_batch = args.batch_size * world.world_size
    lr, lr_line = scaled_lr(args.lr, global_batch, args.lr_scaling)
    say(f"global batch {global_batch} = {args.batch_size} per process x {world.world_size} "
        f"process(es); {len(train_loader)} steps per epoch; {lr_line}")
    recipe = dataclasses.replace(COURSE, lr=lr)
    optimizer, scheduler, loss_fn = recipe.build(
        unwrap_model(model), args.epochs, len(train_loader),
        backbone_lr_scale=plan.backbone_lr_scale if plan is not None else None)
    past = None
    if state is not None:
        optimizer.load_state_dict(state["optimizer"])  # after build; fit moves the schedule on
        past = resume_history(out / CHECKPOINT_NAME, state["epoch"])
        say(f"resuming {state['path']} after epoch {state['epoch']} (trained with "
            f"{state['world_size']} process(es), global batch {state['global_batch']})")

    meta = data.run_meta(args.arch, world_size=world.world_size, batch_size=args.batch_size,
                         global_batch=global_batch, lr=lr, recipe=recipe.describe(),
                         **(plan.meta() if plan is not None else {}))

    def save_for_resume(record: dict) -> None:
        if main:  # the last epoch, with the optimizer's state: what --resume continues from
            save_checkpoint(out / RESUME_NAME, model, epoch=record["epoch"],
                            metrics={k: record[k] for k in METRICS}, optimizer=optimizer,
                            training_precision=runtime.precision_name(speed.amp_dtype), **meta)

    progress = (sys.stderr.isatty() if args.progress is None else args.progress) and main
    history = fit(model, train_loader, val_loader, optimizer, epochs=args.epochs,
                  device=world.device, loss_fn=loss_fn, scheduler=scheduler, speed=speed, meta=meta,
                  checkpoint_path=out / CHECKPOINT_NAME if main else None,  # rank 0 writes
                  progress=progress, log=print if main else None, on_epoch_end=save_for_resume,
                  resume_history=past, sync=distributed.sync_for(world))
    best = history.best
    if best is not None:
        say(f"best epoch: {best['epoch']} of {len(history)}, validation accuracy "
            f"{best['val_acc']:.1%}"
            f" | files: {out / CHECKPOINT_NAME}, {history_path(out / CHECKPOINT_NAME).name}, "
            f"{RESUME_NAME}")
    return history


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    for flag in ("epochs", "batch-size", "image-size", "max-per-class"):
        value = getattr(args, flag.replace("-", "_"))
        if value is not None and value < 1:
            parser.error(_("--{flag} {value}: expected at least 1").format(flag=flag, value=value))
    if args.image_size is not None and args.image_size < 16:
        parser.error(_("--image-size {value}: the ResNets need at least 16 pixels").format(
            value=args.image_size))
    if not args.lr > 0:
        parser.error(_("--lr {value}: expected a positive learning rate").format(value=args.lr))
    transfer.check_arguments(parser, args)


@record  # under torchrun: a failing process's traceback appears in torchrun's error summary
def main(argv: Sequence[str] | None = None) -> int:
    """The command line; returns the exit status (0 done, 1 bad input, 130 interrupted)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, args)
    world = distributed.init(args.device)
    try:
        history = run(args, world)
    except (DataError, CheckpointError, FileExistsError, ValueError) as error:
        # Bad input, not a bug: the message says what to do, a traceback would only hide it.
        rank = f"[rank {world.rank}] " if world.distributed else ""
        print(f"{rank}error: {error}", file=sys.stderr)
        if world.distributed:
            raise  # torchrun then stops the other processes and reports this one
        return 1
    finally:
        distributed.shutdown(world)
    return 130 if history.interrupted else 0


if __name__ == "__main__":
    sys.exit(main())
