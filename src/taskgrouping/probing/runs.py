"""Probing a benchmark's base run: in process, or from saved points in shards."""

from __future__ import annotations

import copy
import itertools
import logging
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd
import torch

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.benchmarks.data import DataSplit, batch_to
from taskgrouping.probing.aggregate import (
    STEP_GAIN_COLUMNS,
    aggregate_records,
    records_frame,
)
from taskgrouping.probing.base_run import base_run, window_probe_step
from taskgrouping.probing.engines import benchmark_task_losses, lookahead_losses, preserved_buffers
from taskgrouping.probing.estimators import (
    first_order_gains_step,
    require_encoder_and_heads,
    tag_affinity_step,
    tag_cosine_step,
)
from taskgrouping.probing.options import (
    Combo,
    ProbeOptions,
    all_combos,
    combo_key,
    point_combos,
    shard_combos,
)
from taskgrouping.probing.points import (
    BaseRunStats,
    ProbePoint,
    _on_cpu,
    _point_generator,
    sample_pairs,
)
from taskgrouping.training import (
    NonFiniteLoss,
    make_optimizer,
    model_device,
    remove_checkpoint,
    resolve_device,
    task_losses,
)

log = logging.getLogger(__name__)


def probe_point(
    point: ProbePoint,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    options: ProbeOptions,
    combos: Sequence[Combo] | None = None,
) -> list[tuple[int, int, str, str, float, float]]:
    """Record rows of the exact lookahead at one point (``combos``: this shard's, default all)."""
    tasks = bench.tasks
    if combos is None:
        combos = point_combos(point.pairs, len(tasks), options, tasks)
    if not combos:
        return []
    dev = model_device(model)
    batch = batch_to(splits["train"].fetch(point.batch), dev)
    measure = None
    if point.heldout is not None:
        measure = batch_to(splits["val"].fetch(point.heldout), dev)
    rng = torch.get_rng_state()
    torch.set_rng_state(point.rng_state)
    try:
        before, after = lookahead_losses(
            model,
            optimizer,
            benchmark_task_losses(bench),
            batch,
            tasks,
            combos,
            engine=options.engine,
            measure_batch=measure,
            batchnorm=options.batchnorm,
        )
    finally:
        torch.set_rng_state(rng)
    rows = []
    for k, combo in enumerate(combos):
        key = combo_key(combo, tasks)
        rows.extend(
            (point.step, point.epoch, key, t, float(before[j]), float(after[k, j]))
            for j, t in enumerate(tasks)
        )
    return rows


def estimate_point(
    point: ProbePoint,
    model: torch.nn.Module,
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    options: ProbeOptions,
    lr: float,
) -> list[tuple[int, int, str, str, float]]:
    """Step-gain rows of a gradient-based estimator (``first_order``, ``tag``, ``tag_cosine``).

    ``first_order``: see :func:`taskgrouping.probing.estimators.first_order_gains_step` (times
    ``L_j`` for the absolute normalisation). ``tag``: TAG's ``1 - L_j(after) / L_j``
    (absolute: ``L_j - L_j(after)``). ``tag_cosine``: gradient cosine similarity.
    """
    tasks = bench.tasks
    dev = model_device(model)
    batch = batch_to(splits["train"].fetch(point.batch), dev)
    require_encoder_and_heads(model, batch, options.estimator)
    measure = None
    if point.heldout is not None and options.estimator == "tag":
        measure = batch_to(splits["val"].fetch(point.heldout), dev)
    rng = torch.get_rng_state()
    torch.set_rng_state(point.rng_state)  # the step's own draws (a sampled loss, dropout)
    try:
        m = _estimate(model, bench, batch, measure, tasks, options, lr)
    finally:
        torch.set_rng_state(rng)
    m = m.detach().double().cpu().numpy()
    return [
        (point.step, point.epoch, tasks[i], tasks[j], float(m[i, j]))
        for i, j in itertools.permutations(range(len(tasks)), 2)
    ]


