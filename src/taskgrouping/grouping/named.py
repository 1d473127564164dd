"""Grouping on task names: a gain table in, named groups out (``taskgrouping.select``)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd

from taskgrouping.grouping.by_gains import select_by_gains
from taskgrouping.grouping.checks import _as_int
from taskgrouping.grouping.types import Budget, Selection


@dataclass(frozen=True)
class GroupingResult:
    """Result of :func:`select_tasks`: the chosen networks by task name.

    Attributes
    ----------
    groups
        Task names of the chosen networks, each in task order, ordered as
        :attr:`Selection.groups <taskgrouping.grouping.Selection.groups>`.
    serving
        ``serving[task]`` is the index into ``groups`` of the network that serves ``task``
        (in ``partition`` mode the one group holding it).
    objective
        Sum over tasks of the gain each receives in its serving network.
    status
        ``"optimal"``, ``"time_limit"`` when the solver stopped early with a feasible incumbent,
        or ``"gap"`` when column generation gave up its proof (see
        :attr:`Selection.status <taskgrouping.grouping.Selection.status>`).
    bound
        Upper bound on the optimum (the objective itself when proven by the subset dynamic
        program); None when HiGHS has none.
    gap
        Relative MIP gap (0 when proven optimal), or None when undefined.
    tasks
        Every task, in the order the indices of ``selection`` refer to.
    selection
        The index-based :class:`~taskgrouping.grouping.Selection` behind this result.
    """

    groups: list[list[Hashable]]
    serving: dict[Hashable, int]
    objective: float
    status: str
    bound: float | None
    gap: float | None
    tasks: list[Hashable]
    selection: Selection

    def to_dict(self) -> dict[str, Any]:
        """Return the result as a JSON-serialisable dictionary (task names as given)."""
        out = asdict(self)
        out["selection"] = self.selection.to_dict()
        return out


def select_tasks(
    gains: pd.DataFrame | np.ndarray,
    budget: int | Budget,
    *,
    mode: str = "partition",
    tasks: Sequence[Hashable] | None = None,
    aggregate: str = "mean",
    maximize: bool = True,
    time_limit_s: float = 60.0,
    solver: str = "auto",
) -> GroupingResult:
    """Group tasks optimally from a gain table; exported as ``taskgrouping.select``.

    Every non-empty task subset of at most ``budget.max_size`` tasks is a candidate network,
    task ``j`` in network ``G`` receiving the mean (or sum) of ``gains[i, j]`` over the other
    members ``i`` (:func:`~taskgrouping.grouping.gain_candidates`); an exact solver then chooses
    the networks (:func:`~taskgrouping.grouping.by_gains.select_by_gains`: every candidate
    listed, or column generation beyond some 20,000 candidates, e.g. 60 tasks in networks of at
    most 4).

    It stays one function: all but a dozen lines are this docstring and its example.

    Parameters
    ----------
    gains
        Square gain table: ``gains.loc[i, j]`` is the gain of target task ``j`` from being
        trained with source task ``i`` (the pipeline's ``gains/*.csv``, read with
        ``index_col=0``).  The columns must name the same tasks as the index, in any order.
        A numpy array is read in the order of ``tasks``.  The diagonal is ignored.
    budget
        The largest number of networks (an int from 1 to the number of tasks), or a
        :class:`~taskgrouping.grouping.Budget`; its task indices (``together``, ``apart``,
        ``alone``) count in the task order of the result.
    mode
        ``"partition"`` (every task in one network) or ``"overlap"`` (networks may share tasks,
        every task served by its best chosen network).
    tasks
        Task order of the result: for a DataFrame a reordering of its index (default: the
        index order); for an array its task names (default: ``0, 1, ..., n - 1``).
    aggregate
        ``"mean"`` or ``"sum"`` of the gains a task receives from its partners.
    maximize
        Maximise the gains; False minimises (for a table of losses).
    time_limit_s
        Time limit in seconds (the subset dynamic program, used up to 16 tasks, ignores it); at
        the limit the result has status ``"time_limit"``, its bound and gap.
    solver
        ``"auto"`` (default), ``"enumerate"`` or ``"columns"``
        (:func:`~taskgrouping.grouping.by_gains.select_by_gains`).

    Returns
    -------
    GroupingResult
        The groups by task name, with objective, status, bound and gap.

    Raises
    ------
    ValueError
        When the index and columns name different tasks, ``tasks`` does not match them, the
        table is not square and finite, or the budget is outside 1 to the number of tasks.
    InfeasibleGrouping
        When no selection meets the budget.

    Examples
    --------
    >>> import pandas as pd
    >>> import taskgrouping
    >>> names = ["a", "b", "c", "d"]
    >>> gains = pd.DataFrame(-1.0, index=names, columns=names)
    >>> gains.loc["a", "c"] = gains.loc["c", "a"] = 2.0
    >>> gains.loc["b", "d"] = gains.loc["d", "b"] = 1.0
    >>> result = taskgrouping.select(gains, 2)
    >>> result.groups
    [['a', 'c'], ['b', 'd']]
    >>> result.objective, result.status
    (6.0, 'optimal')
    """
    names, matrix = _named_matrix(gains, tasks)
    limits = _named_budget(budget, len(names))
    sel = select_by_gains(
        matrix,
        limits,
        mode=mode,
        aggregate=aggregate,
        maximize=maximize,
        time_limit_s=time_limit_s,
        tasks=[str(n) for n in names],
        solver=solver,
    )
    return GroupingResult(
        groups=[[names[i] for i in group] for group in sel.groups],
        serving={names[j]: k for j, k in enumerate(sel.serving)},
        objective=sel.objective,
        status=sel.status,
        bound=sel.bound,
        gap=sel.gap,
        tasks=list(names),
        selection=sel,
    )


def _named_matrix(
    gains: pd.DataFrame | np.ndarray, tasks: Sequence[Hashable] | None
) -> tuple[list[Hashable], np.ndarray]:
    """Task names and the gain matrix in their order, rows and columns alike."""
    if isinstance(gains, pd.DataFrame):
        index, columns = list(gains.index), list(gains.columns)
        for what, labels in (("index", index), ("columns", columns)):
            repeated = sorted({str(t) for t in labels if labels.count(t) > 1})
            if repeated:
                raise ValueError(f"gains {what} lists tasks {repeated} more than once")
        if set(index) != set(columns):
            only_index = [t for t in index if t not in set(columns)]
            only_columns = [t for t in columns if t not in set(index)]
            raise ValueError(
                f"gains index and columns must name the same tasks; only in the index: "
                f"{only_index}, only in the columns: {only_columns}"
            )
        names = index if tasks is None else list(tasks)
        if sorted(map(str, names)) != sorted(map(str, index)) or len(set(names)) != len(names):
            raise ValueError(f"tasks {names} must reorder the gains' tasks {index}")
        frame = gains.loc[names, names]
        return names, frame.to_numpy(dtype=float)
    matrix = np.asarray(gains, dtype=float)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"gains must be a square matrix, got shape {matrix.shape}")
    names = list(range(matrix.shape[0])) if tasks is None else list(tasks)
    if len(names) != matrix.shape[0] or len(set(names)) != len(names):
        raise ValueError(f"tasks {names} must name the {matrix.shape[0]} rows of gains, each once")
    return names, matrix


def _named_budget(budget: int | Budget, n_tasks: int) -> Budget:
    """``budget`` as a Budget; an int is the largest number of networks, 1 to ``n_tasks``."""
    if isinstance(budget, Budget):
        limits = budget
    else:
        limits = Budget(max_networks=_as_int(budget, "budget"))
    if limits.max_networks is not None and limits.max_networks > n_tasks:
        raise ValueError(
            f"budget {limits.max_networks} exceeds the {n_tasks} tasks; accepted: 1..{n_tasks}"
        )
    if limits.max_size is not None and limits.max_size > n_tasks:
        raise ValueError(
            f"max_size {limits.max_size} exceeds the {n_tasks} tasks; accepted: None or "
            f"1..{n_tasks}"
        )
    return limits
