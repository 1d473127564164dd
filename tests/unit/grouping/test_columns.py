"""Column generation gives the enumerated solver's optimum, and says so only when proven."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from taskgrouping.grouping import (
    Budget,
    InfeasibleGrouping,
    gain_candidates,
    paper_objective_values,
    random_gain_matrix,
    select,
)
from taskgrouping.grouping.by_gains import choose_solver, select_by_gains
from taskgrouping.grouping.columns import candidate_row, select_by_columns


def _enumerated(gains, budget, *, mode, aggregate="mean", objective="values", cost=(1.0, 0.0),
                maximize=True):  # fmt: skip
    cands = gain_candidates(gains, aggregate, max_size=budget.max_size, cost=cost)
    weights = paper_objective_values(gains, cands.masks) if objective == "paper" else None
    return select(cands, budget, mode=mode, maximize=maximize, group_weights=weights)


def _instances():
    """Random instances (seed, n, budget, mode, options) covering every budget rule."""
    rng = np.random.default_rng(2024)
    out = []
    for k in range(36):
        n = int(rng.integers(5, 13))
        cap = int(rng.integers(2, 5))
        mode = ("partition", "overlap")[k % 2]
        networks = math.ceil(n / cap) + int(rng.integers(0, 3))
        rules: dict = {"max_networks": networks, "max_size": cap}
        options: dict = {}
        kind = k // 2 % 9
        if kind == 1:
            options["aggregate"] = "sum"
        if kind == 2:
            options["cost"] = (1.0, 0.5)
            rules["max_cost"] = float(networks + 0.5 * n + 1)
            rules["max_networks"] = None
        if kind == 3:
            rules["together"] = ((0, 1),)
            rules["apart"] = ((2, 3),)
        if kind == 4:
            rules["alone"] = (n - 1,)
            rules["max_networks"] = networks + 1
        if kind == 5:
            rules["min_size"] = 2
            rules["max_size"] = max(cap, 2)
        if kind == 6:
            options["maximize"] = False
        if kind == 7 and mode == "partition":
            options["objective"] = "paper"
        if kind == 8:
            rules["apart"] = ((0, 1), (1, 2))
            rules["together"] = ((3, 4),)
        out.append((k, n, Budget(**rules), mode, options))
    return out


@pytest.mark.parametrize(("seed", "n", "budget", "mode", "options"), _instances())
def test_column_generation_matches_the_enumerated_optimum(seed, n, budget, mode, options):
    gains = random_gain_matrix(n, seed)
    try:
        reference = _enumerated(gains, budget, mode=mode, **options)
    except InfeasibleGrouping:
        with pytest.raises(InfeasibleGrouping):
            select_by_columns(gains, budget, mode=mode, **options)
        return
    result = select_by_columns(gains, budget, mode=mode, **options)
    assert result.status == "optimal" and result.solver == "column generation"
    assert result.objective == pytest.approx(reference.objective, abs=1e-9)
    assert result.bound == result.objective and result.gap == 0.0
    # The selection is what it claims: its networks fit the budget and serve every task.
    sizes = [len(g) for g in result.groups]
    assert min(sizes) >= budget.min_size and max(sizes) <= (budget.max_size or n)
    if budget.max_networks is not None:
        assert len(result.groups) <= budget.max_networks
    assert sorted(t for g in result.groups for t in g) == list(range(n)) or mode == "overlap"
    for j, k in enumerate(result.serving):
        assert j in result.groups[k]
    for first, second in budget.apart:
        assert not any(first in g and second in g for g in result.groups)
    for first, second in budget.together:
        assert result.serving[first] == result.serving[second]
    for task in budget.alone:
        assert result.groups[result.serving[task]] == [task]
    # Rows name the same networks as the enumerated candidates' rows.
    cands = gain_candidates(gains, max_size=budget.max_size)
    assert [np.flatnonzero(cands.masks[r]).tolist() for r in result.rows] == result.groups


def test_rows_follow_the_enumeration_order() -> None:
    n, cap = 7, 4
    cands = gain_candidates(np.zeros((n, n)), max_size=cap)
    for row, mask in enumerate(cands.masks):
        assert candidate_row(tuple(np.flatnonzero(mask).tolist()), n) == row


def test_infeasible_budgets_are_named() -> None:
    gains = random_gain_matrix(10, 0)
    with pytest.raises(InfeasibleGrouping, match="2 networks of at most 3 tasks cannot cover 10"):
        select_by_columns(gains, Budget(max_networks=2, max_size=3))
    with pytest.raises(InfeasibleGrouping, match="linear relaxation over every admissible"):
        select_by_columns(gains, Budget(max_cost=1.5, max_size=3), cost=(1.0, 0.0))
    with pytest.raises(InfeasibleGrouping, match="must be alone, but together pairs join it"):
        select_by_columns(gains, Budget(together=((0, 1),), alone=(0,)))


def test_an_unproven_answer_reports_a_valid_bound_and_the_proof_closes_it() -> None:
    """Without the closing enumeration only the LP bound is left: it must bound the optimum.
    With it, the same instance is proven optimal at the enumerated optimum."""
    gains = random_gain_matrix(20, 1)
    budget = Budget(max_networks=5, max_size=4)  # 5 x 4 = 20: every network full
    reference = _enumerated(gains, budget, mode="partition")
    result = select_by_columns(gains, budget, max_closing_columns=0)
    assert result.status == "gap"  # this instance's LP bound is 1.3% above the dive's selection
    assert result.objective <= reference.objective + 1e-9 <= result.bound + 2e-9
    assert result.gap == pytest.approx((result.bound - result.objective) / abs(result.objective))
    proven = select_by_columns(gains, budget)
    assert proven.status == "optimal"
    assert proven.objective == pytest.approx(reference.objective, abs=1e-9)


def test_auto_enumerates_small_problems_and_generates_columns_for_large_ones() -> None:
    assert choose_solver(12, Budget(), "partition") == "enumerate"
    assert choose_solver(40, Budget(max_size=4), "partition") == "columns"
    assert choose_solver(70, Budget(max_size=2), "overlap") == "columns"
    with pytest.raises(ValueError, match="cannot list the 4087975 candidate networks of 100"):
        choose_solver(100, Budget(max_size=4), "partition", "enumerate")
    with pytest.raises(ValueError, match="unknown solver 'greedy'"):
        choose_solver(5, Budget(), "partition", "greedy")
    gains = random_gain_matrix(9, 1)
    both = [
        select_by_gains(gains, Budget(max_networks=3, max_size=3), solver=s)
        for s in ("enumerate", "columns")
    ]
    assert both[0].solver == "subset dynamic program" and both[1].solver == "column generation"
    assert both[0].objective == pytest.approx(both[1].objective, abs=1e-9)


def test_sixty_tasks_beyond_the_enumeration_are_solved_exactly() -> None:
    """60 tasks, networks of at most 4 (523,685 candidates): proven optimal, and no partition
    that moves one task between two chosen networks, or swaps two tasks, does better."""
    gains = random_gain_matrix(60, 0)
    result = select_by_gains(gains, Budget(max_networks=17, max_size=4), time_limit_s=120)
    assert result.solver == "column generation" and result.status == "optimal"
    off = gains.copy()
    np.fill_diagonal(off, 0.0)

    def value(groups):
        return sum(off[np.ix_(g, g)].sum() / (len(g) - 1) for g in groups if len(g) > 1)

    groups = [list(g) for g in result.groups]
    assert value(groups) == pytest.approx(result.objective, abs=1e-9)
    for a, b in itertools.combinations(range(len(groups)), 2):
        for i in groups[a]:
            for j in groups[b]:
                swapped = [list(g) for g in groups]
                swapped[a] = [t for t in groups[a] if t != i] + [j]
                swapped[b] = [t for t in groups[b] if t != j] + [i]
                assert value(swapped) <= result.objective + 1e-9


@pytest.mark.parametrize(
    ("n", "cap", "budget", "mode"),
    [
        (24, 3, 8, "partition"),
        (30, 3, 11, "overlap"),
        (40, 3, 14, "partition"),
        (40, 3, 15, "overlap"),
    ],
)
def test_larger_instances_match_the_enumeration(n, cap, budget, mode):
    gains = random_gain_matrix(n, n + budget)
    limits = Budget(max_networks=budget, max_size=cap)
    reference = _enumerated(gains, limits, mode=mode)
    result = select_by_columns(gains, limits, mode=mode)
    assert reference.status == result.status == "optimal"
    assert result.objective == pytest.approx(reference.objective, abs=1e-9)


def test_a_time_limit_gives_a_bounded_answer_or_says_it_found_none() -> None:
    gains = random_gain_matrix(60, 4)
    budget = Budget(max_networks=12, max_size=5)
    try:
        result = select_by_columns(gains, budget, time_limit_s=0.3)
    except RuntimeError as err:
        assert "reached the time limit of 0.3 s without a feasible partition" in str(err)
        return
    assert result.status in ("time_limit", "optimal")
    assert result.bound >= result.objective - 1e-9
