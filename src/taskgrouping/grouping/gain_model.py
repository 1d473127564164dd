"""Candidate networks implied by a gain matrix (never listed), and the columns a search finds.

The values are those of :func:`~taskgrouping.grouping.gain_candidates`; the module docstring of
:mod:`~taskgrouping.grouping.pricing` states them and the search over them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from taskgrouping.grouping.admissible import _components

OBJECTIVES = ("values", "paper")


def check_objective(objective: str, mode: str) -> None:
    """Refuse an unknown objective, and the paper's outside partition mode."""
    if objective not in OBJECTIVES:
        raise ValueError(f"unknown objective {objective!r}; accepted: {', '.join(OBJECTIVES)}")
    if objective == "paper" and mode != "partition":
        raise ValueError("objective 'paper' scores whole groups: it needs mode 'partition'")


@dataclass(frozen=True)
class GainModel:
    """Candidate networks implied by a gain matrix and a budget's per-network rules.

    Attributes
    ----------
    gains
        ``S`` (n x n, diagonal zeroed), in the maximising sense.
    value_scale
        ``value_scale[s]`` = ``a_s`` (module docstring) for sizes ``0..max_size``.
    weight_scale
        ``weight_scale[s]`` = ``c_s``: a partition column's weight factor.
    min_size, max_size
        Sizes of the networks.
    cost
        ``(a, b)``: a network of ``s`` tasks costs ``a + b s``.
    apart
        Boolean (n x n), symmetric: True where two tasks may not share a network.
    alone
        Boolean (n,): tasks that only a single-task network may serve (and, in partition mode,
        hold).
    components
        Task sets that ``together`` pairs join: served by one network (partition: held by one).
    settled
        Boolean (n,) or None: tasks already served (a dive of the integer search fixed their
        network); no column serves them (partition: holds them).
    """

    gains: np.ndarray
    value_scale: np.ndarray
    weight_scale: np.ndarray
    min_size: int
    max_size: int
    cost: tuple[float, float]
    apart: np.ndarray
    alone: np.ndarray
    components: list[list[int]] = field(default_factory=list)
    settled: np.ndarray | None = None
    cache: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def n_tasks(self) -> int:
        return int(self.gains.shape[0])

    def network_cost(self, size: int) -> float:
        return float(self.cost[0] + self.cost[1] * size)

    def task_values(self, members: np.ndarray) -> np.ndarray:
        """``v_j(G)`` of every member ``j`` of ``G`` (rows of ``members``: index arrays)."""
        members = np.asarray(members)
        size = members.shape[-1]
        block = self.gains[members[..., :, None], members[..., None, :]]
        return self.value_scale[size] * block.sum(axis=-2)

    def weight(self, members: np.ndarray) -> np.ndarray:
        """A partition column's weight ``w(G)`` for each row of ``members``."""
        members = np.asarray(members)
        size = members.shape[-1]
        block = self.gains[members[..., :, None], members[..., None, :]]
        return self.weight_scale[size] * block.sum(axis=(-2, -1))


def make_gain_model(
    gains: np.ndarray,
    *,
    aggregate: str,
    objective: str,
    min_size: int,
    max_size: int,
    cost: tuple[float, float],
    apart: tuple[tuple[int, int], ...],
    alone: tuple[int, ...],
    together: tuple[tuple[int, int], ...],
) -> GainModel:
    """The :class:`GainModel` of a validated gain matrix (maximising sense) and budget rules."""
    n = gains.shape[0]
    matrix = np.array(gains, dtype=float)
    np.fill_diagonal(matrix, 0.0)
    sizes = np.arange(max_size + 1, dtype=float)
    if aggregate == "mean":
        value_scale = np.divide(1.0, sizes - 1, out=np.zeros_like(sizes), where=sizes > 1)
    else:
        value_scale = np.where(sizes > 1, 1.0, 0.0)
    if objective == "paper":
        weight_scale = np.divide(1.0, sizes, out=np.zeros_like(sizes), where=sizes > 1)
    else:
        weight_scale = value_scale.copy()
    forbid = np.zeros((n, n), dtype=bool)
    for first, second in apart:
        forbid[first, second] = forbid[second, first] = True
    lonely = np.zeros(n, dtype=bool)
    lonely[list(alone)] = True
    return GainModel(
        gains=matrix,
        value_scale=value_scale,
        weight_scale=weight_scale,
        min_size=min_size,
        max_size=max_size,
        cost=cost,
        apart=forbid,
        alone=lonely,
        components=_components(n, together),
    )


@dataclass
class Columns:
    """Columns found by a search: ``members[k]`` the network (ascending task indices, padded with
    -1 to the largest size), ``served[k]`` the tasks it serves (a boolean row over tasks; in
    partition mode its members), ``weight[k]`` and ``reduced[k]`` (objective weight and reduced
    cost at the prices searched with), ``size[k]``."""

    members: list[tuple[int, ...]] = field(default_factory=list)
    served: list[tuple[int, ...]] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    reduced: list[float] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.members)

    def extend(self, other: Columns) -> None:
        self.members += other.members
        self.served += other.served
        self.weight += other.weight
        self.reduced += other.reduced

    def best(self, limit: int | None = None) -> Columns:
        """The ``limit`` columns of largest reduced cost (all with None), in a canonical order:
        by reduced cost, then network and served set, whatever order the search found them in
        (the master's columns, and with them its LP solutions, must not depend on the search)."""
        order = sorted(
            range(len(self)),
            key=lambda k: (-self.reduced[k], self.members[k], self.served[k]),
        )[:limit]
        return Columns(
            members=[self.members[k] for k in order],
            served=[self.served[k] for k in order],
            weight=[self.weight[k] for k in order],
            reduced=[self.reduced[k] for k in order],
        )
