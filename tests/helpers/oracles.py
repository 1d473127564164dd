"""Test-only references for the grouping programs: a plain MILP and brute-force partitions."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from taskgrouping.grouping import InfeasibleGrouping
from taskgrouping.grouping.candidates import _bitmasks, _canonical, loss_candidates
from taskgrouping.grouping.checks import _as_int, _validate_masks, _validate_weights
from taskgrouping.grouping.milp import _solve_exact_cover

# Bell(10) = 115975 partitions take about a second in Python; Bell(12) is already 4.2 million.
MAX_BRUTE_FORCE_TASKS = 10


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

    result = _solve_exact_cover(
        weights,
        masks,
        max_count=budget,
        costs=None,
        max_cost=None,
        maximize=maximize,
        time_limit_s=time_limit_s,
        mip_rel_gap=mip_rel_gap,
        build_start=build_start,
        what="partition",
    )
    if result is None:
        raise InfeasibleGrouping(_infeasible_message(n_tasks, budget, n_candidates))
    selected = result.chosen
    return Solution(
        groups=_canonical([np.flatnonzero(masks[row]).tolist() for row in selected]),
        objective=float(weights[selected].sum()),
        status=result.status,
        bound=result.bound,
        gap=result.gap,
        build_s=result.build_s,
        solve_s=result.solve_s,
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


def loss_weights(
    group_task_losses: dict[tuple[int, ...], dict[int, float]], n_tasks: int
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate groups and weights from measured per-group validation losses.

    Takes the same arguments as :func:`loss_candidates` and returns ``masks`` (boolean, one row
    per measured group, ordered by bitmask) and ``weights`` (the sum of the member losses), for
    :func:`solve_partition` with ``maximize=False``. :func:`loss_candidates` keeps the per-task
    losses, which overlap mode needs.
    """
    cands = loss_candidates(group_task_losses, n_tasks)
    masks = np.array(cands.masks)
    return masks, np.where(masks, cands.values, 0.0).sum(axis=1)


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
