"""A Taskonomy run beside HOA's published table: per task, every subset network's test loss in the
run against HOA's test loss of the same subset, with the two orders' rank agreement."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from taskgrouping.evaluation.hoa_tasks import COMPARISON_COLUMNS, HOA_COLUMNS
from taskgrouping.report._style import _save


def _letters() -> dict[str, str]:
    """HOA's column letter of each task name (``sdn`` = segmentation, depth, normals)."""
    return {task: letter for letter, task in HOA_COLUMNS.items()}


def subset_label(group: str) -> str:
    """HOA's letters of a group key's members: ``"segment_semantic+normal"`` -> ``"sn"``."""
    letters = _letters()
    return "".join(letters[t] for t in group.split("+"))


def plot_hoa_comparison(comparison: pd.DataFrame, agreement: pd.DataFrame, out_png: Path) -> None:
    """One panel per task: each subset network holding the task as a point at (HOA's test loss,
    the run's test loss), labelled with HOA's letters of the subset, the single-task network
    ringed; the panel's title gives Spearman's rank correlation over the subsets.

    ``comparison`` has :data:`~taskgrouping.evaluation.hoa_comparison.COMPARISON_COLUMNS` (from
    :func:`~taskgrouping.evaluation.hoa_comparison.compare_with_hoa`), ``agreement`` the rows of
    :func:`~taskgrouping.evaluation.hoa_comparison.rank_agreement`. Raises if ``comparison`` is
    empty (no subset of the run is in HOA's table) or lacks a column.
    """
    missing = [c for c in COMPARISON_COLUMNS if c not in comparison.columns]
    if missing:
        raise ValueError(f"comparison table lacks column(s) {missing}")
    if comparison.empty:
        raise ValueError("no network of the run has a subset that HOA's table holds")
    present = set(comparison["task"])
    tasks = [t for t in HOA_COLUMNS.values() if t in present]  # HOA's (the benchmark's) order
    rho = dict(zip(agreement["task"], agreement["spearman"], strict=True))
    cols = min(len(tasks), 3)
    rows = math.ceil(len(tasks) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.8 * rows), squeeze=False)
    for ax, task in zip(axes.flat, tasks, strict=False):
        part = comparison[comparison["task"] == task]
        alone = part["group"] == task
        ax.scatter(part["hoa_test"], part["run_test"], s=22, color="tab:blue", zorder=2)
        ax.scatter(
            part.loc[alone, "hoa_test"],
            part.loc[alone, "run_test"],
            s=110,
            facecolors="none",
            edgecolors="tab:red",
            label="single-task network",
            zorder=3,
        )
        for group, x, y in zip(part["group"], part["hoa_test"], part["run_test"], strict=True):
            ax.annotate(
                subset_label(group), (x, y), fontsize=7, xytext=(3, 2), textcoords="offset points"
            )
        value = rho.get(task, float("nan"))
        shown = "n/a (< 3 subsets)" if math.isnan(value) else f"{value:+.2f}"
        ax.set_title(f"{task}: Spearman {shown} over {len(part)} subsets", fontsize=9)
        ax.set_xlabel("HOA test loss (published)")
        ax.set_ylabel("this run's test loss")
        ax.grid(alpha=0.3)
    for ax in list(axes.flat)[len(tasks) :]:
        ax.set_visible(False)
    axes.flat[0].legend(fontsize=7, loc="best")
    letters = ", ".join(f"{_letters()[t]} = {t}" for t in tasks)
    fig.suptitle(
        f"Subset networks' test losses: this run against HOA's table ({letters})", fontsize=10
    )
    fig.tight_layout()
    _save(fig, out_png)
