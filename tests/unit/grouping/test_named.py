"""taskgrouping.select on task names: planted groups from a gain table, errors naming the value."""

from __future__ import annotations

import doctest
import json

import numpy as np
import pandas as pd
import pytest

import taskgrouping
from taskgrouping.grouping import Budget, GroupingResult, gain_candidates, select, select_tasks
from taskgrouping.grouping import named as named_module
from taskgrouping.grouping import types as types_module

NAMES = ["alpha", "beta", "gamma", "delta", "eps", "zeta"]
PLANTED = [["alpha", "delta"], ["beta", "eps", "zeta"], ["gamma"]]


def planted_table(rng: np.random.Generator) -> pd.DataFrame:
    """Gains of +1 (plus noise) inside the planted groups, -1 (plus noise) across them."""
    owner = {task: g for g, group in enumerate(PLANTED) for task in group}
    gains = np.array([[1.0 if owner[i] == owner[j] else -1.0 for j in NAMES] for i in NAMES])
    gains += rng.normal(scale=0.1, size=gains.shape)
    np.fill_diagonal(gains, 0.0)
    return pd.DataFrame(gains, index=NAMES, columns=NAMES)


def test_top_level_names_are_the_grouping_ones() -> None:
    assert taskgrouping.select is select_tasks
    assert taskgrouping.Budget is Budget
    assert taskgrouping.GroupingResult is GroupingResult


@pytest.mark.parametrize("mode", ["partition", "overlap"])
def test_planted_grouping_is_recovered_with_shuffled_columns(mode: str) -> None:
    rng = np.random.default_rng(0)
    table = planted_table(rng)
    shuffled = table[list(rng.permutation(NAMES))]
    assert list(shuffled.columns) != NAMES
    result = taskgrouping.select(shuffled, 3, mode=mode)
    assert result.groups == PLANTED
    assert result.status == "optimal" and result.gap == 0.0
    assert result.bound == pytest.approx(result.objective)
    assert result.tasks == NAMES
    assert all(task in result.groups[k] for task, k in result.serving.items())
    assert sorted(result.serving) == sorted(NAMES)
    json.dumps(result.to_dict())


@pytest.mark.parametrize("mode", ["partition", "overlap"])
def test_result_equals_the_numpy_path(mode: str) -> None:
    table = planted_table(np.random.default_rng(1))
    budget = Budget(max_networks=2, max_size=3)
    named = taskgrouping.select(table, budget, mode=mode)
    by_index = select(gain_candidates(table.to_numpy(), max_size=3), budget, mode=mode)
    timings = ("build_s", "solve_s")
    same = {k: v for k, v in by_index.to_dict().items() if k not in timings}
    assert {k: v for k, v in named.selection.to_dict().items() if k not in timings} == same
    assert named.groups == [[NAMES[i] for i in group] for group in by_index.groups]
    assert named.objective == by_index.objective
    from_array = taskgrouping.select(table.to_numpy(), budget, mode=mode, tasks=NAMES)
    assert from_array.groups == named.groups and from_array.objective == named.objective


def test_tasks_reorder_the_result_without_changing_the_grouping() -> None:
    table = planted_table(np.random.default_rng(2))
    order = NAMES[::-1]
    result = taskgrouping.select(table, 3, tasks=order)
    assert result.tasks == order
    assert sorted(sorted(g) for g in result.groups) == sorted(sorted(g) for g in PLANTED)
    assert result.objective == pytest.approx(taskgrouping.select(table, 3).objective)


def test_an_array_without_names_is_grouped_by_index() -> None:
    table = planted_table(np.random.default_rng(3))
    result = taskgrouping.select(table.to_numpy(), 3)
    assert result.groups == [[0, 3], [1, 4, 5], [2]]


def test_bad_tables_and_budgets_name_the_value() -> None:
    table = planted_table(np.random.default_rng(4))
    renamed = table.rename(columns={"gamma": "GAMMA"})
    with pytest.raises(ValueError, match=r"only in the index: \['gamma'\], only in the columns: "):
        taskgrouping.select(renamed, 2)
    doubled = table.rename(index={"beta": "alpha"})
    with pytest.raises(ValueError, match=r"index lists tasks \['alpha'\] more than once"):
        taskgrouping.select(doubled, 2)
    with pytest.raises(ValueError, match=r"budget 7 exceeds the 6 tasks; accepted: 1\.\.6"):
        taskgrouping.select(table, 7)
    with pytest.raises(ValueError, match="max_networks 0 is below 1"):
        taskgrouping.select(table, 0)
    with pytest.raises(ValueError, match=r"tasks \['alpha', 'beta'\] must reorder"):
        taskgrouping.select(table, 2, tasks=["alpha", "beta"])
    with pytest.raises(ValueError, match=r"must name the 6 rows of gains"):
        taskgrouping.select(table.to_numpy(), 2, tasks=["a", "b"])
    with pytest.raises(ValueError, match=r"square matrix, got shape \(2, 3\)"):
        taskgrouping.select(np.zeros((2, 3)), 1)
    with pytest.raises(TypeError, match=r"budget must be an integer, got 2\.5"):
        taskgrouping.select(table, 2.5)


@pytest.mark.parametrize("module", [named_module, types_module])
def test_docstring_examples_hold(module: object) -> None:
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0
