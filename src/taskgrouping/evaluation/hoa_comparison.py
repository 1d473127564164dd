"""A Taskonomy run's per-subset test losses beside HOA's published ones.

HOA's ``results_test.txt`` (Standley et al. 2020; read by :func:`~taskgrouping.evaluation.tables.
read_hoa`) holds the test loss of every task in every full-size network of a task subset of the
five Taskonomy tasks (columns ``s, d, n, k, t``). :func:`compare_with_hoa` puts a run's test losses
of the same subsets (its networks' ``metrics.json``, keyed by group) beside them, one row per
(subset, task); :func:`rank_agreement` says per task how well the two orders of the subsets agree
(Spearman's rank correlation), which is what grouping depends on: the losses' scale differs with
the network and the recipe, their order across subsets is what should carry over.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from taskgrouping.evaluation.hoa_tasks import COMPARISON_COLUMNS, HOA_COLUMNS
from taskgrouping.evaluation.tables import HALF_SIZE_COST, TASKONOMY_TASKS, read_hoa

__all__ = [
    "COMPARISON_COLUMNS",
    "HOA_COLUMNS",
    "compare_with_hoa",
    "hoa_subset_losses",
    "rank_agreement",
    "seed_mean_metrics",
]


def hoa_subset_losses(path: Path | str) -> pd.DataFrame:
    """HOA's full-size networks as rows ``(group, task, hoa_test)``: ``group`` the members'
    domain names joined by ``+`` in HOA's task order (the ``taskonomy`` benchmark's order)."""
    table = read_hoa(path, TASKONOMY_TASKS)
    names = [HOA_COLUMNS[t] for t in table.tasks]
    rows = []
    for mask, losses, cost in zip(table.masks, table.losses, table.costs, strict=True):
        if cost == HALF_SIZE_COST:
            continue
        members = [names[j] for j in np.flatnonzero(mask)]
        group = "+".join(members)
        rows.extend((group, names[j], float(losses[j])) for j in np.flatnonzero(mask))
    return pd.DataFrame(rows, columns=["group", "task", "hoa_test"])


def compare_with_hoa(
    metrics: Mapping[str, Mapping[str, Any]], hoa_path: Path | str, tasks: Sequence[str]
) -> pd.DataFrame:
    """Rows ``(group, task, run_test, hoa_test)`` for every network of the run (``metrics``: its
    ``metrics.json`` contents by group key) whose group HOA's table also holds; ``tasks`` are the
    run's tasks in benchmark order, so that group keys match. Raises naming a run task that HOA's
    table lacks."""
    hoa = hoa_subset_losses(hoa_path)
    unknown = [t for t in tasks if t not in HOA_COLUMNS.values()]
    if unknown:
        raise ValueError(
            f"HOA's table has no task {unknown[0]!r}; it holds {list(HOA_COLUMNS.values())}"
        )
    rows = [
        (group, task, float(m["test"][task]))
        for group, m in metrics.items()
        for task in group.split("+")
    ]
    run = pd.DataFrame(rows, columns=["group", "task", "run_test"])
    both = run.merge(hoa, on=["group", "task"], how="inner")
    return both.sort_values(["task", "group"], kind="stable").reset_index(drop=True)[
        list(COMPARISON_COLUMNS)
    ]


def seed_mean_metrics(
    records: Iterable[tuple[str, Mapping[str, Any]]],
) -> dict[str, dict[str, dict[str, float]]]:
    """Test losses averaged over training seeds: ``records`` are ``(group, metrics)`` pairs (a
    network's group key and its ``metrics.json`` contents, several seeds per group allowed);
    returns ``{group: {"test": {task: mean test loss}}}``, the input of :func:`compare_with_hoa`.
    Raises naming a group whose networks do not all report the same tasks."""
    sums: dict[str, dict[str, list[float]]] = {}
    for group, metrics in records:
        test = {task: float(value) for task, value in metrics["test"].items()}
        seen = sums.setdefault(group, {task: [] for task in test})
        if set(seen) != set(test):
            raise ValueError(
                f"networks of group {group!r} report different tasks: {sorted(seen)} and "
                f"{sorted(test)}"
            )
        for task, value in test.items():
            seen[task].append(value)
    return {
        group: {"test": {task: float(np.mean(values)) for task, values in tasks.items()}}
        for group, tasks in sums.items()
    }


def rank_agreement(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per task: the subsets compared and Spearman's rank correlation of the run's and HOA's
    test losses across them (NaN below 3 subsets)."""
    rows = []
    for task, part in comparison.groupby("task", sort=False):
        rho = (
            part["run_test"].rank().corr(part["hoa_test"].rank())
            if len(part) >= 3
            else float("nan")
        )
        rows.append((task, len(part), float(rho)))
    return pd.DataFrame(rows, columns=["task", "subsets", "spearman"])
