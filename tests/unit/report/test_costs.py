"""Cost beside accuracy: the totals' rows joined with each method's cost, as tables and a figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.evaluation.costs import COSTS_COLUMNS
from taskgrouping.report._style import _read_totals
from taskgrouping.report.costs import cost_beside_accuracy, plot_costs, write_cost_tables
from taskgrouping.report.totals import _aggregate_totals
from tests.unit.report.figure_inputs import RANDOM_DELTA, _assert_png


def _costs_for(totals_csv: Path, path: Path, drop: int | None = None) -> Path:
    keys = _aggregate_totals(_read_totals(totals_csv))[["benchmark", "method", "budget"]]
    rows = []
    for i, (bench, method, budget) in enumerate(keys.itertuples(index=False)):
        # networks = 10 * (row + 1); seconds proportional; the first row's seconds unmeasured.
        cpu = float("nan") if i == 0 else 100.0 * (i + 1)
        rows.append(
            (
                bench,
                method,
                budget,
                1,
                0,
                10 * (i + 1) - 1,
                10 * (i + 1),
                5.0,
                cpu,
                cpu,
                cpu,
                3 if i == 0 else 0,
            )
        )
    frame = pd.DataFrame(rows, columns=list(COSTS_COLUMNS))
    if drop is not None:
        frame = frame.drop(index=drop)
    frame.to_csv(path, index=False)
    return path


def test_every_row_of_the_totals_gets_its_own_cost(totals_csv: Path, tmp_path: Path) -> None:
    costs = _costs_for(totals_csv, tmp_path / "costs.csv")
    table = cost_beside_accuracy(totals_csv, costs)
    agg = _aggregate_totals(_read_totals(totals_csv))
    assert list(table["method"]) == list(agg["method"])
    assert list(table["budget"]) == list(agg["budget"])
    assert list(table["networks"]) == [10 * (i + 1) for i in range(len(table))]
    row = table[(table.method == "random") & (table.budget == 2)].iloc[0]
    assert row["delta_m_pct_mean"] == pytest.approx(np.mean(RANDOM_DELTA[2]))


def test_a_row_missing_from_the_costs_is_named(totals_csv: Path, tmp_path: Path) -> None:
    costs = _costs_for(totals_csv, tmp_path / "costs.csv", drop=1)
    missing = _aggregate_totals(_read_totals(totals_csv)).iloc[1]
    with pytest.raises(
        ValueError, match=rf"method '{missing['method']}' at budget {missing['budget']} is in"
    ):
        cost_beside_accuracy(totals_csv, costs)


def test_tables_and_figure(totals_csv: Path, tmp_path: Path) -> None:
    costs = _costs_for(totals_csv, tmp_path / "costs.csv")
    table = write_cost_tables(totals_csv, costs, tmp_path / "t.csv", tmp_path / "t.md")
    lines = (tmp_path / "t.md").read_text().splitlines()
    assert len(lines) == 2 + len(table)
    assert "unmeasured jobs" in lines[0]
    # The unmeasured row reads a dash, not a zero; measured seconds have thousands separators.
    assert " – |" in lines[2]
    assert "1,000" in "\n".join(lines)
    assert pd.read_csv(tmp_path / "t.csv").shape == table.shape
    plot_costs(table, tmp_path / "cost.png")
    _assert_png(tmp_path / "cost.png")
