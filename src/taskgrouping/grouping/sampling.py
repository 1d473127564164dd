"""Random groupings: uniform partitions into a given number of groups, and random selections
of candidate networks that spend a budget (Standley et al.'s random baseline)."""

from __future__ import annotations

import time

import numpy as np

from taskgrouping.grouping.candidates import _canonical
from taskgrouping.grouping.checks import _as_int
from taskgrouping.grouping.types import MODES, Budget, Candidates, InfeasibleGrouping, Selection

# random_select gives up after this many draws that leave a task uncovered.
MAX_RANDOM_DRAWS = 100_000


def random_partition(n_tasks: int, n_groups: int, rng: np.random.Generator) -> list[list[int]]:
    """Uniformly random partition of the tasks into exactly ``n_groups`` non-empty groups.

    The distribution is that of a uniform assignment of tasks to ``n_groups`` labelled groups
    conditioned on no group being empty (every set partition has the same ``n_groups!``
    labellings), drawn exactly through the Stirling-number recursion instead of by rejection,
    whose acceptance rate collapses as ``n_groups`` approaches ``n_tasks``.

    Parameters
    ----------
    n_tasks
        Number of tasks, at least 1.
    n_groups
        Number of groups, 1 to ``n_tasks``.
    rng
        Source of randomness; the same seeded generator gives the same partition.

    Returns
    -------
    list[list[int]]
        Groups in canonical order (each ascending, ordered by first task).
    """
    n_tasks = _as_int(n_tasks, "n_tasks")
    n_groups = _as_int(n_groups, "n_groups")
    if n_tasks < 1:
        raise ValueError(f"n_tasks {n_tasks} must be at least 1")
    if not 1 <= n_groups <= n_tasks:
        raise ValueError(f"n_groups {n_groups} is outside the accepted range 1..{n_tasks}")

    stirling = _stirling2_table(n_tasks, n_groups)
    # Walk the recursion S(m, k) = S(m-1, k-1) + k S(m-1, k) down from task n-1: task m-1
    # either opens its own group or joins one of the k groups formed by tasks 0..m-2.
    joins: list[int | None] = [None] * n_tasks
    remaining = n_groups
    for m in range(n_tasks, 0, -1):
        opens = stirling[m - 1][remaining - 1] / stirling[m][remaining]
        if rng.random() < opens:
            remaining -= 1
        else:
            joins[m - 1] = int(rng.integers(remaining))
    groups: list[list[int]] = []
    for task, join in enumerate(joins):
        if join is None:
            groups.append([task])
        else:
            groups[join].append(task)
    return _canonical(groups)


def _stirling2_table(n_tasks: int, n_groups: int) -> list[list[int]]:
    # Exact integers: S(n, k) overflows floats long before n_tasks gets unreasonable.
    table = [[0] * (n_groups + 1) for _ in range(n_tasks + 1)]
    table[0][0] = 1
    for m in range(1, n_tasks + 1):
        for k in range(1, min(m, n_groups) + 1):
            table[m][k] = table[m - 1][k - 1] + k * table[m - 1][k]
    return table


def random_select(
    cands: Candidates,
    budget: Budget,
    rng: np.random.Generator,
    *,
    mode: str = "overlap",
    maximize: bool = True,
    max_draws: int = MAX_RANDOM_DRAWS,
) -> Selection:
    """A random selection of candidate networks that spends the budget.

    Sampling (after Standley et al.'s random baseline, ``do_one_random`` in
    ``network_selection/main.cpp``): walk the candidates whose size fits ``min_size`` to
    ``max_size`` in a uniformly random order and keep each one that still fits the budget (the
    number of networks, the total cost and, in ``partition`` mode, disjointness from those kept),
    so the draw is a maximal selection: no further candidate fits.  A draw that leaves a task
    uncovered is rejected and redrawn.  Unlike the reference, a draw does not have to spend the
    cost budget exactly.  All kept networks stay in the selection, including any that serve no
    task better than another.

    It stays one function: most of its length is this docstring, and the draw loop is kept in
    one piece so that the order of the generator's calls (and so every seeded draw) stays as
    reviewed.

    Parameters
    ----------
    cands
        Candidate networks; ``values`` decide the serving network and the objective only.
    budget
        ``max_networks``, ``max_cost``, ``min_size`` and ``max_size`` apply; ``together``,
        ``apart`` and ``alone`` are not supported.
    rng
        Source of randomness; the same seeded generator gives the same selection.
    mode
        ``"overlap"`` (default) or ``"partition"``.
    maximize
        Serve each task by the chosen network with its highest value (gains); False: lowest
        (losses).
    max_draws
        Rejected draws allowed before giving up.

    Returns
    -------
    Selection
        Status ``"random"``; ``bound`` and ``gap`` are None; ``solve_s`` is the sampling time.

    Raises
    ------
    InfeasibleGrouping
        When ``max_draws`` draws in a row leave a task uncovered.
    """
    start = time.perf_counter()
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
    if budget.together or budget.apart or budget.alone:
        raise ValueError(
            f"random_select supports max_networks, max_cost, min_size and max_size; got "
            f"{budget.describe()}"
        )
    masks, costs = cands.masks, cands.costs
    sizes = masks.sum(axis=1)
    max_size = cands.n_tasks if budget.max_size is None else budget.max_size
    rows = np.flatnonzero((sizes >= budget.min_size) & (sizes <= max_size))
    max_networks = len(rows) if budget.max_networks is None else budget.max_networks
    max_cost = np.inf if budget.max_cost is None else budget.max_cost
    # The same tolerance as select's check of a MILP solution's cost.
    cost_slack = 1e-9 * max(1.0, abs(max_cost)) if np.isfinite(max_cost) else 0.0
    for _ in range(max_draws):
        kept: list[int] = []
        spent = 0.0
        covered = np.zeros(cands.n_tasks, dtype=bool)
        for row in rng.permutation(rows).tolist():
            if len(kept) == max_networks:
                break
            if spent + costs[row] > max_cost + cost_slack:
                continue
            if mode == "partition" and (covered & masks[row]).any():
                continue
            kept.append(row)
            spent += float(costs[row])
            covered |= masks[row]
        if covered.all():
            return _random_selection(cands, kept, maximize, time.perf_counter() - start)
    raise InfeasibleGrouping(
        f"{max_draws} random draws of candidate networks within the budget ({budget.describe()}) "
        f"all left a task uncovered"
    )


def _random_selection(
    cands: Candidates, rows: list[int], maximize: bool, seconds: float
) -> Selection:
    """A Selection of the given rows, ordered and served as :func:`select` orders and serves."""
    rows = sorted(rows, key=lambda r: (np.flatnonzero(cands.masks[r]).tolist(), r))
    sign = 1.0 if maximize else -1.0
    scores = np.where(cands.masks[rows], sign * cands.values[rows], -np.inf)
    serving = np.argmax(scores, axis=0)
    values = cands.values[np.array(rows)[serving], np.arange(cands.n_tasks)]
    return Selection(
        rows=[int(row) for row in rows],
        groups=[np.flatnonzero(cands.masks[row]).tolist() for row in rows],
        serving=serving.tolist(),
        objective=float(values.sum()),
        cost=float(cands.costs[rows].sum()),
        status="random",
        bound=None,
        gap=None,
        build_s=0.0,
        solve_s=seconds,
    )
