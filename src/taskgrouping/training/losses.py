"""Per-task training losses of a batch, and the check that they are finite."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import torch

from taskgrouping.benchmarks.base import Benchmark


class NonFiniteLoss(FloatingPointError):
    """A training loss became NaN or infinite."""

    #: Reported by a workflow job as its message alone (no traceback).
    one_line = True


def task_losses(
    model: torch.nn.Module, bench: Benchmark, batch: Any, tasks: Sequence[str]
) -> torch.Tensor:
    """Training losses of ``tasks`` on one batch, as the benchmark defines them.

    Parameters
    ----------
    model
        A network of the benchmark's that predicts every task of ``tasks``.
    bench
        The benchmark, whose :meth:`~taskgrouping.benchmarks.Benchmark.task_losses` computes
        the losses.
    batch
        A batch of one of the benchmark's splits, on the model's device.
    tasks
        The tasks whose losses are wanted.

    Returns
    -------
    torch.Tensor
        A vector of losses in the order of ``tasks``.
    """
    return stacked_losses(bench.task_losses(model, batch, tasks), tasks)


def stacked_losses(
    losses: Mapping[str, torch.Tensor], tasks: Sequence[str], *, check: bool = False
) -> torch.Tensor:
    """The losses of ``tasks`` as one vector in task order.

    Raises naming the task when ``losses`` lacks a task or a loss is not a scalar; with
    ``check`` also when a loss is not finite.
    """
    if not isinstance(losses, Mapping):
        raise TypeError(
            f"task_losses must return a mapping from task name to loss, got {type(losses).__name__}"
        )
    missing = [t for t in tasks if t not in losses]
    if missing:
        raise ValueError(
            f"task_losses returned no loss for task {missing[0]!r} (it returned {list(losses)})"
        )
    for t in tasks:
        if not isinstance(losses[t], torch.Tensor) or losses[t].numel() != 1:
            raise ValueError(f"the loss of task {t!r} must be a scalar tensor, got {losses[t]!r}")
    vector = torch.stack([losses[t].reshape(()) for t in tasks])
    if check:
        values = vector.detach().double().cpu().tolist()
        for t, v in zip(tasks, values, strict=True):
            if not math.isfinite(v):
                raise ValueError(f"the loss of task {t!r} is {v} (not finite) at the probed state")
    return vector


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
