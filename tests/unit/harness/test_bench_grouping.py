"""The solver benchmark on a tiny grid: both solvers agree, the enumeration is skipped beyond
its limit, and the figure is drawn."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from taskgrouping.config import validate_config
from taskgrouping.harness.stages import bench_grouping
from tests.unit.report.figure_inputs import _assert_png


def test_tiny_grid_compares_the_solvers(tmp_path: Path) -> None:
    grid = validate_config({})["bench_grouping"]
    grid.update(
        uncapped_sizes=[5],
        uncapped_budgets=[2],
        capped_sizes=[10],
        caps=[3],
        extra_budgets=1,
        large_sizes=[12],
        large_caps=[3],
        large_extra_budgets=0,
        enumerate_max_candidates=200,  # 10 tasks in networks of <= 3: 175; 12 tasks: 298
        brute_force_max_tasks=5,
    )
    csv, png = tmp_path / "grouping.csv", tmp_path / "grouping.png"
    bench_grouping(grid, csv, png)
    rows = pd.read_csv(csv)
    # (5 tasks: 1 budget) + (10 tasks: 2 budgets) + (12 tasks: 1 budget), 2 modes, 2 solvers.
    assert len(rows) == 4 * 2 * 2
    skipped = rows[rows.status == "skipped"]
    assert set(zip(skipped.n_tasks, skipped.solver, strict=True)) == {(12, "enumerate")}
    solved = rows[rows.status == "optimal"]
    assert len(solved) == len(rows) - len(skipped)
    both = solved.pivot_table(
        index=["n_tasks", "budget", "mode"], columns="solver", values="objective"
    ).dropna()
    assert len(both) == 6
    assert both["columns"].to_numpy() == pytest.approx(both["enumerate"].to_numpy(), abs=1e-9)
    assert rows.loc[rows.n_tasks == 5, "brute_s"].notna().sum() == 2  # once per mode
    _assert_png(png)
