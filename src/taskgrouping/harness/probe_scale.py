"""Probing at scale: what each estimator costs per probing step at n = 20, 50 and 100 tasks, and
how well exact lookahead with sampled pairs reproduces full collection at equal cost.

The model is the synthetic benchmark's network with ``n`` tasks in ``n / cluster_size`` planted
clusters (``n_features = max(16, latent_dim * n_clusters)``, the default model block; the base
runs train with ``collection_train``, Adam at 0.01 by default; the timed steps use SGD with
momentum, as the ``bench_probe`` target does):
a linear encoder onto a 2-unit bottleneck and one small head per task, as in
``workflow/presets/synthetic-100.yaml``. Every time is a median over ``repeats`` calls after
``warmup`` calls (:func:`~taskgrouping.harness.probe_timing.median_times`), on ``threads`` torch
threads. One CSV, two parts (column ``part``).

``part = "step"``: one row per ``n``
    ``n_tasks``, ``n_combos`` (``n (n + 1) / 2``), ``n_params``, ``batch_size``, ``threads``
    ``mtl_step_s``
        One plain training step (forward of all tasks, backward of the summed loss, SGD step).
    ``exact_fast_s``, ``exact_batched_s``
        One exact probing step over every singleton and pair with the ``fast`` and the
        ``batched`` engine (:func:`taskgrouping.probing.lookahead_losses`).
    ``first_order_s``, ``tag_s``
        One step of the first-order estimate and of TAG's affinity (both ``n`` backward passes;
        TAG adds ``n`` forwards at its stepped encoder).
    ``*_in_mtl_steps``
        Each of the four divided by ``mtl_step_s``.

``part = "collection"``: one row per ``n`` and setting; one base run of ``collection_epochs``
epochs (seed ``seed``) with exact gains of every pair at every step (``full``, the batched
engine) and one with the first-order estimate at every step, on the same training trajectory
(probing never changes training). The cost of exact collection is counted in lookahead steps
(one per singleton or pair per probing step, each a full forward): full collection costs
``steps * (n + P)``, ``P = n (n - 1) / 2``. At each ``cost_fractions`` entry ``1 / k``:
    ``lazy_all_pairs``
        Every pair at one drawn step of every window of ``k`` steps (``every = k``).
    ``sampled_pairs``
        ``s`` random pairs (and the ``n`` singletons) at one drawn step of every window of ``e``
        steps, ``e`` the smallest period giving ``s >= n`` with ``(n + s) / e <= (n + P) / k``:
        the same cost, spread over more steps.
    Both are drawn ``draws`` times from the full run's records
    (:func:`taskgrouping.probing.lazy_records`, exactly the records such a run would give).
``setting``, ``every``, ``sample``, ``cost_fraction``
    ``cost_fraction`` is the setting's lookahead steps over full collection's (``first_order``:
    empty; its cost is the ``step`` part's ``first_order_s``).
``steps``, ``probing_steps``
    Training steps of the run; probing steps of one draw.
``rank_corr_mean``, ``rank_corr_min``, ``missing_pairs_mean``
    Spearman correlation with full collection's gain matrix over the pairs a draw probed at
    least once (mean and smallest over draws), and the mean fraction of ordered pairs a draw
    never probed (their gain is unknown to it).
``planted_recovered``
    Whether the grouping program (partition, at most ``cluster_size`` tasks per network, budget
    ``n / cluster_size``, :func:`taskgrouping.grouping.select_by_gains`) chooses the planted
    partition from the setting's gains (draw 0; pairs never probed count as gain 0).
``probe_seconds``, ``train_seconds``
    The real runs only (``full``, ``first_order``): their measured probing and training time.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

# Only the standard library at module level: the workflow imports DEFAULT_GRID while parsing the
# Snakefile, where torch need not be installed.
if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

#: The grid of the ``bench_probe_scale`` target (passed by the rule as ``params.grid``).
DEFAULT_GRID: dict[str, Any] = {
    "sizes": [20, 50, 100],
    "cluster_size": 5,
    "batch_size": 32,
    "lr": 0.02,
    "momentum": 0.9,
    "warmup": 1,
    "repeats": 3,
    "slow_s": 5.0,
    "slow_repeats": 1,
    # the base runs' recipe (synthetic.train keys): Adam, as in workflow/presets/synthetic-100.yaml;
    # the default SGD (lr 0.02, momentum 0.9) diverges at 100 tasks (loss inf by step 40)
    "collection_train": {"optimizer": "adam", "lr": 0.01},
    "collection_epochs": 8,
    "cost_fractions": [4, 16],
    "draws": 20,
    "seed": 0,
    # one torch thread keeps the timings steady on a shared machine (see bench_probe)
    "threads": 1,
}

STEP_COLUMNS = (
    "part",
    "n_tasks",
    "n_combos",
    "n_params",
    "batch_size",
    "threads",
    "mtl_step_s",
    "exact_fast_s",
    "exact_batched_s",
    "first_order_s",
    "tag_s",
    "exact_fast_in_mtl_steps",
    "exact_batched_in_mtl_steps",
    "first_order_in_mtl_steps",
    "tag_in_mtl_steps",
)

COLLECTION_COLUMNS = (
    "part",
    "n_tasks",
    "threads",
    "setting",
    "every",
    "sample",
    "cost_fraction",
    "steps",
    "probing_steps",
    "draws",
    "rank_corr_mean",
    "rank_corr_min",
    "missing_pairs_mean",
    "planted_recovered",
    "probe_seconds",
    "train_seconds",
)


def scale_params(n_tasks: int, grid: Mapping[str, Any]) -> dict[str, Any]:
    """The synthetic benchmark's validated parameters with ``n_tasks`` tasks in clusters of
    ``cluster_size`` (``n_tasks`` must be a multiple of it)."""
    from taskgrouping.config import validate_config

    size = int(grid["cluster_size"])
    if n_tasks < 2 * size or n_tasks % size:
        raise ValueError(
            f"n = {n_tasks} tasks must be a multiple of cluster_size = {size}, at least two "
            "clusters"
        )
    clusters = n_tasks // size
    raw = {
        "methods": ["ours"],
        "synthetic": {
            "n_tasks": n_tasks,
            "n_clusters": clusters,
            "n_features": max(16, 2 * clusters),
            "seed": int(grid["seed"]),
            "train": dict(grid.get("collection_train") or {}),
        },
    }
    return validate_config(raw)["synthetic"]


def sampled_period(n_tasks: int, k: int) -> tuple[int, int]:
    """``(every, sample)`` of the pair-sampled setting at cost ``1 / k`` of full collection: the
    smallest period ``e`` at which ``s = floor((n + P) e / k) - n >= n`` pairs fit (at most
    ``P``)."""
    if k < 1:
        raise ValueError(f"cost fraction 1/{k}: k must be >= 1")
    pairs = n_tasks * (n_tasks - 1) // 2
    every = 1
    while True:
        sample = (n_tasks + pairs) * every // k - n_tasks
        if sample >= min(n_tasks, pairs):
            return every, min(sample, pairs)
        every += 1


def time_step(n_tasks: int, grid: Mapping[str, Any]) -> dict[str, Any]:
    """One ``step`` row (see the module docstring)."""
    import copy

    import torch

    from taskgrouping.benchmarks.synthetic import SyntheticBenchmark
    from taskgrouping.harness.probe_timing import first_order_step, median_times, mtl_step
    from taskgrouping.probing import (
        benchmark_task_losses,
        lookahead_losses,
        preserved_buffers,
        singles_and_pairs,
        tag_affinity_step,
    )

    bench = SyntheticBenchmark(scale_params(n_tasks, grid))
    train = bench.generate()[0]["train"]
    size = int(grid["batch_size"])
    x, y = train.x[:size], train.y[:size]
    tasks = bench.tasks
    torch.manual_seed(int(grid["seed"]))
    model = bench.build_model(tasks)
    lr = float(grid["lr"])
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=float(grid["momentum"]))
    for _ in range(2):  # momentum buffers for the probe to copy
        mtl_step(model, optimizer, bench, x, y, tasks)
    combos = singles_and_pairs(n_tasks)
    losses = benchmark_task_losses(bench)

    def exact(engine: str) -> Any:
        return lambda: lookahead_losses(
            model, optimizer, losses, (x, y), tasks, combos, engine=engine
        )

    def tag() -> None:
        with preserved_buffers(model):
            model.train()
            tag_affinity_step(model, bench, (x, y), tasks, lr)

    step_model, step_opt = copy.deepcopy((model, optimizer))
    timed = median_times(
        {
            "mtl_step_s": lambda: mtl_step(step_model, step_opt, bench, x, y, tasks),
            "exact_fast_s": exact("fast"),
            "exact_batched_s": exact("batched"),
            "first_order_s": lambda: first_order_step(model, bench, x, y, tasks, lr),
            "tag_s": tag,
        },
        int(grid["warmup"]),
        int(grid["repeats"]),
        float(grid["slow_s"]),
        int(grid["slow_repeats"]),
    )
    seconds = {name: value[0] for name, value in timed.items()}
    row: dict[str, Any] = {
        "part": "step",
        "n_tasks": n_tasks,
        "n_combos": len(combos),
        "n_params": sum(p.numel() for p in model.parameters()),
        "batch_size": int(x.shape[0]),
        "threads": torch.get_num_threads(),
        **seconds,
    }
    for name in ("exact_fast", "exact_batched", "first_order", "tag"):
        row[f"{name}_in_mtl_steps"] = seconds[f"{name}_s"] / seconds["mtl_step_s"]
    log.info(
        "n=%d (C=%d): training step %.4fs; per probing step in training steps: exact fast %.0f, "
        "exact batched %.0f, first-order %.1f, TAG %.1f",
        n_tasks,
        len(combos),
        seconds["mtl_step_s"],
        row["exact_fast_in_mtl_steps"],
        row["exact_batched_in_mtl_steps"],
        row["first_order_in_mtl_steps"],
        row["tag_in_mtl_steps"],
    )
    return row


def observed_matrix(steps: pd.DataFrame, tasks: list[str]) -> pd.DataFrame:
    """Mean gain of every (source, target) over the steps that probed it; NaN where none did
    (the diagonal too)."""
    means = steps.groupby(["source", "target"])["gain"].mean().unstack()
    return means.reindex(index=tasks, columns=tasks)


def observed_correlation(full: pd.DataFrame, other: pd.DataFrame) -> float:
    """Spearman correlation of the off-diagonal entries ``other`` has (not NaN) with ``full``'s."""
    import numpy as np
    from scipy.stats import spearmanr

    a, b = full.to_numpy(float), other.loc[full.index, full.columns].to_numpy(float)
    keep = ~np.eye(len(a), dtype=bool) & np.isfinite(b)
    if keep.sum() < 3:
        return float("nan")
    return float(spearmanr(a[keep], b[keep]).statistic)


