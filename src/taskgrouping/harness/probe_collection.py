"""The ``collection`` part of the probing benchmark: full versus lazy, sampled collection.

The columns are described in :mod:`taskgrouping.harness.bench_probe`; :func:`compare_collection`
makes the rows of one seed and problem.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

# Only the standard library at module level (see taskgrouping.harness.probe_timing).
if TYPE_CHECKING:
    import pandas as pd

    from taskgrouping.benchmarks.base import Benchmark, Split
    from taskgrouping.probing import BaseRunStats, ProbeOptions

log = logging.getLogger(__name__)


def collect_gains(
    bench: Benchmark,
    splits: Mapping[str, Split],
    train_cfg: Mapping[str, Any],
    options: ProbeOptions,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, BaseRunStats]:
    """The records and gain matrix of one base run with ``options``, and the run's cost."""
    from taskgrouping.probing import probe_in_process

    return probe_in_process(bench, splits, train_cfg, options, seed)


def _lazy_options(epochs: int, lazy: Mapping[str, Any]) -> ProbeOptions:
    from taskgrouping.probing import ProbeOptions

    unknown = sorted(set(lazy) - {"every", "sample", "position", "engine"})
    if unknown:
        raise ValueError(
            f"unknown lazy setting keys {unknown}; known: every, sample, position, engine"
        )
    return ProbeOptions(
        epochs=epochs,
        every=int(lazy["every"]),
        sample=None if lazy.get("sample") is None else int(lazy["sample"]),
        position=str(lazy.get("position", "random")),
        engine=str(lazy.get("engine", "fast")),
    )


def draw_agreement(
    full_records: pd.DataFrame,
    full_gains: pd.DataFrame,
    real_gains: pd.DataFrame,
    tasks: Sequence[str],
    options: ProbeOptions,
    seed: int,
    steps: int,
    draws: int,
    budgets: Sequence[int],
    planted_k: int | None,
    aggregate: str,
) -> dict[str, Any]:
    """How often ``draws`` draws of a lazy/sampled setting choose full collection's partitions.

    Draw ``d`` uses sampling seed ``seed`` (``d = 0``, the real run's) or ``seed + 10000 d`` and
    takes its records from ``full_records`` (:func:`taskgrouping.probing.lazy_records`). Returns the
    ``draws``, ``*_rate``, ``rank_corr_*`` and ``draw0_max_abs_diff`` columns; the last compares
    draw 0 with ``real_gains``, the gain matrix of the real lazy run, and must be float rounding
    at most (a larger difference raises).
    """
    import numpy as np

    from taskgrouping.probing import (
        aggregate_steps,
        lazy_records,
        rank_correlation,
        step_gain_table,
    )

    target = partitions(full_gains, budgets, aggregate)
    same_all, same_k, corr = [], [], []
    gains0 = None
    for d in range(int(draws)):
        records = lazy_records(full_records, tasks, options, seed + 10_000 * d, steps)
        table = step_gain_table(records, tasks, options.reference, options.normalise)
        try:
            gains = aggregate_steps(table, tasks).matrix
        except ValueError:  # some pair never drawn
            same_all.append(False)
            same_k.append(False)
            continue
        if d == 0:
            gains0 = gains
        chosen = partitions(gains, budgets, aggregate)
        same_all.append(all(chosen[b] == target[b] for b in budgets))
        if planted_k is not None:
            same_k.append(chosen[planted_k] == target[planted_k])
        corr.append(rank_correlation(full_gains, gains))
    diff = float("nan") if gains0 is None else float((gains0 - real_gains).abs().to_numpy().max())
    if not diff <= 1e-5:
        raise RuntimeError(
            f"lazy records taken from full collection differ from the real lazy run by {diff}"
        )
    return {
        "draws": int(draws),
        "same_groups_all_budgets_rate": float(np.mean(same_all)),
        "same_groups_at_planted_rate": float(np.mean(same_k)) if planted_k is not None else None,
        "rank_corr_mean": float(np.mean(corr)) if corr else float("nan"),
        "rank_corr_min": float(np.min(corr)) if corr else float("nan"),
        "draw0_max_abs_diff": diff,
    }


def split_half(
    full_records: pd.DataFrame,
    full_gains: pd.DataFrame,
    tasks: Sequence[str],
    budgets: Sequence[int],
    aggregate: str,
) -> tuple[bool, float]:
    """Whether the even and the odd steps of full collection alone both choose its partitions
    at every budget, and the rank correlation between the two halves' gain matrices."""
    from taskgrouping.probing import aggregate_steps, rank_correlation, step_gain_table

    table = step_gain_table(full_records, tasks)
    target = partitions(full_gains, budgets, aggregate)
    halves = [aggregate_steps(table[table["step"] % 2 == r], tasks).matrix for r in (0, 1)]
    same = all(partitions(h, budgets, aggregate)[b] == target[b] for h in halves for b in budgets)
    return same, rank_correlation(halves[0], halves[1])


