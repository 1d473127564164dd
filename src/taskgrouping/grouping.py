"""Exact task grouping: candidate networks, their values, and set-partitioning MILPs.

A gain matrix ``S`` (``S[i, j]`` = gain of task ``j`` from being trained with task ``i``) or a
measured loss table gives every candidate network ``G`` (a task subset) a value per member task.
Two selection problems are solved exactly with HiGHS:

* ``partition`` (the paper's grouping): every task in exactly one chosen network;
* ``overlap`` (network selection, the TAG/HOA protocol): chosen networks may share tasks, every
  task is served by its best chosen network.

Both become one set-partitioning MILP with ``n + 2`` rows: partition over the candidate networks,
overlap over *served sets* (see :func:`select`).  The candidates are enumerated explicitly (one
binary each), which is exact and fits HiGHS for every subset up to ``n = 16`` tasks and, with a
group-size cap, for ``n = 40`` tasks with networks of at most 4 tasks.
"""

from __future__ import annotations

import itertools
import math
import numbers
import operator
import time
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
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
MODES = ("partition", "overlap")
# gain_candidates refuses to enumerate more networks than every subset of MAX_MASK_TASKS tasks.
MAX_CANDIDATES = 2**MAX_MASK_TASKS - 1
# Served sets are keyed by int64 bitmasks in overlap mode.
MAX_OVERLAP_TASKS = 62
# brute_force_select enumerates sets of networks; beyond 8 tasks that takes minutes.
MAX_BRUTE_FORCE_SELECT_TASKS = 8
# ... and in overlap mode at most this many sets of networks (about 10 s in Python).
MAX_BRUTE_FORCE_SETS = 1_000_000
# Up to 2**20 served sets are indexed by bitmask directly; beyond, by a sorted table of the keys.
_DENSE_KEY_TASKS = 20
# (network, served set) pairs generated at once: 4M keys, values and rows take about 100 MB.
_PAIR_CHUNK = 1 << 22
# Up to 16 tasks without a cost limit the O(3^n) subset dynamic program replaces the MILP:
# measured 2.5 s at n = 16 (21.5M subset pairs, about 0.5 GB), where HiGHS took up to 48 s.
_DP_MAX_TASKS = 16
_DP_SOLVER = "the subset dynamic program"

_FEASIBLE_SOLUTION = int(highspy.SolutionStatus.kSolutionStatusFeasible)


class InfeasibleGrouping(ValueError):
    """No grouping of the tasks among the candidate networks meets the budget."""


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


