"""Grouping by a gain matrix: one entry point that picks the solver by the problem's size.

Every gain-valued selection (the ``ours`` and ``tag`` methods, :func:`taskgrouping.select`, the
``taskgrouping select --gains`` command, the solver benchmark) goes through
:func:`select_by_gains`. Two exact solvers are behind it:

* ``"enumerate"``: every candidate network listed (:func:`~taskgrouping.grouping.gain_candidates`)
  and the set-partitioning model solved by the subset dynamic program (up to 16 tasks) or HiGHS
  (:func:`~taskgrouping.grouping.select`). Fast up to some 100,000 candidates; it refuses more
  than :data:`~taskgrouping.grouping.MAX_CANDIDATES`, and overlap mode above
  :data:`~taskgrouping.grouping.MAX_OVERLAP_TASKS` tasks.
* ``"columns"``: column generation with a proven bound
  (:func:`~taskgrouping.grouping.columns.select_by_columns`), which never lists the candidates.

``"auto"`` (the default) enumerates up to :data:`ENUMERATE_MAX_CANDIDATES` candidate networks (and
in overlap mode up to :data:`~taskgrouping.grouping.MAX_OVERLAP_TASKS` tasks) and generates
columns beyond (measured by ``snakemake bench_grouping``: see the README).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from taskgrouping.grouping.candidates import gain_candidates, paper_objective_values
from taskgrouping.grouping.checks import _as_float, _validate_gains
from taskgrouping.grouping.columns import select_by_columns
from taskgrouping.grouping.gain_model import check_objective
from taskgrouping.grouping.selection import select
from taskgrouping.grouping.types import MAX_CANDIDATES, MAX_OVERLAP_TASKS, Budget, Selection

SOLVERS = ("auto", "enumerate", "columns")
#: ``"auto"`` enumerates up to this many candidate networks, and generates columns above.
ENUMERATE_MAX_CANDIDATES = 20_000


def candidate_count(n_tasks: int, max_size: int | None, min_size: int = 1) -> int:
    """How many candidate networks of ``min_size`` to ``max_size`` tasks ``n_tasks`` tasks have."""
    largest = n_tasks if max_size is None else min(max_size, n_tasks)
    return sum(math.comb(n_tasks, s) for s in range(min_size, largest + 1))


def choose_solver(n_tasks: int, budget: Budget, mode: str, solver: str = "auto") -> str:
    """``"enumerate"`` or ``"columns"`` for a problem (see the module docstring); raises naming
    what the enumeration cannot do when it is asked for beyond its reach."""
    if solver not in SOLVERS:
        raise ValueError(f"unknown solver {solver!r}; accepted: {', '.join(SOLVERS)}")
    count = candidate_count(n_tasks, budget.max_size)
    if solver == "auto":
        small = count <= ENUMERATE_MAX_CANDIDATES
        return (
            "enumerate"
            if small and (mode == "partition" or n_tasks <= MAX_OVERLAP_TASKS)
            else "columns"
        )
    if solver == "enumerate":
        if count > MAX_CANDIDATES:
            raise ValueError(
                f"solver 'enumerate' cannot list the {count} candidate networks of {n_tasks} "
                f"tasks (at most {MAX_CANDIDATES}); use solver 'columns' or 'auto'"
            )
        if mode == "overlap" and n_tasks > MAX_OVERLAP_TASKS:
            raise ValueError(
                f"solver 'enumerate' supports overlap mode up to {MAX_OVERLAP_TASKS} tasks, not "
                f"{n_tasks}; use solver 'columns' or 'auto'"
            )
    return solver


def select_by_gains(
    gains: np.ndarray,
    budget: Budget,
    *,
    mode: str = "partition",
    aggregate: str = "mean",
    objective: str = "values",
    cost: tuple[float, float] = (1.0, 0.0),
    maximize: bool = True,
    time_limit_s: float = 60.0,
    tasks: Sequence[str] | None = None,
    solver: str = "auto",
) -> Selection:
    """The optimal selection of networks valued by a gain matrix, by the solver that fits.

    Parameters
    ----------
    gains
        Square gain matrix ``S`` (``S[i, j]``: gain of task ``j`` from task ``i``; diagonal
        ignored).
    budget
        Limits on the chosen networks; ``budget.max_size`` also limits the candidates.
    mode
        ``"partition"`` or ``"overlap"``.
    aggregate
        ``"mean"`` or ``"sum"`` of the gains a task receives from its partners.
    objective
        ``"values"`` (sum of the tasks' values) or ``"paper"`` (partition only: the paper's
        group score, :func:`~taskgrouping.grouping.paper_objective_values`).
    cost
        ``(a, b)``: a network of ``s`` tasks costs ``a + b s``.
    maximize
        Maximise (gains); False minimises.
    time_limit_s
        Time limit of the solve (HiGHS's for the enumeration; the whole solve's for columns).
    tasks
        Task names for messages.
    solver
        ``"auto"``, ``"enumerate"`` or ``"columns"``.

    Returns
    -------
    Selection
        With ``solver`` naming what ran: ``"subset dynamic program"``, ``"HiGHS"`` (both
        enumerating) or ``"column generation"``.
    """
    matrix = _validate_gains(gains)
    n = matrix.shape[0]
    names = None if tasks is None else tuple(str(t) for t in tasks)
    largest = n if budget.max_size is None else budget.max_size
    if not 1 <= largest <= n:
        raise ValueError(f"max_size {largest} is outside the accepted range 1..{n}")
    if len(cost) != 2:
        raise ValueError(f"cost {cost!r} is not accepted: a pair (a, b) for a + b * size")
    a, b = (_as_float(term, "cost") for term in cost)
    size_costs = a + b * np.arange(1, largest + 1)
    if not (np.all(np.isfinite(size_costs)) and np.all(size_costs >= 0)):
        raise ValueError(
            f"cost {cost!r} gives network costs {size_costs.tolist()} for sizes 1..{largest}; "
            f"accepted: finite (a, b) with a + b * size >= 0"
        )
    if choose_solver(n, budget, mode, solver) == "columns":
        return select_by_columns(
            matrix,
            budget,
            mode=mode,
            aggregate=aggregate,
            objective=objective,
            cost=(a, b),
            maximize=maximize,
            time_limit_s=time_limit_s,
            tasks=names,
        )
    check_objective(objective, mode)
    cands = gain_candidates(matrix, aggregate, max_size=budget.max_size, cost=cost, tasks=names)
    weights = paper_objective_values(matrix, cands.masks) if objective == "paper" else None
    return select(
        cands,
        budget,
        mode=mode,
        maximize=maximize,
        time_limit_s=time_limit_s,
        group_weights=weights,
    )
