"""Exact task grouping: candidate-group values and the set-partitioning MILP.

A gain matrix ``S`` (``S[i, j]`` = gain of task ``j`` from being trained with task ``i``) gives
every candidate group ``G`` a value ``w(G)``; the grouping is the partition of the tasks into at
most ``budget`` candidate groups with the best total value.  The MILP enumerates candidate groups
explicitly (one binary per group), which is exact and, for the group counts of the paper
(``n <= 20``), small enough for HiGHS.
"""

from __future__ import annotations

import operator
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import cvxpy as cp
import highspy
import numpy as np
import scipy.sparse as sp
from cvxpy.settings import INFEASIBLE_OR_UNBOUNDED

AGGREGATES = ("mean", "sum")
# Beyond 2**20 - 1 candidates the explicit enumeration no longer fits comfortably in memory.
MAX_MASK_TASKS = 20
# Bell(10) = 115975 partitions take about a second in Python; Bell(12) is already 4.2 million.
MAX_BRUTE_FORCE_TASKS = 10

_FEASIBLE_SOLUTION = int(highspy.SolutionStatus.kSolutionStatusFeasible)


class InfeasibleGrouping(ValueError):
    """No partition of the tasks into at most ``budget`` of the candidate groups exists."""


@dataclass(frozen=True)
class Solution:
    """Result of :func:`solve_partition`.

    Attributes
    ----------
    groups
        Chosen groups, each sorted ascending, ordered by their first task.
    objective
        Total weight of the chosen groups, recomputed from the weights.
    status
        ``"optimal"`` when HiGHS proved optimality, ``"time_limit"`` when it stopped at the time
        limit with a feasible incumbent.
    bound
        Best bound on the objective reported by HiGHS (an upper bound when maximising, a lower
        bound when minimising), or None when HiGHS has none.
    gap
        HiGHS's relative MIP gap, ``|objective - bound| / |objective|``, or None when undefined.
    build_s
        Seconds spent building and compiling the model.
    solve_s
        Seconds HiGHS spent solving.
    """

    groups: list[list[int]]
    objective: float
    status: str
    bound: float | None
    gap: float | None
    build_s: float
    solve_s: float

    def to_dict(self) -> dict[str, Any]:
        """Return the solution as a JSON-serialisable dictionary."""
        return asdict(self)


def subset_masks(n_tasks: int) -> np.ndarray:
    """Enumerate every non-empty subset of ``n_tasks`` tasks.

    Parameters
    ----------
    n_tasks
        Number of tasks, 1 to 20.

    Returns
    -------
    np.ndarray
        Boolean array of shape ``(2**n_tasks - 1, n_tasks)``; row ``r`` is the subset whose
        bitmask is ``r + 1`` (bit ``i`` set means task ``i`` is in the subset).
    """
    n_tasks = _as_int(n_tasks, "n_tasks")
    if not 1 <= n_tasks <= MAX_MASK_TASKS:
        raise ValueError(f"n_tasks {n_tasks} is outside the accepted range 1..{MAX_MASK_TASKS}")
    bitmasks = np.arange(1, 2**n_tasks, dtype=np.int64)
    return ((bitmasks[:, None] >> np.arange(n_tasks)) & 1).astype(bool)


