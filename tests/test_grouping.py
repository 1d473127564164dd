"""Tests for taskgrouping.grouping: group values, the partition MILP and its brute-force oracle."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter

import numpy as np
import pytest

from taskgrouping import grouping
from taskgrouping.grouping import (
    AGGREGATES,
    MODES,
    Budget,
    Candidates,
    InfeasibleGrouping,
    Selection,
    Solution,
    benchmark_instance,
    brute_force_partition,
    brute_force_select,
    gain_candidates,
    group_values,
    groups_to_masks,
    loss_candidates,
    loss_weights,
    paper_objective_values,
    random_partition,
    select,
    solve_partition,
    subset_masks,
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


def test_subset_masks_rows_are_bitmasks() -> None:
    masks = subset_masks(4)
    assert masks.shape == (15, 4)
    assert masks.dtype == bool
    for row, mask in enumerate(masks):
        assert sum(1 << task for task in np.flatnonzero(mask)) == row + 1
    assert subset_masks(1).tolist() == [[True]]


@pytest.mark.parametrize("n_tasks", [0, 21])
def test_subset_masks_rejects_out_of_range(n_tasks: int) -> None:
    with pytest.raises(ValueError, match=f"n_tasks {n_tasks} .*1..20"):
        subset_masks(n_tasks)


def test_group_values_known_answer() -> None:
    gains = np.array([[9.0, 1.0, 2.0], [3.0, 9.0, 4.0], [5.0, 6.0, 9.0]])
    masks = groups_to_masks([[0], [0, 1], [0, 1, 2]], 3)
    # {0,1}: task 0 gets S[1,0] = 3, task 1 gets S[0,1] = 1.  {0,1,2}: mean 4 + 3.5 + 3 = 10.5,
    # sum 8 + 7 + 6 = 21.  The diagonal (9) never counts.
    np.testing.assert_allclose(group_values(gains, masks, "mean"), [0.0, 4.0, 10.5])
    np.testing.assert_allclose(group_values(gains, masks, "sum"), [0.0, 4.0, 21.0])


@pytest.mark.parametrize("aggregate", ["mean", "sum"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_group_values_match_naive_loop(aggregate: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_tasks = 6
    gains = rng.normal(size=(n_tasks, n_tasks))  # non-zero diagonal must be ignored
    masks = subset_masks(n_tasks)
    values = group_values(gains, masks, aggregate)
    expected = [
        naive_group_value(gains, np.flatnonzero(mask).tolist(), aggregate) for mask in masks
    ]
    np.testing.assert_allclose(values, expected, rtol=1e-12, atol=1e-12)
    singletons = masks.sum(axis=1) == 1
    assert np.all(values[singletons] == 0.0)


def test_group_values_rejects_bad_input() -> None:
    gains = np.zeros((3, 3))
    masks = subset_masks(3)
    with pytest.raises(ValueError, match=r"'median'.*mean, sum"):
        group_values(gains, masks, "median")
    with pytest.raises(ValueError, match="square"):
        group_values(np.zeros((3, 4)), masks)
    bad = gains.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match=r"nan at \(1, 2\)"):
        group_values(bad, masks)
    with pytest.raises(ValueError, match="4 columns but there are 3 tasks"):
        group_values(gains, subset_masks(4))
    with pytest.raises(ValueError, match="row 1 of masks selects no task"):
        group_values(gains, np.array([[1, 0, 0], [0, 0, 0]]))


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


@pytest.mark.parametrize(("n_tasks", "n_groups"), [(1, 1), (5, 1), (5, 3), (8, 8), (20, 19)])
def test_random_partition_has_exactly_the_requested_groups(n_tasks: int, n_groups: int) -> None:
    for seed in range(20):
        groups = random_partition(n_tasks, n_groups, np.random.default_rng(seed))
        assert len(groups) == n_groups
        assert_valid_partition(groups, n_tasks, n_groups)


def test_random_partition_is_deterministic_and_uniform() -> None:
    first = random_partition(10, 4, np.random.default_rng(42))
    assert random_partition(10, 4, np.random.default_rng(42)) == first
    draws = {str(random_partition(10, 4, np.random.default_rng(s))) for s in range(20)}
    assert len(draws) > 1
    # 4 tasks into 2 groups: S(4, 2) = 7 partitions, each with probability 1/7.
    rng = np.random.default_rng(0)
    counts = Counter(str(random_partition(4, 2, rng)) for _ in range(7000))
    assert len(counts) == 7
    assert all(850 < count < 1150 for count in counts.values()), counts


@pytest.mark.parametrize("n_groups", [0, 6])
def test_random_partition_rejects_group_count(n_groups: int) -> None:
    with pytest.raises(ValueError, match=f"n_groups {n_groups} .*1..5"):
        random_partition(5, n_groups, np.random.default_rng(0))


def test_loss_weights_known_answer_and_errors() -> None:
    losses = {(2, 0): {0: 0.25, 2: 0.5}, (1,): {1: 1.0}, (0,): {0: 0.3}, (2,): {2: 0.4}}
    masks, weights = loss_weights(losses, 3)
    # Rows ordered by bitmask: {0} = 1, {1} = 2, {2} = 4, {0,2} = 5.
    assert masks.tolist() == [
        [True, False, False],
        [False, True, False],
        [False, False, True],
        [True, False, True],
    ]
    np.testing.assert_allclose(weights, [0.3, 1.0, 0.4, 0.75])
    solution = solve_partition(weights, masks, 2, maximize=False)
    assert solution.groups == [[0, 2], [1]]
    assert solution.objective == pytest.approx(1.75)

    with pytest.raises(ValueError, match=r"group \(0, 2\) has no loss for its member task 2"):
        loss_weights({(0, 2): {0: 0.1}}, 3)
    with pytest.raises(ValueError, match=r"group \(0,\) has losses for non-member tasks \[1\]"):
        loss_weights({(0,): {0: 0.1, 1: 0.2}}, 3)
    with pytest.raises(ValueError, match=r"group \(0, 3\) names a task outside 0..2"):
        loss_weights({(0, 3): {0: 0.1, 3: 0.2}}, 3)
    with pytest.raises(ValueError, match=r"group \(0, 1\) is listed more than once"):
        loss_weights({(0, 1): {0: 0.1, 1: 0.2}, (1, 0): {0: 0.1, 1: 0.2}}, 3)


def test_brute_force_refuses_large_n() -> None:
    masks = groups_to_masks([list(range(11))], 11)
    with pytest.raises(ValueError, match=r"11 tasks .* at most 10"):
        brute_force_partition(np.zeros(1), masks, 1)


# ---------------------------------------------------------------------------------------------
# Candidates, budgets and select (both modes)
# ---------------------------------------------------------------------------------------------


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


@pytest.fixture(params=["dp", "milp"])
def solver(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a test through the subset dynamic program and, forced, through the HiGHS MILP."""
    if request.param == "milp":
        monkeypatch.setattr(grouping, "_DP_MAX_TASKS", 0)
    return request.param


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("seed", range(30))
def test_select_matches_brute_force(mode: str, seed: int, solver: str) -> None:
    rng = np.random.default_rng([300, seed, MODES.index(mode)])
    # Gains (both aggregates, maximised) and loss tables (minimised); caps in half the cases.
    n_tasks = int(rng.integers(5, 8 if mode == "partition" else 7))
    cap = None if mode == "partition" and rng.random() < 0.5 else int(rng.integers(2, 4))
    if n_tasks == 5 and mode == "overlap" and rng.random() < 0.5:
        cap = None
    if seed % 3 == 2:
        cands, maximize = loss_table(rng, n_tasks, cap), False
    else:
        aggregate = AGGREGATES[seed % 3]
        cost = (1.0, 0.5)
        cands = gain_candidates(random_gains(rng, n_tasks), aggregate, max_size=cap, cost=cost)
        maximize = True
    for _ in range(3):
        compare_with_brute_force(cands, random_budget(rng, n_tasks, mode), mode, maximize)


