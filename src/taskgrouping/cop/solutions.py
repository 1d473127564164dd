"""Solutions of the combinatorial-optimisation tasks: their objective, recomputed and checked.

One solution per instance, stored as a fixed-width integer row (padded with :data:`PAD`) so that a
whole split's solutions are one array:

* **TSP** ``(n,)``: the order of the nodes ``0 .. n-1``; the tour closes back to its first node.
* **CVRP** ``(2n + 1,)``: node ``0`` is the depot, customers are ``1 .. n`` (``locs[i - 1]``);
  routes written one after the other, each starting at the depot: ``0 3 1 0 2 4 0`` then padding.
  Every route returns to the depot.
* **OP** ``(n,)``: the visited nodes ``1 .. n`` in order (``locs[i - 1]``), the tour starting and
  ending at the depot, which is not written.
* **KP** ``(n,)``: 1 for a packed item, 0 for one left out.

:func:`objective` recomputes a solution's objective (tour length, total route length, prize
collected, value packed) in float64 and raises when the solution breaks a constraint.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

#: Filler after the end of a solution.
PAD = -1
#: Slack of the length and weight limits, for sums of floats.
TOLERANCE = 1e-9


def width(problem: str, size: int) -> int:
    """Length of one stored solution row of ``problem`` at ``size``."""
    return 2 * size + 1 if problem == "cvrp" else size


def pad(solution: list[int] | np.ndarray, problem: str, size: int) -> np.ndarray:
    """``solution`` as a stored row (int64, padded with :data:`PAD`)."""
    row = np.full(width(problem, size), PAD, dtype=np.int64)
    solution = np.asarray(solution, dtype=np.int64)
    if len(solution) > len(row):
        raise ValueError(f"a {problem} solution of {len(solution)} entries exceeds {len(row)}")
    row[: len(solution)] = solution
    return row


def _closed_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(points - np.roll(points, -1, axis=0), axis=1).sum())


def _unpadded(row: np.ndarray) -> np.ndarray:
    row = np.asarray(row, dtype=np.int64)
    ends = np.flatnonzero(row == PAD)
    used = row if len(ends) == 0 else row[: ends[0]]
    if len(ends) and (row[ends[0] :] != PAD).any():
        raise ValueError(f"entries after the padding: {row.tolist()}")
    return used


def objective(problem: str, instance: Mapping[str, np.ndarray], row: np.ndarray) -> float:
    """The objective of the stored solution ``row`` of one instance (``instance``: that
    instance's arrays, e.g. ``locs`` (n, 2)).

    Raises
    ------
    ValueError
        If the solution breaks a constraint: a node missing or visited twice, a route over the
        vehicle's capacity, a tour over OP's length limit, a knapsack over its capacity, or an
        index out of range; the message says which.
    """
    used = _unpadded(row)
    if problem == "tsp":
        n = len(instance["locs"])
        if sorted(used.tolist()) != list(range(n)):
            raise ValueError(f"a TSP tour must visit each of the {n} nodes once: {used.tolist()}")
        return _closed_length(instance["locs"][used])
    if problem == "cvrp":
        return _cvrp_length(instance, used)
    if problem == "op":
        return _op_prize(instance, used)
    if problem == "kp":
        return _kp_value(instance, used)
    raise ValueError(f"unknown problem type {problem!r}")


def _cvrp_length(instance: Mapping[str, np.ndarray], used: np.ndarray) -> float:
    n = len(instance["locs"])
    if len(used) == 0 or used[0] != 0:
        raise ValueError(f"CVRP routes must start at the depot (0): {used.tolist()}")
    customers = used[used != 0]
    if sorted(customers.tolist()) != list(range(1, n + 1)):
        raise ValueError(f"CVRP routes must serve each of the {n} customers once: {used.tolist()}")
    capacity = float(instance["capacity"])
    nodes = np.vstack([instance["depot"][None, :], instance["locs"]])
    total = 0.0
    for route in np.split(used, np.flatnonzero(used == 0))[1:]:
        route = route[1:]
        if len(route) == 0:
            continue
        load = float(instance["demand"][route - 1].sum())
        if load > capacity + TOLERANCE:
            raise ValueError(
                f"CVRP route {route.tolist()} carries {load:g}, over the capacity {capacity:g}"
            )
        total += _closed_length(nodes[np.concatenate([[0], route])])
    return total


def _op_prize(instance: Mapping[str, np.ndarray], used: np.ndarray) -> float:
    n = len(instance["locs"])
    if len(set(used.tolist())) != len(used) or ((used < 1) | (used > n)).any():
        raise ValueError(f"an OP tour visits distinct nodes among 1..{n}: {used.tolist()}")
    nodes = np.vstack([instance["depot"][None, :], instance["locs"]])
    length = _closed_length(nodes[np.concatenate([[0], used])]) if len(used) else 0.0
    limit = float(instance["max_length"])
    if length > limit + TOLERANCE:
        raise ValueError(f"OP tour {used.tolist()} has length {length:.9g}, over {limit:g}")
    return float(instance["prize"][used - 1].sum())


def _kp_value(instance: Mapping[str, np.ndarray], used: np.ndarray) -> float:
    n = len(instance["weights"])
    if len(used) != n or not np.isin(used, (0, 1)).all():
        raise ValueError(f"a KP solution is one 0 or 1 per item ({n}): {used.tolist()}")
    packed = used.astype(bool)
    weight = float(instance["weights"][packed].sum())
    capacity = float(instance["capacity"])
    if weight > capacity + TOLERANCE:
        raise ValueError(f"KP items of weight {weight:.9g} exceed the capacity {capacity:g}")
    return float(instance["values"][packed].sum())
