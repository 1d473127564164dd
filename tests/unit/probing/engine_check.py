"""Shared check for benchmark tests: the fast lookahead engine equals the sequential reference."""

from __future__ import annotations

import numpy as np
import torch

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.models import MultiTaskNet
from taskgrouping.probing import benchmark_task_losses, lookahead_fast, lookahead_sequential
from taskgrouping.training import task_losses

#: Singles, pairs and one doubled step of three tasks.
COMBOS = [(0,), (1,), (2,), (0, 1), (0, 2), (1, 2), (1, 1)]


def assert_fast_equals_sequential(
    bench: Benchmark,
    model: MultiTaskNet,
    opt: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    batchnorm: str,
    atol_after: float,
) -> None:
    """Take two real steps (so the optimizer has state), then compare both engines' lookahead
    losses on every combination of :data:`COMBOS`: the losses before agree to 1e-12, those
    after to ``atol_after``, and every step changes every loss.
    """
    for _ in range(2):
        opt.zero_grad(set_to_none=True)
        task_losses(model, bench, (x, y), bench.tasks).sum().backward()
        opt.step()
    tasks = bench.tasks
    losses = benchmark_task_losses(bench)
    b_seq, a_seq = lookahead_sequential(model, opt, losses, (x, y), tasks, COMBOS, None, batchnorm)
    b_fast, a_fast = lookahead_fast(model, opt, losses, (x, y), tasks, COMBOS, None, batchnorm)
    np.testing.assert_allclose(b_fast, b_seq, rtol=0, atol=1e-12)
    assert np.max(np.abs(a_fast - a_seq)) <= atol_after
    assert np.all(np.abs(a_seq - b_seq) > 0)
