"""Test helpers for the grouping programs: naive values, random budgets, budget checks."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from taskgrouping.grouping import (
    Budget,
    Candidates,
    InfeasibleGrouping,
    Selection,
    brute_force_select,
    gain_candidates,
    select,
)


def naive_group_value(gains: np.ndarray, group: list[int], aggregate: str) -> float:
    total = 0.0
    for j in group:
        received = [gains[i, j] for i in group if i != j]
        if received:
            total += float(np.mean(received) if aggregate == "mean" else np.sum(received))
    return total


def assert_valid_partition(groups: list[list[int]], n_tasks: int, budget: int) -> None:
    assert 1 <= len(groups) <= budget
    assert all(groups), "empty group"
    flat = [task for group in groups for task in group]
    assert sorted(flat) == list(range(n_tasks)), "groups must be disjoint and cover every task"
    assert all(group == sorted(group) for group in groups)
    assert [group[0] for group in groups] == sorted(group[0] for group in groups)


def random_gains(rng: np.random.Generator, n_tasks: int) -> np.ndarray:
    gains = rng.normal(size=(n_tasks, n_tasks))
    np.fill_diagonal(gains, 0.0)
    return gains


def loss_table(rng: np.random.Generator, n_tasks: int, max_size: int | None) -> Candidates:
    """Random positive losses per (network, task) for every subset up to max_size."""
    base = gain_candidates(np.zeros((n_tasks, n_tasks)), max_size=max_size, cost=(1.0, 0.5))
    values = np.where(base.masks, rng.uniform(0.2, 1.0, base.masks.shape), np.nan)
    return Candidates(base.masks, values, base.costs)


def random_budget(rng: np.random.Generator, n_tasks: int, mode: str) -> Budget:
    """A random budget; costs are 1 + 0.5 |G| (exact in binary), so cost limits have no ties
    broken by rounding.  Overlap budgets always limit the networks or the cost, which keeps
    the brute force small."""
    max_networks = int(rng.integers(1, n_tasks + 1)) if rng.random() < 0.8 else None
    if mode == "overlap" and max_networks is not None:
        max_networks = min(max_networks, 3)
    max_cost = float(rng.choice([3.0, 4.5, 6.0, 7.5])) if rng.random() < 0.4 else None
    if mode == "overlap" and max_networks is None and max_cost is None:
        max_cost = 5.0
    min_size = 2 if rng.random() < 0.15 else 1
    max_size = int(rng.integers(max(2, min_size), n_tasks + 1)) if rng.random() < 0.3 else None
    tasks = rng.permutation(n_tasks).tolist()
    return Budget(
        max_networks=max_networks,
        max_cost=max_cost,
        min_size=min_size,
        max_size=max_size,
        together=((tasks[0], tasks[1]),) if rng.random() < 0.35 else (),
        apart=((tasks[2], tasks[3]),) if rng.random() < 0.35 else (),
        alone=(tasks[4],) if rng.random() < 0.25 else (),
    )


def assert_meets_budget(
    selection: Selection,
    cands: Candidates,
    budget: Budget,
    mode: str,
    maximize: bool = True,
    group_weights: np.ndarray | None = None,
) -> None:
    """Check a selection against the budget and the definitions, independently of select."""
    n_tasks = cands.n_tasks
    groups = selection.groups
    assert [np.flatnonzero(cands.masks[r]).tolist() for r in selection.rows] == groups
    assert groups == sorted(groups)
    if budget.max_networks is not None:
        assert len(groups) <= budget.max_networks
    assert selection.cost == pytest.approx(float(cands.costs[selection.rows].sum()))
    if budget.max_cost is not None:
        assert selection.cost <= budget.max_cost + 1e-9
    max_size = n_tasks if budget.max_size is None else budget.max_size
    assert all(budget.min_size <= len(g) <= max_size for g in groups)
    counts = Counter(task for group in groups for task in group)
    if mode == "partition":
        assert all(counts[task] == 1 for task in range(n_tasks))
    assert len(selection.serving) == n_tasks
    assert all(task in groups[selection.serving[task]] for task in range(n_tasks))
    assert set(selection.serving) == set(range(len(groups))), "a chosen network serves nobody"
    for i, k in budget.apart:
        assert not any(i in g and k in g for g in groups)
    for i, k in budget.together:
        assert selection.serving[i] == selection.serving[k]
    for task in budget.alone:
        assert groups[selection.serving[task]] == [task]
    served = [cands.values[selection.rows[selection.serving[j]], j] for j in range(n_tasks)]
    if group_weights is None:
        assert selection.objective == pytest.approx(float(np.sum(served)), abs=1e-9)
    else:
        expected = float(np.sum(group_weights[selection.rows]))
        assert selection.objective == pytest.approx(expected, abs=1e-9)
    if mode == "overlap":
        constrained = {t for pair in budget.together for t in pair} | set(budget.alone)
        for j in set(range(n_tasks)) - constrained:
            options = [cands.values[r, j] for r in selection.rows if cands.masks[r, j]]
            assert served[j] == (max(options) if maximize else min(options))


def compare_with_brute_force(
    cands: Candidates,
    budget: Budget,
    mode: str,
    maximize: bool,
    group_weights: np.ndarray | None = None,
) -> bool:
    """Assert select agrees with the oracle; return whether the budget was feasible."""
    kwargs = {"mode": mode, "maximize": maximize, "group_weights": group_weights}
    try:
        _, expected = brute_force_select(cands, budget, **kwargs)
    except InfeasibleGrouping:
        with pytest.raises(InfeasibleGrouping):
            select(cands, budget, **kwargs)
        return False
    selection = select(cands, budget, **kwargs)
    assert selection.status == "optimal"
    assert selection.objective == pytest.approx(expected, abs=1e-6), budget
    assert_meets_budget(selection, cands, budget, mode, maximize, group_weights)
    assert selection.bound == pytest.approx(expected, abs=1e-5)
    return True
