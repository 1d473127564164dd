"""Probing at scale on a tiny grid: equal-cost settings, draws from full collection, columns."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.harness.probe_scale import (
    COLLECTION_COLUMNS,
    STEP_COLUMNS,
    observed_correlation,
    run_scale_bench,
    sampled_period,
    scale_params,
)
from taskgrouping.harness.stages import bench_probe_scale

TINY = {
    "sizes": [10],
    "batch_size": 8,
    "warmup": 0,
    "repeats": 1,
    "collection_epochs": 2,
    "cost_fractions": [4],
    "draws": 3,
}


@pytest.mark.parametrize(
    ("n", "k", "expected"),
    [(20, 4, (1, 32)), (20, 16, (4, 32)), (50, 16, (2, 109)), (100, 16, (1, 215)), (4, 1, (1, 6))],
)
def test_the_sampled_setting_costs_no_more_than_its_fraction(
    n: int, k: int, expected: tuple[int, int]
) -> None:
    every, sample = sampled_period(n, k)
    assert (every, sample) == expected
    pairs = n * (n - 1) // 2
    assert (n + sample) / every <= (n + pairs) / k
    assert sample >= min(n, pairs)


def test_the_correlation_skips_pairs_never_probed() -> None:
    tasks = ["a", "b", "c"]
    full = pd.DataFrame([[0, 1, 2], [3, 0, 4], [5, 6, 0]], index=tasks, columns=tasks, dtype=float)
    other = full.copy()
    other.loc["a", "b"] = np.nan  # never probed
    other.loc["c", "b"] = -100.0  # the lowest now: ranks change only there
    expected = pd.Series([2, 3, 4, 5, -100.0]).corr(pd.Series([2, 3, 4, 5, 6.0]), "spearman")
    assert observed_correlation(full, other) == pytest.approx(expected)
    assert observed_correlation(full, full) == pytest.approx(1.0)


def test_scale_params_refuse_a_size_off_the_clusters() -> None:
    assert scale_params(20, {"cluster_size": 5, "seed": 0})["n_clusters"] == 4
    with pytest.raises(ValueError, match="multiple of cluster_size = 5"):
        scale_params(12, {"cluster_size": 5, "seed": 0})


def test_tiny_grid_rows_and_figure(tmp_path: Path) -> None:
    csv, png = tmp_path / "scale.csv", tmp_path / "scale.png"
    bench_probe_scale(TINY, csv, png)
    df = pd.read_csv(csv)
    assert list(df.columns) == list(dict.fromkeys([*STEP_COLUMNS, *COLLECTION_COLUMNS]))
    step = df[df["part"] == "step"].iloc[0]
    assert step["n_combos"] == 55
    for name in ("exact_fast", "exact_batched", "first_order", "tag"):
        assert step[f"{name}_in_mtl_steps"] == pytest.approx(step[f"{name}_s"] / step["mtl_step_s"])
    coll = df[df["part"] == "collection"].set_index("setting")
    assert list(coll.index) == ["full", "first_order", "lazy_all_pairs", "sampled_pairs"]
    assert coll.loc["full", "rank_corr_mean"] == pytest.approx(1.0)
    steps = int(coll.loc["full", "steps"])
    assert steps == 2 * 256 // 32  # 2 epochs of the default 256 examples in batches of 32
    # equal cost: each cheaper setting's lookahead steps are at most 1/4 of full collection's
    for setting in ("lazy_all_pairs", "sampled_pairs"):
        assert 0 < coll.loc[setting, "cost_fraction"] <= 0.25 + 1e-12
        assert coll.loc[setting, "draws"] == 3
        assert -1 <= coll.loc[setting, "rank_corr_min"] <= coll.loc[setting, "rank_corr_mean"]
        assert 0 <= coll.loc[setting, "missing_pairs_mean"] < 1
    assert coll.loc["lazy_all_pairs", "missing_pairs_mean"] == 0  # every pair at each step
    assert coll.loc["sampled_pairs", "sample"] == sampled_period(10, 4)[1]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_unknown_grid_keys_are_named() -> None:
    with pytest.raises(ValueError, match=r"unknown bench_probe_scale grid keys \['sizez'\]"):
        run_scale_bench({"sizez": [5]})
