"""HOA (Standley et al., ICML 2020, "Which tasks should be learned together in multi-task
learning?"): estimate every network of three or more tasks from the pair networks, choose
exactly on the estimates, report the measured losses."""

from __future__ import annotations

import numpy as np

from taskgrouping.evaluation.tables import PerformanceTable, table_candidates
from taskgrouping.grouping import Budget, Candidates, Selection, gain_candidates, select


def hoa_estimate(source: PerformanceTable | Candidates | np.ndarray) -> Candidates:
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

    Returns
    -------
    Candidates
        For a table or candidates: the same rows (masks, costs) with estimated values, so a
        selection's rows index the measured source.  For a matrix: every non-empty subset (in
        :func:`~taskgrouping.grouping.gain_candidates` order), cost 1 each.

    Raises
    ------
    ValueError
        When a pair needed for an estimate is missing or measured twice, or the matrix is not
        square and finite.
    """
    if isinstance(source, PerformanceTable):
        source = table_candidates(source)
    if not isinstance(source, Candidates):
        pairwise = np.asarray(source, dtype=float)
        # gain_candidates checks the matrix and ignores its diagonal: the mean over the other
        # members is exactly the HOA estimate; only single-task networks need the diagonal.
        cands = gain_candidates(pairwise, "mean")
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
    return select(hoa_estimate(table), budget, mode=mode, maximize=False, time_limit_s=time_limit_s)