def partitions(
    gains: pd.DataFrame, budgets: Sequence[int], aggregate: str = "mean"
) -> dict[int, list[list[str]]]:
    """The partition the grouping program chooses from ``gains`` at each budget (task names)."""
    from taskgrouping.grouping import Budget, gain_candidates, select

    tasks = list(gains.columns)
    cands = gain_candidates(gains.to_numpy(float), aggregate)
    out = {}
    for budget in budgets:
        sel = select(cands, Budget(max_networks=int(budget)), mode="partition")
        out[int(budget)] = sorted(sorted(tasks[i] for i in g) for g in sel.groups)
    return out


def _groups_text(groups: Sequence[Sequence[str]]) -> str:
    return "|".join("+".join(g) for g in groups)


def ett_problem(
    grid: Mapping[str, Any], seed: int
) -> tuple[Benchmark, dict[str, Split], dict[str, Any]] | None:
    """ETTh1 with the ``ett_preset``'s network and recipe, or ``None`` when the data is missing."""
    import tempfile
    from pathlib import Path

    import yaml

    from taskgrouping.benchmarks.ett import DataSourceError, ETTBenchmark
    from taskgrouping.config import validate_config

    raw = yaml.safe_load(Path(grid["ett_preset"]).read_text())
    block = {**raw["ett"], "seed": int(seed)}
    if block.get("data_dir") is None and not os.environ.get("TASKGROUPING_SHARED_DATA"):
        block["data_dir"] = str(Path("..", "shared", "data").resolve())
    params = validate_config({"benchmarks": ["ett"], "methods": ["ours"], "ett": block})["ett"]
    bench = ETTBenchmark(params)
    with tempfile.TemporaryDirectory() as tmp:
        try:
            bench.prepare(Path(tmp))
        except DataSourceError as err:
            log.warning("ETT collection comparison skipped: %s", err)
            return None
        splits = bench.load(Path(tmp))
    return bench, splits, params["train"]


class _Problem(NamedTuple):
    """One problem of the collection comparison (see :func:`compare_collection`)."""

    bench: Benchmark
    splits: Mapping[str, Split]
    train_cfg: Mapping[str, Any]
    planted: list[list[str]] | None
    k: int | None
    epochs: int
    label: str


def _collection_problem(grid: Mapping[str, Any], seed: int, problem: str) -> _Problem | None:
    """The synthetic benchmark or ETTh1 for :func:`compare_collection` (``None``: no ETT data)."""
    from taskgrouping.benchmarks.synthetic import SyntheticBenchmark
    from taskgrouping.config import validate_config

    if problem == "synthetic":
        params = validate_config({"synthetic": {"seed": int(seed)}})["synthetic"]
        synth = SyntheticBenchmark(params)
        return _Problem(
            bench=synth,
            splits=synth.generate()[0],
            train_cfg=params["train"],
            planted=sorted(synth.planted_groups()),
            k=int(params["n_clusters"]),
            epochs=int(grid["collection_epochs"]),
            label="synthetic",
        )
    loaded = ett_problem(grid, seed)
    if loaded is None:
        return None
    bench, splits, train_cfg = loaded
    return _Problem(
        bench=bench,
        splits=splits,
        train_cfg=train_cfg,
        planted=None,
        k=None,
        epochs=int(grid["ett_epochs"]),
        label=f"ett:{bench.params['dataset']}",
    )


def _collection_settings(
    grid: Mapping[str, Any], epochs: int, problem: str
) -> dict[str, ProbeOptions]:
    """The probe options of every ``setting``, ``full`` first (see the module docstring)."""
    from taskgrouping.probing import ProbeOptions

    synthetic = problem == "synthetic"
    lazy = _lazy_options(epochs, grid["lazy"] if synthetic else grid["ett_lazy"])
    return {
        "full": ProbeOptions(epochs=epochs, engine=lazy.engine),
        "lazy_sampled": lazy,
        "lazy_pairs_sampled": _lazy_options(
            epochs, grid["pairs_sampled"] if synthetic else grid["ett_pairs_sampled"]
        ),
        "lazy_first_order": ProbeOptions(
            epochs=epochs, every=int(grid["lazy_first_order_every"]), estimator="first_order"
        ),
        "first_order": ProbeOptions(epochs=epochs, estimator="first_order"),
    }


