"""``hoa``: HOA (Standley et al., ICML 2020, "Which tasks should be learned together in
multi-task learning?"): estimate every network of three or more tasks from the pair networks,
choose exactly on the estimates, report the measured losses.

In the workflow every single-task and pair network is trained at the first training seed (shared
with ``stl``'s and ``exhaustive``'s networks), every larger group is estimated by
:func:`hoa_estimate`, and the same exact program as ``exhaustive`` chooses on the estimates;
:func:`hoa_select` is the same choice on a measured table.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from taskgrouping.methods.base import Method, SelectionInputs
from taskgrouping.methods.registry import register

if TYPE_CHECKING:
    from taskgrouping.evaluation.tables import PerformanceTable
    from taskgrouping.grouping import Budget, Candidates, Selection


@register
class Hoa(Method):
    """The exact program on HOA's estimates from every single-task and pair network's
    validation losses."""

    name = "hoa"
    needs = "pair_metrics"
    order = 6
    color = "tab:olive"
    marker = "D"

    def select(self, inputs: SelectionInputs) -> dict[str, Any]:
        """Minimise the sum over tasks of the estimated validation loss in the serving network
        (every network of three or more tasks estimated by :func:`hoa_estimate`)."""
        from taskgrouping.io import read_json
        from taskgrouping.methods.exact import exact_selection

        measured = [read_json(path) for path in inputs.metrics_jsons]
        pairwise = pair_matrix(measured, inputs.tasks)
        cands = hoa_estimate(pairwise, max_size=inputs.grouping["max_group_size"])
        fields = exact_selection(cands, inputs, maximize=False)
        fields["estimated"] = "pairwise means of the validation losses (HOA)"
        return fields


def pair_matrix(metrics: Sequence[Mapping[str, Any]], tasks: Sequence[str]) -> np.ndarray:
    """The matrix ``P`` of :func:`hoa_estimate` from trained networks' ``metrics.json``.

    ``P[i, j]`` is the validation loss of task ``j`` in the pair network ``{i, j}``, ``P[j, j]``
    that of ``j`` alone; larger networks among ``metrics`` are ignored.

    Raises
    ------
    ValueError
        When a single-task or pair network is missing or given twice, or names a task not in
        ``tasks``.
    """
    index = {t: k for k, t in enumerate(tasks)}
    n = len(tasks)
    pairwise = np.full((n, n), np.nan)
    for m in metrics:
        members = list(m["tasks"])
        if len(members) > 2:
            continue
        unknown = [t for t in members if t not in index]
        if unknown:
            raise ValueError(
                f"network {m.get('group')!r} names task {unknown[0]!r}, not in {list(tasks)}"
            )
        rows = [index[t] for t in members]
        for j in rows:
            i = rows[0] if rows[-1] == j else rows[-1]
            if not np.isnan(pairwise[i, j]):
                raise ValueError(f"network {m.get('group')!r} is given twice")
            pairwise[i, j] = float(m["val"][tasks[j]])
    missing = np.argwhere(np.isnan(pairwise))
    if len(missing):
        i, j = missing[0]
        which = tasks[i] if i == j else f"{tasks[min(i, j)]}+{tasks[max(i, j)]}"
        raise ValueError(f"HOA needs every single-task and pair network; {which!r} is missing")
    return pairwise


def hoa_estimate(
    source: PerformanceTable | Candidates | np.ndarray, *, max_size: int | None = None
) -> Candidates:
    """Higher-order approximation (HOA) of every network from single-task and pair networks.

    The value of task ``j`` in a network ``G`` of three or more tasks is estimated as the mean,
    over the other members ``i``, of ``j``'s value in the pair network ``{i, j}``; networks of
    one or two tasks keep their measured values.  This is ``higher_order_approximation`` in
    Standley et al.'s ``network_selection/main.cpp``.  The values may be losses or gains.

    Parameters
    ----------
    source
        A measured :class:`~taskgrouping.evaluation.tables.PerformanceTable` or
        :class:`~taskgrouping.grouping.Candidates` (every pair among the members of a larger
        network must be measured exactly once); or a square matrix ``P`` with ``P[i, j]`` the
        value of task ``j`` in the pair network ``{i, j}`` and ``P[j, j]`` its value alone.

    max_size
        For a matrix: the largest network estimated (None: all tasks); ignored otherwise.

    Returns
    -------
    Candidates
        For a table or candidates: the same rows (masks, costs) with estimated values, so a
        selection's rows index the measured source.  For a matrix: every non-empty subset of at
        most ``max_size`` tasks (in :func:`~taskgrouping.grouping.gain_candidates` order), cost
        1 each.

    Raises
    ------
    ValueError
        When a pair needed for an estimate is missing or measured twice, or the matrix is not
        square and finite.
    """
    from taskgrouping.evaluation.tables import PerformanceTable, table_candidates
    from taskgrouping.grouping import Candidates, gain_candidates

    if isinstance(source, PerformanceTable):
        source = table_candidates(source)
    if not isinstance(source, Candidates):
        pairwise = np.asarray(source, dtype=float)
        # gain_candidates checks the matrix and ignores its diagonal: the mean over the other
        # members is exactly the HOA estimate; only single-task networks need the diagonal.
        cands = gain_candidates(pairwise, "mean", max_size=max_size)
        singles = cands.masks.sum(axis=1) == 1
        values = np.where(singles[:, None] & cands.masks, np.diag(pairwise), cands.values)
        return Candidates(masks=cands.masks, values=values, costs=cands.costs)

    masks, values = source.masks, source.values
    n_tasks = source.n_tasks
    sizes = masks.sum(axis=1)
    # pair_row[i, j]: the row of the pair network {i, j}; -1 when not measured.
    pair_row = np.full((n_tasks, n_tasks), -1)
    for row in np.flatnonzero(sizes == 2):
        first, second = np.flatnonzero(masks[row])
        if pair_row[first, second] >= 0:
            raise ValueError(
                f"the pair network {{{first}, {second}}} appears twice (candidates "
                f"{pair_row[first, second]} and {row}); HOA needs one measurement per pair"
            )
        pair_row[first, second] = pair_row[second, first] = row
    estimates = values.copy()
    for row in np.flatnonzero(sizes > 2):
        members = np.flatnonzero(masks[row])
        for j in members:
            partners = members[members != j]
            rows = pair_row[partners, j]
            if (rows < 0).any():
                missing = int(partners[rows < 0][0])
                raise ValueError(
                    f"no pair network {{{min(j, missing)}, {max(j, missing)}}} to estimate "
                    f"candidate {row} (tasks {members.tolist()}); HOA needs every pair among "
                    f"the members of a network of three or more tasks"
                )
            estimates[row, j] = values[rows, j].mean()
    return Candidates(masks=masks, values=estimates, costs=source.costs)


def hoa_select(
    table: PerformanceTable, budget: Budget, mode: str = "overlap", *, time_limit_s: float = 60.0
) -> Selection:
    """HOA's choice: the exact optimum on :func:`hoa_estimate` of the (validation) table.

    The selection's ``objective`` is the *estimated* total loss; score the chosen rows on the
    measured tables with :func:`~taskgrouping.evaluation.tables.score_selection` and
    :func:`~taskgrouping.evaluation.tables.test_total`.
    """
    from taskgrouping.grouping import select

    return select(hoa_estimate(table), budget, mode=mode, maximize=False, time_limit_s=time_limit_s)
