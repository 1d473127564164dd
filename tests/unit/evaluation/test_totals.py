"""Evaluation: each task is served by its best chosen network on validation, reported on test."""

from __future__ import annotations

import math

import pytest

from taskgrouping.evaluation import delta_m_offsets, delta_m_pct, evaluate_selections, serve_tasks

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
    summary, totals = evaluate_selections(
        "toy", sel, {0: METRICS}, TASKS, truth=[["b", "a"], ["c"]]
    )
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
    assert set(totals.seed) == {0}


def _scaled(metrics: dict, factor: float) -> dict:
    """The same networks with every test metric multiplied by ``factor`` (another seed)."""
    return {
        k: {**m, "test": {t: v * factor for t, v in m["test"].items()}} for k, m in metrics.items()
    }


def test_every_seed_is_scored_and_random_only_at_its_seeds() -> None:
    sel = [
        {"method": "ours", "budget": 2, "groups": [["a", "b"], ["c"]]},
        {
            "method": "random",
            "budget": 2,
            "groups": [["a", "b"], ["c"]],
            "draws": [[["a", "b"], ["c"]], [["a"], ["b", "c"]]],
        },
    ]
    metrics = {0: METRICS, 3: _scaled(METRICS, 2.0)}
    _, totals = evaluate_selections(
        "toy", sel, metrics, TASKS, method_seeds={"ours": [0, 3], "random": [0]}
    )
    ours = totals[totals.method == "ours"].set_index("seed")
    assert list(ours.index) == [0, 3]
    # Seed 3 doubles every test loss: its total doubles, and delta_m (relative to the seed's own
    # single-task networks) is unchanged.
    assert ours.total_test[3] == pytest.approx(2 * ours.total_test[0])
    assert ours.delta_m_pct[3] == pytest.approx(ours.delta_m_pct[0])
    assert ours.total_val[3] == pytest.approx(ours.total_val[0])
    random = totals[totals.method == "random"]
    assert list(random.seed) == [0, 0] and list(random.draw) == [0, 1]


def test_a_seed_without_networks_is_named() -> None:
    sel = [{"method": "ours", "budget": 2, "groups": [["a", "b"], ["c"]]}]
    with pytest.raises(ValueError, match="training seed 5"):
        evaluate_selections("toy", sel, {0: METRICS}, TASKS, method_seeds={"ours": [0, 5]})


def test_missing_network_and_uncovered_task_are_named() -> None:
    with pytest.raises(ValueError, match="'a\\+c'"):
        serve_tasks([["a", "c"], ["b"]], METRICS, TASKS, TASKS)
    with pytest.raises(ValueError, match="task 'c'"):
        serve_tasks([["a", "b"]], METRICS, TASKS, TASKS)


def test_delta_m_is_undefined_when_a_single_task_network_is_perfect() -> None:
    from taskgrouping.evaluation import delta_m_pct

    assert delta_m_pct({"a": 0.5, "b": 2.0}, {"a": 0.25, "b": 2.0}) == pytest.approx(25.0)
    assert math.isnan(delta_m_pct({"a": 0.0, "b": 2.0}, {"a": 0.0, "b": 1.0}))


def test_readme_lists_every_column_of_the_evaluation_outputs() -> None:
    from pathlib import Path

    from taskgrouping.evaluation.totals import SUMMARY_COLUMNS, TOTALS_COLUMNS

    readme = (Path(__file__).resolve().parents[3] / "README.md").read_text()
    (row,) = [r for r in readme.splitlines() if r.startswith("| evaluate | `evaluate_groups`")]
    assert f"`summary.csv` ({', '.join(SUMMARY_COLUMNS)})" in row
    assert f"`totals.csv` ({', '.join(TOTALS_COLUMNS)};" in row
    # Deleting an output does not rerun its job: the README says how to regenerate one.
    assert "name it as the target" in readme and "--forcerun aggregate_gains" in readme


def test_a_rule_selection_is_served_by_its_rule_networks_against_the_configured_stl() -> None:
    # The all-task network trained with pcgrad differs from train.update's (cagrad here).
    cagrad = {**METRICS, "a+b+c": _m("a+b+c", {t: 1.0 for t in TASKS}, {t: 1.5 for t in TASKS})}
    pcgrad = {"a+b+c": _m("a+b+c", {t: 1.0 for t in TASKS}, {"a": 0.5, "b": 1.0, "c": 2.0})}
    sel = [
        {"method": "mtl", "budget": 1, "groups": [TASKS]},
        {"method": "pcgrad", "budget": 1, "groups": [TASKS], "update": "pcgrad"},
        {"method": "cagrad", "budget": 1, "groups": [TASKS], "update": "cagrad"},
    ]
    summary, totals = evaluate_selections(
        "toy", sel, {0: cagrad}, TASKS, update="cagrad", rule_metrics={"pcgrad": {0: pcgrad}}
    )
    by_method = totals.set_index("method")
    assert by_method.total_test["mtl"] == by_method.total_test["cagrad"] == pytest.approx(4.5)
    assert by_method.total_test["pcgrad"] == pytest.approx(3.5)
    # delta_m of pcgrad is against the single-task networks of train.update: 1, 2, 4.
    expected = 100 * ((1.0 - 0.5) / 1.0 + (2.0 - 1.0) / 2.0 + (4.0 - 2.0) / 4.0) / 3
    assert by_method.delta_m_pct["pcgrad"] == pytest.approx(expected)
    assert set(summary[summary.method == "pcgrad"].group) == {"a+b+c"}
    with pytest.raises(ValueError, match="networks of update rule 'pcgrad', but none"):
        evaluate_selections("toy", sel, {0: cagrad}, TASKS, update="cagrad")


def test_cop_delta_m_is_the_relative_change_of_the_objective() -> None:
    # Gaps in percent: a tour 2 % and 1 % above its optimum, a prize 4 % and 2 % below its own.
    stl, test = {"tsp20": 2.0, "op20": 4.0}, {"tsp20": 1.0, "op20": 2.0}
    offsets = delta_m_offsets("cop", ["tsp20", "op20"])
    assert offsets == {"tsp20": 100.0, "op20": -100.0}
    tour = (1.02 - 1.01) / 1.02  # shorter by this share of the STL tour
    prize = (0.98 - 0.96) / 0.96  # larger by this share of the STL prize
    assert delta_m_pct(stl, test, offsets) == pytest.approx(100 * (tour + prize) / 2)
    assert delta_m_pct(stl, test) == pytest.approx(50.0)  # the gaps' own relative change
    assert delta_m_offsets("synthetic", ["t0"]) == {}