def planted_recovered(
    gains: pd.DataFrame, planted: list[list[str]], cluster_size: int, time_limit_s: float
) -> bool:
    """Whether the grouping program chooses ``planted`` from ``gains`` (NaN as 0) at budget
    ``len(planted)`` with networks of at most ``cluster_size`` tasks."""
    from taskgrouping.grouping import Budget
    from taskgrouping.grouping.by_gains import select_by_gains

    tasks = list(gains.columns)
    matrix = gains.fillna(0.0).to_numpy(float)
    chosen = select_by_gains(
        matrix,
        Budget(max_networks=len(planted), max_size=cluster_size),
        mode="partition",
        time_limit_s=time_limit_s,
    )
    named = sorted(sorted(tasks[i] for i in g) for g in chosen.groups)
    return named == sorted(sorted(g) for g in planted)


def compare_at_scale(n_tasks: int, grid: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The ``collection`` rows of one ``n`` (see the module docstring)."""
    import numpy as np
    import torch

    from taskgrouping.benchmarks.synthetic import SyntheticBenchmark
    from taskgrouping.harness.probe_collection import collect_gains
    from taskgrouping.probing import ProbeOptions, lazy_records, step_gain_table

    params = scale_params(n_tasks, grid)
    bench = SyntheticBenchmark(params)
    splits = bench.generate()[0]
    planted = bench.planted_groups()
    tasks = bench.tasks
    seed, epochs, size = (
        int(grid["seed"]),
        int(grid["collection_epochs"]),
        int(grid["cluster_size"]),
    )
    full_options = ProbeOptions(epochs=epochs, engine="batched")
    records, _, full_stats = collect_gains(bench, splits, params["train"], full_options, seed)
    full = observed_matrix(step_gain_table(records, tasks), tasks)
    first_options = ProbeOptions(epochs=epochs, estimator="first_order")
    _, first_gains, first_stats = collect_gains(bench, splits, params["train"], first_options, seed)
    base = {"part": "collection", "n_tasks": n_tasks, "threads": torch.get_num_threads()}
    rows = []
    for name, _options, stats, gains in (
        ("full", full_options, full_stats, full),
        ("first_order", first_options, first_stats, first_gains),
    ):
        rows.append(
            {
                **base,
                "setting": name,
                "every": 1,
                "cost_fraction": 1.0 if name == "full" else None,
                "steps": stats.steps,
                "probing_steps": stats.points,
                "draws": 1,
                "rank_corr_mean": observed_correlation(full, gains),
                "rank_corr_min": observed_correlation(full, gains),
                "missing_pairs_mean": 0.0,
                "planted_recovered": planted_recovered(gains, planted, size, 120.0),
                "probe_seconds": stats.probe_seconds,
                "train_seconds": stats.train_seconds,
            }
        )
    pairs = n_tasks * (n_tasks - 1) // 2
    for k in grid["cost_fractions"]:
        k = int(k)
        every, sample = sampled_period(n_tasks, k)
        for name, options in (
            ("lazy_all_pairs", ProbeOptions(epochs=epochs, every=k)),
            ("sampled_pairs", ProbeOptions(epochs=epochs, every=every, sample=sample)),
        ):
            corr, missing, points, recovered = [], [], 0, None
            for d in range(int(grid["draws"])):
                drawn = lazy_records(records, tasks, options, seed + 10_000 * d, full_stats.steps)
                gains = observed_matrix(step_gain_table(drawn, tasks), tasks)
                corr.append(observed_correlation(full, gains))
                missing.append(float(np.isnan(gains.to_numpy()).sum() - n_tasks) / (2 * pairs))
                if d == 0:
                    points = int(drawn["step"].nunique())
                    recovered = planted_recovered(gains, planted, size, 120.0)
            used = points * (n_tasks + (options.sample or pairs))
            rows.append(
                {
                    **base,
                    "setting": name,
                    "every": options.every,
                    "sample": options.sample,
                    "cost_fraction": used / (full_stats.steps * (n_tasks + pairs)),
                    "steps": full_stats.steps,
                    "probing_steps": points,
                    "draws": int(grid["draws"]),
                    "rank_corr_mean": float(np.nanmean(corr)),
                    "rank_corr_min": float(np.nanmin(corr)),
                    "missing_pairs_mean": float(np.mean(missing)),
                    "planted_recovered": recovered,
                }
            )
    for row in rows:
        log.info(
            "n=%d %s (every %s, sample %s, cost %s): rank corr with full %.3f (min %.3f), "
            "missing pairs %.1f%%, planted recovered %s",
            n_tasks,
            row["setting"],
            row["every"],
            row.get("sample"),
            "n/a" if row["cost_fraction"] is None else f"{row['cost_fraction']:.3f}",
            row["rank_corr_mean"],
            row["rank_corr_min"],
            100 * row["missing_pairs_mean"],
            row["planted_recovered"],
        )
    return rows


def run_scale_bench(grid: Mapping[str, Any]) -> pd.DataFrame:
    """Every ``step`` row, then every ``collection`` row (see the module docstring)."""
    import pandas as pd
    import torch

    unknown = sorted(set(grid) - set(DEFAULT_GRID))
    if unknown:
        raise ValueError(
            f"unknown bench_probe_scale grid keys {unknown}; known: {sorted(DEFAULT_GRID)}"
        )
    grid = {**DEFAULT_GRID, **grid}
    if grid["threads"] is not None:
        torch.set_num_threads(int(grid["threads"]))
    rows = [time_step(int(n), grid) for n in grid["sizes"]]
    for n in grid["sizes"]:
        rows.extend(compare_at_scale(int(n), grid))
    columns = list(dict.fromkeys([*STEP_COLUMNS, *COLLECTION_COLUMNS]))
    return pd.DataFrame(rows, columns=columns)
