"""Lookahead transfer gains, as defined by Wang, Pan and Yu (2024).

At a probing step with batch ``b``, parameters ``theta`` (shared encoder + one head per task) and
the optimizer's state, for every combination ``c`` among the singletons ``{j}`` and the pairs
``{i, j}``:

1. copy the model and the optimizer state (a deep copy: momentum buffers, Adam moments and step
   counters of the copy are new tensors, so the real training state is never touched);
2. put the gradient of ``sum_{t in c} L_t(b)`` into the shared encoder and the heads of the tasks in
   ``c``; the other heads get no gradient (``None``), so the optimizer leaves them exactly as they
   are (no momentum or weight-decay update on heads outside ``c``);
3. take ONE real optimizer step with the copied state (same optimizer, hyper-parameters and state
   as training);
4. measure every task's loss on the same batch ``b`` after the step, then discard the copy.

The gain of task ``i`` on task ``j`` at that step is

    S_step[i, j] = (L_j(after {j}) - L_j(after {i, j})) / L_j(before),

positive when adding task ``i`` to ``j``'s update lowers ``j``'s loss more than ``j``'s own step.
The gain matrix is the mean of ``S_step`` over probing steps; its diagonal is 0.
"""

from __future__ import annotations

import copy
import itertools
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import torch

from taskgrouping.benchmarks.base import Benchmark, Split
from taskgrouping.models import MultiTaskNet
from taskgrouping.training import check_finite, group_key, make_optimizer, task_losses

log = logging.getLogger(__name__)

RECORD_COLUMNS = ("step", "epoch", "combo", "task", "loss_before", "loss_after")


def singles_and_pairs(n_tasks: int) -> list[tuple[int, ...]]:
    """The probed combinations: every singleton ``(j,)``, then every pair ``(i, j)``, ``i < j``."""
    if n_tasks < 2:
        raise ValueError(f"probing needs at least 2 tasks, got {n_tasks}")
    return [(j,) for j in range(n_tasks)] + list(itertools.combinations(range(n_tasks), 2))


def clone_optimizer(
    optimizer: torch.optim.Optimizer, model_copy: torch.nn.Module
) -> torch.optim.Optimizer:
    """An optimizer of the same class for ``model_copy`` holding a deep copy of the state.

    ``load_state_dict`` alone copies shallowly (the new optimizer's buffers would BE the original's
    tensors), so the state dict is deep-copied first.
    """
    clone = type(optimizer)(model_copy.parameters(), **optimizer.defaults)
    clone.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    return clone


def lookahead_losses(
    model: MultiTaskNet,
    optimizer: torch.optim.Optimizer,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
    combos: Sequence[tuple[int, ...]],
) -> tuple[np.ndarray, np.ndarray]:
    """Every task's loss before the step and after one lookahead step on each combination.

    Sequential reference implementation: one model copy per combination.

    Returns
    -------
    before
        Shape ``(n,)``: losses of ``tasks`` on the batch at the current parameters.
    after
        Shape ``(len(combos), n)``: losses of every task after the step on each combination.
    """
    tasks = list(tasks)
    with torch.no_grad():
        before = task_losses(model, bench, x, y, tasks).double().numpy()
    after = np.empty((len(combos), len(tasks)))
    for k, combo in enumerate(combos):
        probe_model = copy.deepcopy(model)
        probe_opt = clone_optimizer(optimizer, probe_model)
        probe_opt.zero_grad(set_to_none=True)
        members = [tasks[i] for i in combo]
        task_losses(probe_model, bench, x, y, members).sum().backward()
        probe_opt.step()
        with torch.no_grad():
            after[k] = task_losses(probe_model, bench, x, y, tasks).double().numpy()
    return before, after


def step_gains(
    before: np.ndarray, after: np.ndarray, combos: Sequence[tuple[int, ...]]
) -> np.ndarray:
    """The gain matrix of one probing step from :func:`lookahead_losses` output."""
    n = before.shape[0]
    row = {c: k for k, c in enumerate(combos)}
    gains = np.zeros((n, n))
    for i, j in itertools.permutations(range(n), 2):
        pair = row[(min(i, j), max(i, j))]
        gains[i, j] = (after[row[(j,)], j] - after[pair, j]) / before[j]
    return gains


def gains_from_records(records: pd.DataFrame, tasks: Sequence[str]) -> pd.DataFrame:
    """Aggregate per-step probe records into the gain matrix (mean over probing steps).

    ``records`` has the columns of :data:`RECORD_COLUMNS`; ``combo`` is a group key such as
    ``"t0+t3"``. Row ``i``, column ``j`` of the result is the gain of task ``j`` from task ``i``.
    """
    missing = [c for c in RECORD_COLUMNS if c not in records.columns]
    if missing:
        raise ValueError(f"probe records lack the columns {missing}")
    tasks = list(tasks)
    combos = singles_and_pairs(len(tasks))
    keys = [group_key([tasks[i] for i in c], tasks) for c in combos]
    per_step = []
    for step, frame in records.groupby("step", sort=True):
        before = frame.groupby("task")["loss_before"].first().reindex(tasks).to_numpy()
        after = (
            frame.pivot(index="combo", columns="task", values="loss_after")
            .reindex(index=keys, columns=tasks)
            .to_numpy()
        )
        if np.isnan(after).any() or np.isnan(before).any():
            raise ValueError(
                f"probe records of step {step} do not cover every combination and task"
            )
        per_step.append(step_gains(before, after, combos))
    if not per_step:
        raise ValueError("no probe records to aggregate")
    return pd.DataFrame(np.mean(per_step, axis=0), index=tasks, columns=tasks)


def run_probe(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    probe_cfg: Mapping[str, Any],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train one network on all tasks; collect lookahead gains every ``probe_cfg['every']`` steps.

    Probing happens on the step's own batch, just before the real training step, and never
    changes the training trajectory.

    Returns
    -------
    records
        One row per (probing step, combination, task): the raw losses before and after.
    gains
        The aggregated gain matrix (tasks x tasks).
    """
    tasks = bench.tasks
    combos = singles_and_pairs(len(tasks))
    keys = [group_key([tasks[i] for i in c], tasks) for c in combos]
    torch.manual_seed(seed)
    model = bench.build_model(tasks)
    optimizer = make_optimizer(model, train_cfg)
    gen = torch.Generator().manual_seed(seed)
    every, epochs = int(probe_cfg["every"]), int(probe_cfg["epochs"])
    rows: list[tuple[int, int, str, str, float, float]] = []
    step = 0
    for epoch in range(1, epochs + 1):
        model.train()
        for x, y in splits["train"].batches(int(train_cfg["batch_size"]), generator=gen):
            if step % every == 0:
                before, after = lookahead_losses(model, optimizer, bench, x, y, tasks, combos)
                for k, key in enumerate(keys):
                    rows.extend(
                        (step, epoch, key, t, float(before[j]), float(after[k, j]))
                        for j, t in enumerate(tasks)
                    )
            losses = task_losses(model, bench, x, y, tasks)
            check_finite(losses, tasks, step, "+".join(tasks))
            optimizer.zero_grad(set_to_none=True)
            losses.sum().backward()
            optimizer.step()
            step += 1
        log.info(
            "probe epoch %d/%d: %d steps, %d probed", epoch, epochs, step, len({r[0] for r in rows})
        )
    records = pd.DataFrame(rows, columns=list(RECORD_COLUMNS))
    return records, gains_from_records(records, tasks)
