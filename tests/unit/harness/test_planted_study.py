"""The planted-partition study: the gap closed, computed by hand on made-up totals."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from taskgrouping.harness.planted_study import gap_table, seed_config, summarize

COLUMNS = [
    "benchmark",
    "method",
    "budget",
    "draw",
    "seed",
    "total_test",
    "delta_m_pct",
    "is_planted",
]


def _totals(mtl: float, ours: float, pcgrad: float, planted: bool = True) -> pd.DataFrame:
    rows = [
        ("synthetic", "stl", 6, 0, 0, 2.0, 0.0, False),
        ("synthetic", "mtl", 1, 0, 0, mtl, -50.0, False),
        ("synthetic", "ours", 2, 0, 0, ours, 5.0, planted),
        ("synthetic", "pcgrad", 1, 0, 0, pcgrad, -40.0, False),
    ]
    return pd.DataFrame(rows, columns=COLUMNS)


def test_gap_closed_is_the_share_of_the_sum_to_planted_gap() -> None:
    table = gap_table({0: _totals(4.0, 2.0, 3.5), 1: _totals(3.0, 2.0, 3.5)}, n_clusters=2)
    got = table.set_index(["data_seed", "method"])["gap_closed_pct"]
    # Seed 0: (4 - 3.5) / (4 - 2) = 25 %; seed 1: pcgrad is worse than the sum, -50 %.
    assert got[(0, "pcgrad")] == pytest.approx(25.0)
    assert got[(1, "pcgrad")] == pytest.approx(-50.0)
    assert got[(0, "ours")] == pytest.approx(100.0) and got[(0, "mtl")] == 0.0
    summary = summarize(table).set_index("method")
    assert summary.loc["pcgrad", "gap_closed_mean"] == pytest.approx(-12.5)
    assert summary.loc["pcgrad", "beats_mtl"] == 1
    assert "stl" not in summary.index


def test_a_seed_where_ours_missed_the_planted_partition_has_no_gap() -> None:
    table = gap_table({0: _totals(4.0, 2.5, 3.0, planted=False)}, n_clusters=2)
    assert table["gap_closed_pct"].map(math.isnan).all()


def test_several_runs_of_a_method_are_refused() -> None:
    totals = pd.concat([_totals(4.0, 2.0, 3.0), _totals(4.0, 2.0, 3.0).assign(seed=1)])
    with pytest.raises(ValueError, match="2 runs of"):
        gap_table({0: totals}, n_clusters=2)


def test_seed_config_sets_the_data_seed_only() -> None:
    preset = {"methods": ["mtl"], "synthetic": {"seed": 0, "n_tasks": 6}}
    config = seed_config(preset, 3)
    assert config == {"methods": ["mtl"], "synthetic": {"seed": 3, "n_tasks": 6}}
    assert preset["synthetic"]["seed"] == 0
    with pytest.raises(ValueError, match="data seed -1"):
        seed_config(preset, -1)


def test_the_study_preset_runs_every_update_rule() -> None:
    import yaml

    from taskgrouping.config import validate_config
    from taskgrouping.harness.planted_study import PRESET
    from taskgrouping.training import registered_updates

    cfg = validate_config(yaml.safe_load(PRESET.read_text()))
    rules = set(registered_updates()) - {"sum"}
    assert rules <= set(cfg["methods"])
    assert {"stl", "mtl", "ours"} <= set(cfg["methods"])
    assert cfg["synthetic"]["budgets"] == [cfg["synthetic"]["n_clusters"]]
