"""Chapter 7 (data parallelism): steps per epoch, each process's share, the `module.` prefix."""

from __future__ import annotations

import itertools
import math

import torch

from ..i18n import N_, _
from .checks import as_number, expect_number
from .core import Exercise, Wrong, call, describe, returned_none


def _check_steps(answer) -> str:
    what = _("the optimizer steps per epoch")
    if not as_number(answer, what).is_integer():
        raise Wrong(_("a number of steps is a whole number: the last, shorter batch is a step too "
                      "(round up)."))
    expect_number(answer, 7, what, {
        53: _("that is one process with batch 32; each of the 8 processes reads only 1/8 of the "
              "images."),
        52: _("that is one process (and it drops the last, short batch); each process reads 1/8 "
              "of the images."),
        6: _("the last batch of 210 - 6 x 32 = 18 images is a step too (drop_last=False)."),
        210: _("210 is the images per process; divide by the batch of 32 per process, rounding "
               "up."),
        420: _("the batch of 32 is per process: each process reads ceil(1680 / 8) = 210 images."),
        256: _("256 is the global batch (32 x 8 processes), the images one step reads in all."),
        56: _("the 8 processes take their steps together, in lockstep: each step of DDP is one "
              "step of all of them, so count the steps of one process."),
        1680: _("that is the number of images; a step reads a batch of 32 on each of the 8 "
                "processes."),
        8: _("8 is the number of processes; each reads its own share of the images, 32 per "
             "step."),
    })
    return _("ceil(1680 / 8) = 210 images per process, ceil(210 / 32) = 7 steps: global batch "
             "256.")


def _share(my_shard, indices: list, rank: int, world: int) -> list[int]:
    share = call(my_shard, list(indices), rank, world)
    if share is None:
        raise returned_none("my_shard")
    try:
        items = list(itertools.islice(iter(share), 10 * len(indices) + 10))
        return [int(i) for i in items]
    except Exception:  # noqa: BLE001 - whatever reading the learner's object raises
        raise Wrong(_("my_shard should return a list of indices; got {value}.").format(
            value=describe(share))) from None


def _check_shard(my_shard) -> str:
    if not callable(my_shard):
        raise Wrong(_("my_shard should be a function of (indices, rank, world_size)."))
    for n, world in ((8, 2), (10, 4), (11, 3), (3, 4), (2, 5)):
        # not 0..n-1: a share must hold the items, not positions
        indices = list(range(100, 100 + n))
        shares = [_share(my_shard, indices, rank, world) for rank in range(world)]
        if _share(my_shard, indices, 0, world) != shares[0]:
            raise Wrong(_("your shares change from one call to the next (a shuffle without a "
                          "shared seed): every process must compute the same order, or their "
                          "shares do not fit together. Here, do not shuffle (DistributedSampler "
                          "seeds its shuffle with seed + epoch)."))
        lengths = [len(s) for s in shares]
        pad = math.ceil(n / world) * world - n
        if len(set(lengths)) > 1:
            if pad > n and sum(lengths) == 2 * n:
                raise Wrong(_("{n} items over {world} processes need {pad} items of padding, more "
                              "than the list holds: `indices + indices[:pad]` adds only {n}. "
                              "Repeat the list as often as needed, as DistributedSampler does.")
                            .format(n=n, world=world, pad=pad))
            raise Wrong(_("{n} items over {world} processes gave shares of {lengths} items: a "
                          "process with one batch more waits for ever in an all-reduce that the "
                          "others never join. Pad the list (repeat its first items) to a multiple "
                          "of world_size.").format(n=n, world=world, lengths=lengths))
        everything = [i for s in shares for i in s]
        if not set(everything) <= set(indices):
            raise Wrong(_("a share holds {items}, which are not among the indices; give the items "
                          "of `indices`, not their positions.").format(
                              items=sorted(set(everything) - set(indices))[:3]))
        if set(everything) != set(indices):
            raise Wrong(_("{n} items over {world} processes: {missing} are in no share, so no "
                          "process ever trains on them.").format(
                              n=n, world=world, missing=sorted(set(indices) - set(everything))))
        if len(everything) != math.ceil(n / world) * world:
            raise Wrong(_("{n} items over {world} processes: the shares hold {total} items in all, "
                          "so processes see the same images; expect ceil({n} / {world}) x {world} "
                          "= {expected} (only the padding repeats).").format(
                              n=n, world=world, total=len(everything),
                              expected=math.ceil(n / world) * world))
    return _("equal shares that cover every item, overlapping only in the padding: what "
             "DistributedSampler gives (it shuffles first).")


