"""Candidate networks and their values: subsets, group values, gain and loss candidates."""

from __future__ import annotations

import time

import numpy as np
import pytest

from taskgrouping.grouping import (
    AGGREGATES,
    Budget,
    gain_candidates,
    group_values,
    groups_to_masks,
    loss_candidates,
    paper_objective_values,
    select,
    subset_masks,
)
from tests.helpers.grouping import naive_group_value, random_gains
from tests.helpers.oracles import loss_weights, solve_partition


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
    # a bound against a pathological enumeration, not a speed goal (a loaded machine took 1.05 s)
    assert elapsed < 10.0, elapsed
    sizes = cands.masks.sum(axis=1)
    assert sizes.min() == 1 and sizes.max() == 4
    assert len({row.tobytes() for row in np.packbits(cands.masks, axis=1)}) == cands.n_candidates


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