def test_select_random_budgets_are_mostly_feasible(solver: str) -> None:
    # Guards the test above against a generator drifting into only-infeasible budgets.
    feasible = 0
    for seed in range(12):
        rng = np.random.default_rng([301, seed])
        cands = gain_candidates(random_gains(rng, 5), max_size=3, cost=(1.0, 0.5))
        for mode in MODES:
            feasible += compare_with_brute_force(cands, random_budget(rng, 5, mode), mode, True)
    assert feasible >= 12


@pytest.mark.parametrize("seed", range(6))
def test_select_paper_objective_matches_brute_force(seed: int, solver: str) -> None:
    rng = np.random.default_rng(400 + seed)
    n_tasks = 6
    gains = random_gains(rng, n_tasks)
    cands = gain_candidates(gains)
    weights = paper_objective_values(gains, cands.masks)
    for budget in (Budget(max_networks=2), Budget(max_networks=3, together=((0, 5),))):
        assert compare_with_brute_force(cands, budget, "partition", True, weights)


def test_select_partition_agrees_with_solve_partition() -> None:
    rng = np.random.default_rng(8)
    n_tasks = 7
    gains = random_gains(rng, n_tasks)
    masks = subset_masks(n_tasks)
    weights = group_values(gains, masks)
    for budget in (2, 3, 5):
        solution = solve_partition(weights, masks, budget)
        by_weights = select(
            Candidates(masks, np.zeros(masks.shape)),
            Budget(max_networks=budget),
            group_weights=weights,
        )
        by_values = select(gain_candidates(gains), Budget(max_networks=budget))
        assert by_weights.groups == solution.groups == by_values.groups
        assert by_weights.objective == pytest.approx(solution.objective, abs=1e-9)
        assert by_values.objective == pytest.approx(solution.objective, abs=1e-9)