def _check_strip(strip_module_prefix) -> str:
    if not callable(strip_module_prefix):
        raise Wrong(_("strip_module_prefix should be a function of a state dict."))
    w, b, inner = torch.ones(2), torch.zeros(2), torch.full((2,), 3.0)
    mean, tracked = torch.full((2,), 0.5), torch.tensor(7)
    # names that begin and end with letters of "module." tell a prefix from a set of characters
    want = {"conv1.weight": w, "fc.bias": b, "head.module.weight": inner,
            "layer1.0.bn1.running_mean": mean, "layer1.0.bn1.num_batches_tracked": tracked}
    got = call(strip_module_prefix, {"module." + k: v for k, v in want.items()})
    if got is None:
        raise returned_none("strip_module_prefix")
    if not isinstance(got, dict):
        raise Wrong(_("return a dict, not {value}.").format(value=describe(got, 40)))
    keys = sorted(got)
    wrapped = ["module." + k for k in want]
    if keys == sorted(k.lstrip("module.") for k in wrapped):
        raise Wrong(_("`lstrip('module.')` removes characters, not a prefix: it strips every "
                      "leading m, o, d, u, l, e and '.', so 'module.layer1...' became "
                      "'ayer1...'. Use key.removeprefix('module.')."))
    if keys == sorted(k.strip("module.") for k in wrapped):
        raise Wrong(_("`strip('module.')` removes characters at both ends, not a prefix: "
                      "'...num_batches_tracked' lost its final 'ed'. Use "
                      "key.removeprefix('module.')."))
    if "head.weight" in got:
        raise Wrong(_("you removed every 'module.', also the one inside a name (a layer may be "
                      "called `module`); remove only the prefix at the start."))
    if keys != sorted(want):
        raise Wrong(_("expected the keys {want}, got {got}.").format(want=sorted(want),
                                                                      got=keys[:6]))
    if any(not isinstance(got[k], torch.Tensor) or got[k] is not v and (
            got[k].shape != v.shape or not torch.equal(got[k], v)) for k, v in want.items()):
        raise Wrong(_("the keys are right but the tensors changed: keep each value as it is."))
    again = call(strip_module_prefix, dict(want))
    if not isinstance(again, dict) or sorted(again) != sorted(want):
        if isinstance(again, dict) and sorted(again) == sorted(k.replace("module.", "", 1)
                                                               for k in want):
            raise Wrong(_("`replace('module.', '', 1)` removes the first 'module.' wherever it "
                          "is: 'head.module.weight' of a plain model lost it. Use "
                          "key.removeprefix('module.'), which looks only at the start."))
        raise Wrong(_("a state dict without the prefix (from a plain model) must come back "
                      "unchanged."))
    return _("the plain names back: the file loads into a model with or without DDP.")


q1 = Exercise(
    N_("Chapter 7, question 1 (steps per epoch)"), _check_steps,
    hints=[N_("With DDP each process reads its own share of the images: how many images does one "
              "process see in an epoch?"),
           N_("Section 1, step 1, says how many images each process gets. Each step takes "
              "--batch-size of them, and a last, shorter batch is a step too.")],
    solution="steps_per_epoch = math.ceil(math.ceil(1680 / 8) / 32)",
    answer="steps_per_epoch")
q2 = Exercise(
    N_("Chapter 7, question 2 (each process's share)"), _check_shard,
    hints=[N_("First make every share the same length: how many items must the list have so that "
              "it splits evenly over world_size processes? Where can the missing ones come "
              "from?"),
           N_("How long must the padded list be? Which slice gives process `rank` every "
              "world_size-th item? (Section 1 prints what DistributedSampler gives four "
              "processes.)")],
    solution="""
    def my_shard(indices, rank, world_size):
        total = math.ceil(len(indices) / world_size) * world_size
        padded = (indices * math.ceil(total / len(indices)))[:total]
        return padded[rank::world_size]""",
    answer="my_shard")
q3 = Exercise(
    N_("Chapter 7, question 3 (the `module.` prefix)"), _check_strip,
    hints=[N_("DDP keeps your model as its `.module`, so the wrapper's state dict names every "
              "weight 'module.' + name. Build a new dict with the names changed and the tensors "
              "kept."),
           N_("Remove 'module.' only at the start of a key: a layer inside the model may itself be "
              "called `module`. Python's str has a method for exactly that.")],
    solution="""
    def strip_module_prefix(state_dict):
        return {key.removeprefix("module."): value for key, value in state_dict.items()}""",
    answer="strip_module_prefix")