@dataclass(frozen=True, eq=False)
class Candidates:
    """Candidate networks (task subsets) with per-task values and per-network costs.

    The arrays are validated, copied and made read-only on construction.

    Attributes
    ----------
    masks
        Boolean array ``(m, n)``; row ``r`` is the task set of candidate network ``r``.  Rows
        need not be distinct (two networks over the same tasks may differ in value or cost).
    values
        Float array ``(m, n)``: ``values[r, j]`` is the value (gain or loss) of task ``j`` when
        candidate ``r`` serves it.  Finite where ``masks`` is True; ignored (may be NaN) elsewhere.
    costs
        Float array ``(m,)``: the cost of training each candidate (finite, non-negative);
        None gives every candidate cost 1.0.
    """

    masks: np.ndarray
    values: np.ndarray
    costs: np.ndarray | None = None

    def __post_init__(self) -> None:
        masks = np.array(_validate_masks(self.masks), dtype=bool)
        shape = masks.shape
        values = np.array(self.values, dtype=float)
        if values.shape != shape:
            raise ValueError(f"values have shape {values.shape}; accepted: {shape}, like masks")
        bad = masks & ~np.isfinite(values)
        if bad.any():
            row, task = (int(k) for k in np.argwhere(bad)[0])
            raise ValueError(
                f"values must be finite where masks is True, got {values[row, task]} for task "
                f"{task} of candidate {row}"
            )
        costs = np.ones(shape[0]) if self.costs is None else np.array(self.costs, dtype=float)
        if costs.shape != (shape[0],):
            raise ValueError(f"costs have shape {costs.shape}; accepted: ({shape[0]},)")
        bad_cost = ~(np.isfinite(costs) & (costs >= 0))
        if bad_cost.any():
            row = int(np.flatnonzero(bad_cost)[0])
            raise ValueError(
                f"costs must be finite and non-negative, got {costs[row]} for candidate {row}"
            )
        for name, array in (("masks", masks), ("values", values), ("costs", costs)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    @property
    def n_tasks(self) -> int:
        """Number of tasks (columns)."""
        return int(self.masks.shape[1])

    @property
    def n_candidates(self) -> int:
        """Number of candidate networks (rows)."""
        return int(self.masks.shape[0])


@dataclass(frozen=True)
class Budget:
    """Limits on a selection of candidate networks; every field is optional.

    Attributes
    ----------
    max_networks
        At most this many chosen networks (None: no limit).
    max_cost
        The chosen networks' costs sum to at most this (None: no limit).
    min_size, max_size
        Every chosen network holds ``min_size`` to ``max_size`` tasks (``max_size`` None: no
        upper bound).
    together
        Task pairs served by one common network.  ``partition``: the two share a group.
        ``overlap``: one chosen network contains both and serves both.
    apart
        Task pairs that no chosen network may contain both of (either mode).
    alone
        Tasks with their own single-task network.  ``partition``: a singleton group.
        ``overlap``: the single-task network is chosen and serves the task; other chosen
        networks may still contain it as a member they do not serve (forbid that with ``apart``).
    """

    max_networks: int | None = None
    max_cost: float | None = None
    min_size: int = 1
    max_size: int | None = None
    together: tuple[tuple[int, int], ...] = ()
    apart: tuple[tuple[int, int], ...] = ()
    alone: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.max_networks is not None:
            max_networks = _as_int(self.max_networks, "max_networks")
            if max_networks < 1:
                raise ValueError(
                    f"max_networks {max_networks} is below 1; accepted: a positive integer or None"
                )
            object.__setattr__(self, "max_networks", max_networks)
        if self.max_cost is not None:
            max_cost = _as_float(self.max_cost, "max_cost")
            if not (np.isfinite(max_cost) and max_cost >= 0):
                raise ValueError(
                    f"max_cost {max_cost} is not accepted: a finite non-negative number or None"
                )
            object.__setattr__(self, "max_cost", max_cost)
        min_size = _as_int(self.min_size, "min_size")
        if min_size < 1:
            raise ValueError(f"min_size {min_size} is below 1; accepted: a positive integer")
        object.__setattr__(self, "min_size", min_size)
        if self.max_size is not None:
            max_size = _as_int(self.max_size, "max_size")
            if max_size < min_size:
                raise ValueError(
                    f"max_size {max_size} is below min_size {min_size}; accepted: None or an "
                    f"integer >= min_size"
                )
            object.__setattr__(self, "max_size", max_size)
        object.__setattr__(self, "together", _task_pairs(self.together, "together"))
        object.__setattr__(self, "apart", _task_pairs(self.apart, "apart"))
        alone = tuple(_as_int(task, "alone task") for task in self.alone)
        if any(task < 0 for task in alone) or len(set(alone)) != len(alone):
            raise ValueError(f"alone {alone} must list distinct non-negative task indices")
        object.__setattr__(self, "alone", tuple(sorted(alone)))

    def describe(self) -> str:
        """The fields that differ from their defaults, e.g. ``"max_networks=5, max_size=4"``."""
        parts = [
            f"{name}={getattr(self, name)!r}"
            for name, default in _BUDGET_DEFAULTS.items()
            if getattr(self, name) != default
        ]
        return ", ".join(parts) if parts else "no limits"


_BUDGET_DEFAULTS = {spec.name: spec.default for spec in fields(Budget)}


@dataclass(frozen=True)
class Selection:
    """Result of :func:`select`.

    Attributes
    ----------
    rows
        Chosen candidate rows, in the order of ``groups``.
    groups
        Task sets of the chosen networks, each ascending, ordered by their task lists.
    serving
        ``serving[j]`` is the index into ``groups`` of the network that serves task ``j``.
    objective
        Recomputed from the candidates: the sum over tasks of the serving network's value, or
        the sum of the chosen rows' group weights when :func:`select` was given some.
    cost
        Total cost of the chosen networks.
    status
        ``"optimal"`` when HiGHS proved optimality, ``"time_limit"`` when it stopped at the time
        limit with a feasible incumbent.
    bound
        Bound on the optimum (upper when maximising, lower when minimising): HiGHS's, or the
        optimum itself from the subset dynamic program; None when HiGHS has none.
    gap
        HiGHS's relative MIP gap (0 from the dynamic program), or None when undefined.
    build_s
        Seconds spent building the model (candidate filtering, served sets, cvxpy compilation).
    solve_s
        Seconds spent solving (HiGHS, or the subset dynamic program).
    """

    rows: list[int]
    groups: list[list[int]]
    serving: list[int]
    objective: float
    cost: float
    status: str
    bound: float | None
    gap: float | None
    build_s: float
    solve_s: float

    def to_dict(self) -> dict[str, Any]:
        """Return the selection as a JSON-serialisable dictionary."""
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
    gains = _validate_gains(gains)
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


def gain_candidates(
    gains: np.ndarray,
    aggregate: str = "mean",
    *,
    max_size: int | None = None,
    cost: tuple[float, float] = (1.0, 0.0),
) -> Candidates:
    """Every non-empty task subset as a candidate network, valued by a gain matrix.

    ``values[r, j] = v_j(G)``, the gain task ``j`` receives from the other members of ``G``: the
    mean (``aggregate="mean"``) or sum (``"sum"``) of ``S[i, j]`` over ``i`` in ``G``,
    ``i != j``; 0 for a task alone.  Summed over the members this is :func:`group_values`.

    Parameters
    ----------
    gains
        Square gain matrix ``S``; ``S[i, j]`` is the gain of task ``j`` from training with task
        ``i``.  The diagonal is ignored.
    aggregate
        ``"mean"`` or ``"sum"``.
    max_size
        Enumerate only subsets of at most this many tasks (None: all subsets).
    cost
        ``(a, b)``: a network of ``|G|`` tasks costs ``a + b |G|`` (default 1 per network).

    Returns
    -------
    Candidates
        Rows ordered by size, then lexicographically by their task lists; ``values`` is NaN
        outside the masks.

    Raises
    ------
    ValueError
        For a bad matrix, aggregate, ``max_size`` or cost, or more than :data:`MAX_CANDIDATES`
        subsets.
    """
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}; accepted: {', '.join(AGGREGATES)}")
    gains = _validate_gains(gains)
    n_tasks = gains.shape[0]
    if max_size is None:
        max_size = n_tasks
    max_size = _as_int(max_size, "max_size")
    if not 1 <= max_size <= n_tasks:
        raise ValueError(f"max_size {max_size} is outside the accepted range 1..{n_tasks}")
    n_candidates = sum(math.comb(n_tasks, size) for size in range(1, max_size + 1))
    if n_candidates > MAX_CANDIDATES:
        raise ValueError(
            f"{n_tasks} tasks with networks of up to {max_size} tasks give {n_candidates} "
            f"candidates; accepted: at most {MAX_CANDIDATES} (lower max_size)"
        )
    if len(cost) != 2:
        raise ValueError(f"cost {cost!r} is not accepted: a pair (a, b) for a + b * size")
    per_network, per_task = (_as_float(term, "cost") for term in cost)
    sizes = np.arange(1, max_size + 1)
    size_costs = per_network + per_task * sizes
    if not (np.all(np.isfinite(size_costs)) and np.all(size_costs >= 0)):
        raise ValueError(
            f"cost {cost!r} gives network costs {size_costs.tolist()} for sizes 1..{max_size}; "
            f"accepted: finite (a, b) with a + b * size >= 0"
        )

    blocks = []
    for size in sizes.tolist():
        # Index arrays from itertools.combinations: 2**n bitmasks would not fit at n = 40.
        flat = itertools.chain.from_iterable(itertools.combinations(range(n_tasks), size))
        members = np.fromiter(flat, dtype=np.intp, count=math.comb(n_tasks, size) * size)
        block = np.zeros((math.comb(n_tasks, size), n_tasks), dtype=bool)
        np.put_along_axis(block, members.reshape(-1, size), True, axis=1)
        blocks.append(block)
    masks = np.concatenate(blocks)
    group_sizes = masks.sum(axis=1)

    off_diagonal = gains.copy()
    np.fill_diagonal(off_diagonal, 0.0)
    # Row r, column j: sum of S[i, j] over members i of candidate r (i = j adds the zero diagonal).
    received = masks.astype(float) @ off_diagonal
    if aggregate == "mean":
        partners = (group_sizes - 1)[:, None]
        received = np.divide(received, partners, out=np.zeros_like(received), where=partners > 0)
    return Candidates(
        masks=masks,
        values=np.where(masks, received, np.nan),
        costs=size_costs[group_sizes - 1],
    )