def test_overlap_known_answer() -> None:
    # Task 1 gains most next to 0, task 2 most next to 1: overlap serves 1 by {0,1} and 2 by
    # {1,2}; a partition must settle for one pair and a singleton.
    gains = np.array([[0.0, 3.0, -1.0], [1.0, 0.0, 2.0], [-1.0, -5.0, 0.0]])
    cands = gain_candidates(gains, max_size=2)
    overlap = select(cands, Budget(max_networks=2), mode="overlap")
    assert overlap.groups == [[0, 1], [1, 2]]
    assert overlap.serving == [0, 0, 1]
    assert overlap.objective == pytest.approx(1.0 + 3.0 + 2.0)
    partition = select(cands, Budget(max_networks=2), mode="partition")
    assert partition.groups == [[0, 1], [2]]
    assert partition.objective == pytest.approx(4.0)
    # Together (1, 2): one network must serve both, so {1,2} serves them and {0,1} only task 0.
    joined = select(cands, Budget(max_networks=2, together=((1, 2),)), mode="overlap")
    assert joined.groups == [[0, 1], [1, 2]]
    assert joined.serving == [0, 1, 1]
    assert joined.objective == pytest.approx(1.0 + -5.0 + 2.0)
    # Alone 1: {1} serves task 1; {0, 1} may still be trained, and serves task 0.
    alone = select(cands, Budget(max_networks=3, alone=(1,)), mode="overlap")
    assert alone.groups == [[0, 1], [1], [1, 2]]
    assert alone.serving == [0, 1, 2]
    assert alone.objective == pytest.approx(1.0 + 0.0 + 2.0)


def test_overlap_drops_networks_that_serve_nobody() -> None:
    # Every network costs the same and {0,1,2} serves everyone best, so a second network
    # could only be useless: it must not be reported.
    gains = np.ones((3, 3))
    cands = loss_table(np.random.default_rng(0), 3, None)
    best = np.where(cands.masks.sum(axis=1) == 3, 0.1, 0.9)
    cands = Candidates(cands.masks, np.where(cands.masks, best[:, None], np.nan))
    selection = select(cands, Budget(max_networks=3), mode="overlap", maximize=False)
    assert selection.groups == [[0, 1, 2]]
    assert selection.serving == [0, 0, 0]
    assert np.all(gains == 1)


@pytest.mark.parametrize("mode", MODES)
def test_select_is_invariant_to_relabelling_tasks(mode: str, solver: str) -> None:
    rng = np.random.default_rng(17)
    n_tasks = 8
    gains = random_gains(rng, n_tasks)
    perm = rng.permutation(n_tasks)  # new task a is old task perm[a]
    new_label = np.argsort(perm)
    budget = Budget(max_networks=4, max_size=4, together=((0, 3),), apart=((1, 2),), alone=(7,))
    relabelled_budget = Budget(
        max_networks=4,
        max_size=4,
        together=((int(new_label[0]), int(new_label[3])),),
        apart=((int(new_label[1]), int(new_label[2])),),
        alone=(int(new_label[7]),),
    )
    original = select(gain_candidates(gains), budget, mode=mode)
    relabelled = select(gain_candidates(gains[np.ix_(perm, perm)]), relabelled_budget, mode=mode)
    assert relabelled.objective == pytest.approx(original.objective, abs=1e-9)
    mapped = sorted(sorted(int(perm[a]) for a in group) for group in relabelled.groups)
    assert mapped == original.groups


