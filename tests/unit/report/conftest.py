"""Fixtures of the figure and table tests: a gain matrix, a totals table, group files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.report import (
    write_totals_tables,
)
from tests.unit.report.figure_inputs import (
    RANDOM_DELTA,
    RANDOM_TEST,
    TASKS,
    _write_json,
)


@pytest.fixture
def gains_csv(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    gains = rng.normal(scale=0.05, size=(4, 4))
    np.fill_diagonal(gains, 0.0)
    path = tmp_path / "gains.csv"
    pd.DataFrame(gains, index=TASKS, columns=TASKS).to_csv(path)
    return path


@pytest.fixture
def totals_csv(tmp_path: Path) -> Path:
    rows = [
        # listed out of canonical order on purpose
        ("synth", "ours", 1, 0, 1, 3.9, 4.0, 1.0),
        ("synth", "ours", 2, 0, 2, 2.9, 3.0, 12.0),
        ("synth", "ours", 3, 0, 3, 3.0, 3.1, 11.0),
        ("synth", "exhaustive", 3, 0, 3, 2.9, 3.0, 12.0),
        ("synth", "exhaustive", 2, 0, 2, 2.9, 3.0, 12.0),
        ("synth", "exhaustive", 1, 0, 1, 3.9, 4.0, 1.0),
        ("synth", "mtl", 1, 0, 1, 3.9, 4.0, 1.0),
        ("synth", "stl", 4, 0, 4, 3.4, 3.5, 0.0),
    ]
    for budget, values in RANDOM_TEST.items():
        for draw, value in enumerate(values):
            rows.append(
                (
                    "synth",
                    "random",
                    budget,
                    draw,
                    budget,
                    value - 0.1,
                    value,
                    RANDOM_DELTA[budget][draw],
                )
            )
    columns = [
        "benchmark",
        "method",
        "budget",
        "draw",
        "n_groups",
        "total_val",
        "total_test",
        "delta_m_pct",
    ]
    path = tmp_path / "totals.csv"
    pd.DataFrame(rows, columns=columns).assign(seed=0).to_csv(path, index=False)
    return path


@pytest.fixture
def group_jsons(tmp_path: Path) -> list[Path]:
    return [
        _write_json(
            tmp_path / "ours_B2.json",
            {
                "method": "ours",
                "budget": 2,
                "groups": [["t2", "t3"], ["t0", "t1"]],
                "objective": 3.0,
                "solver_status": "optimal",
            },
        ),
        _write_json(
            tmp_path / "random_B2.json",
            {
                "method": "random",
                "budget": 2,
                "groups": [["t0", "t2"], ["t1", "t3"]],
                "objective": None,
                "solver_status": "n/a",
                "draws": [[["t0", "t2"], ["t1", "t3"]], [["t0"], ["t1", "t2", "t3"]]],
            },
        ),
        _write_json(
            tmp_path / "exhaustive_B2.json",
            {
                "method": "exhaustive",
                "budget": 2,
                "groups": [["t0", "t1"], ["t2", "t3"]],
                "objective": 3.0,
                "solver_status": "optimal",
            },
        ),
        _write_json(
            tmp_path / "ours_B3.json",
            {
                "method": "ours",
                "budget": 3,
                "groups": [["t0", "t1"], ["t2"], ["t3"]],
                "objective": 3.1,
                "solver_status": "optimal",
            },
        ),
    ]


@pytest.fixture
def tables(totals_csv: Path, tmp_path: Path) -> tuple[pd.DataFrame, Path, Path, Path]:
    out_csv, out_md, out_tex = (tmp_path / "t" / f"totals.{ext}" for ext in ("csv", "md", "tex"))
    agg = write_totals_tables(totals_csv, out_csv, out_md, out_tex)
    return agg, out_csv, out_md, out_tex
