"""Figures of the transfer gains: the gain matrix as a heatmap, and every entry over training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from taskgrouping.io import read_gain_matrix
from taskgrouping.report._style import (
    _save,
)

#: Above this many tasks the heatmap has no numbers in its cells and narrower cells.
MANY_TASKS = 24
#: The gains-over-time figure draws a panel for at most this many targets (the first ones), with
#: a legend of the sources up to this many tasks.
MANY_TARGETS = 16


def plot_gains_over_time(
    steps_csv: Path,
    seeds_csv: Path,
    tasks: Sequence[str],
    out_png: Path,
    *,
    title: str | None = None,
) -> None:
    """Every target task's gains over training: one panel per target, one line per source.

    Each line is the running mean, over the probing steps up to a training step (all seeds
    pooled), of the gain of source ``i`` on the panel's target ``j``; its last value is the matrix
    entry. A shaded band is the running mean +- one standard error. The title gives the seeds'
    mean Spearman agreement. Panels fill a grid of at most four columns; the legend sits to the
    right, or in the panel after the last target where the grid has one to spare.

    Raises
    ------
    ValueError
        If the step table lacks the columns ``step, source, target, gain`` or is empty.
    """
    steps = pd.read_csv(steps_csv)
    missing = {"step", "source", "target", "gain"} - set(steps.columns)
    if missing or steps.empty:
        raise ValueError(
            f"{steps_csv}: step-gain table is empty or lacks columns {sorted(missing)}"
        )
    tasks = list(tasks)
    sources = tasks
    targets = tasks[:MANY_TARGETS]
    n = len(targets)
    rows, cols, legend_panel = _panel_grid(n)
    legend_panel = legend_panel and len(tasks) <= MANY_TARGETS
    fig, axes = plt.subplots(
        rows, cols, figsize=(3.3 * cols, 2.6 * rows), squeeze=False, sharex=True
    )
    palette = sns.color_palette(
        "tab10" if len(sources) <= 10 else "tab20" if len(sources) <= 20 else "husl", len(sources)
    )
    for k, target in enumerate(targets):
        ax = axes[k // cols][k % cols]
        for i, source in enumerate(sources):
            if source == target:
                continue
            pair = steps[(steps["source"] == source) & (steps["target"] == target)]
            pair = pair.sort_values(["step", *(["seed"] if "seed" in pair else [])])
            if pair.empty:
                continue
            k = np.arange(1, len(pair) + 1)
            g = pair["gain"].to_numpy(float)
            mean = np.cumsum(g) / k
            sq = np.cumsum(g * g) / k
            sd = np.sqrt(np.maximum(sq - mean * mean, 0.0) * k / np.maximum(k - 1, 1))
            se = sd / np.sqrt(k)
            x = pair["step"].to_numpy()
            ax.plot(x, mean, color=palette[i], lw=1.2, label=source)
            ax.fill_between(x, mean - se, mean + se, color=palette[i], alpha=0.15, lw=0)
        ax.axhline(0.0, color="0.4", lw=0.6)
        ax.set_title(f"target {target}", fontsize=11)
        ax.tick_params(labelsize=9)
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
        ax.yaxis.get_offset_text().set_fontsize(9)
        ax.xaxis.set_tick_params(labelbottom=True)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    handles = [plt.Line2D([], [], color=palette[i], lw=2, label=t) for i, t in enumerate(tasks)]
    style = {"title": "source task i", "fontsize": 10, "title_fontsize": 10, "frameon": False}
    if len(tasks) > MANY_TARGETS:
        pass  # a legend of every source would outgrow the figure: the lines stay unlabelled
    elif legend_panel:
        axes[n // cols][n % cols].legend(
            handles=handles, loc="center", ncol=2 if n > 6 else 1, **style
        )
    else:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), **style)
    fig.supxlabel("training step of the base run", fontsize=11)
    fig.supylabel("running mean gain of target j from source i", fontsize=11)
    agreement = ""
    seeds = pd.read_csv(seeds_csv)
    if not seeds.empty:
        agreement = (
            f"; seeds' mean Spearman agreement {seeds['spearman'].mean():.2f} "
            f"({len(seeds)} pairs of runs)"
        )
    shown = (
        f"; the first {len(targets)} of {len(tasks)} targets, sources unlabelled"
        if len(tasks) > MANY_TARGETS
        else ""
    )
    fig.suptitle((title or "Transfer gains over training") + agreement + shown, fontsize=12)
    fig.tight_layout()
    _save(fig, out_png)


def plot_gain_heatmap(gains_csv: Path, out_png: Path, *, title: str | None = None) -> None:
    """Plot the pairwise transfer-gain matrix as an annotated diverging heatmap.

    Cell (i, j) is the gain of target task j from being trained together with source task i
    (positive = co-training lowers task j's loss). The colour map is diverging and centred at 0
    with symmetric limits; the undefined diagonal is masked (drawn grey).

    Parameters
    ----------
    gains_csv
        Square CSV whose header row and first column hold the task names (same set of tasks).
    out_png
        Output PNG path; parent directories are created.
    title
        Figure title; defaults to a title naming the input file's parent directory.

    Raises
    ------
    ValueError
        If the matrix is empty, not square over the same task names, has duplicate task names, or
        an entry that is not a finite number (see :func:`taskgrouping.io.read_gain_matrix`).
    """
    gains_csv = Path(gains_csv)
    gains = read_gain_matrix(gains_csv)
    n = len(gains)
    mask = np.eye(n, dtype=bool)
    off_diagonal = gains.to_numpy()[~mask]
    finite = off_diagonal[np.isfinite(off_diagonal)]
    vmax = float(np.abs(finite).max()) if finite.size else 0.0
    if vmax == 0.0:
        vmax = 1.0  # all gains zero: any symmetric range shows them as neutral

    many = n > MANY_TASKS
    side = max(4.5, (0.14 if many else 0.55) * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    ax.set_facecolor("0.85")
    sns.heatmap(
        gains,
        mask=mask,
        cmap="RdBu",
        center=0.0,
        vmin=-vmax,
        vmax=vmax,
        annot=not many,
        fmt=".2g",
        annot_kws={"size": max(5.0, 10.0 - 0.25 * n)},
        xticklabels=True,
        yticklabels=True,
        linewidths=0.0 if many else 0.5,
        linecolor="white",
        square=True,
        cbar_kws={"label": "gain on target j (> 0: co-training with i lowers j's loss)"},
        ax=ax,
    )
    ax.set_xlabel("target task j (gain on)")
    ax.set_ylabel("source task i (trained with)")
    ax.tick_params(axis="x", labelrotation=45)
    plt.setp(ax.get_xticklabels(), ha="right", rotation_mode="anchor")
    ax.tick_params(axis="y", labelrotation=0)
    if many:
        ax.tick_params(labelsize=5)
    if title is None:
        title = f"Pairwise transfer gains ({gains_csv.parent.name or gains_csv.stem})"
    ax.set_title(f"{title}\nblue: i helps j, red: i hurts j; diagonal undefined")
    _save(fig, out_png)


def _panel_grid(n: int) -> tuple[int, int, bool]:
    """Rows and columns for ``n`` target panels (at most 4 columns), and whether the legend
    takes a panel of its own: only where the targets alone would leave panels blank."""
    if n <= 4:
        return 1, n, False
    for cols in (4, 3):
        if n % cols == 0:
            return n // cols, cols, False
    rows, cols = min(((-(-(n + 1) // c), c) for c in (4, 3)), key=lambda rc: rc[0] * rc[1])
    return rows, cols, True
