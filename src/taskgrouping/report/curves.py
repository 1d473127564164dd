"""Budget curves: total test loss of every method against the number of networks, for the
pipeline's totals and for the budget-curve tables of measured tables."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from taskgrouping.io import atomic_savefig
from taskgrouping.methods.registry import has_style, reference_methods, rule_methods
from taskgrouping.report._style import (
    _method_style,
    _ordered_methods,
    _read_totals,
    _save,
)


def _runs_label(rows: pd.DataFrame) -> str:
    """What several rows of one method and budget are: ``"5 draws"``, ``"3 seeds"`` or both."""
    parts = []
    n_draws, n_seeds = int(rows["draw"].nunique()), int(rows["seed"].nunique())
    if n_draws > 1:
        parts.append(f"{n_draws} draws")
    if n_seeds > 1:
        parts.append(f"{n_seeds} seeds")
    return " x ".join(parts) or "1 run"


#: Horizontal distance between the markers of methods drawn at the same budget.
_DODGE = 0.09


def _plot_benchmark_curve(ax: plt.Axes, df: pd.DataFrame, extra_methods: list[str]) -> None:
    """Draw every method of one benchmark onto ``ax`` (see :func:`plot_budget_curve`), except
    the update rules' methods (:func:`_plot_rule_panel`)."""
    rules = rule_methods()
    methods = [m for m in _ordered_methods(df["method"]) if m not in rules]
    curves = [m for m in methods if m not in reference_methods()]
    shown = df[df["method"].isin(curves)] if curves else df[df["method"].isin(methods)]
    low, high = int(shown["budget"].min()), int(shown["budget"].max())
    for method in methods:
        rows = df[df["method"] == method]
        color, marker = _method_style(method, extra_methods)
        if method in reference_methods():
            if rows["budget"].nunique() != 1 or rows["draw"].nunique() != 1:
                budgets = sorted(map(int, rows["budget"].unique()))
                draws = sorted(map(int, rows["draw"].unique()))
                raise ValueError(
                    f"reference method {method!r} must have one budget and one draw per "
                    f"benchmark, found budgets {budgets} and draws {draws} for benchmark "
                    f"{rows['benchmark'].iloc[0]!r}"
                )
            budget = int(rows["budget"].iloc[0])
            value = float(rows["total_test"].mean())
            n_seeds = len(rows)
            ax.axhline(
                value,
                color=color,
                linestyle="--",
                linewidth=1.2,
                label=f"{method} reference (B={budget})"
                + (f", mean over {n_seeds} seeds" if n_seeds > 1 else ""),
            )
            # A reference beyond the other methods' budgets is the line alone: the axis ends
            # at the last budget that has a curve.
            if low <= budget <= high:
                ax.plot([budget], [value], marker="D", color=color, linestyle="none")
            continue
        stats = (
            rows.groupby("budget")["total_test"].agg(["mean", "min", "max", "count"]).sort_index()
        )
        # Methods that choose the same networks have equal totals: side by side, both show.
        offset = (curves.index(method) - (len(curves) - 1) / 2) * _DODGE
        x = stats.index.to_numpy(float) + offset
        n_runs = int(stats["count"].max())
        if n_runs > 1:
            what = _runs_label(rows)
            ax.fill_between(
                x,
                stats["min"],
                stats["max"],
                color=color,
                alpha=0.2,
                linewidth=0,
                label=f"{method}: min–max over {what}",
            )
            label = f"{method}: mean over {what}"
        else:
            label = method
        ax.plot(
            x,
            stats["mean"],
            color=color,
            marker=marker,
            linewidth=1.8,
            markersize=6,
            label=label,
        )
    ax.set_xlim(low - 0.4, high + 0.4)
    ax.set_xticks(range(low, high + 1))


def _plot_rule_panel(
    ax: plt.Axes, df: pd.DataFrame, rules: list[str], extra_methods: list[str]
) -> None:
    """The update rules' single networks of one benchmark, beside its curves: one labelled
    marker per rule (mean, min–max whisker over seeds), ``mtl`` first (the all-task network of
    ``train.update``), and the reference lines of ``stl`` and ``mtl``."""
    shown = (["mtl"] if (df["method"] == "mtl").any() else []) + rules
    for method in reference_methods():
        rows = df[df["method"] == method]
        if len(rows):
            color, _ = _method_style(method, extra_methods)
            ax.axhline(rows["total_test"].mean(), color=color, linestyle="--", linewidth=1.2)
    n_seeds = 1
    for x, method in enumerate(shown):
        rows = df[df["method"] == method]
        color, marker = _method_style(method, extra_methods)
        value = float(rows["total_test"].mean())
        low, high = float(rows["total_test"].min()), float(rows["total_test"].max())
        n_seeds = max(n_seeds, int(rows["seed"].nunique()))
        ax.errorbar(
            [x],
            [value],
            yerr=[[value - low], [high - value]] if len(rows) > 1 else None,
            color=color,
            marker="D" if method == "mtl" else marker,
            markersize=7,
            capsize=3,
            linestyle="none",
        )
    ax.set_xticks(range(len(shown)))
    ax.set_xticklabels(
        shown, rotation=45 if len(shown) > 3 else 0, ha="right" if len(shown) > 3 else "center"
    )
    ax.set_xlim(-0.6, len(shown) - 0.4)
    runs = f"mean, min–max over {n_seeds} seeds" if n_seeds > 1 else "one run each"
    ax.set_xlabel(f"update rule\n({runs})")
    ax.set_title("B = 1: all tasks, one network", fontsize="medium")
    ax.tick_params(axis="y", labelleft=False)


