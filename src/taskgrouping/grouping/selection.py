"""The exact selection of candidate networks under a budget, in partition or overlap mode."""

from __future__ import annotations

import time

import numpy as np

from taskgrouping.grouping.admissible import _admissible
from taskgrouping.grouping.checks import _validate_weights
from taskgrouping.grouping.dp import _subset_dp
from taskgrouping.grouping.milp import _MilpResult, _solve_exact_cover
from taskgrouping.grouping.overlap import _serve, _served_sets
from taskgrouping.grouping.types import (
    MAX_OVERLAP_TASKS,
    MODES,
    Budget,
    Candidates,
    InfeasibleGrouping,
    Selection,
)

# Up to 16 tasks without a cost limit the O(3^n) subset dynamic program replaces the MILP:
# measured 2.5 s at n = 16 (21.5M subset pairs, about 0.5 GB), where HiGHS took up to 48 s.
_DP_MAX_TASKS = 16
_DP_SOLVER = "subset dynamic program"


def select(
    cands: Candidates,
    budget: Budget,
    *,
    mode: str = "partition",
    maximize: bool = True,
    time_limit_s: float = 60.0,
    group_weights: np.ndarray | None = None,
) -> Selection:
    """Choose candidate networks optimally under a budget.

    ``partition``: every task lies in exactly one chosen network, which serves it; the objective
    is ``sum_j values[serving(j), j]``, or the sum of ``group_weights`` over the chosen rows.
    Model: set partitioning with one binary per admissible candidate, ``n`` cover rows, a count
    row and a cost row.  ``together``/``apart``/``alone`` and the size bounds only remove
    candidates (in a partition a task's group is its only network), so the model is exact.

    ``overlap``: every task lies in at least one chosen network and is served by its best chosen
    network (highest value when maximising, lowest when minimising); ``together`` pairs share
    the serving network that is best for the pair, ``alone`` tasks are served by their own
    single-task network; networks that end up serving no task are dropped.  Model: set
    partitioning over *served sets* ``(T, G)``: ``T`` the tasks a network ``G ⊇ T`` serves, with
    weight ``sum_{j in T} values[G, j]`` and cost ``cost(G)``.  Exact for every budget here:
    an optimal selection gives one pair per network with exactly its count, cost and objective;
    conversely pairs partitioning the tasks give the networks ``{G}``, which cover every task,
    serve each ``T`` at least as well, and cost no more (two pairs may share a network; costs
    are non-negative).  Only pairs not dominated by a cheaper-or-equal network with a better
    value for ``T`` are kept: without a cost limit that is the best network per ``T``
    (``2**n - 1`` columns at most, the all-subset partition model's size).  ``together`` and
    ``alone`` restrict ``T``; sizes and ``apart`` restrict ``G``.

    Solver: up to 16 tasks without a cost limit, an exact dynamic program over task subsets
    solves either set-partitioning model in ``O(3^n)`` (seconds at ``n = 16``, where HiGHS took
    up to 48 s on overlap with 5 networks); it always finishes, ignores ``time_limit_s`` and
    reports gap 0.  Otherwise HiGHS solves the MILP (presolve off, relative gap 0).

    It stays one function: most of its length is this docstring, which states both exact models;
    the body only builds the model's columns and hands them to one of the two solvers.

    Parameters
    ----------
    cands
        Candidate networks, their per-task values and costs.
    budget
        Limits on the chosen networks.
    mode
        ``"partition"`` or ``"overlap"``.
    maximize
        Maximise the objective (gains); False minimises it (losses).
    time_limit_s
        HiGHS time limit in seconds; HiGHS may overrun it while finishing a phase.  The subset
        dynamic program ignores it.
    group_weights
        Partition mode only: a weight per candidate row replacing the per-task values in the
        objective, e.g. :func:`paper_objective_values`.

    Returns
    -------
    Selection
        Status ``"optimal"``, or ``"time_limit"`` with bound and gap when HiGHS stopped early.

    Raises
    ------
    InfeasibleGrouping
        When no selection meets the budget; the message names the constraint that fails.
    RuntimeError
        When HiGHS stops without a feasible selection or with an unexpected status.
    """
    build_start = time.perf_counter()
    group_weights = _check_arguments(cands, budget, mode, time_limit_s, group_weights)
    n_tasks = cands.n_tasks
    rows, components = _admissible(cands, budget, mode)
    values = np.where(cands.masks, cands.values, 0.0)

    if mode == "partition":
        columns = rows
        row_weights = values.sum(axis=1) if group_weights is None else group_weights
        weights = row_weights[columns]
    else:
        keys, weights, columns = _served_sets(cands, values, rows, budget, components, maximize)
    if n_tasks <= _DP_MAX_TASKS and budget.max_cost is None:
        if mode == "partition":
            keys = cands.masks[columns] @ (1 << np.arange(n_tasks, dtype=np.int64))
        solver = _DP_SOLVER
        result = _solve_by_dp(keys, weights, n_tasks, budget, maximize, build_start)
    else:
        solver = "HiGHS"
        if mode == "partition":
            cover = cands.masks[columns]
        else:
            cover = ((keys[:, None] >> np.arange(n_tasks, dtype=np.int64)) & 1).astype(bool)
        result = _solve_exact_cover(
            weights,
            cover,
            max_count=budget.max_networks,
            costs=cands.costs[columns],
            max_cost=budget.max_cost,
            maximize=maximize,
            time_limit_s=time_limit_s,
            mip_rel_gap=0.0,
            build_start=build_start,
            what=mode,
        )
    if result is None:
        raise InfeasibleGrouping(
            f"no {mode} of the {n_tasks} tasks among the {len(rows)} candidate networks that "
            f"fit the budget meets it ({budget.describe()}); {_proved_by(solver)} proved it "
            "infeasible"
        )

    chosen = columns[result.chosen]
    if mode == "partition":
        serving_rows = np.empty(n_tasks, dtype=np.intp)
        for row in chosen:
            serving_rows[cands.masks[row]] = row
    else:
        serving_rows = _serve(cands, values, np.unique(chosen), budget, components, maximize)
    return _selection(cands, values, serving_rows, group_weights, result, solver == _DP_SOLVER)


