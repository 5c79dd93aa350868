"""Chapter 7's exercises: typical mistakes are named. (That the reference solutions pass, unanswered
questions say "not attempted" and no answer makes a check raise is checked for every chapter in
test_exercises.py.)"""

from __future__ import annotations

import math

import pytest

from course_utils.exercises import CORRECT, WRONG
from course_utils.exercises_ch7 import ch7


@pytest.mark.parametrize(("answer", "message"), [
    (53, "one process with batch 32"),
    (6, "is a step too"),
    (420, "per process"),
    (8, "not right"),
])
def test_steps_mistakes_are_named(answer, message):
    result = ch7.q1._run(answer)
    assert result.outcome == WRONG and message in result.message


def contiguous_without_padding(indices, rank, world_size):
    size = math.ceil(len(indices) / world_size)
    return indices[rank * size:(rank + 1) * size]


def positions(indices, rank, world_size):
    return list(range(len(indices)))[rank::world_size]


def strided_without_padding(indices, rank, world_size):
    return indices[rank::world_size]


def everything(indices, rank, world_size):
    return list(indices)


def padded_contiguous(indices, rank, world_size):  # a valid share too: contiguous blocks
    total = math.ceil(len(indices) / world_size) * world_size
    padded = (indices * math.ceil(total / len(indices)))[:total]
    size = total // world_size
    return padded[rank * size:(rank + 1) * size]


@pytest.mark.parametrize(("answer", "message"), [
    (contiguous_without_padding, "waits for ever"),
    (strided_without_padding, "waits for ever"),
    (positions, "not their positions"),
    (everything, "see the same images"),
])
def test_shard_mistakes_are_named(answer, message):
    result = ch7.q2._run(answer)
    assert result.outcome == WRONG and message in result.message, result.message


def test_any_equal_covering_shares_are_accepted():
    assert ch7.q2._run(padded_contiguous).outcome == CORRECT


def test_strip_mistakes_are_named():
    replace_all = ch7.q3._run(lambda sd: {k.replace("module.", ""): v for k, v in sd.items()})
    assert replace_all.outcome == WRONG and "only the prefix" in replace_all.message
    slicing = ch7.q3._run(lambda sd: {k[7:]: v for k, v in sd.items()})  # breaks plain names
    assert slicing.outcome == WRONG and "unchanged" in slicing.message
    zeroed = ch7.q3._run(lambda sd: {k.removeprefix("module."): v * 0 for k, v in sd.items()})
    assert zeroed.outcome == WRONG and "tensors changed" in zeroed.message
