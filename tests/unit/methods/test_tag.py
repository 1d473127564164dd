"""TAG's selection rule on an affinity matrix."""

from __future__ import annotations

import numpy as np
import pytest

from taskgrouping.grouping import (
    Budget,
    brute_force_select,
    gain_candidates,
)
from taskgrouping.methods import (
    tag_select,
)


def test_tag_select_recovers_planted_groups() -> None:
    affinity = np.full((5, 5), -1.0)
    for cluster in ([0, 1, 2], [3, 4]):
        affinity[np.ix_(cluster, cluster)] = 2.0
    for mode in ("overlap", "partition"):
        chosen = tag_select(affinity, Budget(max_networks=2), mode)
        assert chosen.groups == [[0, 1, 2], [3, 4]]
        assert chosen.objective == pytest.approx(2.0 * 5)


@pytest.mark.parametrize("mode", ["overlap", "partition"])
def test_tag_select_matches_brute_force(mode: str) -> None:
    rng = np.random.default_rng(7)
    affinity = rng.normal(size=(5, 5))
    for networks in (1, 2, 3):
        budget = Budget(max_networks=networks)
        chosen = tag_select(affinity, budget, mode)
        _, best = brute_force_select(gain_candidates(affinity), budget, mode=mode)
        assert chosen.objective == pytest.approx(best, abs=1e-9)
