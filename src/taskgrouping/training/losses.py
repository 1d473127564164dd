"""Per-task training losses of a batch, and the check that they are finite."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.models import MultiTaskNet


class NonFiniteLoss(FloatingPointError):
    """A training loss became NaN or infinite."""


def task_losses(
    model: MultiTaskNet,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
) -> torch.Tensor:
    """Training losses of ``tasks`` on one batch.

    Parameters
    ----------
    model
        A network with a head for every task of ``tasks``.
    bench
        The benchmark that defines each task's loss and target column.
    x, y
        The batch's inputs and targets (all of the benchmark's tasks).
    tasks
        The tasks whose losses are wanted.

    Returns
    -------
    torch.Tensor
        A vector of losses in the order of ``tasks``.
    """
    out = model(x, tasks)
    return torch.stack([bench.loss(out[t], y[:, bench.task_index(t)]) for t in tasks])


def check_finite(losses: torch.Tensor, tasks: Sequence[str], step: int, group: str) -> None:
    """Raise :class:`NonFiniteLoss` naming the task, step and group of the first bad loss.

    Parameters
    ----------
    losses
        The step's losses in the order of ``tasks``.
    tasks
        The tasks of the trained network.
    step
        The training step (0-based), for the message.
    group
        The group key of the trained network, for the message.
    """
    bad = ~torch.isfinite(losses)
    if bool(bad.any()):
        k = int(bad.nonzero()[0, 0])
        raise NonFiniteLoss(
            f"loss of task {tasks[k]!r} is {float(losses[k].detach())} at step {step} "
            f"while training group {group!r}"
        )
