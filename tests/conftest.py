"""Shared test set-up."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    """Tests use tiny tensors, which run fastest on one thread; on a busy 2-core machine two
    threads spin-wait on each other (measured 20-50x slower). One thread also makes CPU
    results bit-identical from run to run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
