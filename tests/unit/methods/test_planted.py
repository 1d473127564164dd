"""The ``planted`` method: the benchmark's planted partition, checked, at the largest budget."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from taskgrouping.config import ConfigError, validate_config
from taskgrouping.methods import SelectionInputs, get_method
from taskgrouping.workflow.group import select_groups

TASKS = ["t0", "t1", "t2", "t3", "t4"]
GROUPING = {"mode": "partition", "aggregate": "mean", "max_group_size": None, "time_limit_s": 60}
RANDOM = {"seed": 0, "draws": 1}


def _truth(tmp_path: Path, groups: list[list[str]]) -> Path:
    path = tmp_path / "truth.json"
    path.write_text(json.dumps({"groups": groups}))
    return path


def _inputs(truth: Path | None, budget: int = 2) -> SelectionInputs:
    return SelectionInputs(
        tasks=TASKS, budget=budget, grouping=GROUPING, random=RANDOM, truth_json=truth
    )


def test_the_planted_groups_in_task_order(tmp_path: Path) -> None:
    truth = _truth(tmp_path, [["t4", "t1"], ["t3", "t0", "t2"]])
    chosen = get_method("planted").select(_inputs(truth))
    assert chosen["groups"] == [["t0", "t2", "t3"], ["t1", "t4"]]


def test_one_budget_the_largest_configured() -> None:
    method = get_method("planted")
    assert method.needs == "truth" and method.reference
    assert method.budgets(5, [1, 3, 2]) == [3]


@pytest.mark.parametrize(
    ("groups", "budget", "message"),
    [
        ([["t0", "t1"], ["t2", "t3", "t4"]], 1, "more than budget 1"),
        ([["t0", "t1"], ["t2", "t3"]], 2, "not a partition"),
        ([["t0", "t1"], ["t1", "t2", "t3", "t4"]], 2, "not a partition"),
        ([["t0", "x"], ["t1", "t2", "t3", "t4"]], 2, "unknown tasks \\['x'\\]"),
    ],
)
def test_refuses_a_bad_truth_or_budget(
    tmp_path: Path, groups: list[list[str]], budget: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        get_method("planted").select(_inputs(_truth(tmp_path, groups), budget))


def test_the_stage_needs_the_truth(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="truth_json"):
        select_groups("planted", TASKS, 2, tmp_path / "out.json", grouping=GROUPING, random=RANDOM)
    truth = _truth(tmp_path, [["t0", "t1"], ["t2", "t3", "t4"]])
    select_groups(
        "planted",
        TASKS,
        2,
        tmp_path / "out.json",
        grouping=GROUPING,
        random=RANDOM,
        truth_json=truth,
    )
    written = json.loads((tmp_path / "out.json").read_text())
    assert written["groups"] == [["t0", "t1"], ["t2", "t3", "t4"]]
    assert written["budget"] == 2


def test_config_refuses_planted_without_a_truth_or_below_the_clusters() -> None:
    ok = validate_config({"methods": ["ours", "planted"], "synthetic": {"budgets": [2]}})
    assert "planted" in ok["methods"]
    with pytest.raises(ConfigError, match="stop below 3"):
        validate_config({"methods": ["planted"], "synthetic": {"n_clusters": 3, "budgets": [1, 2]}})
    with pytest.raises(ConfigError, match="has none"):
        validate_config({"benchmarks": ["ett"], "methods": ["planted"]})
