"""The ranking figure: every method at each of its budgets, best delta_m first, ties shared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.report import plot_ranking, ranking_table, write_totals_tables
from tests.unit.report.figure_inputs import RANDOM_DELTA, _assert_png


def test_every_method_and_budget_is_ranked_by_mean_delta_m(totals_csv: Path) -> None:
    table = ranking_table(totals_csv)
    # Every aggregated row of the totals tables, none left out or added.
    agg = write_totals_tables(
        totals_csv,
        totals_csv.with_suffix(".a.csv"),
        totals_csv.with_suffix(".md"),
        totals_csv.with_suffix(".tex"),
    )
    key = ["method", "budget"]
    assert sorted(map(tuple, table[key].to_numpy())) == sorted(map(tuple, agg[key].to_numpy()))
    means = table["delta_m_pct_mean"].to_numpy()
    assert np.all(np.diff(means) <= 0)
    # ours B=2 and exhaustive B=2, B=3 all reach 12: one shared rank, exhaustive first (figure
    # order), then the next rank is 4.
    top = table.head(4)
    assert list(zip(top.method, top.budget, top["rank"], strict=True)) == [
        ("exhaustive", 2, 1),
        ("exhaustive", 3, 1),
        ("ours", 2, 1),
        ("ours", 3, 4),
    ]
    # random B=2: mean and sample sd over its 3 draws.
    row = table[(table.method == "random") & (table.budget == 2)].iloc[0]
    assert row["delta_m_pct_mean"] == pytest.approx(np.mean(RANDOM_DELTA[2]))
    assert row["delta_m_pct_std"] == pytest.approx(np.std(RANDOM_DELTA[2], ddof=1))
    assert row["n_runs"] == 3


def test_an_undefined_delta_m_is_ranked_last_without_a_rank(
    totals_csv: Path, tmp_path: Path
) -> None:
    df = pd.read_csv(totals_csv)
    df.loc[df.method == "mtl", "delta_m_pct"] = np.nan
    df.to_csv(totals_csv, index=False)
    table = plot_ranking(totals_csv, tmp_path / "ranking.png")
    _assert_png(tmp_path / "ranking.png")
    assert table.iloc[-1]["method"] == "mtl" and pd.isna(table.iloc[-1]["rank"])
    assert table["rank"].iloc[:-1].notna().all()


def test_the_ranking_is_of_one_benchmark(totals_csv: Path) -> None:
    df = pd.read_csv(totals_csv)
    pd.concat([df, df.assign(benchmark="other")]).to_csv(totals_csv, index=False)
    with pytest.raises(ValueError, match=r"one benchmark, found benchmarks \['other', 'synth'\]"):
        ranking_table(totals_csv)
