"""Validation of Candidates and Budget, and JSON round trips of Selection."""

from __future__ import annotations

import json

import numpy as np
import pytest

from taskgrouping.grouping import Budget, Candidates, gain_candidates, groups_to_masks, select
from tests.helpers.grouping import random_gains


def test_candidates_and_budget_validation() -> None:
    masks = groups_to_masks([[0], [0, 1]], 2)
    with pytest.raises(ValueError, match=r"values have shape \(2, 3\); accepted: \(2, 2\)"):
        Candidates(masks, np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"got nan for task 1 in candidate network \[0, 1\]"):
        Candidates(masks, np.array([[0.0, np.nan], [1.0, np.nan]]))
    with pytest.raises(ValueError, match=r"got -1\.0 for candidate network \[0\]"):
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
        "solve_s", "solver",
    }  # fmt: skip