def group_values(gains: np.ndarray, masks: np.ndarray, aggregate: str = "mean") -> np.ndarray:
    """Value of every candidate group under a gain matrix.

    The value of a group is the sum over its members ``j`` of the gain ``v_j(G)`` that ``j``
    receives from the other members: the mean (``aggregate="mean"``) or the sum (``"sum"``) of
    ``S[i, j]`` over ``i`` in ``G``, ``i != j``.  A task alone receives nothing, so singletons
    have value 0.

    Parameters
    ----------
    gains
        Square gain matrix ``S``; ``S[i, j]`` is the gain of task ``j`` from training with task
        ``i``.  The diagonal is ignored.
    masks
        Boolean candidate groups, shape ``(n_groups, n_tasks)``.
    aggregate
        ``"mean"`` or ``"sum"``.

    Returns
    -------
    np.ndarray
        Float array of shape ``(n_groups,)``.
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; accepted: {', '.join(AGGREGATES)}")
    gains = np.asarray(gains, dtype=float)
    if gains.ndim != 2 or gains.shape[0] != gains.shape[1]:
        raise ValueError(f"gains must be a square matrix, got shape {gains.shape}")
    if not np.all(np.isfinite(gains)):
        bad = tuple(int(k) for k in np.argwhere(~np.isfinite(gains))[0])
        raise ValueError(f"gains must be finite, got {gains[bad]} at {bad}")
    masks = _validate_masks(masks, gains.shape[0])

    off_diagonal = gains.copy()
    np.fill_diagonal(off_diagonal, 0.0)
    member = masks.astype(float)
    # m^T S m over each row m sums S[i, j] over ordered pairs of distinct members at once.
    pair_sums = np.einsum("gj,gj->g", member @ off_diagonal, member)
    if aggregate == "sum":
        return pair_sums
    # Every member averages over the same |G| - 1 partners, so the mean divides the pair sum.
    partners = masks.sum(axis=1) - 1
    return np.divide(pair_sums, partners, out=np.zeros_like(pair_sums), where=partners > 0)


def solve_partition(
    weights: np.ndarray,
    masks: np.ndarray,
    budget: int,
    *,
    maximize: bool = True,
    time_limit_s: float = 60.0,
    mip_rel_gap: float = 0.0,
) -> Solution:
    """Choose disjoint candidate groups covering every task once, optimising their total weight.

    Set-partitioning MILP with one binary ``x_G`` per candidate row: ``A x = 1`` with
    ``A = masks.T`` (every task in exactly one chosen group) and ``sum(x) <= budget``.

    Parameters
    ----------
    weights
        Weight of every candidate group, shape ``(n_groups,)``.
    masks
        Boolean candidate groups, shape ``(n_groups, n_tasks)``; need not be all subsets.
    budget
        Maximum number of groups, 1 to ``n_tasks``.
    maximize
        Maximise the total weight (gains); False minimises it (losses).
    time_limit_s
        HiGHS time limit in seconds.  HiGHS checks it only between phases, so a solve can overrun
        it (a 20 s limit took 39 s at ``n_tasks = 20``).
    mip_rel_gap
        Relative gap at which HiGHS may stop and report optimality; the default 0 asks for a
        proven optimum (HiGHS's own default, 1e-4, would accept a near-optimal partition).

    Returns
    -------
    Solution
        Status ``"optimal"``, or ``"time_limit"`` with the gap when HiGHS stopped early.

    Raises
    ------
    InfeasibleGrouping
        When no partition into at most ``budget`` of the candidate groups exists.
    RuntimeError
        When HiGHS stops without a feasible partition or with an unexpected status.
    """
    build_start = time.perf_counter()
    masks = _validate_masks(masks)
    n_candidates, n_tasks = masks.shape
    weights = _validate_weights(weights, n_candidates)
    budget = _validate_budget(budget, n_tasks)
    if not time_limit_s > 0:
        raise ValueError(f"time_limit_s {time_limit_s} must be positive")
    if not 0 <= mip_rel_gap < 1:
        raise ValueError(f"mip_rel_gap {mip_rel_gap} is outside the accepted range [0, 1)")

    chosen = cp.Variable(n_candidates, boolean=True)
    cover = sp.csr_matrix(masks.T.astype(float))
    total = weights @ chosen
    problem = cp.Problem(
        cp.Maximize(total) if maximize else cp.Minimize(total),
        [cover @ chosen == 1, cp.sum(chosen) <= budget],
    )
    construct_s = time.perf_counter() - build_start
    with warnings.catch_warnings():
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
        )
    info = problem.solver_stats.extra_stats
    build_s = construct_s + problem.compilation_time
    solve_s = float(problem.solver_stats.solve_time)

    if problem.status in (cp.INFEASIBLE, INFEASIBLE_OR_UNBOUNDED):
        raise InfeasibleGrouping(_infeasible_message(n_tasks, budget, n_candidates))
    if problem.status == cp.OPTIMAL:
        status = "optimal"
    elif problem.status == cp.USER_LIMIT:
        # Only the time limit is set, so it is the only user limit HiGHS can have hit.  Without
        # an incumbent cvxpy still reports a value (0.0) that is no solution at all.
        if info is None or info.primal_solution_status != _FEASIBLE_SOLUTION:
            raise RuntimeError(
                f"HiGHS reached the time limit of {time_limit_s} s without a feasible partition "
                f"(cvxpy status {problem.status!r})"
            )
        status = "time_limit"
    else:
        raise RuntimeError(f"HiGHS stopped with cvxpy status {problem.status!r}")

    selected = np.flatnonzero(chosen.value > 0.5)
    _check_partition(masks[selected], budget)
    return Solution(
        groups=_canonical([np.flatnonzero(masks[row]).tolist() for row in selected]),
        objective=float(weights[selected].sum()),
        status=status,
        bound=_solver_bound(info, maximize),
        gap=_solver_gap(info),
        build_s=float(build_s),
        solve_s=solve_s,
    )


def brute_force_partition(
    weights: np.ndarray, masks: np.ndarray, budget: int, *, maximize: bool = True
) -> tuple[list[list[int]], float]:
    """Best partition by enumerating every set partition (reference oracle, ``n_tasks <= 10``).

    Partitions are enumerated as restricted-growth strings with at most ``budget`` blocks; a
    partition counts only when each of its blocks is a candidate row.

    Parameters
    ----------
    weights
        Weight of every candidate group, shape ``(n_groups,)``.
    masks
        Boolean candidate groups, shape ``(n_groups, n_tasks)``.
    budget
        Maximum number of groups, 1 to ``n_tasks``.
    maximize
        Maximise the total weight; False minimises it.

    Returns
    -------
    tuple[list[list[int]], float]
        The best groups (canonical order, the first found among ties) and their total weight.

    Raises
    ------
    InfeasibleGrouping
        When no partition into at most ``budget`` of the candidate groups exists.
    """
    masks = _validate_masks(masks)
    n_candidates, n_tasks = masks.shape
    if n_tasks > MAX_BRUTE_FORCE_TASKS:
        raise ValueError(
            f"brute force over {n_tasks} tasks is too slow; accepted: at most "
            f"{MAX_BRUTE_FORCE_TASKS} tasks"
        )
    weights = _validate_weights(weights, n_candidates)
    budget = _validate_budget(budget, n_tasks)

    sign = 1.0 if maximize else -1.0
    # Duplicate candidate rows: only the best copy can be part of an optimum.
    best_weight: dict[int, float] = {}
    for bitmask, weight in zip(_bitmasks(masks), weights.tolist(), strict=True):
        if bitmask not in best_weight or sign * weight > sign * best_weight[bitmask]:
            best_weight[bitmask] = weight

    best_blocks: list[int] | None = None
    best_total = -np.inf
    for blocks in _set_partitions(n_tasks, budget):
        if all(block in best_weight for block in blocks):
            total = sum(best_weight[block] for block in blocks)
            if best_blocks is None or sign * total > sign * best_total:
                best_blocks, best_total = list(blocks), total
    if best_blocks is None:
        raise InfeasibleGrouping(_infeasible_message(n_tasks, budget, n_candidates))
    groups = [[task for task in range(n_tasks) if block >> task & 1] for block in best_blocks]
    return _canonical(groups), float(best_total)


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


def loss_weights(
    group_task_losses: dict[tuple[int, ...], dict[int, float]], n_tasks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate groups and weights from measured per-group validation losses.

    Parameters
    ----------
    group_task_losses
        ``{(0, 2): {0: 0.31, 2: 0.52}, ...}``: for every trained group network (key: its tasks),
        the validation loss of each member task in that network.
    n_tasks
        Total number of tasks.

    Returns
    -------
    tuple[np.ndarray, np.ndarray]
        ``masks`` (boolean, one row per measured group, ordered by bitmask) and ``weights`` (the
        sum of the member losses), for :func:`solve_partition` with ``maximize=False``.
    """
    n_tasks = _as_int(n_tasks, "n_tasks")
    if n_tasks < 1:
        raise ValueError(f"n_tasks {n_tasks} must be at least 1")
    if not group_task_losses:
        raise ValueError("group_task_losses is empty; at least one measured group is needed")

    rows: dict[int, tuple[np.ndarray, float]] = {}
    for key, losses in group_task_losses.items():
        group = tuple(sorted(key))
        if not group or len(set(group)) != len(group):
            raise ValueError(f"group {key} must list distinct tasks, at least one")
        if group[0] < 0 or group[-1] >= n_tasks:
            raise ValueError(f"group {key} names a task outside 0..{n_tasks - 1}")
        for task in group:
            if task not in losses:
                raise ValueError(f"group {group} has no loss for its member task {task}")
            if not np.isfinite(losses[task]):
                raise ValueError(
                    f"group {group} has non-finite loss {losses[task]} for task {task}"
                )
        extra = sorted(set(losses) - set(group))
        if extra:
            raise ValueError(f"group {group} has losses for non-member tasks {extra}")
        mask = groups_to_masks([list(group)], n_tasks)[0]
        bitmask = _bitmasks(mask[None, :])[0]
        if bitmask in rows:
            raise ValueError(f"group {group} is listed more than once")
        rows[bitmask] = (mask, float(sum(losses[task] for task in group)))

    ordered = [rows[bitmask] for bitmask in sorted(rows)]
    masks = np.array([mask for mask, _ in ordered], dtype=bool)
    weights = np.array([weight for _, weight in ordered], dtype=float)
    return masks, weights


def groups_to_masks(groups: list[list[int]], n_tasks: int) -> np.ndarray:
    """Boolean masks, one row per group, e.g. to evaluate a partition with :func:`group_values`.

    Parameters
    ----------
    groups
        Groups of task indices.
    n_tasks
        Total number of tasks.

    Returns
    -------
    np.ndarray
        Boolean array of shape ``(len(groups), n_tasks)``.
    """
    masks = np.zeros((len(groups), n_tasks), dtype=bool)
    for row, group in enumerate(groups):
        for task in group:
            if not 0 <= task < n_tasks:
                raise ValueError(f"task {task} in group {group} is outside 0..{n_tasks - 1}")
        masks[row, list(group)] = True
    return masks


def _as_int(value: Any, name: str) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name} must be an integer, got {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"{name} must be an integer, got {value!r}") from None