def _estimate(
    model: torch.nn.Module,
    bench: Benchmark,
    batch: Any,
    measure: Any,
    tasks: Sequence[str],
    options: ProbeOptions,
    lr: float,
) -> torch.Tensor:
    """One point's step gains of a gradient-based estimator (see :func:`estimate_point`)."""
    with preserved_buffers(model):
        model.train()
        if options.estimator == "first_order":
            m = first_order_gains_step(model, bench, batch, tasks, lr, options.reference)
            if options.normalise == "absolute":
                losses = task_losses(model, bench, batch, tasks).detach()
                m = m * losses.to(m.dtype).unsqueeze(0)
        elif options.estimator == "tag":
            m = tag_affinity_step(model, bench, batch, tasks, lr, measure)
            if options.normalise == "absolute":
                losses = task_losses(model, bench, batch if measure is None else measure, tasks)
                losses = losses.detach()
                m = m * losses.to(m.dtype).unsqueeze(0)
        elif options.estimator == "tag_cosine":
            m = tag_cosine_step(model, bench, batch, tasks)
        else:
            raise ValueError(f"estimator {options.estimator!r} is not gradient-based")
    return m


def run_probe(
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    train_cfg: Mapping[str, Any],
    probe_cfg: Mapping[str, Any] | ProbeOptions,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train once and probe in process (no checkpoints): ``(records, gain matrix)``.

    For the exact estimator ``records`` are the raw losses (:data:`RECORD_COLUMNS`); for the
    gradient-based estimators they are the step gains (:data:`STEP_GAIN_COLUMNS`).
    """
    records, gains, _ = probe_in_process(bench, splits, train_cfg, probe_cfg, seed)
    return records, gains


def probe_in_process(
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    train_cfg: Mapping[str, Any],
    probe_cfg: Mapping[str, Any] | ProbeOptions,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, BaseRunStats]:
    """:func:`run_probe` that also returns the base run's cost."""
    options = (
        probe_cfg if isinstance(probe_cfg, ProbeOptions) else ProbeOptions.from_config(probe_cfg)
    )
    rows: list[tuple[Any, ...]] = []

    def on_point(point: ProbePoint, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        if options.estimator == "exact":
            rows.extend(probe_point(point, model, opt, bench, splits, options))
        else:
            # the learning rate of the step being probed (train.lr_step_epochs lowers it)
            lr = float(opt.param_groups[0]["lr"])
            rows.extend(estimate_point(point, model, bench, splits, options, lr))

    stats = base_run(bench, splits, train_cfg, options, seed, on_point)
    return (*records_and_gains(rows, bench.tasks, options), stats)


def records_and_gains(
    rows: Sequence[tuple[Any, ...]], tasks: Sequence[str], options: ProbeOptions
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Turn collected rows into ``(records, gain matrix)`` for the options' estimator."""
    if options.estimator == "exact":
        records = records_frame(rows)
    else:
        records = pd.DataFrame(list(rows), columns=list(STEP_GAIN_COLUMNS))
    tables = aggregate_records(
        records, tasks, options.estimator, options.reference, options.normalise
    )
    return records, tables.matrix


def lazy_records(
    full: pd.DataFrame,
    tasks: Sequence[str],
    options: ProbeOptions,
    seed: int,
    total_steps: int,
) -> pd.DataFrame:
    """The exact records a lazy and/or sampled run with ``options`` would give, taken from the
    records ``full`` of full collection (every step, all pairs) of the same training run.

    Probing never changes training and every combination is computed independently, so a run
    with ``options`` and seed ``seed`` produces exactly these rows (tested). Called with another
    ``seed`` (the seed of the step and pair draws only; the training run stays ``full``'s), it
    gives another equally likely draw of the same estimator, which is how the probing benchmark
    measures how often lazy collection matches full collection without retraining.
    ``total_steps`` is the base run's number of training steps.
    """
    if options.estimator != "exact" or options.higher_order is not None:
        raise ValueError("lazy_records takes exact pair records (no higher_order)")
    n = len(tasks)
    epochs = full.groupby("step")["epoch"].first()
    keep: set[tuple[int, str]] = set()
    for window in range(-(-int(total_steps) // options.every)):
        step = window_probe_step(seed, window, options.every, options.position)
        if step >= total_steps or step not in epochs.index:
            continue
        if not options.probes_epoch(int(epochs[step])):
            continue
        pairs = sample_pairs(n, options.sample, _point_generator(seed, step))
        for combo in point_combos(pairs, n, options, tasks):
            keep.add((step, combo_key(combo, tasks)))
    # one vectorised look-up: full collection of 100 tasks holds 32 million rows
    wanted = pd.MultiIndex.from_tuples(sorted(keep), names=["step", "combo"])
    rows = pd.MultiIndex.from_arrays([full["step"].astype(int), full["combo"]])
    return full.loc[rows.isin(wanted)].reset_index(drop=True)


def save_points(
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    seed: int,
    path: Path | str,
    *,
    device: str | torch.device = "cpu",
    checkpoint: Path | str | None = None,
) -> BaseRunStats:
    """Run :func:`base_run` on ``device`` and save every probing point (weights, optimizer
    state, on the CPU) to ``path``.

    With ``checkpoint``, the run resumes from and saves to that file (see :func:`base_run`); the
    caller deletes it once every result is written. A non-finite loss deletes it here.
    """
    from taskgrouping.io import atomic_writer

    points: list[dict[str, Any]] = []

    def on_point(point: ProbePoint, model: torch.nn.Module, opt: torch.optim.Optimizer) -> None:
        points.append(
            {
                "step": point.step,
                "epoch": point.epoch,
                "batch": point.batch.clone(),
                "heldout": None if point.heldout is None else point.heldout.clone(),
                "pairs": [list(p) for p in point.pairs],
                "rng_state": point.rng_state.clone(),
                "model": _on_cpu(copy.deepcopy(model.state_dict())),
                "optimizer": _on_cpu(copy.deepcopy(opt.state_dict())),
            }
        )

    def restore(saved: list[dict[str, Any]]) -> None:
        points[:] = saved

    try:
        stats = base_run(
            bench,
            splits,
            train_cfg,
            options,
            seed,
            on_point,
            device=device,
            checkpoint=checkpoint,
            collected=lambda: points,
            restore=restore,
        )
    except NonFiniteLoss:
        if checkpoint is not None:
            remove_checkpoint(checkpoint)
        raise
    with atomic_writer(path, binary=True) as fh:
        torch.save({"tasks": bench.tasks, "seed": seed, "points": points}, fh)
    return stats


def load_points(path: Path | str, tasks: Sequence[str]) -> list[ProbePoint]:
    """Probing points saved by :func:`save_points`; raises if they belong to other tasks."""
    data = torch.load(path, weights_only=False)
    if list(data["tasks"]) != list(tasks):
        raise ValueError(f"{path} holds points for tasks {data['tasks']}, not {list(tasks)}")
    return [
        ProbePoint(
            p["step"],
            p["epoch"],
            p["batch"],
            p["heldout"],
            [tuple(q) for q in p["pairs"]],
            p["rng_state"],
            p["model"],
            p["optimizer"],
        )
        for p in data["points"]
    ]


def probe_saved(
    bench: Benchmark,
    splits: Mapping[str, DataSplit],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    points: Sequence[ProbePoint],
    shard: int = 0,
    n_shards: int = 1,
    *,
    device: str | torch.device = "cpu",
) -> pd.DataFrame:
    """Records of one shard of the combinations over every saved point (probed on ``device``).

    For the exact estimator, shard ``s`` probes the combinations at positions ``s, s + n_shards,
    ...`` of :func:`all_combos`; the concatenated records of all shards equal one unsharded run's.
    Gradient-based estimators are not sharded (shard 0 computes everything, others nothing).
    """
    tasks = bench.tasks
    canonical = all_combos(len(tasks), options, tasks)
    model = bench.build_model(tasks).to(resolve_device(device))
    optimizer = make_optimizer(model, train_cfg)
    rows: list[tuple[Any, ...]] = []
    t0 = time.perf_counter()
    for k, point in enumerate(points):
        model.load_state_dict(point.model_state)
        optimizer.load_state_dict(copy.deepcopy(point.optimizer_state))
        if options.estimator == "exact":
            combos = point_combos(point.pairs, len(tasks), options, tasks)
            mine = shard_combos(combos, canonical, shard, n_shards)
            rows.extend(probe_point(point, model, optimizer, bench, splits, options, mine))
        elif shard == 0:
            # the saved optimizer state holds the learning rate of the probed step
            lr = float(optimizer.param_groups[0]["lr"])
            rows.extend(estimate_point(point, model, bench, splits, options, lr))
        if (k + 1) % max(1, len(points) // 5) == 0:
            log.info(
                "shard %d/%d: %d/%d points probed (%.1f s)",
                shard + 1,
                n_shards,
                k + 1,
                len(points),
                time.perf_counter() - t0,
            )
    if options.estimator == "exact":
        return records_frame(rows)
    return pd.DataFrame(list(rows), columns=list(STEP_GAIN_COLUMNS))
