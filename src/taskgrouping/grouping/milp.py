"""The set-partitioning MILP, built vectorised with cvxpy and solved by HiGHS."""

from __future__ import annotations

import contextlib
import os
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import highspy
import numpy as np
import scipy.sparse as sp
from cvxpy.settings import INFEASIBLE_OR_UNBOUNDED

_FEASIBLE_SOLUTION = int(highspy.SolutionStatus.kSolutionStatusFeasible)


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """Send what native code writes to file descriptor 1 to ``/dev/null`` inside the block.

    highspy prints its banner on standard output whenever cvxpy creates a ``Highs`` object,
    whatever the options say; standard output carries the command's results.
    """
    try:
        sys.stdout.flush()
        saved = os.dup(1)
    except (OSError, ValueError):
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


@dataclass(frozen=True)
class _MilpResult:
    """Columns HiGHS chose and how it got there (see :func:`_solve_exact_cover`)."""

    chosen: np.ndarray
    status: str
    bound: float | None
    gap: float | None
    build_s: float
    solve_s: float


def _solve_exact_cover(
    weights: np.ndarray,
    cover: np.ndarray,
    *,
    max_count: int | None,
    costs: np.ndarray | None,
    max_cost: float | None,
    maximize: bool,
    time_limit_s: float,
    mip_rel_gap: float,
    build_start: float,
    what: str,
) -> _MilpResult | None:
    """Set-partitioning MILP over columns: ``cover.T x = 1``, ``sum x <= max_count``,
    ``costs . x <= max_cost``, optimising ``weights . x``; None when HiGHS proves it infeasible.

    ``cover`` is boolean, one row per column (its tasks); ``what`` names the solution in errors.
    """
    chosen = cp.Variable(len(weights), boolean=True)
    # Sparse and vectorised: scalar constraints in a Python loop take seconds to compile.
    constraints = [sp.csr_matrix(cover.T, dtype=float) @ chosen == 1]
    if max_count is not None:
        constraints.append(cp.sum(chosen) <= max_count)
    if max_cost is not None:
        constraints.append(costs @ chosen <= max_cost)
    total = weights @ chosen
    problem = cp.Problem(cp.Maximize(total) if maximize else cp.Minimize(total), constraints)
    construct_s = time.perf_counter() - build_start
    with warnings.catch_warnings(), _native_stdout_silenced():
        # cvxpy warns "Solution may be inaccurate" at a time limit; the status below says so.
        warnings.filterwarnings(
            "ignore", message="Solution may be inaccurate", category=UserWarning
        )
        problem.solve(
            solver=cp.HIGHS,
            # Presolve spends over a minute on these enumerated models (n = 16) for no benefit.
            presolve="off",
            time_limit=float(time_limit_s),
            mip_rel_gap=float(mip_rel_gap),
            # HiGHS prints its banner and log on standard output, where results go.
            output_flag=False,
        )
    info = problem.solver_stats.extra_stats
    if problem.status in (cp.INFEASIBLE, INFEASIBLE_OR_UNBOUNDED):
        return None
    if problem.status == cp.OPTIMAL:
        status = "optimal"
    elif problem.status == cp.USER_LIMIT:
        # Only the time limit is set, so it is the only user limit HiGHS can have hit.  Without
        # an incumbent cvxpy still reports a value (0.0) that is no solution at all.
        if info is None or info.primal_solution_status != _FEASIBLE_SOLUTION:
            raise RuntimeError(
                f"HiGHS reached the time limit of {time_limit_s} s without a feasible {what} "
                f"(cvxpy status {problem.status!r})"
            )
        status = "time_limit"
    else:
        raise RuntimeError(f"HiGHS stopped with cvxpy status {problem.status!r}")

    selected = np.flatnonzero(chosen.value > 0.5)
    # A solution HiGHS accepted within its feasibility tolerance must still round to one.
    counts = cover[selected].sum(axis=0)
    over_count = max_count is not None and len(selected) > max_count
    spent = 0.0 if costs is None else float(costs[selected].sum())
    over_cost = max_cost is not None and spent > max_cost + 1e-9 * max(1.0, abs(max_cost))
    if over_count or over_cost or not np.all(counts == 1):
        raise RuntimeError(
            f"HiGHS returned {len(selected)} columns of cost {spent} covering tasks "
            f"{counts.tolist()} times, which is no {what} within at most {max_count} columns "
            f"and cost {max_cost}"
        )
    return _MilpResult(
        chosen=selected,
        status=status,
        bound=_solver_bound(info, maximize),
        gap=_solver_gap(info),
        build_s=float(construct_s + problem.compilation_time),
        solve_s=float(problem.solver_stats.solve_time),
    )


def _solver_bound(info: Any, maximize: bool) -> float | None:
    # cvxpy hands HiGHS "minimise -w.x" when maximising, so the bound comes back negated.
    if info is None or not np.isfinite(info.mip_dual_bound):
        return None
    bound = float(info.mip_dual_bound)
    return -bound if maximize else bound


def _solver_gap(info: Any) -> float | None:
    if info is None or not np.isfinite(info.mip_gap):
        return None
    return float(info.mip_gap)