def _proved_by(solver: str) -> str:
    return f"the {solver}" if solver == _DP_SOLVER else solver


def _check_arguments(
    cands: Candidates,
    budget: Budget,
    mode: str,
    time_limit_s: float,
    group_weights: np.ndarray | None,
) -> np.ndarray | None:
    """Check :func:`select`'s arguments; returns the validated ``group_weights``."""
    if not isinstance(cands, Candidates):
        raise TypeError(f"cands must be Candidates, got {type(cands).__name__}")
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a Budget, got {type(budget).__name__}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
    if not time_limit_s > 0:
        raise ValueError(f"time_limit_s {time_limit_s} must be positive")
    if group_weights is not None:
        if mode != "partition":
            raise ValueError(
                f"group_weights apply to mode 'partition' only, got mode {mode!r}: overlap "
                f"mode serves every task by its own value"
            )
        group_weights = _validate_weights(group_weights, cands.n_candidates)
    if mode == "overlap" and cands.n_tasks > MAX_OVERLAP_TASKS:
        raise ValueError(
            f"overlap mode over {cands.n_tasks} tasks is not supported; accepted: at most "
            f"{MAX_OVERLAP_TASKS} tasks (served sets are int64 bitmasks)"
        )
    return group_weights


def _solve_by_dp(
    keys: np.ndarray,
    weights: np.ndarray,
    n_tasks: int,
    budget: Budget,
    maximize: bool,
    build_start: float,
) -> _MilpResult | None:
    """The subset dynamic program on the model's columns, reported like a HiGHS solve."""
    sign = 1.0 if maximize else -1.0
    solve_start = time.perf_counter()
    picked = _subset_dp(keys, sign * weights, n_tasks, budget.max_networks)
    solve_s = time.perf_counter() - solve_start
    if picked is None:
        return None
    # An exact optimum: its bound is the objective, which the caller recomputes.
    return _MilpResult(
        chosen=picked,
        status="optimal",
        bound=None,
        gap=0.0,
        build_s=solve_start - build_start,
        solve_s=solve_s,
    )


def _selection(
    cands: Candidates,
    values: np.ndarray,
    serving_rows: np.ndarray,
    group_weights: np.ndarray | None,
    result: _MilpResult,
    exact: bool,
) -> Selection:
    """The Selection serving task ``j`` by row ``serving_rows[j]``; ``exact`` when the bound is
    the objective itself (the dynamic program)."""
    n_tasks = cands.n_tasks
    # Canonical order: by task list, then by row (duplicate task sets keep a fixed order).
    used = sorted(set(serving_rows.tolist()), key=lambda r: (_members(cands, r), r))
    position = {row: index for index, row in enumerate(used)}
    if group_weights is None:
        objective = float(values[serving_rows, np.arange(n_tasks)].sum())
    else:
        objective = float(group_weights[used].sum())
    return Selection(
        rows=[int(row) for row in used],
        groups=[_members(cands, row) for row in used],
        serving=[position[row] for row in serving_rows.tolist()],
        objective=objective,
        cost=float(cands.costs[used].sum()),
        status=result.status,
        bound=objective if exact else result.bound,
        gap=result.gap,
        build_s=result.build_s,
        solve_s=result.solve_s,
        solver=_DP_SOLVER if exact else "HiGHS",
    )


def _members(cands: Candidates, row: int) -> list[int]:
    return np.flatnonzero(cands.masks[row]).tolist()
