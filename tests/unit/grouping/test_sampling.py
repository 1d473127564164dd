"""Random partitions: exact group counts, determinism, uniformity."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from taskgrouping.grouping import random_partition
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
