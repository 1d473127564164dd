"""Figures and tables for the task-grouping report.

Every function reads the files written by earlier pipeline stages (gain matrix CSV, ``totals.csv``,
group JSON files), validates them, and writes a figure (PNG, dpi 150) or table files. Output is
deterministic: method order, colours, group numbering and float formatting depend only on the
inputs.

Method order used throughout (figure rows, legend, table rows): ``stl``, ``mtl``, ``random``,
``exhaustive``, ``ours``, then any other method alphabetically.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap, to_rgb
from matplotlib.ticker import MaxNLocator

from taskgrouping.evaluate import TOTALS_COLUMNS
from taskgrouping.io import atomic_savefig, atomic_write_csv, atomic_write_text

__all__ = [
    "METHOD_ORDER",
    "plot_budget_curve",
    "plot_gain_heatmap",
    "plot_gains_over_time",
    "plot_groups",
    "write_totals_tables",
]

#: Canonical method order; methods not listed here follow alphabetically.
METHOD_ORDER: tuple[str, ...] = ("stl", "mtl", "random", "exhaustive", "ours", "tag")

#: Methods drawn as horizontal reference lines in the budget curve.
_REFERENCE_METHODS: tuple[str, ...] = ("stl", "mtl")

#: Columns a totals table must have (``is_planted`` is optional: synthetic benchmarks only).
_TOTALS_COLUMNS: tuple[str, ...] = tuple(c for c in TOTALS_COLUMNS if c != "is_planted")
_TOTALS_NUMERIC: tuple[str, ...] = _TOTALS_COLUMNS[2:]
_TOTALS_KEY: list[str] = ["benchmark", "method", "budget", "draw", "seed"]
_TABLE_KEY: list[str] = ["benchmark", "method", "budget"]

_METHOD_COLORS: dict[str, str] = {
    "stl": "tab:gray",
    "mtl": "tab:brown",
    "random": "tab:blue",
    "exhaustive": "tab:green",
    "ours": "tab:red",
    "tag": "tab:purple",
}
_EXTRA_COLORS: tuple[str, ...] = ("tab:orange", "tab:purple", "tab:pink", "tab:olive", "tab:cyan")
_METHOD_MARKERS: dict[str, str] = {"exhaustive": "s", "ours": "o", "random": ".", "tag": "^"}
_EXTRA_MARKERS: tuple[str, ...] = ("^", "v", "D", "P", "X")

_DPI = 150


# --------------------------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------------------------


def _to_float(frame: pd.DataFrame, columns: Sequence[str], path: Path) -> None:
    """Convert ``columns`` of ``frame`` to float in place, naming the file and first bad cell."""
    for col in columns:
        converted = pd.to_numeric(frame[col], errors="coerce")
        bad = converted.isna() & frame[col].notna()
        if bad.any():
            value = frame.loc[bad, col].iloc[0]
            raise ValueError(f"{path}: column {col!r} has non-numeric value {value!r}")
        frame[col] = converted.astype(float)


def _method_sort_key(method: str) -> tuple[int, str]:
    """Sort key placing :data:`METHOD_ORDER` first, then other methods alphabetically."""
    if method in METHOD_ORDER:
        return (METHOD_ORDER.index(method), "")
    return (len(METHOD_ORDER), method)


def _ordered_methods(methods: pd.Series | list[str]) -> list[str]:
    """Unique method names in canonical order."""
    return sorted(set(methods), key=_method_sort_key)


def _method_style(method: str, extra_methods: list[str]) -> tuple[str, str]:
    """Colour and marker of ``method``; ``extra_methods`` lists the non-canonical ones in order."""
    if method in _METHOD_COLORS:
        return _METHOD_COLORS[method], _METHOD_MARKERS.get(method, "o")
    i = extra_methods.index(method)
    return _EXTRA_COLORS[i % len(_EXTRA_COLORS)], _EXTRA_MARKERS[i % len(_EXTRA_MARKERS)]


def _save(fig: plt.Figure, out_png: Path) -> None:
    """Save ``fig`` as PNG (dpi 150, tight bounding box) and close it."""
    atomic_savefig(fig, out_png, dpi=_DPI, bbox_inches="tight")
    plt.close(fig)


def _read_totals(totals_csv: Path) -> pd.DataFrame:
    """Read and validate ``totals.csv``.

    Parameters
    ----------
    totals_csv
        CSV with columns ``benchmark, method, budget, draw, seed, n_groups, total_val,
        total_test, delta_m_pct``; one row per (benchmark, method, budget, draw, seed).

    Returns
    -------
    pandas.DataFrame
        The table with numeric columns as floats and ``budget``/``draw``/``seed`` as integers.

    Raises
    ------
    ValueError
        If the file has no rows, a column is missing or not numeric, a budget, draw or seed is
        not an integer, or a (benchmark, method, budget, draw, seed) key occurs more than once.
    """
    totals_csv = Path(totals_csv)
    df = pd.read_csv(totals_csv, dtype={"benchmark": str, "method": str})
    missing = [c for c in _TOTALS_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(
            f"{totals_csv}: missing column(s) {missing}; expected columns {list(_TOTALS_COLUMNS)}"
        )
    if df.empty:
        raise ValueError(f"{totals_csv}: no data rows")
    for col in ("benchmark", "method"):
        if df[col].isna().any():
            row = int(df.index[df[col].isna()][0])
            raise ValueError(f"{totals_csv}: column {col!r} is empty in data row {row}")
    _to_float(df, _TOTALS_NUMERIC, totals_csv)
    for col in ("budget", "draw", "seed"):
        values = df[col]
        bad = values.isna() | (values != values.round())
        if bad.any():
            value = values[bad].iloc[0]
            raise ValueError(f"{totals_csv}: column {col!r} has non-integer value {value!r}")
        df[col] = values.astype(int)
    duplicated = df.duplicated(subset=_TOTALS_KEY)
    if duplicated.any():
        key = df.loc[duplicated, _TOTALS_KEY].iloc[0].to_dict()
        raise ValueError(f"{totals_csv}: duplicate row for {key}")
    return df


# --------------------------------------------------------------------------------------------
# gain heatmap
# --------------------------------------------------------------------------------------------


def _read_gains(gains_csv: Path) -> pd.DataFrame:
    """Read and validate a square gain matrix CSV (rows = source task, columns = target task)."""
    gains_csv = Path(gains_csv)
    gains = pd.read_csv(gains_csv, index_col=0)
    gains.index = gains.index.astype(str)
    gains.columns = gains.columns.astype(str)
    if gains.empty:
        raise ValueError(f"{gains_csv}: gain matrix has no rows or columns")
    rows, cols = list(gains.index), list(gains.columns)
    if len(set(rows)) != len(rows) or len(set(cols)) != len(cols):
        raise ValueError(f"{gains_csv}: duplicate task names in rows {rows} or columns {cols}")
    if set(rows) != set(cols):
        raise ValueError(
            f"{gains_csv}: gain matrix is not square over the same tasks; "
            f"rows only: {sorted(set(rows) - set(cols))}, "
            f"columns only: {sorted(set(cols) - set(rows))}"
        )
    _to_float(gains, cols, gains_csv)
    # Row i must be the source task of column i, so that the diagonal is task i with itself.
    return gains.loc[cols, cols]


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
    mean Spearman agreement.

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
    n = len(tasks)
    cols = min(n, 4)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False)
    palette = sns.color_palette("tab20" if n > 10 else "tab10", n)
    for k, target in enumerate(tasks):
        ax = axes[k // cols][k % cols]
        for i, source in enumerate(tasks):
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
        ax.set_title(f"target {target}", fontsize=9)
        ax.set_xlabel("training step of the base run", fontsize=8)
        ax.set_ylabel("running mean gain", fontsize=8)
        ax.tick_params(labelsize=7)
    for k in range(n, rows * cols):
        axes[k // cols][k % cols].axis("off")
    handles = [plt.Line2D([], [], color=palette[i], lw=1.5, label=t) for i, t in enumerate(tasks)]
    fig.legend(handles=handles, title="source i", loc="center right", fontsize=8)
    agreement = ""
    seeds = pd.read_csv(seeds_csv)
    if not seeds.empty:
        agreement = (
            f"; seeds' mean Spearman agreement {seeds['spearman'].mean():.2f} "
            f"({len(seeds)} pairs of runs)"
        )
    fig.suptitle((title or "Transfer gains over training") + agreement, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.9, 0.96))
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
        contains non-numeric values.
    """
    gains_csv = Path(gains_csv)
    gains = _read_gains(gains_csv)
    n = len(gains)
    mask = np.eye(n, dtype=bool)
    off_diagonal = gains.to_numpy()[~mask]
    finite = off_diagonal[np.isfinite(off_diagonal)]
    vmax = float(np.abs(finite).max()) if finite.size else 0.0
    if vmax == 0.0:
        vmax = 1.0  # all gains zero: any symmetric range shows them as neutral

    side = max(4.5, 0.55 * n + 2.5)
    fig, ax = plt.subplots(figsize=(side + 1.0, side))
    ax.set_facecolor("0.85")
    sns.heatmap(
        gains,
        mask=mask,
        cmap="RdBu",
        center=0.0,
        vmin=-vmax,
        vmax=vmax,
        annot=True,
        fmt=".2g",
        annot_kws={"size": max(5.0, 10.0 - 0.25 * n)},
        linewidths=0.5,
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
    if title is None:
        title = f"Pairwise transfer gains ({gains_csv.parent.name or gains_csv.stem})"
    ax.set_title(f"{title}\nblue: i helps j, red: i hurts j; diagonal undefined")
    _save(fig, out_png)


# --------------------------------------------------------------------------------------------
# budget curve
# --------------------------------------------------------------------------------------------


def _runs_label(rows: pd.DataFrame) -> str:
    """What several rows of one method and budget are: ``"5 draws"``, ``"3 seeds"`` or both."""
    parts = []
    n_draws, n_seeds = int(rows["draw"].nunique()), int(rows["seed"].nunique())
    if n_draws > 1:
        parts.append(f"{n_draws} draws")
    if n_seeds > 1:
        parts.append(f"{n_seeds} seeds")
    return " x ".join(parts) or "1 run"


def _plot_benchmark_curve(ax: plt.Axes, df: pd.DataFrame, extra_methods: list[str]) -> None:
    """Draw every method of one benchmark onto ``ax`` (see :func:`plot_budget_curve`)."""
    for method in _ordered_methods(df["method"]):
        rows = df[df["method"] == method]
        color, marker = _method_style(method, extra_methods)
        if method in _REFERENCE_METHODS:
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
            ax.plot([budget], [value], marker="D", color=color, linestyle="none")
            continue
        stats = (
            rows.groupby("budget")["total_test"].agg(["mean", "min", "max", "count"]).sort_index()
        )
        n_runs = int(stats["count"].max())
        if n_runs > 1:
            what = _runs_label(rows)
            ax.fill_between(
                stats.index,
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
            stats.index,
            stats["mean"],
            color=color,
            marker=marker,
            linewidth=1.8,
            markersize=6,
            label=label,
        )


def plot_budget_curve(totals_csv: Path, out_png: Path) -> None:
    """Plot total test loss against the budget (number of networks) for every method.

    Methods with one run per budget (e.g. ``exhaustive``, ``ours``) are lines with markers;
    methods with several draws per budget (``random``) are a mean line with a shaded min–max band
    over draws; ``stl`` and ``mtl`` are horizontal dashed reference lines (with a marker at their
    own budget). One panel per benchmark; the legend sits outside the axes.

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
    extra_methods = [m for m in _ordered_methods(df["method"]) if m not in _METHOD_COLORS]
    fig, axes = plt.subplots(
        1, len(benchmarks), figsize=(6.5 * len(benchmarks), 4.5), squeeze=False
    )
    handles: dict[str, object] = {}
    for ax, benchmark in zip(axes[0], benchmarks, strict=True):
        try:
            _plot_benchmark_curve(ax, df[df["benchmark"] == benchmark], extra_methods)
        except ValueError as err:
            raise ValueError(f"{totals_csv}: {err}") from err
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("budget B (number of networks trained)")
        ax.set_ylabel("total test loss (sum over tasks; lower is better)")
        ax.set_title(f"Total test loss vs budget: {benchmark}")
        ax.grid(True, alpha=0.3)
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            handles.setdefault(label, handle)
    axes[0, -1].legend(
        list(handles.values()),
        list(handles.keys()),
        loc="upper left",
        bbox_to_anchor=(1.02, 1.0),
        borderaxespad=0.0,
        title="method",
    )
    fig.tight_layout()
    _save(fig, out_png)


# --------------------------------------------------------------------------------------------
# grouping grid
# --------------------------------------------------------------------------------------------


def _group_codes(groups: object, tasks: list[str], source: Path) -> list[int]:
    """Group number (1-based) of each task in ``tasks`` order.

    Groups are renumbered by the position of their first task in ``tasks`` so that rows are
    comparable: the group containing ``tasks[0]`` is always group 1.
    """
    if not isinstance(groups, list) or not all(
        isinstance(g, list) and all(isinstance(t, str) for t in g) for g in groups
    ):
        raise ValueError(f"{source}: 'groups' must be a list of lists of task names")
    position = {task: i for i, task in enumerate(tasks)}
    owner: dict[str, int] = {}
    for g, members in enumerate(groups):
        for task in members:
            if task not in position:
                raise ValueError(f"{source}: unknown task {task!r}; expected one of {tasks}")
            if task in owner:
                raise ValueError(f"{source}: task {task!r} appears in more than one group")
            owner[task] = g
    missing = [t for t in tasks if t not in owner]
    if missing:
        raise ValueError(f"{source}: task(s) {missing} are not in any group")
    renumber: dict[int, int] = {}
    for task in tasks:
        renumber.setdefault(owner[task], len(renumber) + 1)
    return [renumber[owner[task]] for task in tasks]


def _load_group_json(path: Path) -> dict:
    """Read a JSON file, naming the file when it is not a JSON object."""
    path = Path(path)
    with path.open(encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def plot_groups(
    group_jsons: list[Path],
    tasks: list[str],
    out_png: Path,
    *,
    truth_json: Path | None = None,
) -> None:
    """Plot the task groupings of several methods/budgets as a coloured grid.

    One row per (method, budget), ordered by method (canonical order) then budget, preceded by a
    ``planted`` row when ``truth_json`` is given; one column per task in ``tasks`` order. A cell's
    colour and number give the task's group within that row. Groups are numbered 1, 2, ... in the
    order of their first task in ``tasks``, so equal numbers in a column mean the same position,
    not necessarily the same group across rows. For ``random``, draw 0 (the ``groups`` field) is
    shown.

    Parameters
    ----------
    group_jsons
        Group files with at least ``method`` (str), ``budget`` (int) and ``groups`` (list of lists
        of task names); every task must appear in exactly one group.
    tasks
        Task names, in column order.
    out_png
        Output PNG path; parent directories are created.
    truth_json
        Optional file with the planted partition, ``{"groups": [[...], ...]}``.

    Raises
    ------
    ValueError
        If no group file is given, ``tasks`` is empty or has duplicates, a file lacks a field,
        a grouping is not a partition of ``tasks``, or two files share a (method, budget).
    """
    tasks = list(tasks)
    if not tasks:
        raise ValueError("plot_groups: 'tasks' is empty")
    if len(set(tasks)) != len(tasks):
        dup = sorted({t for t in tasks if tasks.count(t) > 1})
        raise ValueError(f"plot_groups: duplicate task name(s) {dup}")
    if not group_jsons:
        raise ValueError("plot_groups: no group JSON files given")

    entries: dict[tuple[str, int], tuple[str, list[int]]] = {}
    for path in group_jsons:
        path = Path(path)
        data = _load_group_json(path)
        for key in ("method", "budget", "groups"):
            if key not in data:
                raise ValueError(f"{path}: missing field {key!r}")
        method, budget = data["method"], data["budget"]
        if not isinstance(method, str) or isinstance(budget, bool) or not isinstance(budget, int):
            raise ValueError(
                f"{path}: 'method' must be a string and 'budget' an integer, "
                f"got {method!r} and {budget!r}"
            )
        if (method, budget) in entries:
            raise ValueError(f"{path}: duplicate grouping for method {method!r}, budget {budget}")
        label = f"{method}, B={budget}" + (" (draw 0)" if "draws" in data else "")
        entries[(method, budget)] = (label, _group_codes(data["groups"], tasks, path))

    rows: list[tuple[str, list[int]]] = []
    if truth_json is not None:
        truth = _load_group_json(Path(truth_json))
        if "groups" not in truth:
            raise ValueError(f"{truth_json}: missing field 'groups'")
        codes = _group_codes(truth["groups"], tasks, Path(truth_json))
        rows.append((f"planted, B={max(codes)}", codes))
    for key in sorted(entries, key=lambda k: (_method_sort_key(k[0]), k[1])):
        rows.append(entries[key])

    labels = [label for label, _ in rows]
    grid = np.array([codes for _, codes in rows], dtype=int)
    n_colors = int(grid.max())
    if n_colors <= 20:
        # tab20 reordered so that the first ten colours are the distinct hues of tab10 and the
        # light variants only follow after them.
        tab20 = sns.color_palette("tab20", 20)
        colors = (tab20[0::2] + tab20[1::2])[:n_colors]
    else:
        colors = sns.color_palette("husl", n_colors)
    cmap = ListedColormap(colors)

    n_rows, n_cols = grid.shape
    fig, ax = plt.subplots(figsize=(max(5.0, 0.55 * n_cols + 3.0), max(2.5, 0.45 * n_rows + 1.8)))
    ax.imshow(
        grid, cmap=cmap, vmin=0.5, vmax=n_colors + 0.5, aspect="auto", interpolation="nearest"
    )
    for r in range(n_rows):
        for c in range(n_cols):
            code = int(grid[r, c])
            red, green, blue = to_rgb(colors[code - 1])
            luminance = 0.299 * red + 0.587 * green + 0.114 * blue
            ax.text(
                c,
                r,
                str(code),
                ha="center",
                va="center",
                fontsize=9,
                color="black" if luminance > 0.5 else "white",
            )
    ax.set_xticks(range(n_cols), labels=tasks, rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(range(n_rows), labels=labels)
    ax.set_xticks(np.arange(-0.5, n_cols), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("task")
    ax.set_ylabel("method, budget B")
    ax.set_title("Task groupings (cell number/colour = group of the task within its row)")
    _save(fig, out_png)


# --------------------------------------------------------------------------------------------
# totals tables
# --------------------------------------------------------------------------------------------


def _format_number(value: float) -> str:
    """Format with 4 significant digits."""
    return f"{value:.4g}"


def _mean_std_cell(mean: float, std: float, n_runs: int) -> str:
    """``"mean ± std"`` when there are several runs (draws or seeds), else the mean alone."""
    if n_runs > 1:
        return f"{_format_number(mean)} ± {_format_number(std)}"
    return _format_number(mean)


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
            "total test loss": [
                _mean_std_cell(m, s, n)
                for m, s, n in zip(
                    agg["total_test_mean"], agg["total_test_std"], agg["n_runs"], strict=True
                )
            ],
            "delta_m vs STL (%)": [
                _mean_std_cell(m, s, n)
                for m, s, n in zip(
                    agg["delta_m_pct_mean"], agg["delta_m_pct_std"], agg["n_runs"], strict=True
                )
            ],
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


# --------------------------------------------------------------------------------------------
# budget curves of measured tables, solver benchmark
# --------------------------------------------------------------------------------------------


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


def plot_bench_grouping(bench_csv: Path, out_png: Path) -> None:
    """Build + solve time of the exact grouping versus the number of tasks, per mode and cap.

    Each point is the slowest budget of that (n, cap, mode); infeasible budgets are left out.
    """
    bench_csv = Path(bench_csv)
    df = pd.read_csv(bench_csv)
    missing = [
        c for c in ("n_tasks", "cap", "mode", "status", "build_s", "solve_s") if c not in df.columns
    ]
    if missing:
        raise ValueError(f"{bench_csv}: missing column(s) {missing}")
    df = df[df["status"] != "infeasible"].copy()
    df["total_s"] = df["build_s"] + df["solve_s"]
    df["cap"] = df["cap"].map(lambda c: "none" if pd.isna(c) else str(int(c)))
    worst = df.groupby(["mode", "cap", "n_tasks"])["total_s"].max().reset_index()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for (mode, cap), part in worst.groupby(["mode", "cap"]):
        ax.plot(part["n_tasks"], part["total_s"], marker="o", label=f"{mode}, cap {cap}")
    ax.set_yscale("log")
    ax.set_xlabel("number of tasks n")
    ax.set_ylabel("build + solve time, slowest budget (s)")
    ax.set_title(
        "Exact grouping on random gain matrices\n"
        "(subset DP up to n = 16 without cost limits, else cvxpy + HiGHS)"
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small")
    atomic_savefig(fig, out_png, dpi=150, bbox_inches="tight")
    plt.close(fig)


def plot_bench_probe(bench_csv: Path, out_png: Path) -> None:
    """Cost of one probing step versus the number of tasks, and lazy, sampled collection.

    Reads the CSV of :func:`taskgrouping.bench_probe.run_bench`. One log-scale panel per timed
    model (seconds per step of every method against ``n``), then a panel of the probing overhead
    of each collection setting (one dot per seed, a bar at the median, log scale) annotated with
    its median rank correlation with full collection, how many seeds chose the same partitions
    (at the planted k, at all budgets B), for lazy exact settings the mean share of draws that did,
    and for full collection at how many seeds its even and odd halves agree with it.
    """
    bench_csv = Path(bench_csv)
    df = pd.read_csv(bench_csv)
    methods = {
        "mtl_step_s": ("training step", "tab:gray", "s"),
        "exact_sequential_s": ("exact, sequential engine", "tab:blue", "^"),
        "exact_fast_s": ("exact, fast engine", "tab:red", "o"),
        "exact_batched_s": ("exact, batched (vmap) engine", "tab:orange", "v"),
        "floor_s": ("floor (n backward + C forward)", "black", "x"),
        "first_order_s": ("first-order estimate", "tab:green", "D"),
    }
    needed = ["part", "model", "n_tasks", "threads", "batch_size", "seed", "setting", "epochs"]
    needed += ["overhead_fraction", "rank_corr_with_full", "same_groups_at_planted"]
    needed += ["same_groups_all_budgets", *methods]
    missing = [c for c in needed if c not in df.columns]
    if missing:
        raise ValueError(f"{bench_csv}: missing column(s) {missing}")
    timing = df[df["part"] == "timing"]
    collection = df[df["part"] == "collection"]
    models = sorted(timing["model"].unique())
    n_coll = max(1, collection["model"].nunique())
    fig, axes = plt.subplots(
        1,
        len(models) + n_coll,
        figsize=(4.8 * len(models) + 6.0 * n_coll, 4.8),
        width_ratios=[4.8] * len(models) + [6.0] * n_coll,
        squeeze=False,
        layout="constrained",
    )
    for ax, model in zip(axes[0], models, strict=False):
        part = timing[timing["model"] == model].sort_values("n_tasks")
        for col, (label, color, marker) in methods.items():
            ax.plot(part["n_tasks"], part[col], marker=marker, color=color, label=label)
        ax.set_yscale("log")
        ax.set_xticks(part["n_tasks"])
        ax.set_xlabel("number of tasks n (C = n(n+1)/2 combinations)")
        ax.set_ylabel("seconds per step (median)")
        threads = ", ".join(str(int(t)) for t in sorted(part["threads"].unique()))
        ax.set_title(f"{model}: batch {int(part['batch_size'].iloc[0])}, {threads} thread(s)")
        ax.grid(alpha=0.3, which="both")
    axes[0][0].legend(fontsize="small")
    coll_models = list(dict.fromkeys(collection["model"])) or [None]
    for panel, coll_model in enumerate(coll_models):
        ax = axes[0][len(models) + panel]
        part = collection[collection["model"] == coll_model]
        if part.empty:
            ax.set_axis_off()
            continue
        settings = list(dict.fromkeys(part["setting"]))
        colors = sns.color_palette("tab10", len(settings))
        for k, setting in enumerate(settings):
            rows = part[part["setting"] == setting]
            pct = 100 * rows["overhead_fraction"].to_numpy(float)
            offsets = np.linspace(-0.15, 0.15, len(pct)) if len(pct) > 1 else np.zeros(1)
            ax.scatter(k + offsets, pct, color=colors[k], s=18, zorder=3)
            median = float(np.median(pct))
            ax.hlines(median, k - 0.3, k + 0.3, color=colors[k], linewidth=2)
            text = f"{median:.3g}%"
            if setting != "full":
                planted = rows["same_groups_at_planted"].astype(str).str.lower()
                same = planted == "true"
                same_all = rows["same_groups_all_budgets"].astype(str).str.lower() == "true"
                text += f"\nrank {rows['rank_corr_with_full'].median():.2f}\nsame groups:"
                if planted.isin(["true", "false"]).any():
                    text += f"\n{int(same.sum())}/{len(rows)} at k"
                text += f"\n{int(same_all.sum())}/{len(rows)} all B"
                rate = rows.get("same_groups_all_budgets_rate")
                if rate is not None and rate.notna().any():
                    text += f"\ndraws: {100 * rate.mean():.0f}%"
            else:
                halves = rows.get("split_half_same_groups")
                if halves is not None and halves.notna().any():
                    agree = halves.astype(str).str.lower() == "true"
                    text += f"\nhalves agree:\n{int(agree.sum())}/{len(rows)}"
            ax.annotate(
                text,
                (k, pct.max()),
                xytext=(0, 6),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize="x-small",
            )
        ax.axhline(10, color="black", linestyle="--", linewidth=1, label="10% overhead")
        ax.set_yscale("log")
        ax.set_ylim(1, 1e5)
        ax.set_xlim(-0.6, len(settings) - 0.4)
        ax.set_xticks(range(len(settings)), [s.replace("_", "\n") for s in settings])
        ax.set_ylabel("probing time / training time (%)")
        ax.set_title(
            f"{coll_model}, n = {int(part['n_tasks'].iloc[0])}, "
            f"{int(part['epochs'].iloc[0])} epochs: {part['seed'].nunique()} seed(s)"
        )
        ax.grid(alpha=0.3, axis="y", which="both")
        ax.legend(fontsize="small", loc="upper right")
    _save(fig, Path(out_png))
