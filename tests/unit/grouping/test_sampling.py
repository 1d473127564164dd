"""Random partitions: exact group counts, determinism, uniformity."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from taskgrouping.grouping import (
    Budget,
    InfeasibleGrouping,
    gain_candidates,
    random_partition,
    random_select,
    select,
)
from tests.helpers.grouping import assert_valid_partition


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


def test_random_select_is_seeded_and_respects_the_budget() -> None:
    rng = np.random.default_rng(3)
    cands = gain_candidates(rng.normal(size=(6, 6)), cost=(1.0, 0.25))
    budget = Budget(max_networks=3, max_cost=4.0, max_size=4)
    first = random_select(cands, budget, np.random.default_rng(11))
    again = random_select(cands, budget, np.random.default_rng(11))
    assert first.rows == again.rows and first.status == "random"
    best = select(cands, budget, mode="overlap").objective
    draws = np.random.default_rng(5)
    for _ in range(200):
        chosen = random_select(cands, budget, draws)
        sizes = cands.masks[chosen.rows].sum(axis=1)
        assert len(chosen.rows) <= 3 and chosen.cost <= 4.0 + 1e-12 and sizes.max() <= 4
        assert cands.masks[chosen.rows].any(axis=0).all()
        assert [chosen.rows[k] for k in chosen.serving] == [
            max(
                (r for r in chosen.rows if cands.masks[r, j]),
                key=lambda r, j=j: cands.values[r, j],
            )
            for j in range(6)
        ]
        assert chosen.objective <= best + 1e-12


def test_random_select_partition_is_a_partition() -> None:
    cands = gain_candidates(np.random.default_rng(1).normal(size=(5, 5)))
    draws = np.random.default_rng(2)
    for _ in range(100):
        chosen = random_select(cands, Budget(max_networks=3), draws, mode="partition")
        assert cands.masks[chosen.rows].sum(axis=0).tolist() == [1] * 5


def test_random_select_errors() -> None:
    cands = gain_candidates(np.zeros((4, 4)))
    rng = np.random.default_rng(0)
    with pytest.raises(InfeasibleGrouping, match="50 random draws"):
        random_select(cands, Budget(max_networks=1, max_size=2), rng, max_draws=50)
    with pytest.raises(ValueError, match="random_select supports"):
        random_select(cands, Budget(together=((0, 1),)), rng)
