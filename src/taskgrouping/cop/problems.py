"""The combinatorial-optimisation tasks: names, size rules and seeded instance generators.

A task is a problem type and a size, named like ``tsp20``: ``tsp`` (travelling salesman),
``cvrp`` (capacitated vehicle routing), ``op`` (orienteering) or ``kp`` (0-1 knapsack), and the
number of nodes (items for KP). The generators follow the literature the paper builds on (Kool
et al. 2019, POMO): nodes uniform in the unit square, and

* **CVRP**: a depot uniform in the unit square, integer demands uniform in 1..9, vehicle
  capacity 20 / 30 / 40 / 50 for 10 / 20 / 50 / 100 customers; other sizes take the capacity
  interpolated linearly between those anchors (held constant beyond them), rounded to an
  integer (:func:`cvrp_capacity`);
* **OP**: the depot uniform in the unit square, distance-based prizes (Fischetti et al.: node
  ``i`` is worth ``(1 + floor(99 * d(0, i) / max_j d(0, j))) / 100``), a tour-length limit 2 / 3 /
  4 for 20 / 50 / 100 nodes, interpolated linearly in between and held constant beyond
  (:func:`op_max_length`);
* **KP**: weights and values uniform in [0, 1), capacity ``n / 8`` (6.25 / 12.5 / 25 for 50 / 100 /
  200 items, as in POMO).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Problem types, in the order tasks are listed in tables.
PROBLEMS: tuple[str, ...] = ("tsp", "cvrp", "op", "kp")
#: Smallest size of each problem type (a route needs two nodes; a knapsack one item).
MIN_SIZE: dict[str, int] = {"tsp": 3, "cvrp": 2, "op": 2, "kp": 2}
#: Largest size the generators make (the reference solvers' reach, not a hard limit of theirs).
MAX_SIZE = 1000
#: Anchors of the CVRP capacity rule: customers -> capacity (Kool et al. 2019).
CVRP_CAPACITY_ANCHORS: tuple[tuple[int, int], ...] = ((10, 20), (20, 30), (50, 40), (100, 50))
#: Anchors of the OP length rule: nodes -> maximum tour length (Kool et al. 2019).
OP_LENGTH_ANCHORS: tuple[tuple[int, float], ...] = ((20, 2.0), (50, 3.0), (100, 4.0))
#: Fields of an instance set, per problem type.
FIELDS: dict[str, tuple[str, ...]] = {
    "tsp": ("locs",),
    "cvrp": ("depot", "locs", "demand", "capacity"),
    "op": ("depot", "locs", "prize", "max_length"),
    "kp": ("weights", "values", "capacity"),
}

_NAME = re.compile(r"^([a-z]+)(\d+)$")


@dataclass(frozen=True, order=True)
class Task:
    """A problem type and its size (nodes; items for KP)."""

    problem: str
    size: int

    @property
    def name(self) -> str:
        """The task's name, e.g. ``tsp20``."""
        return f"{self.problem}{self.size}"

    @property
    def maximise(self) -> bool:
        """Whether the objective is maximised (OP's prize, KP's value) rather than minimised."""
        return self.problem in ("op", "kp")


def parse_task(name: str) -> Task:
    """The task called ``name`` (``<problem><size>``, e.g. ``cvrp50``).

    Raises
    ------
    ValueError
        Naming the bad value and what is accepted: an unknown problem type, or a size below the
        problem's smallest (:data:`MIN_SIZE`) or above :data:`MAX_SIZE`.
    """
    match = _NAME.match(str(name))
    if not match:
        raise ValueError(
            f"task {name!r} is not <problem><size>; accepted: one of {list(PROBLEMS)} followed by "
            "a number of nodes, e.g. 'tsp20'"
        )
    problem, size = match[1], int(match[2])
    if problem not in PROBLEMS:
        raise ValueError(
            f"task {name!r}: unknown problem type {problem!r}; accepted: {list(PROBLEMS)}"
        )
    if not MIN_SIZE[problem] <= size <= MAX_SIZE:
        raise ValueError(
            f"task {name!r}: the generator cannot make {problem} instances of size {size}; "
            f"accepted: {MIN_SIZE[problem]} to {MAX_SIZE}"
        )
    return Task(problem, size)


def canonical_tasks(names: Sequence[str]) -> list[str]:
    """The task names ``names`` in the benchmark's order: by problem type (:data:`PROBLEMS`),
    then by size, so that a group has one canonical key whatever order a config lists them in.

    Raises
    ------
    ValueError
        Naming the first bad name (:func:`parse_task`) or a task listed twice.
    """
    tasks = [parse_task(n) for n in names]
    seen = set()
    for task in tasks:
        if task in seen:
            raise ValueError(f"task {task.name!r} is listed twice")
        seen.add(task)
    return [t.name for t in sorted(tasks, key=lambda t: (PROBLEMS.index(t.problem), t.size))]


def cvrp_capacity(customers: int) -> int:
    """Vehicle capacity of CVRP with ``customers`` customers (see the module docstring)."""
    sizes, capacities = zip(*CVRP_CAPACITY_ANCHORS, strict=True)
    return round(float(np.interp(customers, sizes, capacities)))


def op_max_length(nodes: int) -> float:
    """Maximum tour length of OP with ``nodes`` nodes besides the depot (module docstring)."""
    sizes, lengths = zip(*OP_LENGTH_ANCHORS, strict=True)
    return float(np.interp(nodes, sizes, lengths))


def generate(task: Task | str, count: int, seed: int) -> dict[str, np.ndarray]:
    """``count`` instances of ``task`` drawn from ``numpy.random.default_rng(seed)``.

    Returns the instance arrays of :data:`FIELDS` (float64 coordinates and numbers, int64
    demands and capacities): TSP ``locs`` (count, n, 2); CVRP ``depot`` (count, 2), ``locs``,
    ``demand`` (count, n), ``capacity`` (count,); OP ``depot``, ``locs``, ``prize`` (count, n),
    ``max_length`` (count,); KP ``weights``, ``values`` (count, n), ``capacity`` (count,).
    The same task, count and seed give the same arrays.
    """
    task = parse_task(task) if isinstance(task, str) else task
    if count < 1:
        raise ValueError(f"count {count}; accepted: an integer >= 1")
    if seed < 0:
        raise ValueError(f"seed {seed}; accepted: an integer >= 0")
    rng = np.random.default_rng(seed)
    n = task.size
    if task.problem == "tsp":
        return {"locs": rng.random((count, n, 2))}
    if task.problem == "cvrp":
        return {
            "depot": rng.random((count, 2)),
            "locs": rng.random((count, n, 2)),
            "demand": rng.integers(1, 10, size=(count, n)),
            "capacity": np.full(count, cvrp_capacity(n), dtype=np.int64),
        }
    if task.problem == "op":
        depot = rng.random((count, 2))
        locs = rng.random((count, n, 2))
        dist = np.linalg.norm(locs - depot[:, None, :], axis=-1)
        prize = (1 + np.floor(dist / dist.max(axis=1, keepdims=True) * 99)) / 100
        return {
            "depot": depot,
            "locs": locs,
            "prize": prize,
            "max_length": np.full(count, op_max_length(n)),
        }
    return {
        "weights": rng.random((count, n)),
        "values": rng.random((count, n)),
        "capacity": np.full(count, n / 8),
    }
