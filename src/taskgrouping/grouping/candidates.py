"""Candidate networks and their values: every subset valued by a gain matrix, or measured losses."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np

from taskgrouping.grouping.checks import _as_float, _as_int, _validate_gains, _validate_masks
from taskgrouping.grouping.types import AGGREGATES, MAX_CANDIDATES, MAX_MASK_TASKS, Candidates


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


def gain_candidates(
    gains: np.ndarray,
    aggregate: str = "mean",
    *,
    max_size: int | None = None,
    cost: tuple[float, float] = (1.0, 0.0),
    tasks: Sequence[str] | None = None,
) -> Candidates:
    """Every non-empty task subset as a candidate network, valued by a gain matrix.

    ``values[r, j] = v_j(G)``, the gain task ``j`` receives from the other members of ``G``: the
    mean (``aggregate="mean"``) or sum (``"sum"``) of ``S[i, j]`` over ``i`` in ``G``,
    ``i != j``; 0 for a task alone.  Summed over the members this is :func:`group_values`.

    It stays one function: most of its length is this docstring and the argument checks, and the
    enumeration and valuation are kept together so that their floating-point operations stay in
    one reviewed order.

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
    tasks
        Task names in the matrix's order, which messages then use (default: indices).

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
        tasks=None if tasks is None else tuple(tasks),
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


def _bitmasks(masks: np.ndarray) -> list[int]:
    powers = 1 << np.arange(masks.shape[1], dtype=np.int64)
    return (masks.astype(np.int64) @ powers).tolist()


def _canonical(groups: list[list[int]]) -> list[list[int]]:
    return sorted((sorted(int(task) for task in group) for group in groups), key=lambda g: g[0])
