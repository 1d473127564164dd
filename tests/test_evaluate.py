"""Evaluation: each task is served by its best chosen network on validation, reported on test."""

from __future__ import annotations

import pytest

from taskgrouping.evaluate import evaluate_selections, serve_tasks

TASKS = ["a", "b", "c"]


def _m(group: str, val: dict[str, float], test: dict[str, float]) -> dict:
    return {"group": group, "tasks": group.split("+"), "val": val, "test": test}


METRICS = {
    "a": _m("a", {"a": 1.0}, {"a": 1.0}),
    "b": _m("b", {"b": 2.0}, {"b": 2.0}),
    "c": _m("c", {"c": 4.0}, {"c": 4.0}),
    "a+b": _m("a+b", {"a": 0.5, "b": 2.5}, {"a": 0.6, "b": 1.0}),
    "b+c": _m("b+c", {"b": 1.5, "c": 3.0}, {"b": 1.8, "c": 3.5}),
}


def test_each_task_is_served_by_the_best_network_on_validation() -> None:
    rows = serve_tasks([["a", "b"], ["b", "c"]], METRICS, TASKS, TASKS)
    # b is in both: b+c is better on validation (1.5 < 2.5) even though a+b is better on test.
    assert rows == [("a", "a+b", 0.5, 0.6), ("b", "b+c", 1.5, 1.8), ("c", "b+c", 3.0, 3.5)]


def test_totals_and_delta_m_known_answer() -> None:
    sel = [
        {"method": "stl", "budget": 3, "groups": [["a"], ["b"], ["c"]]},
        {"method": "ours", "budget": 2, "groups": [["a", "b"], ["c"]]},
        {
            "method": "random",
            "budget": 2,
            "groups": [["a", "b"], ["c"]],
            "draws": [[["a", "b"], ["c"]], [["a"], ["b", "c"]]],
        },
    ]
    summary, totals = evaluate_selections("toy", sel, METRICS, TASKS, truth=[["b", "a"], ["c"]])
    ours = totals[totals.method == "ours"].iloc[0]
    assert ours.total_val == pytest.approx(0.5 + 2.5 + 4.0)
    assert ours.total_test == pytest.approx(0.6 + 1.0 + 4.0)
    expected = 100 * ((1.0 - 0.6) / 1.0 + (2.0 - 1.0) / 2.0 + 0.0) / 3
    assert ours.delta_m_pct == pytest.approx(expected)
    assert totals[totals.method == "stl"].delta_m_pct.iloc[0] == 0
    assert sorted(totals[totals.method == "random"].draw) == [0, 1]
    assert list(totals.is_planted) == [False, True, True, False]
    assert len(summary) == 3 * 4
    assert set(summary.columns) >= {"benchmark", "method", "budget", "task", "group", "val", "test"}


def test_missing_network_and_uncovered_task_are_named() -> None:
    with pytest.raises(ValueError, match="'a\\+c'"):
        serve_tasks([["a", "c"], ["b"]], METRICS, TASKS, TASKS)
    with pytest.raises(ValueError, match="task 'c'"):
        serve_tasks([["a", "b"]], METRICS, TASKS, TASKS)
