"""What every lookahead engine shares: the task-loss contract, buffers and measurement.

A model is probed through ``task_losses(model, batch) -> Mapping[str, Tensor]``: one scalar
loss per task on ``batch`` (whatever the user's data loader yields). The engines never look
inside the model: which parameters a task moves is found by autograd.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from taskgrouping.benchmarks.base import Benchmark

#: ``task_losses(model, batch)``: one scalar loss per task name.
TaskLosses = Callable[[torch.nn.Module, Any], Mapping[str, torch.Tensor]]


def benchmark_task_losses(bench: Benchmark) -> TaskLosses:
    """The ``task_losses`` of a benchmark's :class:`~taskgrouping.models.MultiTaskNet`.

    ``batch`` is ``(x, y)``: every head predicts from one forward, task ``t``'s loss is
    ``bench.loss(model(x)[t], y[:, bench.task_index(t)])`` (the training step's losses).
    """

    def task_losses(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> dict:
        x, y = batch
        out = model(x, bench.tasks)
        return {t: bench.loss(out[t], y[:, bench.task_index(t)]) for t in bench.tasks}

    return task_losses


@contextlib.contextmanager
def preserved_buffers(model: torch.nn.Module) -> Iterator[None]:
    """Restore every buffer (BatchNorm running statistics, counters) of ``model`` on exit."""
    saved = [b.detach().clone() for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(model.buffers(), saved, strict=True):
                b.copy_(s)


@contextlib.contextmanager
def train_mode(model: torch.nn.Module, train: bool) -> Iterator[None]:
    """``model`` in training (``train``) or evaluation mode, restoring its modes on exit."""
    modes = [m.training for m in model.modules()]
    model.train(train)
    try:
        yield
    finally:
        for m, was in zip(model.modules(), modes, strict=True):
            m.training = was


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


def no_parameter_message(task: str) -> str:
    """The error of a task whose loss depends on no trainable parameter."""
    return (
        f"the loss of task {task!r} reaches no trainable parameter of the model "
        "(it does not depend on any parameter with requires_grad=True)"
    )


def measured_losses(
    model: torch.nn.Module,
    task_losses: TaskLosses,
    batch: Any,
    tasks: Sequence[str],
    batchnorm: str = "batch",
) -> np.ndarray:
    """Every task's loss at the model's current parameters, measured as the probe measures.

    ``batchnorm="batch"``: training-mode forward; ``"running"``: evaluation mode. No running
    statistic of ``model`` changes.
    """
    with torch.no_grad(), preserved_buffers(model), train_mode(model, batchnorm == "batch"):
        return stacked_losses(task_losses(model, batch), tasks, check=True).double().cpu().numpy()
