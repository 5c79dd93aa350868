"""Chapter 7 (data parallelism): steps per epoch, each process's share, the `module.` prefix."""

from __future__ import annotations

import math

import torch

from .checks import expect_number
from .core import Exercise, Wrong, call, returned_none


def _check_steps(answer) -> str:
    expect_number(answer, 7, "the optimizer steps per epoch", {
        53: "that is one process with batch 32; each of the 8 processes reads only 1/8 of the "
            "images.",
        52: "that is one process (and it drops the last, short batch); each process reads 1/8 of "
            "the images.",
        6: "the last batch of 210 - 6 x 32 = 18 images is a step too (drop_last=False).",
        210: "210 is the images per process; divide by the batch of 32 per process, rounding up.",
        420: "the batch of 32 is per process: each process reads ceil(1680 / 8) = 210 images.",
    })
    return "ceil(1680 / 8) = 210 images per process, ceil(210 / 32) = 7 steps: global batch 256."


def _check_shard(my_shard) -> str:
    if not callable(my_shard):
        raise Wrong("my_shard should be a function of (indices, rank, world_size).")
    for n, world in ((8, 2), (10, 4), (11, 3), (3, 4)):
        # not 0..n-1: a share must hold the items, not positions
        indices = list(range(100, 100 + n))
        shares = []
        for rank in range(world):
            share = call(my_shard, list(indices), rank, world)
            if share is None:
                raise returned_none("my_shard")
            try:
                shares.append([int(i) for i in share])
            except (TypeError, ValueError):
                raise Wrong("my_shard should return a list of indices; got "
                            f"{share!r:.80}.") from None
        lengths = [len(s) for s in shares]
        if len(set(lengths)) > 1:
            raise Wrong(f"{n} items over {world} processes gave shares of {lengths} items: a "
                        "process with one batch more waits for ever in an all-reduce that the "
                        "others never join. Pad the list (repeat its first items) to a multiple of "
                        "world_size.")
        everything = [i for s in shares for i in s]
        if not set(everything) <= set(indices):
            raise Wrong(f"a share holds {sorted(set(everything) - set(indices))[:3]}, which are "
                        "not among the indices; give the items of `indices`, not their positions.")
        if set(everything) != set(indices):
            raise Wrong(f"{n} items over {world} processes: "
                        f"{sorted(set(indices) - set(everything))} are in no share, so no process "
                        "ever trains on them.")
        if len(everything) != math.ceil(n / world) * world:
            raise Wrong(f"{n} items over {world} processes: the shares hold {len(everything)} "
                        f"items in all, so processes see the same images; expect ceil({n} / "
                        f"{world}) x {world} = {math.ceil(n / world) * world} (only the padding "
                        "repeats).")
    return ("equal shares that cover every item, overlapping only in the padding: "
            "what DistributedSampler gives (it shuffles first).")


def _check_strip(strip_module_prefix) -> str:
    if not callable(strip_module_prefix):
        raise Wrong("strip_module_prefix should be a function of a state dict.")
    w, b, inner = torch.ones(2), torch.zeros(2), torch.full((2,), 3.0)
    wrapped = {"module.conv1.weight": w, "module.fc.bias": b, "module.head.module.weight": inner}
    got = call(strip_module_prefix, dict(wrapped))
    if got is None:
        raise returned_none("strip_module_prefix")
    if not isinstance(got, dict):
        raise Wrong(f"return a dict, not a {type(got).__name__}.")
    if "head.weight" in got:
        raise Wrong("you removed every 'module.', also the one inside a name (a layer may be "
                    "called `module`); remove only the prefix at the start.")
    want = {"conv1.weight": w, "fc.bias": b, "head.module.weight": inner}
    if sorted(got) != sorted(want):
        raise Wrong(f"expected the keys {sorted(want)}, got {sorted(got)}.")
    if any(not isinstance(got[k], torch.Tensor) or got[k] is not v and (
            got[k].shape != v.shape or not torch.equal(got[k], v)) for k, v in want.items()):
        raise Wrong("the keys are right but the tensors changed: keep each value as it is.")
    plain = {"conv1.weight": w, "fc.bias": b}
    again = call(strip_module_prefix, dict(plain))
    if not isinstance(again, dict) or sorted(again) != sorted(plain):
        raise Wrong("a state dict without the prefix (from a plain model) must come back "
                    "unchanged.")
    return "the plain names back: the file loads into a model with or without DDP."


q1 = Exercise(
    "Chapter 7, question 1 (steps per epoch)", _check_steps,
    hints=["With DDP each process reads its own share of the images: how many images does one "
           "process see in an epoch?",
           "DistributedSampler gives each process ceil(N / processes) images; each step takes "
           "--batch-size of them, and the last, shorter batch is a step too."],
    solution="steps_per_epoch = math.ceil(math.ceil(1680 / 8) / 32)",
    answer="steps_per_epoch")
q2 = Exercise(
    "Chapter 7, question 2 (each process's share)", _check_shard,
    hints=["First make every share the same length: how many items must the list have so that it "
           "splits evenly over world_size processes? Where can the missing ones come from?",
           "Pad the list with its own first items. Then each process takes a different, regular "
           "part of the padded list (a slice with a step, or a contiguous block)."],
    solution="""
    def my_shard(indices, rank, world_size):
        total = math.ceil(len(indices) / world_size) * world_size
        padded = (indices * math.ceil(total / len(indices)))[:total]
        return padded[rank::world_size]""",
    answer="my_shard")
q3 = Exercise(
    "Chapter 7, question 3 (the `module.` prefix)", _check_strip,
    hints=["DDP keeps your model as its `.module`, so the wrapper's state dict names every weight "
           "'module.' + name. Build a new dict with the names changed and the tensors kept.",
           "Remove 'module.' only at the start of a key: a layer inside the model may itself be "
           "called `module`. Python's str has a method for exactly that."],
    solution="""
    def strip_module_prefix(state_dict):
        return {key.removeprefix("module."): value for key, value in state_dict.items()}""",
    answer="strip_module_prefix")