def _validate_masks(masks: np.ndarray, n_tasks: int | None = None) -> np.ndarray:
    masks = np.asarray(masks)
    if masks.ndim != 2 or masks.shape[0] == 0:
        raise ValueError(f"masks must be a non-empty 2-D array, got shape {masks.shape}")
    if n_tasks is not None and masks.shape[1] != n_tasks:
        raise ValueError(f"masks have {masks.shape[1]} columns but there are {n_tasks} tasks")
    if masks.dtype != bool:
        if not np.isin(masks, (0, 1)).all():
            raise ValueError("masks must be boolean or 0/1")
        masks = masks.astype(bool)
    empty = np.flatnonzero(~masks.any(axis=1))
    if empty.size:
        raise ValueError(f"row {empty[0]} of masks selects no task; every group needs a task")
    return masks


def _validate_weights(weights: np.ndarray, n_candidates: int) -> np.ndarray:
    weights = np.asarray(weights, dtype=float)
    if weights.shape != (n_candidates,):
        raise ValueError(
            f"weights have shape {weights.shape}; accepted: ({n_candidates},), one per mask row"
        )
    if not np.all(np.isfinite(weights)):
        row = int(np.flatnonzero(~np.isfinite(weights))[0])
        raise ValueError(f"weights must be finite, got {weights[row]} at row {row}")
    return weights


