"""Uniformly random partitions of the tasks into a given number of groups."""

from __future__ import annotations

import numpy as np

from taskgrouping.grouping.candidates import _canonical
from taskgrouping.grouping.checks import _as_int


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
