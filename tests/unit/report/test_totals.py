"""Totals tables: order, columns, statistics over draws, Markdown and LaTeX, input errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.report import (
    plot_budget_curve,
    write_totals_tables,
)
from tests.unit.report.figure_inputs import (
    RANDOM_DELTA,
    RANDOM_TEST,
)


def test_tables_order_and_columns(tables: tuple[pd.DataFrame, Path, Path, Path]) -> None:
    agg, out_csv, _, _ = tables
    expected_columns = [
        "benchmark",
        "method",
        "budget",
        "n_draws",
        "n_seeds",
        "n_runs",
        "total_val",
        "total_test_mean",
        "total_test_std",
        "delta_m_pct_mean",
        "delta_m_pct_std",
    ]
    assert list(agg.columns) == expected_columns
    keys = list(zip(agg["method"], agg["budget"], strict=True))
    assert keys == [
        ("stl", 4),
        ("mtl", 1),
        ("random", 1),
        ("random", 2),
        ("random", 3),
        ("exhaustive", 1),
        ("exhaustive", 2),
        ("exhaustive", 3),
        ("ours", 1),
        ("ours", 2),
        ("ours", 3),
    ]
    written = pd.read_csv(out_csv)
    assert list(written.columns) == expected_columns
    pd.testing.assert_frame_equal(written, agg, check_dtype=False)


def test_tables_random_statistics(tables: tuple[pd.DataFrame, Path, Path, Path]) -> None:
    agg, _, _, _ = tables
    random = agg[agg["method"] == "random"].set_index("budget")
    for budget, values in RANDOM_TEST.items():
        row = random.loc[budget]
        assert row["n_draws"] == 3
        assert row["total_test_mean"] == pytest.approx(np.mean(values))
        assert row["total_test_std"] == pytest.approx(np.std(values, ddof=1))
        assert row["delta_m_pct_mean"] == pytest.approx(np.mean(RANDOM_DELTA[budget]))
        assert row["delta_m_pct_std"] == pytest.approx(np.std(RANDOM_DELTA[budget], ddof=1))
        assert row["total_val"] == pytest.approx(np.mean(values) - 0.1)
    single = agg[agg["method"] != "random"]
    assert (single["n_draws"] == 1).all()
    assert (single[["total_test_std", "delta_m_pct_std"]] == 0.0).all().all()


def test_tables_markdown_and_latex(tables: tuple[pd.DataFrame, Path, Path, Path]) -> None:
    _, _, out_md, out_tex = tables
    md_lines = out_md.read_text(encoding="utf-8").splitlines()
    body = [line for line in md_lines[2:] if line.strip()]
    assert len(body) == 11
    random_rows = [line for line in body if "| random" in line]
    other_rows = [line for line in body if "| random" not in line]
    assert len(random_rows) == 3
    assert all("±" in line for line in random_rows)
    assert not any("±" in line for line in other_rows)
    # budget 2: mean 3.6, sample std 0.6 -> 4 significant digits
    assert any("3.6 ± 0.6" in line for line in random_rows)
    methods = [line.split("|")[2].strip() for line in body]
    assert methods == ["stl", "mtl"] + ["random"] * 3 + ["exhaustive"] * 3 + ["ours"] * 3

    tex = out_tex.read_text(encoding="utf-8")
    for token in (r"\toprule", r"\midrule", r"\bottomrule", r"\caption{", r"\label{tab:totals}"):
        assert token in tex
    assert r"delta\_m vs STL (\%)" in tex
    assert r"3.6 \ensuremath{\pm} 0.6" in tex
    assert "±" not in tex


@pytest.mark.parametrize("column", ["total_test", "delta_m_pct", "draw", "seed"])
def test_missing_column_is_named(totals_csv: Path, tmp_path: Path, column: str) -> None:
    pd.read_csv(totals_csv).drop(columns=column).to_csv(totals_csv, index=False)
    with pytest.raises(ValueError, match=rf"totals\.csv.*'{column}'"):
        write_totals_tables(totals_csv, tmp_path / "a.csv", tmp_path / "a.md", tmp_path / "a.tex")
    with pytest.raises(ValueError, match=rf"'{column}'"):
        plot_budget_curve(totals_csv, tmp_path / "a.png")


def test_duplicate_draw_is_rejected(totals_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(totals_csv)
    pd.concat([df, df.iloc[[0]]]).to_csv(totals_csv, index=False)
    with pytest.raises(ValueError, match="duplicate row"):
        write_totals_tables(totals_csv, tmp_path / "a.csv", tmp_path / "a.md", tmp_path / "a.tex")
