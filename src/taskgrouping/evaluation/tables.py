"""Measured performance tables: one row per trained network, one loss per member task.

A :class:`PerformanceTable` records, for every trained candidate network, which tasks it serves,
each member task's loss (lower is better) and the network's inference cost.  Two file formats
are read:

* the HOA format of Standley et al. (2020), ``network_selection/results*.txt`` in
  github.com/tstandley/taskgrouping (:func:`read_hoa`);
* a plain CSV format of this package (:func:`read_table_csv`, :func:`write_table_csv`).

MTG-Net's subset gains, a table of gains rather than losses, are read by
:mod:`taskgrouping.evaluation.mtgnet`.

The scoring functions follow the network-selection protocol: every task is served by the chosen
network with the lowest *validation* loss for it, and the chosen networks are reported by the
*test* losses of those serving networks (:func:`score_selection`, :func:`test_total`).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from taskgrouping.evaluation.serving import serving_positions
from taskgrouping.grouping import MODES, Candidates, Selection
from taskgrouping.io import atomic_writer

# Column order of the HOA files: semantic segmentation, depth, surface normals, keypoints, edges.
TASKONOMY_TASKS = ("s", "d", "n", "k", "t")
TASKONOMY_TASK_NAMES = {
    "s": "semantic segmentation",
    "d": "depth (z-buffer)",
    "n": "surface normals",
    "k": "2D keypoints",
    "t": "edges (texture)",
}
# The first row of a HOA file holds single-task networks of half the usual width.
HALF_SIZE_COST = 0.5
# Members of a network in the ``network`` column of the CSV format.
NETWORK_SEPARATOR = "+"
CSV_NETWORK_COLUMN = "network"
CSV_COST_COLUMN = "cost"


@dataclass(frozen=True, eq=False)
class PerformanceTable:
    """Measured losses of trained candidate networks.

    The arrays are validated, copied and made read-only on construction.

    Attributes
    ----------
    tasks
        Task names, one per column, distinct and free of ``"+"``.
    masks
        Boolean array ``(m, n)``: row ``r`` is the task set of network ``r``.  Rows need not be
        distinct: a HOA table holds two networks for every single task (half and full size).
    losses
        Float array ``(m, n)``: the loss of task ``j`` in network ``r`` (lower is better), finite
        where ``masks`` is True and NaN elsewhere.
    costs
        Float array ``(m,)``: the inference cost of every network, finite and non-negative.
    """

    tasks: list[str]
    masks: np.ndarray
    losses: np.ndarray
    costs: np.ndarray

    def __post_init__(self) -> None:
        tasks = [str(task) for task in self.tasks]
        if not tasks or len(set(tasks)) != len(tasks):
            raise ValueError(f"tasks {tasks} must be a non-empty list of distinct names")
        for task in tasks:
            if not task or NETWORK_SEPARATOR in task:
                raise ValueError(
                    f"task name {task!r} is not accepted: a non-empty name without "
                    f"{NETWORK_SEPARATOR!r}"
                )
        masks = np.array(self.masks)
        if masks.ndim != 2 or masks.shape[0] == 0 or masks.shape[1] != len(tasks):
            raise ValueError(
                f"masks have shape {masks.shape}; accepted: (networks >= 1, {len(tasks)} tasks)"
            )
        if masks.dtype != bool:
            raise ValueError(f"masks must be boolean, got dtype {masks.dtype}")
        empty = np.flatnonzero(~masks.any(axis=1))
        if empty.size:
            raise ValueError(f"network {empty[0]} has no task; every network serves a task")
        losses = np.array(self.losses, dtype=float)
        if losses.shape != masks.shape:
            raise ValueError(f"losses have shape {losses.shape}; accepted: {masks.shape}")

        def network(row: int) -> str:
            members = NETWORK_SEPARATOR.join(t for t, m in zip(tasks, masks[row], strict=True) if m)
            return f"network {row} ({members})"

        bad = masks & ~np.isfinite(losses)
        if bad.any():
            row, task = (int(k) for k in np.argwhere(bad)[0])
            raise ValueError(
                f"{network(row)} has loss {losses[row, task]} for its member task "
                f"{tasks[task]!r}; accepted: a finite number"
            )
        stray = ~masks & ~np.isnan(losses)
        if stray.any():
            row, task = (int(k) for k in np.argwhere(stray)[0])
            raise ValueError(
                f"{network(row)} has loss {losses[row, task]} for task {tasks[task]!r}, which is "
                f"not one of its members; accepted: NaN"
            )
        costs = np.array(self.costs, dtype=float)
        if costs.shape != (masks.shape[0],):
            raise ValueError(f"costs have shape {costs.shape}; accepted: ({masks.shape[0]},)")
        bad_cost = ~(np.isfinite(costs) & (costs >= 0))
        if bad_cost.any():
            row = int(np.flatnonzero(bad_cost)[0])
            raise ValueError(
                f"{network(row)} has cost {costs[row]}; accepted: a finite non-negative number"
            )
        object.__setattr__(self, "tasks", tasks)
        for name, array in (("masks", masks), ("losses", losses), ("costs", costs)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def n_tasks(self) -> int:
        """Number of tasks (columns)."""
        return len(self.tasks)

    @property
    def n_networks(self) -> int:
        """Number of networks (rows)."""
        return int(self.masks.shape[0])

    def members(self, row: int) -> list[str]:
        """Names of the tasks of network ``row``, in column order."""
        return [self.tasks[j] for j in np.flatnonzero(self.masks[row])]

    def label(self, row: int) -> str:
        """Name of network ``row``: its tasks joined by ``"+"``, e.g. ``"s+d"``."""
        return NETWORK_SEPARATOR.join(self.members(row))


def read_hoa(path: Path | str, tasks: Sequence[str] = TASKONOMY_TASKS) -> PerformanceTable:
    """Read a results file of Standley et al. (2020), e.g. ``network_selection/results.txt``.

    The file is tab-separated with one column per task (by default the Taskonomy tasks
    ``s, d, n, k, t``: semantic segmentation, depth, normals, keypoints, edges; see
    :data:`TASKONOMY_TASK_NAMES`) and ``2**n`` lines:

    * line 1: the losses of ``n`` half-size single-task networks, one per column, which become
      ``n`` networks of cost :data:`HALF_SIZE_COST` (0.5);
    * lines 2 to ``2**n``: one full-size network per non-empty task subset, cost 1; a blank
      cell means the task is not in that network.

    Blank lines after the last row are ignored; a missing final newline is accepted.

    Parameters
    ----------
    path
        The results file.
    tasks
        Names of the columns.

    Returns
    -------
    PerformanceTable
        ``n + 2**n - 1`` networks (36 for the five Taskonomy tasks), the half-size networks
        first, then the rows of the file in order.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When a line has the wrong number of cells, a cell is not a number, the first line is
        not complete, or a later line is empty or repeats an earlier network.
    """
    path = Path(path)
    tasks = [str(task) for task in tasks]
    n_tasks = len(tasks)
    lines = _read_text(path, "HOA results file").splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    expected = 2**n_tasks
    if len(lines) != expected:
        raise ValueError(
            f"{path}: {len(lines)} lines; accepted: {expected} for the {n_tasks} tasks "
            f"{', '.join(tasks)} (half-size networks, then the {expected - 1} task subsets)"
        )
    rows: list[list[float]] = []
    for number, line in enumerate(lines, 1):
        cells = line.split("\t")
        if len(cells) != n_tasks:
            raise ValueError(
                f"{path}, line {number}: {len(cells)} tab-separated cells; accepted: {n_tasks}, "
                f"one per task {', '.join(tasks)} (blank for a task outside the network)"
            )
        rows.append(
            [
                _parse_loss(cell, path, f"line {number}", task)
                for cell, task in zip(cells, tasks, strict=True)
            ]
        )
    losses = np.array(rows, dtype=float)
    half = losses[0]
    missing = [tasks[j] for j in np.flatnonzero(np.isnan(half))]
    if missing:
        raise ValueError(
            f"{path}, line 1: no loss for task(s) {', '.join(missing)}; the first line holds the "
            f"half-size single-task network of every task, so every cell needs a loss"
        )
    full = losses[1:]
    full_masks = ~np.isnan(full)
    _check_hoa_subsets(full_masks, tasks, path)
    half_masks = np.eye(n_tasks, dtype=bool)
    return PerformanceTable(
        tasks=tasks,
        masks=np.vstack([half_masks, full_masks]),
        losses=np.vstack([np.where(half_masks, half, np.nan), full]),
        costs=np.concatenate([np.full(n_tasks, HALF_SIZE_COST), np.ones(len(full))]),
    )


def _check_hoa_subsets(full_masks: np.ndarray, tasks: Sequence[str], path: Path) -> None:
    """Raise unless every full-size network of a HOA file (lines 2, 3, ...) is a distinct,
    non-empty task subset."""
    seen: dict[bytes, int] = {}
    for offset, mask in enumerate(full_masks):
        number = offset + 2
        if not mask.any():
            raise ValueError(f"{path}, line {number}: every cell is blank; a network needs a task")
        key = mask.tobytes()
        if key in seen:
            network = NETWORK_SEPARATOR.join(np.array(tasks)[mask])
            raise ValueError(
                f"{path}, line {number}: the network {network} already appears on line "
                f"{seen[key]}; every task subset appears once"
            )
        seen[key] = number


def read_table_csv(path: Path | str) -> PerformanceTable:
    """Read a performance table in this package's CSV format.

    The format (comma-separated, header row, one row per network)::

        network,cost,s,d,n
        s,0.5,0.0802,,
        s+d,1,0.0786,0.1833,
        s+d+n,1,0.0750,0.1700,0.0958

    * ``network``: the member tasks joined by ``"+"``; must name exactly the tasks whose loss
      cells are filled;
    * ``cost`` (optional column; default 1 for every network, a blank cell also means 1): the
      network's inference cost;
    * every other column is a task, in order; the cell holds the task's loss in that network
      (lower is better), blank when the task is not a member.

    Parameters
    ----------
    path
        The CSV file.

    Returns
    -------
    PerformanceTable
        The networks in file order.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ValueError
        When a column is missing or repeated, a row has the wrong number of cells, a cell is not
        a number, or the ``network`` cell disagrees with the filled loss cells.
    """
    path = Path(path)
    reader = csv.reader(_read_text(path, "performance table").splitlines())
    rows = [row for row in reader if any(cell.strip() for cell in row)]
    if not rows:
        raise ValueError(f"{path} is empty; accepted: a header row, then one row per network")
    header = [cell.strip() for cell in rows[0]]
    if len(set(header)) != len(header):
        raise ValueError(f"{path}: the header {header} repeats a column")
    if CSV_NETWORK_COLUMN not in header:
        raise ValueError(
            f"{path}: no {CSV_NETWORK_COLUMN!r} column in the header {header}; accepted: "
            f"{CSV_NETWORK_COLUMN}, optionally {CSV_COST_COLUMN}, then one column per task"
        )
    tasks = [name for name in header if name not in (CSV_NETWORK_COLUMN, CSV_COST_COLUMN)]
    if not tasks:
        raise ValueError(f"{path}: the header {header} has no task column")
    if len(rows) == 1:
        raise ValueError(f"{path}: a header but no network row")
    masks, losses, costs = [], [], []
    for number, row in enumerate(rows[1:], 2):
        mask, loss, cost = _csv_network(row, number, header, tasks, path)
        masks.append(mask)
        losses.append(loss)
        costs.append(cost)
    return PerformanceTable(
        tasks=tasks, masks=np.array(masks), losses=np.array(losses), costs=np.array(costs)
    )


def _csv_network(
    row: Sequence[str], number: int, header: Sequence[str], tasks: Sequence[str], path: Path
) -> tuple[np.ndarray, list[float], float]:
    """The member mask, losses and cost of one network row (file row ``number``) of a CSV table.

    Raises the errors of :func:`read_table_csv` for that row.
    """
    columns = {name: index for index, name in enumerate(header)}
    where = f"row {number}"
    if len(row) != len(header):
        raise ValueError(
            f"{path}, {where}: {len(row)} cells; accepted: {len(header)}, one per column "
            f"of the header {list(header)}"
        )
    loss = [_parse_loss(row[columns[task]], path, where, task) for task in tasks]
    mask = ~np.isnan(loss)
    named = [name.strip() for name in row[columns[CSV_NETWORK_COLUMN]].split(NETWORK_SEPARATOR)]
    filled = [task for task, member in zip(tasks, mask, strict=True) if member]
    unknown = sorted(set(named) - set(tasks))
    if unknown:
        raise ValueError(
            f"{path}, {where}, column {CSV_NETWORK_COLUMN!r}: unknown task(s) "
            f"{', '.join(map(repr, unknown))}; accepted: {', '.join(tasks)} joined by "
            f"{NETWORK_SEPARATOR!r}"
        )
    if sorted(named) != sorted(filled) or len(set(named)) != len(named):
        raise ValueError(
            f"{path}, {where}: network {row[columns[CSV_NETWORK_COLUMN]]!r} does not match "
            f"the tasks with a loss ({', '.join(filled) or 'none'}); a member needs a loss "
            f"and a non-member a blank cell"
        )
    cost = 1.0
    if CSV_COST_COLUMN in columns and row[columns[CSV_COST_COLUMN]].strip():
        cost = _parse_number(
            row[columns[CSV_COST_COLUMN]],
            path,
            where,
            CSV_COST_COLUMN,
            "a finite non-negative cost, or a blank cell for cost 1",
        )
        if cost < 0:
            raise ValueError(
                f"{path}, {where}, column {CSV_COST_COLUMN!r}: cost {cost} is negative; "
                f"accepted: a finite non-negative number"
            )
    return mask, loss, cost


def write_table_csv(table: PerformanceTable, path: Path | str) -> None:
    """Write ``table`` in the CSV format of :func:`read_table_csv`, atomically.

    Numbers are written with ``repr``, the shortest text that reads back to the same float, so
    ``read_table_csv(path)`` returns the same table.
    """
    with atomic_writer(path) as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow([CSV_NETWORK_COLUMN, CSV_COST_COLUMN, *table.tasks])
        for row in range(table.n_networks):
            cells = [
                repr(float(loss)) if member else ""
                for loss, member in zip(table.losses[row], table.masks[row], strict=True)
            ]
            writer.writerow([table.label(row), repr(float(table.costs[row])), *cells])


def table_candidates(table: PerformanceTable) -> Candidates:
    """The table's networks as candidates for :func:`taskgrouping.grouping.select`.

    Values are the measured losses, so select with ``maximize=False``; candidate ``r`` is
    network ``r`` of the table.
    """
    return Candidates(
        masks=table.masks, values=table.losses, costs=table.costs, tasks=tuple(table.tasks)
    )


def score_selection(
    table: PerformanceTable, selection: Selection | Sequence[int], mode: str = "overlap"
) -> dict[str, Any]:
    """Score chosen networks of a table: which network serves every task, and the total loss.

    Every task is served by the chosen network with the lowest loss for it in ``table`` (in
    ``partition`` mode, by the one chosen network that contains it).  Among equal losses the
    network listed first in ``selection`` serves.

    Parameters
    ----------
    table
        The table whose losses decide the serving networks (the validation table).
    selection
        A :class:`~taskgrouping.grouping.Selection` on ``table``'s candidates, or the chosen
        network rows.  Rows, not task groups: a group can be ambiguous (a HOA table has a
        half-size and a full-size network for each single task).
    mode
        ``"overlap"`` (network selection: chosen networks may share tasks) or ``"partition"``
        (the chosen networks must not share a task).

    Returns
    -------
    dict
        ``rows`` (chosen rows), ``networks`` (their labels), ``cost`` (total cost), ``serving``
        (task name -> index into ``rows`` of its serving network), ``losses`` (task name -> its
        loss in the serving network) and ``total`` (the sum of those losses).

    Raises
    ------
    ValueError
        When a row is out of range or repeated, a task is in no chosen network, or (partition)
        two chosen networks share a task.
    """
    rows = _chosen_rows(table, selection)
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
    chosen = table.masks[rows]
    uncovered = [table.tasks[j] for j in np.flatnonzero(~chosen.any(axis=0))]
    if uncovered:
        raise ValueError(
            f"no chosen network (rows {rows}) contains task(s) {', '.join(uncovered)}; every "
            f"task needs a serving network"
        )
    if mode == "partition":
        shared = [table.tasks[j] for j in np.flatnonzero(chosen.sum(axis=0) > 1)]
        if shared:
            raise ValueError(
                f"chosen networks (rows {rows}) share task(s) {', '.join(shared)}; partition "
                f"mode accepts disjoint networks only"
            )
    serving = _serving_positions(table, rows)
    losses = table.losses[np.array(rows)[serving], np.arange(table.n_tasks)]
    return {
        "rows": rows,
        "networks": [table.label(row) for row in rows],
        "cost": float(table.costs[rows].sum()),
        "serving": {task: int(k) for task, k in zip(table.tasks, serving, strict=True)},
        "losses": {task: float(v) for task, v in zip(table.tasks, losses, strict=True)},
        "total": float(losses.sum()),
    }


def test_total(
    val_table: PerformanceTable, test_table: PerformanceTable, selection: Selection | Sequence[int]
) -> float:
    """Test loss of chosen networks: each task served by its best chosen network on validation.

    Parameters
    ----------
    val_table
        Validation losses; they decide which chosen network serves each task (ties: the network
        listed first).
    test_table
        Test losses of the same networks (same tasks, members and costs, row for row).
    selection
        A :class:`~taskgrouping.grouping.Selection` or the chosen rows.

    Returns
    -------
    float
        The sum over tasks of the serving network's test loss.
    """
    check_same_networks(val_table, test_table)
    rows = _chosen_rows(val_table, selection)
    uncovered = [val_table.tasks[j] for j in np.flatnonzero(~val_table.masks[rows].any(axis=0))]
    if uncovered:
        raise ValueError(
            f"no chosen network (rows {rows}) contains task(s) {', '.join(uncovered)}; every "
            f"task needs a serving network"
        )
    serving = np.array(rows)[_serving_positions(val_table, rows)]
    return float(test_table.losses[serving, np.arange(val_table.n_tasks)].sum())


def check_same_networks(first: PerformanceTable, second: PerformanceTable) -> None:
    """Raise ValueError unless the two tables list the same networks (tasks, members, costs)."""
    if first.tasks != second.tasks:
        raise ValueError(f"the tables have different tasks: {first.tasks} and {second.tasks}")
    if first.masks.shape != second.masks.shape:
        raise ValueError(
            f"the tables have {first.n_networks} and {second.n_networks} networks; accepted: the "
            f"same networks row for row"
        )
    differ = np.flatnonzero(
        (first.masks != second.masks).any(axis=1) | (first.costs != second.costs)
    )
    if differ.size:
        row = int(differ[0])
        raise ValueError(
            f"network {row} differs between the tables: {first.label(row)} (cost "
            f"{first.costs[row]:g}) and {second.label(row)} (cost {second.costs[row]:g})"
        )


# Keep pytest from collecting test_total as a test when a test module imports it.
test_total.__test__ = False  # type: ignore[attr-defined]


def _chosen_rows(table: PerformanceTable, selection: Selection | Sequence[int]) -> list[int]:
    rows = [int(row) for row in (selection.rows if isinstance(selection, Selection) else selection)]
    if not rows:
        raise ValueError("no network chosen; accepted: at least one row")
    bad = [row for row in rows if not 0 <= row < table.n_networks]
    if bad:
        raise ValueError(f"rows {bad} are outside 0..{table.n_networks - 1}, the table's networks")
    if len(set(rows)) != len(rows):
        raise ValueError(f"rows {rows} repeat a network")
    return rows


def _serving_positions(table: PerformanceTable, rows: list[int]) -> np.ndarray:
    return serving_positions(table.losses[rows], table.masks[rows])


def _read_text(path: Path, what: str) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such {what}")
    return path.read_text()


def _parse_loss(cell: str, path: Path, where: str, column: str) -> float:
    if not cell.strip():
        return math.nan
    return _parse_number(
        cell, path, where, column, "a decimal loss, or a blank cell for a task outside the network"
    )


def _parse_number(cell: str, path: Path, where: str, column: str, accepted: str) -> float:
    try:
        value = float(cell)
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise ValueError(
            f"{path}, {where}, column {column!r}: {cell.strip()!r} is not a finite number; "
            f"accepted: {accepted}"
        )
    return value