@pytest.mark.parametrize("seed", range(5))
def test_overlap_is_at_least_partition(seed: int, solver: str) -> None:
    rng = np.random.default_rng(500 + seed)
    n_tasks = 9
    cands = gain_candidates(random_gains(rng, n_tasks), max_size=4, cost=(1.0, 0.25))
    for budget in (
        Budget(max_networks=3),
        Budget(max_networks=4, min_size=2),
        Budget(max_cost=6.0, together=((0, 1),)),
    ):
        partition = select(cands, budget, mode="partition")
        overlap = select(cands, budget, mode="overlap")
        assert overlap.objective >= partition.objective - 1e-9
        assert_meets_budget(partition, cands, budget, "partition")
        assert_meets_budget(overlap, cands, budget, "overlap")


@pytest.mark.parametrize("mode", MODES)
def test_obvious_infeasibility_names_the_constraint(mode: str) -> None:
    cands = gain_candidates(random_gains(np.random.default_rng(0), 40), max_size=4)
    with pytest.raises(InfeasibleGrouping, match="5 networks of at most 4 tasks cannot cover 40"):
        select(cands, Budget(max_networks=5), mode=mode)
    small = gain_candidates(random_gains(np.random.default_rng(1), 6), cost=(1.0, 0.5))
    cases = [
        (
            Budget(max_networks=2, alone=(0, 1, 2)),
            r"2 networks cannot cover 6 tasks: .*\[0, 1, 2\]",
        ),
        (Budget(max_networks=2, max_size=2), "2 networks of at most 2 tasks cannot cover 6"),
        (Budget(together=((0, 1), (1, 2)), apart=((0, 2),)), "0 and 2 must be apart, but"),
        (Budget(together=((0, 1),), alone=(1,)), r"task 1 must be alone, but .* \[0\]"),
        (Budget(alone=(3,), min_size=2), "min_size 2 forbids single-task networks"),
        (Budget(together=((0, 1), (1, 2)), max_size=2), r"join tasks \[0, 1, 2\], .*largest"),
        (Budget(apart=((0, 1),), max_size=1, min_size=1, max_networks=3), "cannot cover"),
        (Budget(max_cost=3.0), "max_cost 3.0 is below 4, the least that any cover"),
        (Budget(min_size=7), "task 0 is in no candidate network that fits the budget"),
    ]
    for budget, message in cases:
        with pytest.raises(InfeasibleGrouping, match=message):
            select(small, budget, mode=mode)
        if mode == "partition" or budget.max_networks is not None:
            with pytest.raises(InfeasibleGrouping):
                brute_force_select(small, budget, mode=mode)


def test_solver_proven_infeasibility_names_the_budget(solver: str) -> None:
    # Five tasks cannot be split into pairs; no cheap check sees it, HiGHS proves it.
    cands = gain_candidates(random_gains(np.random.default_rng(2), 5))
    budget = Budget(min_size=2, max_size=2)
    with pytest.raises(InfeasibleGrouping, match=r"min_size=2, max_size=2.*proved it infeas"):
        select(cands, budget)
    with pytest.raises(InfeasibleGrouping):
        brute_force_select(cands, budget)
    # Overlap may reuse a task in two pairs, so the same budget is feasible there.
    assert_meets_budget(select(cands, budget, mode="overlap"), cands, budget, "overlap")


def assert_honest_time_limit(
    cands: Candidates, budget: Budget, mode: str, time_limit_s: float
) -> None:
    try:
        selection = select(cands, budget, mode=mode, time_limit_s=time_limit_s)
    except RuntimeError as error:  # no incumbent within the limit
        assert f"time limit of {time_limit_s} s without a feasible {mode}" in str(error)
        return
    assert selection.status == "time_limit"
    assert selection.gap is not None and selection.gap > 0
    assert selection.bound is not None and selection.bound > selection.objective
    assert_meets_budget(selection, cands, budget, mode)


