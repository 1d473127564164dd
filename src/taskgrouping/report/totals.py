"""The totals table of a run (aggregated over draws and training seeds) as CSV, Markdown and
LaTeX."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from taskgrouping.io import atomic_write_csv, atomic_write_text
from taskgrouping.report._style import (
    _TABLE_KEY,
    _ordered_methods,
    _read_totals,
)


def _format_number(value: float) -> str:
    """Format with 4 significant digits."""
    return f"{value:.4g}"


def _mean_std_cell(mean: float, std: float, n_runs: int) -> str:
    """``"mean ± std"`` when there are several runs (draws or seeds), else the mean alone."""
    if n_runs > 1:
        return f"{_format_number(mean)} ± {_format_number(std)}"
    return _format_number(mean)


def _mean_std_cells(table: pd.DataFrame, column: str) -> list[str]:
    """:func:`_mean_std_cell` of every row's ``<column>_mean``, ``<column>_std`` and ``n_runs``."""
    return [
        _mean_std_cell(m, s, n)
        for m, s, n in zip(
            table[f"{column}_mean"], table[f"{column}_std"], table["n_runs"], strict=True
        )
    ]


def _display_table(agg: pd.DataFrame) -> pd.DataFrame:
    """Human-readable version of the aggregated table (all cells strings)."""
    return pd.DataFrame(
        {
            "benchmark": agg["benchmark"].astype(str),
            "method": agg["method"].astype(str),
            "budget B": agg["budget"].astype(str),
            "draws": agg["n_draws"].astype(str),
            "seeds": agg["n_seeds"].astype(str),
            "total val loss": [_format_number(v) for v in agg["total_val"]],
            "total test loss": _mean_std_cells(agg, "total_test"),
            "delta_m vs STL (%)": _mean_std_cells(agg, "delta_m_pct"),
        }
    )


_LATEX_CAPTION = (
    r"Total loss summed over tasks for each benchmark, method and budget $B$ (number of networks "
    r"trained); lower is better. Where there are several runs (draws of random grouping, or "
    r"training seeds), entries are mean $\pm$ sample standard deviation over them; the "
    r"validation total is the mean. "
    r"$\Delta_m$ is the mean over tasks of $100\,(L^{\mathrm{STL}} - L)/L^{\mathrm{STL}}$ on test "
    r"losses, in \%; positive means better than single-task learning."
)


def _aggregate_totals(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of :func:`write_totals_tables` from the validated ``totals.csv`` rows ``df``."""
    grouped = df.groupby(_TABLE_KEY, sort=False)
    agg = grouped.agg(
        n_draws=("draw", "nunique"),
        n_seeds=("seed", "nunique"),
        n_runs=("draw", "size"),
        total_val=("total_val", "mean"),
        total_test_mean=("total_test", "mean"),
        total_test_std=("total_test", "std"),
        delta_m_pct_mean=("delta_m_pct", "mean"),
        delta_m_pct_std=("delta_m_pct", "std"),
    ).reset_index()
    single = agg["n_runs"] == 1
    agg.loc[single, ["total_test_std", "delta_m_pct_std"]] = 0.0
    method_order = pd.CategoricalDtype(_ordered_methods(agg["method"]), ordered=True)
    agg = agg.sort_values(
        _TABLE_KEY,
        key=lambda col: col.astype(method_order) if col.name == "method" else col,
        ignore_index=True,
    )
    agg = agg[
        [
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
    ]
    return agg


def write_totals_tables(
    totals_csv: Path, out_csv: Path, out_md: Path, out_tex: Path
) -> pd.DataFrame:
    """Aggregate ``totals.csv`` over draws and seeds; write it as CSV, Markdown and LaTeX.

    Parameters
    ----------
    totals_csv
        CSV with columns ``benchmark, method, budget, draw, seed, n_groups, total_val,
        total_test, delta_m_pct``, one row per (benchmark, method, budget, draw, seed).
    out_csv
        Tidy CSV with columns ``benchmark, method, budget, n_draws, n_seeds, n_runs, total_val,
        total_test_mean, total_test_std, delta_m_pct_mean, delta_m_pct_std`` (full precision;
        ``n_runs`` rows were aggregated).
    out_md
        Markdown table (floats to 4 significant digits, ``mean ± std`` where ``n_runs > 1``).
    out_tex
        LaTeX ``table`` (booktabs rules, escaped cells, caption, label ``tab:totals``), same
        formatting as the Markdown table.

    Returns
    -------
    pandas.DataFrame
        The aggregated table (columns as in ``out_csv``), sorted by benchmark, method
        (``stl, mtl, random, exhaustive, ours``, then others alphabetically) and budget. Standard
        deviations are sample standard deviations (``ddof=1``) over all runs (draws x seeds)
        and 0.0 for a single run; ``total_val`` is the mean.

    Raises
    ------
    ValueError
        If ``totals_csv`` has no rows, misses a column, has a non-numeric value, a non-integer
        budget, draw or seed, or a duplicate (benchmark, method, budget, draw, seed) row.
    """
    df = _read_totals(Path(totals_csv))
    agg = _aggregate_totals(df)

    atomic_write_csv(out_csv, agg)

    display = _display_table(agg)
    markdown = display.to_markdown(
        index=False,
        disable_numparse=True,
        colalign=("left", "left", "right", "right", "right", "right", "right"),
    )
    atomic_write_text(out_md, markdown + "\n")

    latex = display.to_latex(
        index=False,
        escape=True,
        column_format="llrrrrr",
        caption=_LATEX_CAPTION,
        label="tab:totals",
    )
    # Cells are escaped by pandas; the Unicode ± is turned into a LaTeX command that works in any
    # input encoding.
    latex = latex.replace("±", r"\ensuremath{\pm}")
    atomic_write_text(out_tex, latex)
    return agg
