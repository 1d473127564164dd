"""The chosen groups of every method and budget, as a grid of task colours."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.colors import ListedColormap, to_rgb

from taskgrouping.report._style import (
    _method_sort_key,
    _save,
)


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


def _group_rows(
    group_jsons: list[Path], tasks: list[str], truth_json: Path | None
) -> list[tuple[str, list[int]]]:
    """The (label, group codes) rows of :func:`plot_groups`, planted first; raises its errors for
    the files."""
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
    return rows


def _label_cells(ax: Axes, grid: np.ndarray, colors: list) -> None:
    """Write every cell's group number on ``ax``, black or white after the cell's luminance."""
    n_rows, n_cols = grid.shape
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

    rows = _group_rows(group_jsons, tasks, truth_json)
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
    _label_cells(ax, grid, colors)
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