def _lazy_draw_columns(
    prob: _Problem,
    settings: Mapping[str, ProbeOptions],
    results: Mapping[str, tuple[pd.DataFrame, BaseRunStats]],
    full_records: pd.DataFrame,
    grid: Mapping[str, Any],
    seed: int,
    budgets: Sequence[int],
) -> dict[str, dict[str, Any]]:
    """The :func:`draw_agreement` columns of every lazy exact setting, by setting name."""
    aggregate = str(grid["aggregate"])
    full_gains = results["full"][0]
    lazy_names = [
        name
        for name, o in settings.items()
        if name != "full" and o.estimator == "exact" and (o.every > 1 or o.sample is not None)
    ]
    per_setting: dict[str, dict[str, Any]] = {}
    for name in lazy_names:
        draws = draw_agreement(
            full_records,
            full_gains,
            results[name][0],
            prob.bench.tasks,
            settings[name],
            int(seed),
            results["full"][1].steps,
            int(grid["lazy_draws"]),
            budgets,
            prob.k,
            aggregate,
        )
        per_setting[name] = draws
        log.info(
            "%s seed %d: %d draws of %s choose full's partitions at every budget in %.0f%% "
            "(at the planted k: %s)",
            prob.label,
            seed,
            draws["draws"],
            name,
            100 * draws["same_groups_all_budgets_rate"],
            draws["same_groups_at_planted_rate"],
        )
    return per_setting


def _collection_row(
    prob: _Problem,
    seed: int,
    name: str,
    options: ProbeOptions,
    gains: pd.DataFrame,
    stats: BaseRunStats,
    full_gains: pd.DataFrame,
    chosen: Mapping[str, Mapping[int, list[list[str]]]],
    budgets: Sequence[int],
) -> dict[str, Any]:
    """The columns of one setting's row that every setting has, and its log line."""
    import torch

    from taskgrouping.probing import rank_correlation

    k = prob.k
    differ = [b for b in budgets if chosen[name][b] != chosen["full"][b]]
    row = {
        "part": "collection",
        "model": prob.label,
        "n_tasks": len(prob.bench.tasks),
        "seed": int(seed),
        "threads": torch.get_num_threads(),
        "setting": name,
        "every": options.every,
        "sample": options.sample,
        "epochs": prob.epochs,
        "steps": stats.steps,
        "points": stats.points,
        "train_seconds": stats.train_seconds,
        "probe_seconds": stats.probe_seconds,
        "overhead_fraction": stats.probe_seconds / stats.train_seconds,
        "rank_corr_with_full": rank_correlation(full_gains, gains),
        "same_groups_all_budgets": not differ,
        "same_groups_at_planted": None if k is None else k not in differ,
        "budgets_differing": " ".join(str(b) for b in differ),
        "groups_at_planted": None if k is None else _groups_text(chosen[name][k]),
        "planted_recovered": None if k is None else chosen[name][k] == prob.planted,
        "position": options.position if options.every > 1 else None,
        "engine": options.engine if options.estimator == "exact" else None,
    }
    log.info(
        "%s seed %d, %s: %d points, probe %.2fs / train %.2fs = %.1f%%, rank corr %.3f, "
        "partitions differ at budgets %s",
        prob.label,
        seed,
        name,
        stats.points,
        stats.probe_seconds,
        stats.train_seconds,
        100 * row["overhead_fraction"],
        row["rank_corr_with_full"],
        differ or "none",
    )
    return row


def compare_collection(
    grid: Mapping[str, Any], seed: int, problem: str = "synthetic"
) -> list[dict[str, Any]]:
    """The ``collection`` rows for one seed and problem.

    The columns are :data:`~taskgrouping.harness.bench_probe.COLLECTION_COLUMNS`. ``problem`` is
    ``synthetic`` (default config, ``collection_epochs``) or ``ett`` (ETTh1 with the
    ``ett_preset``, ``ett_epochs``; no planted partition, so the ``planted`` columns are empty).
    Returns no rows when the ETT data is unavailable.
    """
    prob = _collection_problem(grid, seed, problem)
    if prob is None:
        return []
    budgets = list(range(1, len(prob.bench.tasks)))
    settings = _collection_settings(grid, prob.epochs, problem)
    results = {}
    for name, options in settings.items():
        records, gains, stats = collect_gains(
            prob.bench, prob.splits, prob.train_cfg, options, int(seed)
        )
        results[name] = (gains, stats)
        if name == "full":
            full_records = records
    aggregate = str(grid["aggregate"])
    chosen = {name: partitions(gains, budgets, aggregate) for name, (gains, _) in results.items()}
    full_gains = results["full"][0]
    per_setting = _lazy_draw_columns(prob, settings, results, full_records, grid, seed, budgets)
    half_same, half_corr = split_half(
        full_records, full_gains, prob.bench.tasks, budgets, aggregate
    )
    rows = []
    for name, options in settings.items():
        gains, stats = results[name]
        row = _collection_row(prob, seed, name, options, gains, stats, full_gains, chosen, budgets)
        row.update(per_setting.get(name, {}))
        if name == "full":
            row.update(split_half_same_groups=half_same, split_half_rank_corr=half_corr)
        rows.append(row)
    log.info(
        "%s seed %d: full collection's even and odd halves agree: %s (rank corr %.3f)",
        prob.label,
        seed,
        half_same,
        half_corr,
    )
    return rows
