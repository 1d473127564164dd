"""Per-task losses and the non-finite loss check."""

from __future__ import annotations

import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import NonFiniteLoss, check_finite, task_losses
from tests.conftest import small_synthetic


def test_non_finite_loss_names_task_step_and_group() -> None:
    with pytest.raises(
        NonFiniteLoss, match="task 't1' is nan at step 7 while training group 't0\\+t1'"
    ):
        check_finite(torch.tensor([0.5, float("nan")]), ["t0", "t1"], 7, "t0+t1")
    with pytest.raises(NonFiniteLoss, match="task 't0' is inf at step 0"):
        check_finite(torch.tensor([float("inf"), float("nan")]), ["t0", "t1"], 0, "t0+t1")
    check_finite(torch.tensor([0.5, 1e30]), ["t0", "t1"], 7, "t0+t1")


def test_task_losses_follow_the_order_of_the_tasks() -> None:
    bench = get_benchmark("synthetic", small_synthetic()["synthetic"])
    train = bench.generate()[0]["train"]
    model = bench.build_model(bench.tasks)
    x, y = train.x[:8], train.y[:8]
    forward = task_losses(model, bench, (x, y), ["t0", "t2"])
    backward = task_losses(model, bench, (x, y), ["t2", "t0"])
    assert forward.shape == (2,) and torch.equal(forward, backward.flip(0))
