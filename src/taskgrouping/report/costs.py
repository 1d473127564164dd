"""Cost beside accuracy: every method's delta_m and total test loss with the networks it trained
and the CPU seconds of its jobs, as tables and as a figure."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from taskgrouping.evaluation.costs import COSTS_COLUMNS
from taskgrouping.io import atomic_write_csv, atomic_write_text
from taskgrouping.methods.registry import has_style
from taskgrouping.report._style import _method_style, _ordered_methods, _read_totals, _save
from taskgrouping.report.totals import _aggregate_totals, _mean_std_cells

#: Columns of the cost table: the aggregated totals' key and accuracy, then the cost.
COST_TABLE_COLUMNS: tuple[str, ...] = (
    "benchmark",
    "method",
    "budget",
    "n_runs",
    "delta_m_pct_mean",
    "delta_m_pct_std",
    "total_test_mean",
    "total_test_std",
    *COSTS_COLUMNS[3:],
)


def _read_costs(costs_csv: Path) -> pd.DataFrame:
    frame = pd.read_csv(costs_csv, dtype={"benchmark": str, "method": str})
    missing = [c for c in COSTS_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{costs_csv}: missing column(s) {missing}; expected {list(COSTS_COLUMNS)}"
        )
    duplicated = frame.duplicated(subset=["benchmark", "method", "budget"])
    if duplicated.any():
        row = frame.loc[duplicated, ["method", "budget"]].iloc[0].to_dict()
        raise ValueError(f"{costs_csv}: duplicate row for {row}")
    return frame


def cost_beside_accuracy(totals_csv: Path | str, costs_csv: Path | str) -> pd.DataFrame:
    """The aggregated totals (:func:`~taskgrouping.report.write_totals_tables`: mean and sample
    standard deviation over draws and training seeds) of every (method, budget), joined with its
    cost (``costs.csv``, :func:`taskgrouping.evaluation.costs.cost_table`); columns
    :data:`COST_TABLE_COLUMNS`, in the totals table's order.

    Raises
    ------
    ValueError
        If a file is malformed, or a (method, budget) of one file is missing from the other.
    """
    agg = _aggregate_totals(_read_totals(Path(totals_csv)))
    costs = _read_costs(Path(costs_csv))
    key = ["benchmark", "method", "budget"]
    merged = agg.merge(costs, on=key, how="left", indicator=True, sort=False)
    extra = costs.merge(agg[key], on=key, how="left", indicator=True)
    for frame, where, other in ((merged, totals_csv, costs_csv), (extra, costs_csv, totals_csv)):
        lonely = frame[frame["_merge"] != "both"]
        if not lonely.empty:
            row = lonely.iloc[0]
            raise ValueError(
                f"method {row['method']!r} at budget {row['budget']} is in {where} but not in "
                f"{other}"
            )
    return merged[list(COST_TABLE_COLUMNS)]


def _seconds(value: float) -> str:
    return "–" if math.isnan(value) else f"{value:,.0f}"


def write_cost_tables(
    totals_csv: Path | str, costs_csv: Path | str, out_csv: Path | str, out_md: Path | str
) -> pd.DataFrame:
    """Write :func:`cost_beside_accuracy` as CSV (full precision) and Markdown: method, budget,
    runs, delta_m vs STL and total test loss (``mean ± sd``), networks trained (probing runs,
    subset networks, group networks and their sum) and CPU seconds (probing, training, total),
    with a count of jobs whose seconds were not measured where there are any."""
    table = cost_beside_accuracy(totals_csv, costs_csv)
    atomic_write_csv(out_csv, table)
    display = {
        "method": table["method"].astype(str),
        "B": table["budget"].astype(str),
        "runs": table["n_runs"].astype(str),
        "delta_m vs STL (%)": _mean_std_cells(table, "delta_m_pct"),
        "total test loss": _mean_std_cells(table, "total_test"),
        "networks": table["networks"].astype(str),
        "probe runs": table["probe_runs"].astype(str),
        "subset nets": table["subset_networks"].astype(str),
        "group nets": table["group_networks"].astype(str),
        "probe CPU s": [_seconds(v) for v in table["probe_cpu_s"]],
        "train CPU s": [_seconds(v) for v in table["train_cpu_s"]],
        "CPU s": [_seconds(v) for v in table["cpu_s"]],
    }
    if table["unmeasured_jobs"].any():
        display["unmeasured jobs"] = table["unmeasured_jobs"].astype(str)
    frame = pd.DataFrame(display)
    markdown = frame.to_markdown(
        index=False,
        disable_numparse=True,
        colalign=("left",) + ("right",) * (frame.shape[1] - 1),
    )
    atomic_write_text(out_md, markdown + "\n")
    return table


def plot_costs(table: pd.DataFrame, out_png: Path | str) -> None:
    """Delta_m vs STL against what each method cost: networks trained (left) and CPU seconds of
    its jobs (right), both on log axes; one line per method through its budgets (a point for a
    method with one budget), ± one standard deviation of delta_m over runs as error bars.

    ``table`` is :func:`cost_beside_accuracy`'s (one benchmark).
    """
    benchmark = str(table["benchmark"].iloc[0])
    methods = _ordered_methods(table["method"])
    extra = [m for m in methods if not has_style(m)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), sharey=True)
    for method in methods:
        rows = table[table["method"] == method].sort_values("budget")
        color, marker = _method_style(method, extra)
        for ax, column in zip(axes, ("networks", "cpu_s"), strict=True):
            drawn = rows[rows[column].notna() & (rows[column] > 0)]
            if drawn.empty:
                continue
            std = drawn["delta_m_pct_std"].where(drawn["n_runs"] > 1)
            ax.errorbar(
                drawn[column],
                drawn["delta_m_pct_mean"],
                yerr=std,
                color=color,
                marker=marker,
                capsize=2,
                linewidth=1.2,
                label=method if ax is axes[0] else None,
            )
    for ax, label in zip(
        axes, ("networks trained (probing runs included)", "CPU seconds of its jobs"), strict=True
    ):
        ax.set_xscale("log")
        ax.set_xlabel(label + ", log scale")
        ax.axhline(0.0, color="tab:gray", linestyle="--", linewidth=1.0)
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("delta_m vs STL (%): mean ± sd (higher is better)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(
        handles,
        labels,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=min(6, len(labels)),
        frameon=False,
    )
    fig.suptitle(
        f"What each method bought with what it cost (every budget): {benchmark}",
        fontsize="medium",
    )
    fig.tight_layout()
    _save(fig, out_png)
