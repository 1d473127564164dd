"""Budget curves of the reference methods on measured tables."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from taskgrouping.evaluation.mtgnet import read_mtgnet
from taskgrouping.evaluation.tables import score_selection, table_candidates
from taskgrouping.grouping import (
    Budget,
    random_select,
)
from taskgrouping.methods import (
    exhaustive_select,
    mtgnet_budget_curve,
    table_budget_curve,
)
from tests.unit.evaluation.test_tables import shared_data
from tests.unit.methods.test_hoa import BUDGETS, _tables


def test_exhaustive_beats_random_on_validation() -> None:
    val, _ = _tables("results")
    draws = np.random.default_rng(0)
    for budget in (1.5, 3.0, 5.0):
        limit = Budget(max_cost=budget)
        best = exhaustive_select(val, limit).objective
        for _ in range(50):
            chosen = random_select(table_candidates(val), limit, draws, maximize=False)
            assert chosen.cost <= budget
            assert score_selection(val, chosen)["total"] >= best - 1e-12


def test_table_budget_curve_columns_and_monotone_optimum() -> None:
    val, test = _tables("results")
    curve = table_budget_curve(val, test, BUDGETS)
    assert list(curve.columns) == [
        "method",
        "budget",
        "networks",
        "cost",
        "objective",
        "val_total",
        "test_total",
        "status",
        "solve_s",
    ]
    optimal = curve[curve.method == "exhaustive"]
    assert optimal.budget.tolist() == list(BUDGETS)
    assert np.all(np.diff(optimal.val_total) <= 1e-12)
    assert optimal.networks.iloc[1] == "s(0.5) | d+n+k+t"


def _served_set_optimum(masks: np.ndarray, values: np.ndarray, budget: int) -> float:
    """Best network selection of at most ``budget`` networks, by a subset dynamic program.

    An overlap selection serves the tasks in at most ``budget`` disjoint served sets, set ``T``
    worth ``w(T) = max over networks G containing T of sum_{j in T} values[G, j]``; conversely
    such served sets name at most ``budget`` networks.  So the optimum is the best partition of
    the tasks into at most ``budget`` sets under ``w``.
    """
    n_tasks = masks.shape[1]
    full = (1 << n_tasks) - 1
    filled = np.where(masks, values, 0.0)
    bits = masks.astype(np.int64) @ (1 << np.arange(n_tasks))
    worth = np.full(full + 1, -np.inf)
    for subset in range(1, full + 1):
        members = [j for j in range(n_tasks) if subset >> j & 1]
        holds = (bits & subset) == subset
        worth[subset] = filled[holds][:, members].sum(axis=1).max()
    best = {0: 0.0}
    for _ in range(budget):
        grown = dict(best)
        for done, value in best.items():
            rest = full & ~done
            lowest = rest & -rest
            part = rest
            while part:
                if part & lowest:
                    key = done | part
                    grown[key] = max(grown.get(key, -np.inf), value + worth[part])
                part = (part - 1) & rest
        best = grown
    return best.get(full, -np.inf)


def test_mtgnet_budget_curve() -> None:
    data_dir = shared_data("mtgnet")
    curve = mtgnet_budget_curve(data_dir, range(1, 8), draws=30, seed=0)
    assert list(curve.columns) == [
        "method",
        "budget",
        "draw",
        "val_total",
        "test_total",
        "networks",
    ]
    assert set(curve.method) == {"optimal", "hoa", "tag_hoa", "random"}
    assert (curve.method == "random").sum() == 7 * 30
    assert curve.networks.str.split(" | ", regex=False).map(len).le(curve.budget).all()
    optimal = curve[curve.method == "optimal"].set_index("budget").val_total
    for budget, rows in curve.groupby("budget"):
        assert (rows.val_total <= optimal[budget] + 1e-12).all()
    assert np.all(np.diff(optimal.to_numpy()) >= -1e-12)
    gains = read_mtgnet(data_dir)
    for budget in range(1, 8):
        exact = _served_set_optimum(gains.masks, gains.val, budget)
        assert optimal[budget] == pytest.approx(exact, abs=1e-9)
    summary = curve.groupby(["budget", "method"])[["val_total", "test_total"]].mean().unstack()
    with pd.option_context("display.width", 200):
        print(summary.round(4))
    again = mtgnet_budget_curve(data_dir, [2], draws=5, seed=0)
    assert again.equals(mtgnet_budget_curve(data_dir, [2], draws=5, seed=0))
