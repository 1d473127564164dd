"""Which candidate networks a budget admits, and budgets that are infeasible on their face."""

from __future__ import annotations

import math

import numpy as np

from taskgrouping.grouping.checks import _check_budget_tasks
from taskgrouping.grouping.types import Budget, Candidates, InfeasibleGrouping


def _components(n_tasks: int, together: tuple[tuple[int, int], ...]) -> list[list[int]]:
    """Sets of tasks that ``together`` pairs join (transitively), those of two or more tasks."""
    parent = list(range(n_tasks))

    def root(task: int) -> int:
        while parent[task] != task:
            parent[task] = parent[parent[task]]
            task = parent[task]
        return task

    for first, second in together:
        parent[root(first)] = root(second)
    joined: dict[int, list[int]] = {}
    for task in range(n_tasks):
        joined.setdefault(root(task), []).append(task)
    return sorted((tasks for tasks in joined.values() if len(tasks) > 1), key=lambda t: t[0])


def _admissible(cands: Candidates, budget: Budget, mode: str) -> tuple[np.ndarray, list[list[int]]]:
    """Candidate rows a chosen network may be, and the together-joined task sets.

    Raises InfeasibleGrouping for budgets that are contradictory or obviously too small, so
    that the message names the constraint rather than only HiGHS's verdict.
    """
    _check_budget_tasks(budget, cands.n_tasks)
    components = _components(cands.n_tasks, budget.together)
    _check_contradictions(budget, components, cands)
    rows = np.flatnonzero(_admissible_mask(cands, budget, mode, components))
    needed = _check_coverage(cands, budget, rows, components)
    if budget.max_cost is not None:
        _check_cost_floor(cands, budget, rows, needed)
    return rows, components


def _check_contradictions(budget: Budget, components: list[list[int]], cands: Candidates) -> None:
    """Together pairs that join apart or alone tasks, and alone tasks under a ``min_size``."""
    name, names = cands.task_name, cands.task_names
    for component in components:
        for first, second in budget.apart:
            if first in component and second in component:
                raise InfeasibleGrouping(
                    f"tasks {name(first)} and {name(second)} must be apart, but together pairs "
                    f"join them (tasks {names(component)} must share a network)"
                )
        for task in budget.alone:
            if task in component:
                partners = [other for other in component if other != task]
                raise InfeasibleGrouping(
                    f"task {name(task)} must be alone, but together pairs join it with tasks "
                    f"{names(partners)}"
                )
    if budget.alone and budget.min_size > 1:
        raise InfeasibleGrouping(
            f"tasks {names(budget.alone)} must be alone, but min_size {budget.min_size} forbids "
            f"single-task networks"
        )


def _admissible_mask(
    cands: Candidates, budget: Budget, mode: str, components: list[list[int]]
) -> np.ndarray:
    """Whether each candidate row fits the size bounds, the apart pairs and (partition) the
    alone tasks and together-joined sets."""
    masks = cands.masks
    sizes = masks.sum(axis=1)
    max_size = cands.n_tasks if budget.max_size is None else budget.max_size
    admissible = (sizes >= budget.min_size) & (sizes <= max_size)
    for first, second in budget.apart:
        admissible &= ~(masks[:, first] & masks[:, second])
    if mode == "partition":
        # A task's group is its only network: an alone task's group is a singleton, and a group
        # holding part of a together-joined set holds all of it.
        for task in budget.alone:
            admissible &= ~masks[:, task] | (sizes == 1)
        for component in components:
            inside = masks[:, component]
            admissible &= inside.all(axis=1) | ~inside.any(axis=1)
    return admissible


def _check_coverage(
    cands: Candidates, budget: Budget, rows: np.ndarray, components: list[list[int]]
) -> int:
    """Check that the admissible ``rows`` can serve every task within ``max_networks``; returns
    the least number of networks any cover needs."""
    n_tasks = cands.n_tasks
    masks = cands.masks
    row_sizes = masks[rows].sum(axis=1)
    largest = int(row_sizes.max(initial=0))
    # The specific reasons first: they also leave tasks uncovered in partition mode.
    for component in components:
        if not masks[np.ix_(rows, component)].all(axis=1).any():
            raise InfeasibleGrouping(
                f"together pairs join tasks {cands.task_names(component)}, but no candidate "
                "network that fits "
                f"the budget holds all {len(component)} of them (the largest holds {largest})"
            )
    for task in budget.alone:
        if not (masks[rows, task] & (row_sizes == 1)).any():
            raise InfeasibleGrouping(
                f"task {cands.task_name(task)} must be alone, but no candidate network holds it "
                "alone"
            )
    uncovered = np.flatnonzero(~masks[rows].any(axis=0))
    if uncovered.size:
        raise InfeasibleGrouping(
            f"task {cands.task_name(uncovered[0])} is in no candidate network that fits the "
            f"budget ({budget.describe(cands.tasks)})"
        )

    n_alone = len(budget.alone)
    # Alone tasks take a single-task network each; the others need networks of <= largest.
    needed = n_alone + math.ceil((n_tasks - n_alone) / largest)
    if budget.max_networks is not None and needed > budget.max_networks:
        if n_alone:
            reason = (
                f"{budget.max_networks} networks cannot cover {n_tasks} tasks: the alone tasks "
                f"{cands.task_names(budget.alone)} take {n_alone} single-task networks and the "
                f"other {n_tasks - n_alone} tasks need at least {needed - n_alone} networks of at "
                f"most {largest} tasks"
            )
        else:
            reason = (
                f"{budget.max_networks} networks of at most {largest} tasks cannot cover "
                f"{n_tasks} tasks"
            )
        raise InfeasibleGrouping(f"{reason} (max_networks={budget.max_networks})")
    return needed


def _check_cost_floor(cands: Candidates, budget: Budget, rows: np.ndarray, needed: int) -> None:
    """Check ``max_cost`` against the least that any cover by the admissible ``rows`` costs."""
    masks = cands.masks[rows]
    costs = cands.costs[rows]
    # Charging a network's cost evenly to its members, each task pays at least its
    # cheapest share; and at least `needed` networks must be paid for.
    share = np.where(masks, (costs / masks.sum(axis=1))[:, None], np.inf).min(axis=0)
    floor = max(float(share.sum()), needed * float(costs.min()))
    if budget.max_cost < floor - 1e-9 * max(1.0, floor):
        raise InfeasibleGrouping(
            f"max_cost {budget.max_cost} is below {floor:.6g}, the least that any cover of "
            f"the {cands.n_tasks} tasks by candidate networks that fit the budget can cost"
        )
