"""Scoring a selection of group networks: each task is served by its best chosen network."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

SUMMARY_COLUMNS = ("benchmark", "method", "budget", "draw", "task", "group", "val", "test")
TOTALS_COLUMNS = (
    "benchmark",
    "method",
    "budget",
    "draw",
    "n_groups",
    "total_val",
    "total_test",
    "delta_m_pct",
    "is_planted",
)


def serve_tasks(
    groups: Sequence[Sequence[str]],
    metrics: Mapping[str, Mapping[str, Any]],
    tasks: Sequence[str],
    order: Sequence[str],
) -> list[tuple[str, str, float, float]]:
    """For every task, the chosen network that serves it best on validation.

    Parameters
    ----------
    groups
        The chosen networks, each a list of task names.
    metrics
        Trained-network results keyed by group key (``"t0+t2"``), each with ``val`` and ``test``
        mappings from task name to metric (lower is better).
    tasks
        Tasks to score.
    order
        The benchmark's task order (defines group keys).

    Returns
    -------
    One ``(task, group_key, val, test)`` per task. Ties on validation go to the first group listed.
    """
    keys = ["+".join(sorted(g, key=list(order).index)) for g in groups]
    rows = []
    for task in tasks:
        serving = [k for k, g in zip(keys, groups, strict=True) if task in g]
        if not serving:
            raise ValueError(f"task {task!r} is in none of the chosen groups {keys}")
        for k in serving:
            if k not in metrics:
                raise ValueError(f"no trained network for group {k!r}")
        best = min(serving, key=lambda k: metrics[k]["val"][task])
        rows.append(
            (task, best, float(metrics[best]["val"][task]), float(metrics[best]["test"][task]))
        )
    return rows


def selection_draws(selection: Mapping[str, Any]) -> list[list[list[str]]]:
    """All groupings in a group file: its ``draws`` when present (random), else its ``groups``."""
    return [list(map(list, d)) for d in selection.get("draws") or [selection["groups"]]]


def _as_partition(groups: Sequence[Sequence[str]]) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(g) for g in groups)


def evaluate_selections(
    benchmark: str,
    selections: Sequence[Mapping[str, Any]],
    metrics: Mapping[str, Mapping[str, Any]],
    tasks: Sequence[str],
    truth: Sequence[Sequence[str]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every selection; return the tidy per-task summary and the per-selection totals.

    With a planted partition ``truth`` (synthetic benchmarks), ``is_planted`` says whether a
    selection's groups are exactly that partition; it is empty otherwise.

    ``delta_m_pct`` is the mean over tasks of ``100 * (stl_j - test_j) / stl_j``: the average
    relative improvement over single-task networks on test (positive = better than STL). The
    single-task networks must be among ``metrics``.
    """
    stl = {}
    for t in tasks:
        if t not in metrics:
            raise ValueError(f"the single-task network of {t!r} is needed for delta_m but missing")
        stl[t] = float(metrics[t]["test"][t])
    planted = None if truth is None else _as_partition(truth)
    summary, totals = [], []
    for sel in selections:
        for draw, groups in enumerate(selection_draws(sel)):
            served = serve_tasks(groups, metrics, tasks, tasks)
            for task, key, val, test in served:
                summary.append(
                    (benchmark, sel["method"], sel["budget"], draw, task, key, val, test)
                )
            delta = 100 * sum((stl[t] - test) / stl[t] for t, _, _, test in served) / len(tasks)
            totals.append(
                (
                    benchmark,
                    sel["method"],
                    sel["budget"],
                    draw,
                    len(groups),
                    sum(v for _, _, v, _ in served),
                    sum(t for _, _, _, t in served),
                    delta,
                    None if planted is None else _as_partition(groups) == planted,
                )
            )
    return (
        pd.DataFrame(summary, columns=list(SUMMARY_COLUMNS)),
        pd.DataFrame(totals, columns=list(TOTALS_COLUMNS)),
    )
