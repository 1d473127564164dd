"""Seeded random grouping instances, for the solver benchmark."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from taskgrouping.grouping.candidates import gain_candidates
from taskgrouping.grouping.selection import select
from taskgrouping.grouping.types import Budget


def random_gain_matrix(n_tasks: int, seed: int) -> np.ndarray:
    """A seeded random gain matrix: off-diagonal entries from N(0, 1), zero diagonal."""
    gains = np.random.default_rng(seed).normal(size=(n_tasks, n_tasks))
    np.fill_diagonal(gains, 0.0)
    return gains


def benchmark_instance(
    n_tasks: int,
    cap: int | None,
    budget: int,
    mode: str,
    seed: int,
    *,
    aggregate: str = "mean",
    time_limit_s: float = 60.0,
) -> dict[str, Any]:
    """Time :func:`select` on a seeded random gain matrix (``S ~ N(0, 1)`` off the diagonal).

    Parameters
    ----------
    n_tasks
        Number of tasks.
    cap
        Largest network size (None: every subset is a candidate).
    budget
        Maximum number of networks.
    mode
        ``"partition"`` or ``"overlap"``.
    seed
        Seed of the gain matrix.
    aggregate
        Aggregate of the per-task gains.
    time_limit_s
        HiGHS time limit.

    Returns
    -------
    dict
        ``n_tasks, cap, budget, mode, build_s, solve_s, status, gap, objective``; ``build_s``
        includes enumerating the candidates.
    """
    gains = random_gain_matrix(n_tasks, seed)
    start = time.perf_counter()
    cands = gain_candidates(gains, aggregate, max_size=cap)
    enumerate_s = time.perf_counter() - start
    selection = select(cands, Budget(max_networks=budget), mode=mode, time_limit_s=time_limit_s)
    return {
        "n_tasks": int(n_tasks),
        "cap": None if cap is None else int(cap),
        "budget": int(budget),
        "mode": mode,
        "build_s": enumerate_s + selection.build_s,
        "solve_s": selection.solve_s,
        "status": selection.status,
        "gap": selection.gap,
        "objective": selection.objective,
    }
