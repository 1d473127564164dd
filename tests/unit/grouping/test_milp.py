"""The partition MILP (through the test oracle ``solve_partition``) against brute force."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from taskgrouping.grouping import (
    InfeasibleGrouping,
    group_values,
    groups_to_masks,
    random_partition,
    subset_masks,
)
from tests.helpers.grouping import assert_valid_partition, random_gains
from tests.helpers.oracles import Solution, brute_force_partition, loss_weights, solve_partition

# 28 cases: n in 3..7, budgets from 1 to n, both aggregates, a fresh gain matrix for each.
BUDGETS = {3: (1, 2, 3), 4: (1, 2, 3, 4), 5: (2, 3, 5), 6: (2, 4), 7: (3, 7)}
BRUTE_FORCE_CASES = [
    (seed, n_tasks, budget, aggregate)
    for seed, ((n_tasks, budget), aggregate) in enumerate(
        itertools.product(
            [(n_tasks, budget) for n_tasks, budgets in BUDGETS.items() for budget in budgets],
            ["mean", "sum"],
        )
    )
]


@pytest.mark.parametrize(("seed", "n_tasks", "budget", "aggregate"), BRUTE_FORCE_CASES)
def test_solve_partition_matches_brute_force(
    seed: int, n_tasks: int, budget: int, aggregate: str
) -> None:
    rng = np.random.default_rng(100 + seed)
    masks = subset_masks(n_tasks)
    weights = group_values(random_gains(rng, n_tasks), masks, aggregate)
    solution = solve_partition(weights, masks, budget)
    groups, objective = brute_force_partition(weights, masks, budget)

    assert solution.status == "optimal"
    assert solution.objective == pytest.approx(objective, abs=1e-9)
    assert_valid_partition(solution.groups, n_tasks, budget)
    assert_valid_partition(groups, n_tasks, budget)
    # The reported objective is the weight of the reported groups (row = bitmask - 1).
    rows = [sum(1 << task for task in group) - 1 for group in solution.groups]
    assert solution.objective == pytest.approx(float(weights[rows].sum()), abs=1e-12)
    assert solution.gap is not None and solution.gap == pytest.approx(0.0, abs=1e-6)
    assert solution.bound is not None
    assert solution.bound == pytest.approx(objective, abs=1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_minimising_losses_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(200 + seed)
    n_tasks = 5
    # Every singleton plus a random half of the larger groups, as if only those were trained.
    losses: dict[tuple[int, ...], dict[int, float]] = {}
    for size in range(1, n_tasks + 1):
        for group in itertools.combinations(range(n_tasks), size):
            if size == 1 or rng.random() < 0.5:
                losses[group] = {task: float(rng.uniform(0.2, 1.0)) for task in group}
    masks, weights = loss_weights(losses, n_tasks)
    for budget in (2, 3, n_tasks):
        solution = solve_partition(weights, masks, budget, maximize=False)
        _, objective = brute_force_partition(weights, masks, budget, maximize=False)
        assert solution.status == "optimal"
        assert solution.objective == pytest.approx(objective, abs=1e-9)
        assert_valid_partition(solution.groups, n_tasks, budget)
        assert solution.bound == pytest.approx(objective, abs=1e-5)


def test_relabelling_tasks_permutes_the_optimum() -> None:
    rng = np.random.default_rng(7)
    n_tasks, budget = 7, 3
    gains = random_gains(rng, n_tasks)
    perm = rng.permutation(n_tasks)
    # New task a is old task perm[a].
    permuted = gains[np.ix_(perm, perm)]
    masks = subset_masks(n_tasks)
    original = solve_partition(group_values(gains, masks), masks, budget)
    relabelled = solve_partition(group_values(permuted, masks), masks, budget)
    assert relabelled.objective == pytest.approx(original.objective, abs=1e-9)
    # Continuous random gains make tied optima a null event, so the partition itself must map.
    mapped = sorted(sorted(int(perm[a]) for a in group) for group in relabelled.groups)
    assert mapped == sorted(original.groups)


@pytest.mark.parametrize("aggregate", ["mean", "sum"])
def test_planted_clusters_are_recovered(aggregate: str) -> None:
    rng = np.random.default_rng(11)
    planted = [[0, 3, 6, 8], [1, 4, 7], [2, 5]]
    n_tasks = 9
    cluster = np.empty(n_tasks, dtype=int)
    for label, group in enumerate(planted):
        cluster[group] = label
    same = cluster[:, None] == cluster[None, :]
    magnitude = rng.uniform(1.0, 2.0, (n_tasks, n_tasks))
    gains = np.where(same, magnitude, -magnitude)
    masks = subset_masks(n_tasks)
    solution = solve_partition(group_values(gains, masks, aggregate), masks, len(planted))
    assert solution.status == "optimal"
    assert solution.groups == planted


def test_budget_errors_quote_the_value() -> None:
    masks = subset_masks(6)
    weights = np.zeros(len(masks))
    with pytest.raises(ValueError, match="budget 7 exceeds the 6 tasks"):
        solve_partition(weights, masks, 7)
    with pytest.raises(ValueError, match=r"budget 0 is below 1; accepted: 1..6"):
        solve_partition(weights, masks, 0)
    with pytest.raises(ValueError, match="budget -1"):
        brute_force_partition(weights, masks, -1)
    with pytest.raises(ValueError, match=r"weights have shape \(5,\); accepted: \(63,\)"):
        solve_partition(np.zeros(5), masks, 2)


def test_restricted_candidates_can_be_infeasible() -> None:
    masks = groups_to_masks([[0, 1], [2], [3], [1, 2]], 4)
    weights = np.array([1.0, 0.0, 0.0, 5.0])
    message = "no partition of the 4 tasks into at most 2 groups exists among the 4 candidate"
    with pytest.raises(InfeasibleGrouping, match=message):
        solve_partition(weights, masks, 2)
    with pytest.raises(InfeasibleGrouping, match=message):
        brute_force_partition(weights, masks, 2)
    assert issubclass(InfeasibleGrouping, ValueError)
    # With room for three groups the only partition is {0,1}, {2}, {3}.
    solution = solve_partition(weights, masks, 3)
    assert solution.groups == [[0, 1], [2], [3]]
    assert solution.objective == 1.0
    # A task that no candidate covers.
    with pytest.raises(InfeasibleGrouping):
        solve_partition(np.ones(2), groups_to_masks([[0], [1]], 3), 3)


def test_duplicate_candidates_use_the_best_copy() -> None:
    masks = groups_to_masks([[0, 1], [0, 1], [0], [1]], 2)
    weights = np.array([1.0, 3.0, 0.4, 0.5])
    assert solve_partition(weights, masks, 2).objective == 3.0
    assert brute_force_partition(weights, masks, 2) == ([[0, 1]], 3.0)
    assert solve_partition(weights, masks, 2, maximize=False).groups == [[0], [1]]
    assert brute_force_partition(weights, masks, 2, maximize=False) == ([[0], [1]], 0.9)


def test_solution_to_dict_is_json_serialisable() -> None:
    masks = subset_masks(4)
    weights = group_values(random_gains(np.random.default_rng(3), 4), masks)
    solution = solve_partition(weights, masks, 2)
    record = json.loads(json.dumps(solution.to_dict()))
    assert record["groups"] == solution.groups
    assert record["status"] == "optimal"
    assert set(record) == {"groups", "objective", "status", "bound", "gap", "build_s", "solve_s"}
    assert isinstance(solution, Solution)


def test_time_limit_without_incumbent_raises() -> None:
    masks = subset_masks(14)
    weights = group_values(random_gains(np.random.default_rng(5), 14), masks)
    with pytest.raises(RuntimeError, match=r"time limit .* without a feasible partition"):
        solve_partition(weights, masks, 4, time_limit_s=1e-6)


def test_time_limit_with_incumbent_is_not_called_optimal() -> None:
    # Measured: n = 16, budget 4 needs about 2 s to prove optimality; at 0.3 s HiGHS holds a poor
    # incumbent (it overruns the limit to about 1 s while the root LP finishes).
    n_tasks = 16
    masks = subset_masks(n_tasks)
    weights = group_values(random_gains(np.random.default_rng(0), n_tasks), masks)
    try:
        solution = solve_partition(weights, masks, 4, time_limit_s=0.3)
    except RuntimeError as error:  # a slower machine may not reach an incumbent in time
        assert "without a feasible partition" in str(error)
        return
    assert solution.status == "time_limit"
    assert_valid_partition(solution.groups, n_tasks, 4)
    assert solution.gap is not None and solution.gap > 0
    assert solution.bound is not None and solution.bound > solution.objective


def test_twelve_tasks_all_subsets_solve_to_optimality() -> None:
    n_tasks, budget = 12, 4
    rng = np.random.default_rng(12)
    gains = random_gains(rng, n_tasks)
    masks = subset_masks(n_tasks)
    assert masks.shape == (4095, n_tasks)
    weights = group_values(gains, masks)
    solution = solve_partition(weights, masks, budget)
    assert solution.status == "optimal"
    assert_valid_partition(solution.groups, n_tasks, budget)
    value = group_values(gains, groups_to_masks(solution.groups, n_tasks)).sum()
    assert solution.objective == pytest.approx(value, abs=1e-9)
    assert solution.bound == pytest.approx(solution.objective, abs=1e-5)
    # No random partition into at most `budget` groups may beat the optimum.
    for _ in range(300):
        groups = random_partition(n_tasks, int(rng.integers(1, budget + 1)), rng)
        random_value = group_values(gains, groups_to_masks(groups, n_tasks)).sum()
        assert random_value <= solution.objective + 1e-9


def test_brute_force_refuses_large_n() -> None:
    masks = groups_to_masks([list(range(11))], 11)
    with pytest.raises(ValueError, match=r"11 tasks .* at most 10"):
        brute_force_partition(np.zeros(1), masks, 1)