def _validate_budget(budget: int, n_tasks: int) -> int:
    budget = _as_int(budget, "budget")
    if budget < 1:
        raise ValueError(f"budget {budget} is below 1; accepted: 1..{n_tasks}")
    if budget > n_tasks:
        raise ValueError(f"budget {budget} exceeds the {n_tasks} tasks")
    return budget


def _infeasible_message(n_tasks: int, budget: int, n_candidates: int) -> str:
    return (
        f"no partition of the {n_tasks} tasks into at most {budget} groups exists among the "
        f"{n_candidates} candidate groups"
    )


def _check_partition(selected: np.ndarray, budget: int) -> None:
    # A solution HiGHS accepted within its feasibility tolerance must still round to a partition.
    counts = selected.sum(axis=0)
    if len(selected) > budget or not np.all(counts == 1):
        raise RuntimeError(
            f"HiGHS returned {len(selected)} groups covering tasks {counts.tolist()} times, "
            f"which is no partition into at most {budget} groups"
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


def _bitmasks(masks: np.ndarray) -> list[int]:
    powers = 1 << np.arange(masks.shape[1], dtype=np.int64)
    return (masks.astype(np.int64) @ powers).tolist()


def _set_partitions(n_tasks: int, max_blocks: int) -> Iterator[list[int]]:
    """Yield every partition of ``range(n_tasks)`` into at most ``max_blocks`` blocks.

    Blocks are bitmasks; the list yielded is reused, so copy it to keep it.
    """
    blocks: list[int] = []

    def place(task: int) -> Iterator[list[int]]:
        if task == n_tasks:
            yield blocks
            return
        bit = 1 << task
        for index in range(len(blocks)):
            blocks[index] |= bit
            yield from place(task + 1)
            blocks[index] &= ~bit
        if len(blocks) < max_blocks:
            blocks.append(bit)
            yield from place(task + 1)
            blocks.pop()

    yield from place(0)


def _stirling2_table(n_tasks: int, n_groups: int) -> list[list[int]]:
    # Exact integers: S(n, k) overflows floats long before n_tasks gets unreasonable.
    table = [[0] * (n_groups + 1) for _ in range(n_tasks + 1)]
    table[0][0] = 1
    for m in range(1, n_tasks + 1):
        for k in range(1, min(m, n_groups) + 1):
            table[m][k] = table[m - 1][k - 1] + k * table[m - 1][k]
    return table


def _canonical(groups: list[list[int]]) -> list[list[int]]:
    return sorted((sorted(int(task) for task in group) for group in groups), key=lambda g: g[0])
