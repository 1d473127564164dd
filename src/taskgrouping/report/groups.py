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


def _group_sets(groups: object, tasks: list[str], source: Path) -> list[frozenset[str]]:
    """The group of each task in ``tasks`` order, as the set of its tasks; checks that
    ``groups`` is a partition of ``tasks``."""
    if not isinstance(groups, list) or not all(
        isinstance(g, list) and all(isinstance(t, str) for t in g) for g in groups
    ):
        raise ValueError(f"{source}: 'groups' must be a list of lists of task names")
    position = {task: i for i, task in enumerate(tasks)}
    owner: dict[str, frozenset[str]] = {}
    for members in groups:
        for task in members:
            if task not in position:
                raise ValueError(f"{source}: unknown task {task!r}; expected one of {tasks}")
            if task in owner:
                raise ValueError(f"{source}: task {task!r} appears in more than one group")
            owner[task] = frozenset(members)
    missing = [t for t in tasks if t not in owner]
    if missing:
        raise ValueError(f"{source}: task(s) {missing} are not in any group")
    return [owner[task] for task in tasks]


def _group_codes(rows: list[list[frozenset[str]]], tasks: list[str]) -> np.ndarray:
    """One code per cell: 0 for a task alone, else the number (1, 2, ...) of its group, the
    same number for the same set of tasks in every row.

    Groups are numbered by their first task in ``tasks`` order, then by size (larger first),
    then by their task lists, so that the numbering depends only on which groups occur.
    """
    position = {task: i for i, task in enumerate(tasks)}
    found = {group for row in rows for group in row if len(group) > 1}

    def order(group: frozenset[str]) -> tuple[int, int, list[int]]:
        members = sorted(position[t] for t in group)
        return (members[0], -len(members), members)

    number = {group: k for k, group in enumerate(sorted(found, key=order), 1)}
    return np.array([[number.get(group, 0) for group in row] for row in rows], dtype=int)


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
) -> list[tuple[str, list[frozenset[str]]]]:
    """The (label, group of each task) rows of :func:`plot_groups`, planted first; raises its
    errors for the files."""
    entries: dict[tuple[str, int], tuple[str, list[frozenset[str]]]] = {}
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
        if method == "planted" and truth_json is not None:
            continue  # the truth's own row shows it
        label = f"{method}, B={budget}" + (" (draw 0)" if "draws" in data else "")
        entries[(method, budget)] = (label, _group_sets(data["groups"], tasks, path))

    rows: list[tuple[str, list[frozenset[str]]]] = []
    if truth_json is not None:
        truth = _load_group_json(Path(truth_json))
        if "groups" not in truth:
            raise ValueError(f"{truth_json}: missing field 'groups'")
        sets = _group_sets(truth["groups"], tasks, Path(truth_json))
        rows.append((f"planted, B={len(set(sets))}", sets))
    for key in sorted(entries, key=lambda k: (_method_sort_key(k[0]), k[1])):
        rows.append(entries[key])
    return rows


def _columns_by_planted(
    tasks: list[str], rows: list[tuple[str, list[frozenset[str]]]]
) -> tuple[list[str], list[tuple[str, list[frozenset[str]]]]]:
    """Tasks and every row's cells reordered cluster by cluster of the first (planted) row, the
    clusters by their first task, the tasks of a cluster in ``tasks`` order: a method that found
    the planted partition shows its blocks."""
    column = {t: i for i, t in enumerate(tasks)}
    order = sorted(range(len(tasks)), key=lambda i: (min(map(column.get, rows[0][1][i])), i))
    return [tasks[i] for i in order], [(label, [sets[i] for i in order]) for label, sets in rows]


#: Colour of a task alone (a single-task network), whatever the task.
_ALONE = (0.86, 0.86, 0.86)


#: Above this many tasks the grid is drawn without cell numbers, in narrower columns, and (with
#: a planted partition) with the columns in planted clusters.
MANY_TASKS = 24


def _label_cells(ax: Axes, grid: np.ndarray, colors: list) -> None:
    """Write every cell's group number on ``ax`` ("-" for a task alone), black or white after
    the cell's luminance."""
    n_rows, n_cols = grid.shape
    for r in range(n_rows):
        for c in range(n_cols):
            code = int(grid[r, c])
            red, green, blue = to_rgb(colors[code])
            luminance = 0.299 * red + 0.587 * green + 0.114 * blue
            ax.text(
                c,
                r,
                str(code) if code else "-",
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
    colour and number name the task's group, the same colour and number for the same set of
    tasks in every row (see :func:`_group_codes`); a task alone is light grey, marked "-". For
    ``random``, draw 0 (the ``groups`` field) is shown; method ``planted`` has no row of its own
    beside the truth's. Above :data:`MANY_TASKS` tasks the cells carry no numbers and, with a
    truth, the columns follow the planted clusters, separated by black lines.

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
    many = len(tasks) > MANY_TASKS
    if many and truth_json is not None:
        tasks, rows = _columns_by_planted(tasks, rows)
    grid = _group_codes([sets for _, sets in rows], tasks)
    n_groups = int(grid.max())
    if n_groups <= 18:
        # tab20 without its greys, reordered so that the distinct hues of tab10 come first and
        # their light variants only after them.
        tab20 = [c for k, c in enumerate(sns.color_palette("tab20", 20)) if k not in (14, 15)]
        colors = [_ALONE, *(tab20[0::2] + tab20[1::2])[:n_groups]]
    else:
        colors = [_ALONE, *sns.color_palette("husl", n_groups)]
    cmap = ListedColormap(colors)

    n_rows, n_cols = grid.shape
    width = 0.16 * n_cols + 3.0 if many else 0.55 * n_cols + 3.0
    fig, ax = plt.subplots(figsize=(max(5.0, width), max(2.5, 0.45 * n_rows + 1.8)))
    ax.imshow(
        grid, cmap=cmap, vmin=-0.5, vmax=n_groups + 0.5, aspect="auto", interpolation="nearest"
    )
    if not many:
        _label_cells(ax, grid, colors)
    ax.set_xticks(
        range(n_cols),
        labels=tasks,
        rotation=90 if many else 45,
        ha="center" if many else "right",
        rotation_mode="anchor" if not many else "default",
        fontsize=6 if many else None,
    )
    ax.set_yticks(range(n_rows), labels=labels)
    ax.set_xticks(np.arange(-0.5, n_cols), minor=True)
    ax.set_yticks(np.arange(-0.5, n_rows), minor=True)
    ax.grid(which="minor", color="white", linewidth=0.6 if many else 1.5)
    if many and truth_json is not None:
        edges = [c for c in range(1, n_cols) if grid[0, c] != grid[0, c - 1]]
        for c in edges:
            ax.axvline(c - 0.5, color="black", linewidth=0.8)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("task")
    ax.set_ylabel("method, budget B")
    ax.set_title(
        "Task groupings: a colour is one set of tasks in every row; grey = task alone"
        + (", columns in planted clusters" if many and truth_json is not None else "")
        if many
        else "Task groupings: a number and colour is one set of tasks in every row; - = task alone",
        fontsize=10,
    )
    _save(fig, out_png)
