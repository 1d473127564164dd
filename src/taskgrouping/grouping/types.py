"""What the grouping programs take and return: candidate networks, budgets, selections."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import numpy as np

from taskgrouping.grouping.checks import _as_float, _as_int, _task_pairs, _validate_masks

AGGREGATES = ("mean", "sum")
MODES = ("partition", "overlap")
# Beyond 2**20 - 1 candidates the explicit enumeration no longer fits comfortably in memory.
MAX_MASK_TASKS = 20
# gain_candidates refuses to enumerate more networks than every subset of MAX_MASK_TASKS tasks.
MAX_CANDIDATES = 2**MAX_MASK_TASKS - 1
# Served sets are keyed by int64 bitmasks in overlap mode.
MAX_OVERLAP_TASKS = 62


class InfeasibleGrouping(ValueError):
    """No grouping of the tasks among the candidate networks meets the budget."""


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
    tasks
        Task names, one per column, for messages (None: tasks are named by their index).
    """

    masks: np.ndarray
    values: np.ndarray
    costs: np.ndarray | None = None
    tasks: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        masks = np.array(_validate_masks(self.masks), dtype=bool)
        shape = masks.shape
        if self.tasks is not None:
            names = tuple(str(t) for t in self.tasks)
            if len(names) != shape[1]:
                raise ValueError(f"{len(names)} task names for {shape[1]} tasks (mask columns)")
            object.__setattr__(self, "tasks", names)
        values = np.array(self.values, dtype=float)
        if values.shape != shape:
            raise ValueError(f"values have shape {values.shape}; accepted: {shape}, like masks")
        bad = masks & ~np.isfinite(values)
        if bad.any():
            row, task = (int(k) for k in np.argwhere(bad)[0])
            members = np.flatnonzero(masks[row]).tolist()
            raise ValueError(
                f"values must be finite where masks is True, got {values[row, task]} for task "
                f"{self.task_name(task)} in candidate network {self.task_names(members)}"
            )
        costs = np.ones(shape[0]) if self.costs is None else np.array(self.costs, dtype=float)
        if costs.shape != (shape[0],):
            raise ValueError(f"costs have shape {costs.shape}; accepted: ({shape[0]},)")
        bad_cost = ~(np.isfinite(costs) & (costs >= 0))
        if bad_cost.any():
            row = int(np.flatnonzero(bad_cost)[0])
            members = np.flatnonzero(masks[row]).tolist()
            raise ValueError(
                f"costs must be finite and non-negative, got {costs[row]} for candidate network "
                f"{self.task_names(members)}"
            )
        for name, array in (("masks", masks), ("values", values), ("costs", costs)):
            array.setflags(write=False)
            object.__setattr__(self, name, array)

    def task_name(self, task: int) -> str:
        """Task ``task`` as messages name it: its name quoted, or its index without names."""
        return str(task) if self.tasks is None else repr(self.tasks[task])

    def task_names(self, tasks: Any) -> str:
        """Tasks ``tasks`` (indices) as messages name them, e.g. ``['a', 'c']`` or ``[0, 2]``."""
        indices = [int(t) for t in tasks]
        return str(indices if self.tasks is None else [self.tasks[t] for t in indices])

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

    Examples
    --------
    At most three networks of at most four tasks, tasks 0 and 1 in one network, task 5 alone:

    >>> from taskgrouping import Budget
    >>> budget = Budget(max_networks=3, max_size=4, together=[(1, 0)], alone=[5])
    >>> budget.together
    ((0, 1),)
    >>> budget.describe()
    'max_networks=3, max_size=4, together=((0, 1),), alone=(5,)'
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

    def describe(self, tasks: tuple[str, ...] | None = None) -> str:
        """The fields that differ from their defaults, e.g. ``"max_networks=5, max_size=4"``;
        with ``tasks`` (names by index), ``together``, ``apart`` and ``alone`` name the tasks."""

        def shown(name: str) -> Any:
            value = getattr(self, name)
            if tasks is None or name not in ("together", "apart", "alone"):
                return value
            if name == "alone":
                return tuple(tasks[t] for t in value)
            return tuple((tasks[a], tasks[b]) for a, b in value)

        parts = [
            f"{name}={shown(name)!r}"
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
        ``"optimal"`` when proven optimal, ``"time_limit"`` when the solve stopped at the time
        limit with a feasible incumbent, ``"gap"`` when column generation gave up its proof (the
        networks that could still improve on the incumbent were too many to list) before the
        time limit.
    bound
        Bound on the optimum (upper when maximising, lower when minimising): HiGHS's, or the
        optimum itself from the subset dynamic program; None when HiGHS has none.
    gap
        HiGHS's relative MIP gap (0 from the dynamic program), or None when undefined.
    build_s
        Seconds spent building the model (candidate filtering, served sets, cvxpy compilation).
    solve_s
        Seconds spent solving (HiGHS, or the subset dynamic program).
    solver
        What solved it: ``"subset dynamic program"`` or ``"HiGHS"`` (every candidate listed),
        or ``"column generation"`` (:mod:`~taskgrouping.grouping.columns`).
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
    solver: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Return the selection as a JSON-serialisable dictionary."""
        return asdict(self)