@pytest.mark.parametrize("mode", MODES)
def test_time_limit_is_reported_honestly(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # n = 16 uncapped needs 2-5 s of HiGHS (with the dynamic program switched off).
    monkeypatch.setattr(grouping, "_DP_MAX_TASKS", 0)
    cands = gain_candidates(random_gains(np.random.default_rng(0), 16))
    assert_honest_time_limit(cands, Budget(max_networks=4), mode, 0.05)


def test_time_limit_on_forty_tasks_is_reported_honestly() -> None:
    # Measured: n = 40, cap 4, 12 networks takes HiGHS about 20 s to prove optimal.
    cands = gain_candidates(random_gains(np.random.default_rng(0), 40), max_size=4)
    assert_honest_time_limit(cands, Budget(max_networks=12), "partition", 1.0)


def test_select_time_limit_without_incumbent_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(grouping, "_DP_MAX_TASKS", 0)
    cands = gain_candidates(random_gains(np.random.default_rng(5), 14))
    with pytest.raises(RuntimeError, match=r"time limit .* without a feasible partition"):
        select(cands, Budget(max_networks=4), time_limit_s=1e-6)


def test_dynamic_program_ignores_the_time_limit_and_is_exact() -> None:
    gains = random_gains(np.random.default_rng(6), 12)
    cands = gain_candidates(gains)
    selection = select(cands, Budget(max_networks=4), time_limit_s=1e-6)
    assert selection.status == "optimal" and selection.gap == 0.0
    assert selection.bound == selection.objective
    masks = subset_masks(12)
    expected = solve_partition(group_values(gains, masks), masks, 4)
    assert selection.groups == expected.groups
    assert selection.objective == pytest.approx(expected.objective, abs=1e-9)


def test_gain_candidates_known_answer() -> None:
    gains = np.array([[9.0, 1.0, 2.0], [3.0, 9.0, 4.0], [5.0, 6.0, 9.0]])
    cands = gain_candidates(gains, "mean", cost=(2.0, 0.5))
    assert [np.flatnonzero(m).tolist() for m in cands.masks] == [
        [0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2]
    ]  # fmt: skip
    expected = np.full((7, 3), np.nan)
    expected[:3] = np.diag([0.0, 0.0, 0.0])
    expected[:3][~np.eye(3, dtype=bool)] = np.nan
    expected[3, :2] = [3.0, 1.0]
    expected[4, [0, 2]] = [5.0, 2.0]
    expected[5, 1:] = [6.0, 4.0]
    expected[6] = [4.0, 3.5, 3.0]
    np.testing.assert_array_equal(cands.values, expected)
    np.testing.assert_allclose(cands.costs, [2.5] * 3 + [3.0] * 3 + [3.5])
    summed = gain_candidates(gains, "sum", max_size=2)
    assert summed.n_candidates == 6
    np.testing.assert_array_equal(summed.values[3], [3.0, 1.0, np.nan])
    np.testing.assert_allclose(paper_objective_values(gains, cands.masks)[3:], [2, 3.5, 5, 7])


@pytest.mark.parametrize("aggregate", AGGREGATES)
def test_gain_candidates_sum_to_group_values(aggregate: str) -> None:
    gains = np.random.default_rng(4).normal(size=(7, 7))
    cands = gain_candidates(gains, aggregate)
    totals = np.where(cands.masks, cands.values, 0.0).sum(axis=1)
    np.testing.assert_allclose(totals, group_values(gains, cands.masks, aggregate), atol=1e-12)
    pair_sums = group_values(gains, cands.masks, "sum")
    sizes = cands.masks.sum(axis=1)
    np.testing.assert_allclose(paper_objective_values(gains, cands.masks), pair_sums / sizes)


def test_gain_candidates_enumerate_forty_tasks_capped_quickly() -> None:
    gains = random_gains(np.random.default_rng(0), 40)
    start = time.perf_counter()
    cands = gain_candidates(gains, max_size=4)
    elapsed = time.perf_counter() - start
    assert cands.n_candidates == 40 + 780 + 9880 + 91390
    assert elapsed < 1.0, elapsed
    sizes = cands.masks.sum(axis=1)
    assert sizes.min() == 1 and sizes.max() == 4
    assert len({row.tobytes() for row in np.packbits(cands.masks, axis=1)}) == cands.n_candidates


def test_candidates_and_budget_validation() -> None:
    masks = groups_to_masks([[0], [0, 1]], 2)
    with pytest.raises(ValueError, match=r"values have shape \(2, 3\); accepted: \(2, 2\)"):
        Candidates(masks, np.zeros((2, 3)))
    with pytest.raises(ValueError, match="got nan for task 1 of candidate 1"):
        Candidates(masks, np.array([[0.0, np.nan], [1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"got -1\.0 for candidate 0"):
        Candidates(masks, np.zeros((2, 2)), costs=np.array([-1.0, 1.0]))
    cands = Candidates(masks, np.array([[0.5, np.nan], [1.0, 2.0]]))
    np.testing.assert_array_equal(cands.costs, [1.0, 1.0])
    with pytest.raises(ValueError, match="read-only"):
        cands.values[0, 0] = 3.0
    with pytest.raises(ValueError, match="max_networks 0 is below 1"):
        Budget(max_networks=0)
    with pytest.raises(ValueError, match=r"max_cost -1\.0 is not accepted"):
        Budget(max_cost=-1)
    with pytest.raises(ValueError, match="max_size 1 is below min_size 2"):
        Budget(min_size=2, max_size=1)
    with pytest.raises(ValueError, match=r"together pair \(1, 1\) is not accepted"):
        Budget(together=((1, 1),))
    with pytest.raises(ValueError, match=r"alone \(2, 2\) must list distinct"):
        Budget(alone=(2, 2))
    assert Budget(apart=[(3, 1), (1, 3)]).apart == ((1, 3),)
    with pytest.raises(ValueError, match=r"apart \(1, 3\) names a task outside 0..1"):
        select(cands, Budget(apart=((3, 1),)))
    with pytest.raises(ValueError, match="unknown mode 'both'; accepted: partition, overlap"):
        select(cands, Budget(), mode="both")
    with pytest.raises(ValueError, match="group_weights apply to mode 'partition' only"):
        select(cands, Budget(), mode="overlap", group_weights=np.zeros(2))
    with pytest.raises(ValueError, match=r"max_size 5 is outside the accepted range 1\.\.3"):
        gain_candidates(np.zeros((3, 3)), max_size=5)
    with pytest.raises(ValueError, match=r"cost \(1.0, -1.0\) gives network costs"):
        gain_candidates(np.zeros((3, 3)), cost=(1.0, -1.0))
    with pytest.raises(ValueError, match="give 1099511627775 candidates; accepted: at most"):
        gain_candidates(np.zeros((40, 40)))


def test_selection_to_dict_is_json_serialisable() -> None:
    cands = gain_candidates(random_gains(np.random.default_rng(3), 5), cost=(1.0, 0.5))
    selection = select(cands, Budget(max_networks=2, max_cost=5.0), mode="overlap")
    record = json.loads(json.dumps(selection.to_dict()))
    assert record["groups"] == selection.groups
    assert record["status"] == "optimal"
    assert set(record) == {
        "rows", "groups", "serving", "objective", "cost", "status", "bound", "gap", "build_s",
        "solve_s",
    }  # fmt: skip


def test_loss_candidates_feed_both_modes(solver: str) -> None:
    losses = {(0,): {0: 0.5}, (1,): {1: 0.6}, (2,): {2: 0.7}, (0, 1): {0: 0.2, 1: 0.9}}
    losses[(1, 2)] = {1: 0.3, 2: 0.8}
    cands = loss_candidates(losses, 3)
    masks, weights = loss_weights(losses, 3)
    np.testing.assert_array_equal(cands.masks, masks)
    np.testing.assert_allclose(np.where(masks, cands.values, 0).sum(axis=1), weights)
    # Overlap: {0,1} serves task 0 (0.2), {1,2} serves task 1 (0.3), {2} serves task 2 (0.7).
    overlap = select(cands, Budget(max_networks=3), mode="overlap", maximize=False)
    assert overlap.groups == [[0, 1], [1, 2], [2]]
    assert overlap.objective == pytest.approx(1.2)
    partition = select(cands, Budget(max_networks=3), maximize=False)
    assert partition.objective == pytest.approx(min(0.5 + 0.3 + 0.8, 1.1 + 0.7, 1.8))


def test_benchmark_instance_reports_the_solve() -> None:
    record = benchmark_instance(8, 3, 3, "overlap", 0)
    assert set(record) == {
        "n_tasks", "cap", "budget", "mode", "build_s", "solve_s", "status", "gap", "objective",
    }  # fmt: skip
    assert record["status"] == "optimal" and record["cap"] == 3
    assert json.loads(json.dumps(record)) == record


def test_brute_force_select_refuses_large_enumerations() -> None:
    cands = gain_candidates(np.zeros((9, 9)), max_size=1)
    with pytest.raises(ValueError, match=r"9 tasks .* at most 8"):
        brute_force_select(cands, Budget())
    cands = gain_candidates(np.zeros((6, 6)))
    with pytest.raises(ValueError, match="9223372036854775808 sets of the 63 allowed networks"):
        brute_force_select(cands, Budget(), mode="overlap")
