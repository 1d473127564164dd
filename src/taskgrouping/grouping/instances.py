"""Seeded random grouping instances, for the solver benchmark."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from taskgrouping.grouping.by_gains import choose_solver, select_by_gains
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
    solver: str = "auto",
) -> dict[str, Any]:
    """Time :func:`~taskgrouping.grouping.by_gains.select_by_gains` on a seeded random gain
    matrix (``S ~ N(0, 1)`` off the diagonal).

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
        Time limit of the solve.
    solver
        ``"auto"``, ``"enumerate"`` or ``"columns"``.

    Returns
    -------
    dict
        ``n_tasks, cap, budget, mode, solver, build_s, solve_s, status, gap, objective,
        bound``; ``build_s`` includes enumerating the candidates, ``solver`` is what ran.
    """
    gains = random_gain_matrix(n_tasks, seed)
    limits = Budget(max_networks=budget, max_size=cap)
    chosen = choose_solver(n_tasks, limits, mode, solver)
    start = time.perf_counter()
    selection = select_by_gains(
        gains, limits, mode=mode, aggregate=aggregate, time_limit_s=time_limit_s, solver=chosen
    )
    elapsed = time.perf_counter() - start
    return {
        "n_tasks": int(n_tasks),
        "cap": None if cap is None else int(cap),
        "budget": int(budget),
        "mode": mode,
        "solver": chosen,
        # Enumerating the candidates counts as building the model.
        "build_s": elapsed - selection.solve_s,
        "solve_s": selection.solve_s,
        "status": selection.status,
        "gap": selection.gap,
        "objective": selection.objective,
        "bound": selection.bound,
    }
