"""One probing step: every task's loss after one real optimizer step on each task combination.

Three engines compute the same quantity (tests check they agree to 1e-6 in float64):
``sequential`` (the reference, any optimizer; :mod:`.sequential`), ``fast`` and ``batched``
(closed-form SGD, Adam and AdamW updates; :mod:`.fast`).

Semantics shared by every engine:

* A combination is a multiset of task indices: ``(j,)``, ``(i, j)``, the doubled ``(j, j)``
  (gradient ``2 g_j``) or any larger group. Its loss is ``sum_{t in c} L_t`` with multiplicity.
* A parameter reached by members of ``c`` gets the sum of their gradients; a parameter that no
  member reaches gets no gradient (``None``), so the optimizer leaves it, its momentum and its
  weight decay alone (a head of a task outside ``c`` does not move).
* The step uses the optimizer's hyper-parameters and a copy of its state (momentum buffers, Adam
  moments and step counters); the real optimizer and model are never modified.
* **BatchNorm.** The step's gradient comes from a training-mode forward (batch statistics), as in
  the real training step. Losses before and after the step are measured with ``batchnorm``:
  ``"batch"`` (default): training-mode forward, batch statistics of the measured batch;
  ``"running"``: evaluation-mode forward with the running statistics the model has at the
  probing step. No running statistic of the real model changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from taskgrouping.probing.engines.common import (
    LossModule,
    TaskLosses,
    benchmark_task_losses,
    measured_losses,
    preserved_buffers,
    stacked_losses,
    train_mode,
)
from taskgrouping.probing.engines.fast import lookahead_batched, lookahead_fast, task_gradients
from taskgrouping.probing.engines.rules import Rule, rules_of, unsupported_reason
from taskgrouping.probing.engines.sequential import lookahead_sequential
from taskgrouping.probing.options import BATCHNORM_MODES, ENGINES

__all__ = [
    "LossModule",
    "Rule",
    "TaskLosses",
    "benchmark_task_losses",
    "lookahead_batched",
    "lookahead_fast",
    "lookahead_losses",
    "lookahead_sequential",
    "measured_losses",
    "preserved_buffers",
    "rules_of",
    "stacked_losses",
    "task_gradients",
    "train_mode",
    "unsupported_reason",
]


def lookahead_losses(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    task_losses: TaskLosses,
    batch: Any,
    tasks: Sequence[str],
    combos: Sequence[Sequence[int]],
    *,
    engine: str = "fast",
    measure_batch: Any = None,
    batchnorm: str = "batch",
) -> tuple[np.ndarray, np.ndarray]:
    """Every task's loss before the step and after one lookahead step on each combination.

    Parameters
    ----------
    model, optimizer
        The model being trained and its optimizer; neither changes.
    task_losses
        ``task_losses(model, batch)`` returns one scalar loss per task name.
    batch
        The step's training batch (the gradients are taken there).
    tasks
        Task names; combinations index into this list.
    combos
        Combinations (multisets of task indices) to step on.
    engine
        ``"fast"``, ``"batched"`` or ``"sequential"`` (see the module docstring).
    measure_batch
        Batch on which the losses are measured (default: ``batch``).
    batchnorm
        ``"batch"`` or ``"running"`` statistics for the measurements.

    Returns
    -------
    before
        Shape ``(n,)``: losses of ``tasks`` at the current parameters.
    after
        Shape ``(len(combos), n)``: every task's loss after the step on each combination.
    """
    if engine not in ENGINES:
        raise ValueError(f"unknown probe engine {engine!r}; accepted: {list(ENGINES)}")
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"unknown batchnorm mode {batchnorm!r}; accepted: {list(BATCHNORM_MODES)}")
    fn = {
        "fast": lookahead_fast,
        "batched": lookahead_batched,
        "sequential": lookahead_sequential,
    }[engine]
    return fn(model, optimizer, task_losses, batch, tasks, combos, measure_batch, batchnorm)
