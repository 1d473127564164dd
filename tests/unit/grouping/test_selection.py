"""select in both modes against brute force, its budgets, infeasibility and time limits."""

from __future__ import annotations

import numpy as np
import pytest

from taskgrouping.grouping import (
    AGGREGATES,
    MODES,
    Budget,
    Candidates,
    InfeasibleGrouping,
    brute_force_select,
    gain_candidates,
    group_values,
    paper_objective_values,
    select,
    subset_masks,
)
from taskgrouping.grouping import selection as selection_module
from tests.helpers.grouping import (
    assert_meets_budget,
    compare_with_brute_force,
    loss_table,
    random_budget,
    random_gains,
)
from tests.helpers.oracles import solve_partition


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


@pytest.mark.parametrize("mode", MODES)
def test_time_limit_is_reported_honestly(mode: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # n = 16 uncapped needs 2-5 s of HiGHS (with the dynamic program switched off).
    monkeypatch.setattr(selection_module, "_DP_MAX_TASKS", 0)
    cands = gain_candidates(random_gains(np.random.default_rng(0), 16))
    assert_honest_time_limit(cands, Budget(max_networks=4), mode, 0.05)


def test_time_limit_on_forty_tasks_is_reported_honestly() -> None:
    # Measured: n = 40, cap 4, 12 networks takes HiGHS about 20 s to prove optimal.
    cands = gain_candidates(random_gains(np.random.default_rng(0), 40), max_size=4)
    assert_honest_time_limit(cands, Budget(max_networks=12), "partition", 1.0)


def test_select_time_limit_without_incumbent_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(selection_module, "_DP_MAX_TASKS", 0)
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
