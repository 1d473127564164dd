"""The reference engine: one deep copy of the model and optimizer per combination.

Works for every ``torch.optim`` optimizer: the copy's own ``step()`` is the update.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from taskgrouping.probing.engines.common import (
    TaskLosses,
    measured_losses,
    no_parameter_message,
    rng_state,
    set_rng_state,
    stacked_losses,
    train_mode,
)
from taskgrouping.probing.options import counts


def lookahead_sequential(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    task_losses: TaskLosses,
    batch: Any,
    tasks: Sequence[str],
    combos: Sequence[Sequence[int]],
    measure_batch: Any = None,
    batchnorm: str = "batch",
) -> tuple[np.ndarray, np.ndarray]:
    """Every task's loss before and after one real optimizer step on each combination.

    For every combination: ``copy.deepcopy((model, optimizer))`` in one call (the copy's
    optimizer steps the copy's parameters), ``zero_grad(set_to_none=True)``, back-propagate the
    members' summed loss (with multiplicity, in the combination's order) from a training-mode
    forward on ``batch``, ``step()``, give the copy the real model's buffers back, measure every
    task's loss on ``measure_batch`` (default ``batch``). Parameters no member reaches keep
    ``grad=None``, so the optimizer leaves them alone.

    Every forward on ``batch`` starts from the global RNG state of the call, as the one forward
    of the closed-form engines does: a stochastic loss (dropout, a sampled REINFORCE rollout)
    draws the same randomness for every combination, that of the real training step. The RNG
    state is left as it was found.
    """
    tasks = list(tasks)
    measure = batch if measure_batch is None else measure_batch
    rng = rng_state(model)
    before = measured_losses(model, task_losses, measure, tasks, batchnorm)
    after = np.empty((len(combos), len(tasks)))
    for k, combo in enumerate(combos):
        counts(combo, len(tasks))
        set_rng_state(rng)
        probe_model, probe_opt = copy.deepcopy((model, optimizer))
        probe_opt.zero_grad(set_to_none=True)
        with train_mode(probe_model, True):
            out = task_losses(probe_model, batch)
            stacked_losses(out, tasks, check=True)
            for i in sorted(set(combo)):
                if not out[tasks[i]].requires_grad:
                    raise ValueError(no_parameter_message(tasks[i]))
            # only the members' losses enter the graph: a parameter no member reaches keeps
            # grad None (a zero gradient would let momentum and weight decay move it)
            torch.stack([out[tasks[i]] for i in combo]).sum().backward()
        probe_opt.step()
        # measurement statistics are the real model's (the step's forward moved the copy's)
        with torch.no_grad():
            for b, src in zip(probe_model.buffers(), model.buffers(), strict=True):
                b.copy_(src)
        after[k] = measured_losses(probe_model, task_losses, measure, tasks, batchnorm)
    set_rng_state(rng)
    return before, after
