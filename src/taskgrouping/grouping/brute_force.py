"""Exhaustive enumeration of selections: the reference oracle that :func:`select` must match."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from taskgrouping.grouping.checks import _check_budget_tasks, _validate_weights
from taskgrouping.grouping.types import MODES, Budget, Candidates, InfeasibleGrouping

# brute_force_select enumerates sets of networks; beyond 8 tasks that takes minutes.
MAX_BRUTE_FORCE_SELECT_TASKS = 8
# ... and in overlap mode at most this many sets of networks (about 10 s in Python).
MAX_BRUTE_FORCE_SETS = 1_000_000


def brute_force_select(
    cands: Candidates,
    budget: Budget,
    *,
    mode: str = "partition",
    maximize: bool = True,
    group_weights: np.ndarray | None = None,
) -> tuple[list[list[int]], float]:
    """Best selection by exhaustive enumeration (reference oracle for :func:`select`).

    Written independently of :func:`select`'s models: ``partition`` enumerates every exact cover
    of the tasks by candidate rows, ``overlap`` every set of candidate rows within the network
    and cost limits, and each is checked against the budget and scored by the definitions in
    :func:`select`.  Exponential: meant for at most :data:`MAX_BRUTE_FORCE_SELECT_TASKS` tasks
    and a few dozen candidates.

    Parameters
    ----------
    cands, budget, mode, maximize, group_weights
        As for :func:`select`.

    Returns
    -------
    tuple[list[list[int]], float]
        The chosen networks' task sets (sorted; the first optimum found) and the objective.

    Raises
    ------
    InfeasibleGrouping
        When no selection meets the budget.
    ValueError
        For more than :data:`MAX_BRUTE_FORCE_SELECT_TASKS` tasks, or an overlap enumeration of
        more than :data:`MAX_BRUTE_FORCE_SETS` sets of networks.
    """
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
    n_tasks = cands.n_tasks
    if n_tasks > MAX_BRUTE_FORCE_SELECT_TASKS:
        raise ValueError(
            f"brute force over {n_tasks} tasks is too slow; accepted: at most "
            f"{MAX_BRUTE_FORCE_SELECT_TASKS} tasks"
        )
    _check_budget_tasks(budget, n_tasks)
    if group_weights is not None:
        if mode != "partition":
            raise ValueError(f"group_weights apply to mode 'partition' only, got {mode!r}")
        group_weights = _validate_weights(group_weights, cands.n_candidates)
    sign = 1.0 if maximize else -1.0
    members = [frozenset(np.flatnonzero(mask).tolist()) for mask in cands.masks]
    costs = cands.costs.tolist()
    max_size = n_tasks if budget.max_size is None else budget.max_size
    # Properties of a single network: its size and the apart pairs it may not hold.
    allowed = [
        r
        for r, group in enumerate(members)
        if budget.min_size <= len(group) <= max_size
        and not any(i in group and k in group for i, k in budget.apart)
    ]
    if mode == "overlap":
        _check_overlap_sets(costs, allowed, budget)
    best: tuple[list[int], float] | None = None
    for chosen in _brute_force_choices(n_tasks, members, costs, allowed, budget, mode):
        value = _brute_force_score(cands, members, chosen, budget, mode, maximize, group_weights)
        if value is not None and (best is None or sign * value > sign * best[1]):
            best = (list(chosen), value)
    if best is None:
        raise InfeasibleGrouping(
            f"brute force found no {mode} of the {n_tasks} tasks that meets the budget "
            f"({budget.describe()})"
        )
    groups = sorted(sorted(members[r]) for r in best[0])
    return groups, best[1]


def _check_overlap_sets(costs: list[float], allowed: list[int], budget: Budget) -> None:
    """Refuse overlap enumerations of more than :data:`MAX_BRUTE_FORCE_SETS` sets of networks."""
    # Sets of at most `limit` networks; the cost limit bounds the count by the cheapest.
    limit = len(allowed) if budget.max_networks is None else budget.max_networks
    cheapest = min((costs[r] for r in allowed), default=0.0)
    if budget.max_cost is not None and cheapest > 0:
        limit = min(limit, int(budget.max_cost // cheapest))
    n_sets = sum(math.comb(len(allowed), k) for k in range(limit + 1))
    if n_sets > MAX_BRUTE_FORCE_SETS:
        raise ValueError(
            f"brute force over up to {n_sets} sets of the {len(allowed)} allowed networks "
            f"is too slow; accepted: at most {MAX_BRUTE_FORCE_SETS} (limit max_networks "
            f"or max_cost, or pass fewer candidates)"
        )


def _brute_force_score(
    cands: Candidates,
    members: list[frozenset[int]],
    chosen: list[int],
    budget: Budget,
    mode: str,
    maximize: bool,
    group_weights: np.ndarray | None,
) -> float | None:
    """Objective of the chosen rows by :func:`select`'s definitions; None when they break the
    budget's together or alone constraints (or leave a block unserved, in overlap mode)."""
    if mode == "partition":
        if not all(
            any(i in members[r] and k in members[r] for r in chosen) for i, k in budget.together
        ):
            return None
        if not all(any(members[r] == {j} for r in chosen) for j in budget.alone):
            return None
        if group_weights is not None:
            return float(sum(group_weights[r] for r in chosen))
        return float(sum(cands.values[r, j] for r in chosen for j in members[r]))
    # Overlap: serve each block (together-joined tasks, alone tasks, other tasks) by its
    # best chosen network able to serve all of it.
    total = 0.0
    for block, single in _brute_force_blocks(cands.n_tasks, budget):
        options = [
            sum(float(cands.values[r, j]) for j in block)
            for r in chosen
            if block <= members[r] and (not single or len(members[r]) == 1)
        ]
        if not options:
            return None
        total += max(options) if maximize else min(options)
    return total