def plot_budget_curve(totals_csv: Path, out_png: Path) -> None:
    """Plot total test loss against the budget (number of networks) for every method.

    Methods with one run per budget (e.g. ``exhaustive``, ``ours``) are lines with markers;
    methods with several draws per budget (``random``) are a mean line with a shaded min–max band
    over draws; ``stl`` and ``mtl`` are horizontal dashed reference lines (with a marker at their
    own budget when it lies within the budgets of the other methods). Methods at the same budget
    are drawn side by side (a small horizontal offset), so that equal totals stay visible. The
    update rules' methods (:func:`~taskgrouping.methods.rule_methods`: one network on all tasks
    each, at budget 1) are labelled markers in a panel of their own to the right, on the same
    loss axis, beside ``mtl``'s marker. One panel (or pair of panels) per benchmark; the legend
    sits below the panels.

    Parameters
    ----------
    totals_csv
        ``totals.csv`` (see :func:`write_totals_tables`).
    out_png
        Output PNG path; parent directories are created.

    Raises
    ------
    ValueError
        If ``totals_csv`` is malformed (see :func:`write_totals_tables`) or ``stl``/``mtl`` has
        more than one row for a benchmark.
    """
    totals_csv = Path(totals_csv)
    df = _read_totals(totals_csv)
    benchmarks = sorted(df["benchmark"].unique())
    extra_methods = [m for m in _ordered_methods(df["method"]) if not has_style(m)]
    all_rules = rule_methods()
    rules = {
        b: [m for m in _ordered_methods(df.loc[df["benchmark"] == b, "method"]) if m in all_rules]
        for b in benchmarks
    }
    # Each benchmark: its curves (6 inches wide) and, with update rules, their panel.
    widths: list[float] = []
    for b in benchmarks:
        widths.append(6.0)
        if rules[b]:
            widths.append(1.2 + 0.45 * (len(rules[b]) + 1))
    fig = plt.figure(figsize=(sum(widths), 4.2))
    grid = fig.add_gridspec(1, len(widths), width_ratios=widths)
    handles: dict[str, object] = {}
    column = 0
    for benchmark in benchmarks:
        ax = fig.add_subplot(grid[0, column])
        column += 1
        rows = df[df["benchmark"] == benchmark]
        try:
            _plot_benchmark_curve(ax, rows, extra_methods)
        except ValueError as err:
            raise ValueError(f"{totals_csv}: {err}") from err
        ax.set_xlabel("budget B (number of networks trained)")
        ax.set_ylabel("total test loss (sum over tasks; lower is better)")
        ax.set_title(f"Total test loss vs budget: {benchmark}")
        ax.grid(True, alpha=0.3)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
        if rules[benchmark]:
            side = fig.add_subplot(grid[0, column], sharey=ax)
            column += 1
            _plot_rule_panel(side, rows, rules[benchmark], extra_methods)
            side.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.legend(
        list(handles.values()),
        list(handles.keys()),
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncol=2,
        fontsize="small",
        frameon=False,
    )
    _save(fig, out_png)


def plot_method_curves(
    curve_csv: Path, out_png: Path, *, title: str, ylabel: str, value: str = "test_total"
) -> None:
    """``value`` versus budget for every method of a budget-curve table.

    The table has columns ``method``, ``budget``, ``value`` and optionally ``draw``: a method
    with several draws per budget (random selection) is drawn as its mean with a min-max band.
    """
    curve_csv = Path(curve_csv)
    df = pd.read_csv(curve_csv)
    missing = [c for c in ("method", "budget", value) if c not in df.columns]
    if missing:
        raise ValueError(f"{curve_csv}: missing column(s) {missing}")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    methods = sorted(df["method"].unique(), key=lambda m: (m == "random", m))
    for method in methods:
        rows = df[df["method"] == method].groupby("budget")[value]
        stats = rows.agg(["mean", "min", "max", "count"]).sort_index()
        draws = int(stats["count"].max())
        label = f"{method}: mean, min-max band over {draws} draws" if draws > 1 else method
        (line,) = ax.plot(stats.index, stats["mean"], marker="o", label=label)
        if draws > 1:
            ax.fill_between(
                stats.index, stats["min"], stats["max"], color=line.get_color(), alpha=0.2
            )
    ax.set_xlabel("budget")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize="small")
    atomic_savefig(fig, out_png, dpi=150, bbox_inches="tight")
    plt.close(fig)
