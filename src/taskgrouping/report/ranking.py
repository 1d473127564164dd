"""The ranking of every method of a benchmark by delta_m against single-task learning, as a table
figure."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from taskgrouping.methods.registry import has_style
from taskgrouping.report._style import _method_style, _ordered_methods, _read_totals, _save
from taskgrouping.report.totals import _aggregate_totals, _mean_std_cell

#: The table's column headings.
_HEADINGS: tuple[str, ...] = (
    "rank",
    "method",
    "B",
    "runs",
    "delta_m vs STL (%)",
    "total test loss",
)


def ranking_table(totals_csv: Path) -> pd.DataFrame:
    """Every (method, budget) of a one-benchmark ``totals.csv``, best delta_m first.

    Each method appears at every budget it was evaluated at (``ours`` at B = 1, 2, 3, say), not
    at a best budget picked after the fact: a budget is a cost, and the table shows what each
    cost bought. Rows are the aggregated rows of :func:`~taskgrouping.report.write_totals_tables`
    (mean and sample standard deviation over draws and training seeds), sorted by mean
    ``delta_m_pct`` (higher is better; undefined values last), ties in method order then budget.

    Returns
    -------
    pandas.DataFrame
        The aggregated columns plus ``rank`` (nullable integers): 1 for the best, equal means
        sharing the rank of the first of them (``1, 1, 3``); missing for an undefined delta_m.

    Raises
    ------
    ValueError
        If the file is malformed (see :func:`write_totals_tables`) or holds several benchmarks.
    """
    df = _read_totals(Path(totals_csv))
    benchmarks = sorted(df["benchmark"].unique())
    if len(benchmarks) != 1:
        raise ValueError(
            f"{totals_csv}: the ranking is of one benchmark, found benchmarks {benchmarks}"
        )
    agg = _aggregate_totals(df)
    # A stable sort keeps the table's method and budget order among equal means.
    order = (-agg["delta_m_pct_mean"]).fillna(math.inf).sort_values(kind="stable").index
    agg = agg.loc[order].reset_index(drop=True)
    ranks = agg["delta_m_pct_mean"].rank(method="min", ascending=False)
    agg["rank"] = ranks.astype("Int64")
    return agg


def _row_cells(row: pd.Series) -> list[str]:
    delta = (
        "undefined"
        if pd.isna(row["delta_m_pct_mean"])
        else _mean_std_cell(row["delta_m_pct_mean"], row["delta_m_pct_std"], row["n_runs"])
    )
    test = _mean_std_cell(row["total_test_mean"], row["total_test_std"], row["n_runs"])
    rank = "–" if pd.isna(row["rank"]) else str(row["rank"])
    return [rank, str(row["method"]), str(row["budget"]), str(row["n_runs"]), delta, test]


def plot_ranking(totals_csv: Path, out_png: Path) -> pd.DataFrame:
    """Draw :func:`ranking_table` as a table figure beside each row's delta_m (mean ± sd).

    The table lists rank, method (in its figure colour), budget B, number of runs (draws x
    seeds), delta_m vs STL and total test loss (``mean ± sd`` where there are several runs, 4
    significant digits); beside each row, its mean delta_m with a ± one standard deviation bar,
    against the STL line at 0.

    Parameters
    ----------
    totals_csv
        ``totals.csv`` of one benchmark (see :func:`write_totals_tables`).
    out_png
        Output PNG path; parent directories are created.

    Returns
    -------
    pandas.DataFrame
        The ranking drawn (:func:`ranking_table`).
    """
    table = ranking_table(totals_csv)
    benchmark = str(table["benchmark"].iloc[0])
    extra = [m for m in _ordered_methods(table["method"]) if not has_style(m)]
    cells = [_row_cells(row) for _, row in table.iterrows()]
    n = len(cells)
    # Columns as wide as their longest entry (the table spans its whole axes): about 0.075 inch
    # per character of 9-point text, plus a margin.
    chars = [max(len(c) for c in column) + 3 for column in zip(_HEADINGS, *cells, strict=True)]
    width = 0.075 * sum(chars)
    fig, (left, right) = plt.subplots(
        1,
        2,
        figsize=(width + 4.6, 0.9 + 0.3 * (n + 1)),
        sharey=True,
        gridspec_kw={"width_ratios": [width, 4.0], "wspace": 0.1 / (width + 4.0)},
    )
    fig.subplots_adjust(left=0.0, right=1.0)
    drawn = left.table(
        cellText=cells,
        colLabels=list(_HEADINGS),
        colWidths=[c / sum(chars) for c in chars],
        cellLoc="center",
        colLoc="center",
        bbox=(0.0, 0.0, 1.0, 1.0),
        edges="horizontal",
    )
    drawn.auto_set_font_size(False)
    drawn.set_fontsize(9)
    for (row, column), cell in drawn.get_celld().items():
        cell.set_edgecolor("0.85")
        if row == 0:
            cell.get_text().set_fontweight("bold")
        elif column == 1:
            color, _ = _method_style(str(table["method"].iloc[row - 1]), extra)
            cell.get_text().set_color(color)
            cell.get_text().set_fontweight("bold")
    left.axis("off")
    # Row k of the table (0 = the first method; the headings are row -1) lies at y = k.
    right.set_ylim(n - 0.5, -1.5)
    for y, (_, row) in enumerate(table.iterrows()):
        if pd.isna(row["delta_m_pct_mean"]):
            continue
        color, _ = _method_style(str(row["method"]), extra)
        std = row["delta_m_pct_std"] if row["n_runs"] > 1 else None
        right.errorbar([row["delta_m_pct_mean"]], [y], xerr=std, color=color, marker="o", capsize=3)
    right.axvline(0.0, color="tab:gray", linestyle="--", linewidth=1.0)
    right.set_xlabel("delta_m vs STL (%): mean ± sd (higher is better)")
    right.grid(True, axis="x", alpha=0.3)
    right.tick_params(axis="y", left=False, labelleft=False)
    fig.suptitle(
        f"Every method at each of its budgets, ranked by delta_m vs STL: {benchmark}",
        fontsize="medium",
    )
    _save(fig, out_png)
    return table
