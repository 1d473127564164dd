"""Totals of a selection of group networks: per-task summary, total loss and delta_m vs STL."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from taskgrouping.evaluation.serving import serve_tasks

SUMMARY_COLUMNS = (
    "benchmark",
    "method",
    "budget",
    "draw",
    "seed",
    "task",
    "group",
    "val",
    "test",
)
TOTALS_COLUMNS = (
    "benchmark",
    "method",
    "budget",
    "draw",
    "seed",
    "n_groups",
    "total_val",
    "total_test",
    "delta_m_pct",
    "is_planted",
)


def selection_draws(selection: Mapping[str, Any]) -> list[list[list[str]]]:
    """All groupings in a group file: its ``draws`` when present (random), else its ``groups``."""
    return [list(map(list, d)) for d in selection.get("draws") or [selection["groups"]]]


def delta_m_pct(
    stl: Mapping[str, float],
    test: Mapping[str, float],
    offsets: Mapping[str, float] | None = None,
) -> float:
    """Mean over tasks of ``100 * (stl_j - test_j) / |stl_j + o_j|`` (positive = better than
    STL), with ``o_j`` the task's ``offsets`` entry (default 0: the relative change of the metric).

    An offset turns a metric into the quantity whose relative change is meant: for an optimality
    gap in percent, ``+100`` gives the relative change of a minimised objective (``value / ref =
    1 + gap / 100``) and ``-100`` that of a maximised one (:func:`delta_m_offsets`). Undefined
    (NaN) when a denominator is exactly 0 (an error rate of 0 on a small test split, say): no
    relative improvement exists then.
    """
    offsets = offsets or {}
    base = {t: abs(stl[t] + offsets.get(t, 0.0)) for t in test}
    if any(b == 0 for b in base.values()):
        return math.nan
    return 100 * sum((stl[t] - v) / base[t] for t, v in test.items()) / len(test)


def delta_m_offsets(benchmark: str, tasks: Sequence[str]) -> dict[str, float]:
    """The offsets of :func:`delta_m_pct` of a benchmark's tasks: none, except for ``cop``, whose
    metric is the optimality gap in percent. Its relative change is ill-conditioned (a gap of
    0.01 % against 0.02 % is a 100 % change), so ``cop``'s delta_m is the relative change of the
    objective itself: ``+100`` for the tour lengths of TSP and CVRP, ``-100`` for the prizes and
    values of OP and KP, which are maximised."""
    if benchmark != "cop":
        return {}
    from taskgrouping.cop.problems import parse_task

    return {t: -100.0 if parse_task(t).maximise else 100.0 for t in tasks}


def _as_partition(groups: Sequence[Sequence[str]]) -> frozenset[frozenset[str]]:
    return frozenset(frozenset(g) for g in groups)


def evaluate_selections(
    benchmark: str,
    selections: Sequence[Mapping[str, Any]],
    metrics: Mapping[int, Mapping[str, Mapping[str, Any]]],
    tasks: Sequence[str],
    truth: Sequence[Sequence[str]] | None = None,
    method_seeds: Mapping[str, Sequence[int]] | None = None,
    *,
    update: str = "sum",
    rule_metrics: Mapping[str, Mapping[int, Mapping[str, Mapping[str, Any]]]] | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Score every selection at every training seed; return the tidy per-task summary and the
    per-(selection, draw, seed) totals.

    Parameters
    ----------
    metrics
        Results of the networks trained with the update rule ``update`` (the benchmark's
        ``train.update``), by training seed, then by group key (see :func:`serve_tasks`).
    update
        The update rule of the networks in ``metrics``.
    rule_metrics
        Results of networks trained with other update rules, by rule, then as ``metrics``. A
        selection that records its rule (``update``, an update rule's method) is served by the
        networks of that rule; every other selection by those of ``metrics``.
    method_seeds
        Training seeds at which each method is scored; a method not listed (or ``None``) is scored
        at every seed of ``metrics``.
    truth
        A planted partition (synthetic benchmarks): ``is_planted`` says whether a selection's
        groups are exactly that partition; it is empty otherwise.

    ``delta_m_pct`` is the mean over tasks of ``100 * (stl_j - test_j) / stl_j``: the average
    relative improvement over the single-task networks of the same seed on test (positive =
    better than STL), those of ``metrics`` for every selection; for ``cop`` that of the
    objective (:func:`delta_m_offsets`). The single-task networks must be
    among ``metrics`` at every seed used.
    """
    if not metrics:
        raise ValueError("no trained networks to score the selections with")
    planted = None if truth is None else _as_partition(truth)
    offsets = delta_m_offsets(benchmark, tasks)
    summary, totals = [], []
    for sel in selections:
        rule = sel.get("update", update)
        by_seed = metrics if rule == update else (rule_metrics or {}).get(rule, {})
        seeds = (method_seeds or {}).get(sel["method"]) or sorted(metrics)
        for seed in seeds:
            if seed not in metrics:
                raise ValueError(
                    f"method {sel['method']!r} is scored at training seed {seed} but no network "
                    f"of that seed was given (seeds given: {sorted(metrics)})"
                )
            if seed not in by_seed:
                raise ValueError(
                    f"method {sel['method']!r} is scored at training seed {seed} with networks "
                    f"of update rule {rule!r}, but none of that rule and seed was given"
                )
            nets = by_seed[seed]
            stl = {}
            for t in tasks:
                if t not in metrics[seed]:
                    raise ValueError(
                        f"the single-task network of {t!r} at seed {seed} is needed for delta_m "
                        "but missing"
                    )
                stl[t] = float(metrics[seed][t]["test"][t])
            for draw, groups in enumerate(selection_draws(sel)):
                served = serve_tasks(groups, nets, tasks, tasks)
                for task, key, val, test in served:
                    summary.append(
                        (benchmark, sel["method"], sel["budget"], draw, seed, task, key, val, test)
                    )
                delta = delta_m_pct(stl, {t: test for t, _, _, test in served}, offsets)
                totals.append(
                    (
                        benchmark,
                        sel["method"],
                        sel["budget"],
                        draw,
                        seed,
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