def paper_objective_values(gains: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """The paper's score of every candidate group: ``(1/|G|) sum_{i != k in G} S[i, k]``.

    This is a per-*group* weight (use it as ``group_weights`` in :func:`select`, partition mode),
    not a per-task value: it equals the mean-aggregate group value times ``(|G| - 1) / |G|``, so
    it has no split into the members' gains that overlap mode could use.

    Parameters
    ----------
    gains
        Square gain matrix ``S``; the diagonal is ignored.
    masks
        Boolean candidate groups, shape ``(n_groups, n_tasks)``.

    Returns
    -------
    np.ndarray
        Float array of shape ``(n_groups,)``; 0 for singletons.
    """
    masks = _validate_masks(masks)
    return group_values(gains, masks, "sum") / masks.sum(axis=1)


def loss_candidates(
    group_task_losses: dict[tuple[int, ...], dict[int, float]], n_tasks: int
) -> Candidates:
    """Candidate networks from measured per-task validation losses (minimise these).

    Parameters
    ----------
    group_task_losses
        ``{(0, 2): {0: 0.31, 2: 0.52}, ...}``: for every trained group network (key: its tasks),
        the validation loss of each member task in that network.
    n_tasks
        Total number of tasks.

    Returns
    -------
    Candidates
        One row per measured network, ordered by bitmask; ``values`` holds the member losses
        (NaN elsewhere); every cost is 1.
    """
    n_tasks = _as_int(n_tasks, "n_tasks")
    if n_tasks < 1:
        raise ValueError(f"n_tasks {n_tasks} must be at least 1")
    if not group_task_losses:
        raise ValueError("group_task_losses is empty; at least one measured group is needed")

    rows: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for key, losses in group_task_losses.items():
        group = tuple(sorted(key))
        if not group or len(set(group)) != len(group):
            raise ValueError(f"group {key} must list distinct tasks, at least one")
        if group[0] < 0 or group[-1] >= n_tasks:
            raise ValueError(f"group {key} names a task outside 0..{n_tasks - 1}")
        row_values = np.full(n_tasks, np.nan)
        for task in group:
            if task not in losses:
                raise ValueError(f"group {group} has no loss for its member task {task}")
            if not np.isfinite(losses[task]):
                raise ValueError(
                    f"group {group} has non-finite loss {losses[task]} for task {task}"
                )
            row_values[task] = float(losses[task])
        extra = sorted(set(losses) - set(group))
        if extra:
            raise ValueError(f"group {group} has losses for non-member tasks {extra}")
        mask = groups_to_masks([list(group)], n_tasks)[0]
        bitmask = _bitmasks(mask[None, :])[0]
        if bitmask in rows:
            raise ValueError(f"group {group} is listed more than once")
        rows[bitmask] = (mask, row_values)

    ordered = [rows[bitmask] for bitmask in sorted(rows)]
    return Candidates(
        masks=np.array([mask for mask, _ in ordered], dtype=bool),
        values=np.array([row_values for _, row_values in ordered], dtype=float),
    )


def select(
    cands: Candidates,
    budget: Budget,
    *,
    mode: str = "partition",
    maximize: bool = True,
    time_limit_s: float = 60.0,
    group_weights: np.ndarray | None = None,
) -> Selection:
    """Choose candidate networks optimally under a budget.

    ``partition``: every task lies in exactly one chosen network, which serves it; the objective
    is ``sum_j values[serving(j), j]``, or the sum of ``group_weights`` over the chosen rows.
    Model: set partitioning with one binary per admissible candidate, ``n`` cover rows, a count
    row and a cost row.  ``together``/``apart``/``alone`` and the size bounds only remove
    candidates (in a partition a task's group is its only network), so the model is exact.

    ``overlap``: every task lies in at least one chosen network and is served by its best chosen
    network (highest value when maximising, lowest when minimising); ``together`` pairs share
    the serving network that is best for the pair, ``alone`` tasks are served by their own
    single-task network; networks that end up serving no task are dropped.  Model: set
    partitioning over *served sets* ``(T, G)``: ``T`` the tasks a network ``G ⊇ T`` serves, with
    weight ``sum_{j in T} values[G, j]`` and cost ``cost(G)``.  Exact for every budget here:
    an optimal selection gives one pair per network with exactly its count, cost and objective;
    conversely pairs partitioning the tasks give the networks ``{G}``, which cover every task,
    serve each ``T`` at least as well, and cost no more (two pairs may share a network; costs
    are non-negative).  Only pairs not dominated by a cheaper-or-equal network with a better
    value for ``T`` are kept: without a cost limit that is the best network per ``T``
    (``2**n - 1`` columns at most, the all-subset partition model's size).  ``together`` and
    ``alone`` restrict ``T``; sizes and ``apart`` restrict ``G``.

    Solver: up to 16 tasks without a cost limit, an exact dynamic program over task subsets
    solves either set-partitioning model in ``O(3^n)`` (seconds at ``n = 16``, where HiGHS took
    up to 48 s on overlap with 5 networks); it always finishes, ignores ``time_limit_s`` and
    reports gap 0.  Otherwise HiGHS solves the MILP (presolve off, relative gap 0).

    Parameters
    ----------
    cands
        Candidate networks, their per-task values and costs.
    budget
        Limits on the chosen networks.
    mode
        ``"partition"`` or ``"overlap"``.
    maximize
        Maximise the objective (gains); False minimises it (losses).
    time_limit_s
        HiGHS time limit in seconds; HiGHS may overrun it while finishing a phase.  The subset
        dynamic program ignores it.
    group_weights
        Partition mode only: a weight per candidate row replacing the per-task values in the
        objective, e.g. :func:`paper_objective_values`.

    Returns
    -------
    Selection
        Status ``"optimal"``, or ``"time_limit"`` with bound and gap when HiGHS stopped early.

    Raises
    ------
    InfeasibleGrouping
        When no selection meets the budget; the message names the constraint that fails.
    RuntimeError
        When HiGHS stops without a feasible selection or with an unexpected status.
    """
    build_start = time.perf_counter()
    if not isinstance(cands, Candidates):
        raise TypeError(f"cands must be Candidates, got {type(cands).__name__}")
    if not isinstance(budget, Budget):
        raise TypeError(f"budget must be a Budget, got {type(budget).__name__}")
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; accepted: {', '.join(MODES)}")
    if not time_limit_s > 0:
        raise ValueError(f"time_limit_s {time_limit_s} must be positive")
    n_tasks = cands.n_tasks
    if group_weights is not None:
        if mode != "partition":
            raise ValueError(
                f"group_weights apply to mode 'partition' only, got mode {mode!r}: overlap "
                f"mode serves every task by its own value"
            )
        group_weights = _validate_weights(group_weights, cands.n_candidates)
    if mode == "overlap" and n_tasks > MAX_OVERLAP_TASKS:
        raise ValueError(
            f"overlap mode over {n_tasks} tasks is not supported; accepted: at most "
            f"{MAX_OVERLAP_TASKS} tasks (served sets are int64 bitmasks)"
        )
    rows, components = _admissible(cands, budget, mode)
    values = np.where(cands.masks, cands.values, 0.0)

    if mode == "partition":
        columns = rows
        row_weights = values.sum(axis=1) if group_weights is None else group_weights
        weights = row_weights[columns]
    else:
        keys, weights, columns = _served_sets(cands, values, rows, budget, components, maximize)
    if n_tasks <= _DP_MAX_TASKS and budget.max_cost is None:
        if mode == "partition":
            keys = cands.masks[columns] @ (1 << np.arange(n_tasks, dtype=np.int64))
        sign = 1.0 if maximize else -1.0
        solve_start = time.perf_counter()
        picked = _subset_dp(keys, sign * weights, n_tasks, budget.max_networks)
        solve_s = time.perf_counter() - solve_start
        solver = _DP_SOLVER
        result: _MilpResult | None = None
        if picked is not None:
            # An exact optimum: its bound is the objective, recomputed below.
            result = _MilpResult(
                chosen=picked,
                status="optimal",
                bound=None,
                gap=0.0,
                build_s=solve_start - build_start,
                solve_s=solve_s,
            )
    else:
        if mode == "partition":
            cover = cands.masks[columns]
        else:
            cover = ((keys[:, None] >> np.arange(n_tasks, dtype=np.int64)) & 1).astype(bool)
        result = _solve_exact_cover(
            weights,
            cover,
            max_count=budget.max_networks,
            costs=cands.costs[columns],
            max_cost=budget.max_cost,
            maximize=maximize,
            time_limit_s=time_limit_s,
            mip_rel_gap=0.0,
            build_start=build_start,
            what=mode,
        )
        solver = "HiGHS"
    if result is None:
        raise InfeasibleGrouping(
            f"no {mode} of the {n_tasks} tasks among the {len(rows)} candidate networks that "
            f"fit the budget meets it ({budget.describe()}); {solver} proved it infeasible"
        )

    chosen = columns[result.chosen]
    if mode == "partition":
        serving_rows = np.empty(n_tasks, dtype=np.intp)
        for row in chosen:
            serving_rows[cands.masks[row]] = row
    else:
        serving_rows = _serve(cands, values, np.unique(chosen), budget, components, maximize)
    # Canonical order: by task list, then by row (duplicate task sets keep a fixed order).
    used = sorted(set(serving_rows.tolist()), key=lambda r: (_members(cands, r), r))
    position = {row: index for index, row in enumerate(used)}
    if group_weights is None:
        objective = float(values[serving_rows, np.arange(n_tasks)].sum())
    else:
        objective = float(group_weights[used].sum())
    return Selection(
        rows=[int(row) for row in used],
        groups=[_members(cands, row) for row in used],
        serving=[position[row] for row in serving_rows.tolist()],
        objective=objective,
        cost=float(cands.costs[used].sum()),
        status=result.status,
        bound=objective if solver == _DP_SOLVER else result.bound,
        gap=result.gap,
        build_s=result.build_s,
        solve_s=result.solve_s,
    )


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

    def score(chosen: list[int]) -> float | None:
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
        for block, single in _brute_force_blocks(n_tasks, budget):
            options = [
                sum(float(cands.values[r, j]) for j in block)
                for r in chosen
                if block <= members[r] and (not single or len(members[r]) == 1)
            ]
            if not options:
                return None
            total += max(options) if maximize else min(options)
        return total

    if mode == "overlap":
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
    best: tuple[list[int], float] | None = None
    for chosen in _brute_force_choices(n_tasks, members, costs, allowed, budget, mode):
        value = score(chosen)
        if value is not None and (best is None or sign * value > sign * best[1]):
            best = (list(chosen), value)
    if best is None:
        raise InfeasibleGrouping(
            f"brute force found no {mode} of the {n_tasks} tasks that meets the budget "
            f"({budget.describe()})"
        )
    groups = sorted(sorted(members[r]) for r in best[0])
    return groups, best[1]


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

    Takes the same arguments as :func:`loss_candidates` and returns ``masks`` (boolean, one row
    per measured group, ordered by bitmask) and ``weights`` (the sum of the member losses), for
    :func:`solve_partition` with ``maximize=False``. :func:`loss_candidates` keeps the per-task
    losses, which overlap mode needs.
    """
    cands = loss_candidates(group_task_losses, n_tasks)
    masks = np.array(cands.masks)
    return masks, np.where(masks, cands.values, 0.0).sum(axis=1)


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


def _as_float(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    return float(value)


def _task_pairs(pairs: Any, name: str) -> tuple[tuple[int, int], ...]:
    normalised = set()
    for pair in pairs:
        try:
            first, second = pair
        except (TypeError, ValueError):
            raise ValueError(f"{name} entry {pair!r} is not a pair of task indices") from None
        first, second = _as_int(first, f"{name} task"), _as_int(second, f"{name} task")
        if first < 0 or second < 0 or first == second:
            raise ValueError(
                f"{name} pair {pair!r} is not accepted: two distinct non-negative task indices"
            )
        normalised.add((min(first, second), max(first, second)))
    return tuple(sorted(normalised))


def _validate_gains(gains: np.ndarray) -> np.ndarray:
    gains = np.asarray(gains, dtype=float)
    if gains.ndim != 2 or gains.shape[0] != gains.shape[1]:
        raise ValueError(f"gains must be a square matrix, got shape {gains.shape}")
    if not np.all(np.isfinite(gains)):
        bad = tuple(int(k) for k in np.argwhere(~np.isfinite(gains))[0])
        raise ValueError(f"gains must be finite, got {gains[bad]} at {bad}")
    return gains


def _check_budget_tasks(budget: Budget, n_tasks: int) -> None:
    named = [("together", pair) for pair in budget.together]
    named += [("apart", pair) for pair in budget.apart]
    named += [("alone", (task,)) for task in budget.alone]
    for name, tasks in named:
        if max(tasks) >= n_tasks:
            raise ValueError(
                f"{name} {tasks if len(tasks) > 1 else tasks[0]} names a task outside "
                f"0..{n_tasks - 1}"
            )


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
    n_tasks = cands.n_tasks
    _check_budget_tasks(budget, n_tasks)
    components = _components(n_tasks, budget.together)
    for component in components:
        for first, second in budget.apart:
            if first in component and second in component:
                raise InfeasibleGrouping(
                    f"tasks {first} and {second} must be apart, but together pairs join them "
                    f"(tasks {component} must share a network)"
                )
        for task in budget.alone:
            if task in component:
                partners = [other for other in component if other != task]
                raise InfeasibleGrouping(
                    f"task {task} must be alone, but together pairs join it with tasks {partners}"
                )
    if budget.alone and budget.min_size > 1:
        raise InfeasibleGrouping(
            f"tasks {list(budget.alone)} must be alone, but min_size {budget.min_size} forbids "
            f"single-task networks"
        )

    masks = cands.masks
    sizes = masks.sum(axis=1)
    max_size = n_tasks if budget.max_size is None else budget.max_size
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
    rows = np.flatnonzero(admissible)
    row_sizes = sizes[rows]
    largest = int(row_sizes.max(initial=0))
    # The specific reasons first: they also leave tasks uncovered in partition mode.
    for component in components:
        if not masks[np.ix_(rows, component)].all(axis=1).any():
            raise InfeasibleGrouping(
                f"together pairs join tasks {component}, but no candidate network that fits "
                f"the budget holds all {len(component)} of them (the largest holds {largest})"
            )
    for task in budget.alone:
        if not (masks[rows, task] & (row_sizes == 1)).any():
            raise InfeasibleGrouping(f"task {task} must be alone, but no candidate is {{{task}}}")
    uncovered = np.flatnonzero(~masks[rows].any(axis=0))
    if uncovered.size:
        raise InfeasibleGrouping(
            f"task {uncovered[0]} is in no candidate network that fits the budget "
            f"({budget.describe()})"
        )

    n_alone = len(budget.alone)
    # Alone tasks take a single-task network each; the others need networks of <= largest.
    needed = n_alone + math.ceil((n_tasks - n_alone) / largest)
    if budget.max_networks is not None and needed > budget.max_networks:
        if n_alone:
            reason = (
                f"{budget.max_networks} networks cannot cover {n_tasks} tasks: the alone tasks "
                f"{list(budget.alone)} take {n_alone} single-task networks and the other "
                f"{n_tasks - n_alone} tasks need at least {needed - n_alone} networks of at "
                f"most {largest} tasks"
            )
        else:
            reason = (
                f"{budget.max_networks} networks of at most {largest} tasks cannot cover "
                f"{n_tasks} tasks"
            )
        raise InfeasibleGrouping(f"{reason} (max_networks={budget.max_networks})")
    if budget.max_cost is not None:
        costs = cands.costs[rows]
        # Charging a network's cost evenly to its members, each task pays at least its
        # cheapest share; and at least `needed` networks must be paid for.
        share = np.where(masks[rows], (costs / row_sizes)[:, None], np.inf).min(axis=0)
        floor = max(float(share.sum()), needed * float(costs.min()))
        if budget.max_cost < floor - 1e-9 * max(1.0, floor):
            raise InfeasibleGrouping(
                f"max_cost {budget.max_cost} is below {floor:.6g}, the least that any cover of "
                f"the {n_tasks} tasks by candidate networks that fit the budget can cost"
            )
    return rows, components


def _subset_dp(
    keys: np.ndarray, signed: np.ndarray, n_tasks: int, max_count: int | None
) -> np.ndarray | None:
    """Columns of a best partition of all tasks into at most ``max_count`` column key sets.

    ``keys`` are task bitmasks, ``signed`` their weights to maximise.  ``f_k(U)``, the best
    partition of ``U`` into at most ``k`` key sets, is the max over ``T ⊆ U`` holding ``U``'s
    highest task of ``w(T) + f_{k-1}(U \\ T)``: one vectorised pass over the (T, U \\ T) pairs
    per ``k``.  Returns None when no such partition exists.
    """
    full = (1 << n_tasks) - 1
    best = np.full(full + 1, -np.inf)
    np.maximum.at(best, keys, signed)
    # Duplicate keys (partition candidates over the same tasks): any best copy will do.
    column = np.zeros(full + 1, dtype=np.intp)
    hit = signed == best[keys]
    column[keys[hit]] = np.flatnonzero(hit)

    # Every (T, R) with T non-empty, T a key, and T holding the highest task of T | R; built
    # from the highest task down, where a task may join R only once T holds a higher one.
    parts = np.zeros(1, dtype=np.int32)
    rests = np.zeros(1, dtype=np.int32)
    for task in range(n_tasks - 1, -1, -1):
        bit = np.int32(1 << task)
        started = parts != 0
        parts = np.concatenate([parts, parts | bit, parts[started]])
        rests = np.concatenate([rests, rests, rests[started] | bit])
    keep = np.isfinite(best[parts])
    parts, rests = parts[keep], rests[keep]
    unions = parts | rests
    part_weights = best[parts]

    levels = [np.full(full + 1, -np.inf)]
    levels[0][0] = 0.0
    for _ in range(n_tasks if max_count is None else min(max_count, n_tasks)):
        level = np.full(full + 1, -np.inf)
        level[0] = 0.0
        np.maximum.at(level, unions, part_weights + levels[-1][rests])
        if np.array_equal(level, levels[-1]):
            break  # one more set helps no subset, so no later level changes either
        levels.append(level)
    if not np.isfinite(levels[-1][full]):
        return None

    chosen = []
    remaining, count = full, len(levels) - 1
    while remaining:
        # Recompute the winning step of f_count(remaining) over its few candidate sets.
        top = 1 << (remaining.bit_length() - 1)
        subsets = np.zeros(1, dtype=np.int64)
        for task in range(top.bit_length() - 1):
            if remaining >> task & 1:
                subsets = np.concatenate([subsets, subsets | (1 << task)])
        candidates = subsets | top
        scores = best[candidates] + levels[count - 1][remaining ^ candidates]
        part = int(candidates[int(np.argmax(scores))])
        chosen.append(column[part])
        remaining, count = remaining ^ part, count - 1
    return np.array(chosen, dtype=np.intp)


def _served_sets(
    cands: Candidates,
    values: np.ndarray,
    rows: np.ndarray,
    budget: Budget,
    components: list[list[int]],
    maximize: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Columns of the overlap model: served-set bitmasks, their weights and serving rows.

    Keeps, for every served set ``T``, each network ``G ⊇ T`` whose value for ``T`` beats every
    network of lower cost (all costs count as equal without a cost limit), and among networks of
    equal cost the best one.  Cost levels are processed cheapest first.
    """
    sign = 1.0 if maximize else -1.0
    signed = sign * values
    alone_bits = sum(1 << task for task in budget.alone)
    component_bits = [sum(1 << task for task in component) for component in components]
    if budget.max_cost is None:
        levels = np.zeros(len(rows), dtype=np.intp)
    else:
        levels = np.unique(cands.costs[rows], return_inverse=True)[1]

    def chunks(level_rows: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        return _pair_chunks(cands.masks, signed, level_rows, alone_bits, component_bits)

    if cands.n_tasks <= _DENSE_KEY_TASKS:
        universe = None
        n_sets = 2**cands.n_tasks - 1
    else:
        universe = np.unique(np.concatenate([keys for keys, _, _ in chunks(rows)]))
        n_sets = len(universe)
    best = np.full(n_sets, -np.inf)
    best_row = np.zeros(n_sets, dtype=np.intp)
    cheaper = np.full(n_sets, -np.inf)
    found_sets, found_values, found_rows = [], [], []
    for level in range(int(levels.max()) + 1):
        # Touched indices are kept while few, so that many cost levels need not each scan
        # every served set.
        touched: list[np.ndarray] | None = []
        n_pairs = 0
        for keys, sums, pair_rows in chunks(rows[levels == level]):
            index = keys - 1 if universe is None else np.searchsorted(universe, keys)
            np.maximum.at(best, index, sums)
            # A later chunk that raises best[index] also hits it, so the last hit is a best row.
            hit = sums == best[index]
            best_row[index[hit]] = pair_rows[hit]
            n_pairs += index.size
            if touched is not None:
                touched = [*touched, index] if n_pairs <= n_sets // 4 else None
        if touched is None:
            sets = np.flatnonzero(best > cheaper)
        elif touched:
            sets = np.unique(np.concatenate(touched))
            sets = sets[best[sets] > cheaper[sets]]
        else:
            continue
        found_sets.append(sets)
        found_values.append(best[sets])
        found_rows.append(best_row[sets])
        cheaper[sets] = best[sets]
        best.fill(-np.inf)
    sets = np.concatenate(found_sets)
    keys = sets.astype(np.int64) + 1 if universe is None else universe[sets]
    return keys, sign * np.concatenate(found_values), np.concatenate(found_rows)


def _pair_chunks(
    masks: np.ndarray,
    signed: np.ndarray,
    rows: np.ndarray,
    alone_bits: int,
    component_bits: list[int],
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Yield ``(T bitmask, sum_{j in T} signed[G, j], G)`` for every allowed ``T ⊆ G``."""
    sizes = masks[rows].sum(axis=1)
    for size in np.unique(sizes).tolist():
        sized = rows[sizes == size]
        step = max(1, _PAIR_CHUNK >> size)
        for start in range(0, len(sized), step):
            chunk = sized[start : start + step]
            members = np.nonzero(masks[chunk])[1].reshape(len(chunk), size)
            bits = np.left_shift(np.int64(1), members.astype(np.int64))
            gains = signed[chunk[:, None], members]
            keys = np.zeros((len(chunk), 1), dtype=np.int64)
            sums = np.zeros((len(chunk), 1))
            # Doubling: column c then holds the subset of members whose positions are bits of c.
            for position in range(size):
                keys = np.concatenate([keys, keys | bits[:, position : position + 1]], axis=1)
                sums = np.concatenate([sums, sums + gains[:, position : position + 1]], axis=1)
            keys, sums = keys[:, 1:], sums[:, 1:]
            keep = np.ones(keys.shape, dtype=bool)
            if size > 1 and alone_bits:
                # An alone task is served only by its own single-task network.
                keep &= (keys & alone_bits) == 0
            for joined in component_bits:
                # A together-joined set is served whole or not at all by one network.
                part = keys & joined
                keep &= (part == 0) | (part == joined)
            yield keys[keep], sums[keep], np.broadcast_to(chunk[:, None], keys.shape)[keep]


def _serve(
    cands: Candidates,
    values: np.ndarray,
    rows: np.ndarray,
    budget: Budget,
    components: list[list[int]],
    maximize: bool,
) -> np.ndarray:
    """Serving network (candidate row) of every task among the chosen ``rows`` (overlap)."""
    sign = 1.0 if maximize else -1.0
    joined = {task for component in components for task in component} | set(budget.alone)
    blocks = [(component, False) for component in components]
    blocks += [([task], True) for task in budget.alone]
    blocks += [([task], False) for task in range(cands.n_tasks) if task not in joined]
    masks = cands.masks[rows]
    single = masks.sum(axis=1) == 1
    serving = np.empty(cands.n_tasks, dtype=np.intp)
    for block, alone in blocks:
        able = masks[:, block].all(axis=1) & (single | (not alone))
        if not able.any():
            raise RuntimeError(f"HiGHS chose networks {rows.tolist()} that cannot serve {block}")
        scores = np.where(able, sign * values[np.ix_(rows, block)].sum(axis=1), -np.inf)
        serving[block] = rows[int(np.argmax(scores))]
    return serving


def _members(cands: Candidates, row: int) -> list[int]:
    return np.flatnonzero(cands.masks[row]).tolist()


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