def _brute_force_blocks(n_tasks: int, budget: Budget) -> list[tuple[frozenset[int], bool]]:
    """Sets of tasks served together in overlap mode, each with whether it must be alone."""
    blocks = [{task} for task in range(n_tasks)]
    for first, second in budget.together:
        merged = next(b for b in blocks if first in b) | next(b for b in blocks if second in b)
        blocks = [b for b in blocks if not b & merged] + [merged]
    return [
        (frozenset(block), len(block) == 1 and next(iter(block)) in budget.alone)
        for block in blocks
    ]


def _brute_force_choices(
    n_tasks: int,
    members: list[frozenset[int]],
    costs: list[float],
    allowed: list[int],
    budget: Budget,
    mode: str,
) -> Iterator[list[int]]:
    """Every set of allowed rows within the network and cost limits (exact covers only, in
    partition mode); the list yielded is reused, so copy it to keep it."""
    max_networks = len(allowed) if budget.max_networks is None else budget.max_networks
    max_cost = np.inf if budget.max_cost is None else budget.max_cost + 1e-9
    chosen: list[int] = []

    def covers(covered: frozenset[int], spent: float) -> Iterator[list[int]]:
        if len(covered) == n_tasks:
            yield chosen
            return
        if len(chosen) == max_networks:
            return
        # The lowest uncovered task's network: every exact cover is found exactly once.
        task = min(set(range(n_tasks)) - covered)
        for row in allowed:
            fits = spent + costs[row] <= max_cost
            if fits and task in members[row] and not members[row] & covered:
                chosen.append(row)
                yield from covers(covered | members[row], spent + costs[row])
                chosen.pop()

    def subsets(start: int, spent: float) -> Iterator[list[int]]:
        if chosen:
            yield chosen
        if len(chosen) == max_networks:
            return
        for index in range(start, len(allowed)):
            row = allowed[index]
            if spent + costs[row] <= max_cost:
                chosen.append(row)
                yield from subsets(index + 1, spent + costs[row])
                chosen.pop()

    yield from covers(frozenset(), 0.0) if mode == "partition" else subsets(0, 0.0)
