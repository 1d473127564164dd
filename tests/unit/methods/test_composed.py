"""``<method>@<rule>``: a method's groups, their networks trained with an update rule."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from taskgrouping.config import ConfigError, validate_config
from taskgrouping.methods import composed_method, get_method, method_order_key, registered_methods
from taskgrouping.workflow.group import select_groups

TASKS = ["a", "b", "c"]
GROUPING = {"mode": "partition", "aggregate": "mean", "max_group_size": None, "time_limit_s": 60}
RANDOM = {"seed": 0, "draws": 2}


def _gains(path: Path) -> Path:
    gains = pd.DataFrame(
        [[0.0, 1.0, -1.0], [1.0, 0.0, -1.0], [-1.0, -1.0, 0.0]], index=TASKS, columns=TASKS
    )
    gains.to_csv(path)
    return path


@pytest.mark.parametrize("budget", [1, 2, 3])
def test_the_groups_are_the_methods_and_the_rule_is_recorded(tmp_path: Path, budget: int) -> None:
    gains = _gains(tmp_path / "gains.csv")
    kw = {"grouping": GROUPING, "random": RANDOM, "gains_csv": gains}
    select_groups("ours", TASKS, budget, tmp_path / "ours.json", **kw)
    select_groups("ours@cagrad", TASKS, budget, tmp_path / "composed.json", **kw)
    plain = json.loads((tmp_path / "ours.json").read_text())
    composed = json.loads((tmp_path / "composed.json").read_text())
    assert "update" not in plain and composed.pop("update") == "cagrad"
    assert composed.pop("method") == "ours@cagrad" and plain.pop("method") == "ours"
    assert composed["groups"] == plain["groups"]
    assert composed["objective"] == pytest.approx(plain["objective"])


def test_it_is_the_method_with_another_rule() -> None:
    method = get_method("random@uw")
    assert method is composed_method("random@uw")
    assert (method.name, method.update, method.needs) == ("random@uw", "uw", "nothing")
    assert method.budgets(3, [1, 2]) == [1, 2]
    assert get_method("exhaustive@pcgrad").needs == "subset_metrics"
    # It follows its method in figures and tables, and is no registered method of its own.
    names = ["ours@cagrad", "tag", "ours", "random", "ours@pcgrad"]
    assert sorted(names, key=method_order_key) == [
        "random",
        "ours",
        "ours@cagrad",
        "ours@pcgrad",
        "tag",
    ]
    assert "ours@cagrad" not in registered_methods()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("mtl@cagrad", r"'mtl' cannot be composed .*mtl@cagrad is the method 'cagrad'"),
        ("pcgrad@cagrad", r"'pcgrad' cannot be composed"),
        ("bandit@cagrad", r"'bandit' cannot be composed .* takes one of \['stl', 'random'"),
        ("ours@bandit", r"unknown update rule 'bandit'; registered rules: \[.*'cagrad'"),
        ("ours@cagrad@uw", r"unknown update rule 'cagrad@uw'"),
    ],
)
def test_bad_compositions_are_named(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        composed_method(name)
    with pytest.raises(ValueError, match=message):
        get_method(name)
    with pytest.raises(ConfigError, match=f"^methods: method {name!r}: .*" + message):
        validate_config({"methods": ["ours", name]})


def test_the_config_accepts_a_composition() -> None:
    cfg = validate_config({"methods": ["stl", "ours", "ours@cagrad"]})
    assert cfg["methods"] == ["stl", "ours", "ours@cagrad"]
