"""What every lookahead engine shares: the task-loss contract, buffers and measurement.

A model is probed through ``task_losses(model, batch) -> Mapping[str, Tensor]``: one scalar
loss per task on ``batch`` (whatever the user's data loader yields). The engines never look
inside the model: which parameters a task moves is found by autograd.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.training.losses import stacked_losses

#: ``task_losses(model, batch)``: one scalar loss per task name.
TaskLosses = Callable[[torch.nn.Module, Any], Mapping[str, torch.Tensor]]


def benchmark_task_losses(bench: Benchmark, tasks: Sequence[str] | None = None) -> TaskLosses:
    """The probe's ``task_losses`` of a benchmark: its
    :meth:`~taskgrouping.benchmarks.Benchmark.task_losses` of ``tasks`` (default: all), the
    training step's losses, on a batch of one of its splits."""
    names = list(bench.tasks if tasks is None else tasks)

    def task_losses(model: torch.nn.Module, batch: Any) -> Mapping[str, torch.Tensor]:
        return bench.task_losses(model, batch, names)

    return task_losses


class LossModule(torch.nn.Module):
    """``task_losses(model, batch)`` as a module, so that the model can be called functionally
    (:func:`torch.func.functional_call` with parameters named ``model.<name>``)."""

    def __init__(self, model: torch.nn.Module, task_losses: TaskLosses) -> None:
        super().__init__()
        self.model = model
        self.task_losses = task_losses

    def forward(self, batch: Any) -> Mapping[str, torch.Tensor]:
        return self.task_losses(self.model, batch)


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


RngState = tuple[torch.Tensor, torch.Tensor | None, torch.device | None]


def rng_state(model: torch.nn.Module) -> RngState:
    """The global RNG states a forward of ``model`` draws from: the CPU generator's and, for a
    model on a GPU, that device's."""
    param = next(model.parameters(), None)
    if param is not None and param.device.type == "cuda":
        return torch.get_rng_state(), torch.cuda.get_rng_state(param.device), param.device
    return torch.get_rng_state(), None, None


def set_rng_state(state: RngState) -> None:
    """Restore RNG states saved by :func:`rng_state`."""
    cpu, cuda, device = state
    torch.set_rng_state(cpu)
    if cuda is not None:
        torch.cuda.set_rng_state(cuda, device)


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
