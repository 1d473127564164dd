"""Reference solutions of the combinatorial-optimisation tasks, from kept solvers.

* **TSP** up to ``exact_max_nodes`` nodes (default 20): OR-Tools CP-SAT with its circuit
  constraint, proven optimal unless the time limit stops it; larger: PyVRP's hybrid genetic
  search as one vehicle.
* **CVRP**: PyVRP's hybrid genetic search (a heuristic: never marked optimal).
* **OP**: CP-SAT, the circuit constraint with a skip arc per node, prizes (multiples of 0.01)
  scaled to exact integers.
* **KP**: CP-SAT on integers.

CP-SAT and PyVRP work on integers: distances, weights and values are scaled by :data:`SCALE`
(PyVRP's distances by :data:`HGS_SCALE`).
Where rounding could make a float solution infeasible, it rounds towards feasibility (OP's
distances and KP's weights up, the limits down), so every stored solution is feasible in float;
"optimal" then means optimal for the rounded data, within about ``n / SCALE`` of the float
optimum. The stored objective is always recomputed in float from the solution
(:func:`~taskgrouping.cop.solutions.objective`). Both solvers run on one thread with a
fixed seed; PyVRP stops after a fixed number of iterations without improvement, so its result does
not depend on the machine's speed, and CP-SAT's only where its time limit stops it (then its status
is not optimal).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from taskgrouping.cop.problems import Task
from taskgrouping.cop.solutions import objective, pad

#: Integer scale of distances, weights and values for CP-SAT.
SCALE = 1_000_000
#: Integer scale of distances for PyVRP: its penalty for excess load works per unit of load, and
#: distances much larger than the demands (1 to 9) keep it from finding feasible routes.
HGS_SCALE = 10_000


@dataclass(frozen=True)
class Reference:
    """One instance's reference solution: the stored row, its objective, whether it is proven
    optimal, the solver that found it and the seconds it took."""

    solution: np.ndarray
    value: float
    optimal: bool
    solver: str
    seconds: float


@dataclass(frozen=True)
class SolverSettings:
    """How references are computed.

    Attributes
    ----------
    exact_max_nodes
        TSP instances up to this many nodes are solved by CP-SAT (proven optimal), larger ones
        by PyVRP.
    time_limit_s
        CP-SAT's time limit per instance; a solve it stops is recorded as not optimal.
    hgs_no_improvement
        PyVRP stops after this many iterations without improvement.
    seed
        Seed of both solvers.
    """

    exact_max_nodes: int = 20
    time_limit_s: float = 60.0
    hgs_no_improvement: int = 2000
    seed: int = 0


#: The package behind each reference solver, for the error when it is missing.
_PACKAGES = {"ortools": "ortools==9.15.6755", "pyvrp": "pyvrp==0.14.1"}


def _require(module: str) -> None:
    """Fail with one line naming the missing reference solver and how to install it."""
    import importlib.util

    top = module.split(".")[0]
    if importlib.util.find_spec(top) is None:
        raise RuntimeError(
            f"the reference solver {top!r} is not installed; install the locked version "
            f"({_PACKAGES[top]}, in requirements.lock and envs/solver.yaml)"
        )


def _distances(points: np.ndarray) -> np.ndarray:
    return np.linalg.norm(points[:, None, :] - points[None, :, :], axis=-1)


def solver_module(task: Task, settings: SolverSettings) -> str:
    """The package that solves ``task``'s references: ``"pyvrp"`` or ``"ortools"``."""
    hgs = task.problem == "cvrp" or (task.problem == "tsp" and task.size > settings.exact_max_nodes)
    return "pyvrp" if hgs else "ortools"


def require_solvers(tasks: Sequence[Task], settings: SolverSettings) -> None:
    """Raise one line naming the first reference solver that ``tasks`` need and is not installed
    (checked before any instance is solved, so that a data stage fails before it writes)."""
    for module in sorted({solver_module(t, settings) for t in tasks}):
        _require(module)


def solve(task: Task, instance: Mapping[str, np.ndarray], settings: SolverSettings) -> Reference:
    """The reference solution of one instance of ``task`` (``instance``: its arrays)."""
    _require(solver_module(task, settings))
    start = time.perf_counter()
    if task.problem == "tsp" and task.size <= settings.exact_max_nodes:
        row, optimal, solver = _tsp_cpsat(instance["locs"], settings)
    elif task.problem == "tsp":
        row, optimal, solver = _tsp_hgs(instance["locs"], settings)
    elif task.problem == "cvrp":
        row, optimal, solver = _cvrp_hgs(instance, settings)
    elif task.problem == "op":
        row, optimal, solver = _op_cpsat(instance, settings)
    elif task.problem == "kp":
        row, optimal, solver = _kp_cpsat(instance, settings)
    else:
        raise ValueError(f"unknown problem type {task.problem!r}")
    seconds = time.perf_counter() - start
    row = pad(row, task.problem, task.size)
    return Reference(row, objective(task.problem, instance, row), optimal, solver, seconds)


def _cpsat(model, settings: SolverSettings, *, linearization: int | None = None):
    from ortools.sat.python import cp_model

    solver = cp_model.CpSolver()
    if linearization is not None:
        solver.parameters.linearization_level = linearization
    solver.parameters.max_time_in_seconds = float(settings.time_limit_s)
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = int(settings.seed)
    status = solver.solve(model)
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        raise RuntimeError(
            f"CP-SAT found no solution in {settings.time_limit_s:g} s "
            f"(status {solver.status_name(status)})"
        )
    return solver, status == cp_model.OPTIMAL


def _circuit_order(solver, arcs: Mapping[tuple[int, int], object], start: int = 0) -> list[int]:
    """The nodes of the circuit through ``start`` in order (skipped nodes left out)."""
    successor = {i: j for (i, j), lit in arcs.items() if i != j and solver.boolean_value(lit)}
    order, node = [start], successor.get(start)
    while node is not None and node != start:
        order.append(node)
        node = successor[node]
    return order


def _tsp_cpsat(locs: np.ndarray, settings: SolverSettings):
    from ortools.sat.python import cp_model

    n = len(locs)
    dist = np.rint(_distances(locs) * SCALE).astype(np.int64)
    model = cp_model.CpModel()
    arcs = {(i, j): model.new_bool_var(f"x{i}_{j}") for i in range(n) for j in range(n) if i != j}
    model.add_circuit([(i, j, lit) for (i, j), lit in arcs.items()])
    model.minimize(sum(int(dist[i, j]) * lit for (i, j), lit in arcs.items()))
    solver, optimal = _cpsat(model, settings)
    return _circuit_order(solver, arcs), optimal, "ortools-cpsat"


def _op_cpsat(instance: Mapping[str, np.ndarray], settings: SolverSettings):
    from ortools.sat.python import cp_model

    nodes = np.vstack([instance["depot"][None, :], instance["locs"]])
    n = len(nodes)
    dist = np.ceil(_distances(nodes) * SCALE).astype(np.int64)
    limit = math.floor(float(instance["max_length"]) * SCALE)
    prize = np.rint(np.asarray(instance["prize"]) * 100).astype(np.int64)
    model = cp_model.CpModel()
    arcs = {(i, j): model.new_bool_var(f"x{i}_{j}") for i in range(n) for j in range(n) if i != j}
    # A node's own arc means it is skipped; the depot is always on the tour.
    skip = {i: model.new_bool_var(f"skip{i}") for i in range(1, n)}
    circuit = [(i, j, lit) for (i, j), lit in arcs.items()] + [(i, i, s) for i, s in skip.items()]
    model.add_circuit(circuit)
    model.add(sum(int(dist[i, j]) * lit for (i, j), lit in arcs.items()) <= limit)
    model.maximize(sum(int(prize[i - 1]) * (1 - s) for i, s in skip.items()))
    # The full linear relaxation of the circuit bounds the prize far better: OP20 proves optimal
    # in about 0.4 s instead of 8 s per instance (same optima, measured on 10 instances).
    solver, optimal = _cpsat(model, settings, linearization=2)
    return _circuit_order(solver, arcs)[1:], optimal, "ortools-cpsat"


def _kp_cpsat(instance: Mapping[str, np.ndarray], settings: SolverSettings):
    from ortools.sat.python import cp_model

    weights = np.ceil(np.asarray(instance["weights"]) * SCALE).astype(np.int64)
    values = np.rint(np.asarray(instance["values"]) * SCALE).astype(np.int64)
    capacity = math.floor(float(instance["capacity"]) * SCALE)
    model = cp_model.CpModel()
    take = [model.new_bool_var(f"take{i}") for i in range(len(weights))]
    model.add(sum(int(w) * t for w, t in zip(weights, take, strict=True)) <= capacity)
    model.maximize(sum(int(v) * t for v, t in zip(values, take, strict=True)))
    solver, optimal = _cpsat(model, settings)
    return [int(solver.boolean_value(t)) for t in take], optimal, "ortools-cpsat"


def _hgs(
    nodes: np.ndarray,
    demand: np.ndarray | None,
    capacity: int | None,
    vehicles: int,
    settings: SolverSettings,
) -> list[list[int]]:
    """PyVRP on ``nodes`` (row 0 the depot): each route's nodes (indices into ``nodes``; a
    route's activities are its depot visits and its clients, client ``k`` being node ``k + 1``)."""
    from pyvrp import Model, Solution
    from pyvrp.stop import NoImprovement

    model = Model()
    locations = [model.add_location(x=float(x), y=float(y)) for x, y in nodes]
    depot = model.add_depot(locations[0])
    for k, location in enumerate(locations[1:]):
        model.add_client(location, delivery=[] if demand is None else [int(demand[k])])
    model.add_vehicle_type(
        num_available=vehicles,
        capacity=[] if capacity is None else [int(capacity)],
        start_depot=depot,
        end_depot=depot,
    )
    dist = np.rint(_distances(nodes) * HGS_SCALE).astype(np.int64)
    for i, frm in enumerate(locations):
        for j, to in enumerate(locations):
            if i != j:
                model.add_edge(frm, to, distance=int(dist[i, j]))
    # A feasible start (one route per client, or the one vehicle's tour in index order; client
    # indices count from 0): the search keeps its best feasible solution, however early it stops.
    clients = list(range(len(nodes) - 1))
    start = [[k] for k in clients] if vehicles >= len(clients) else [clients]
    result = model.solve(
        NoImprovement(settings.hgs_no_improvement),
        seed=settings.seed,
        display=False,
        initial_solution=Solution(model.data(), start),
    )
    if not result.is_feasible():
        raise RuntimeError("PyVRP found no feasible solution")
    return [[a.idx + 1 for a in route if a.is_client()] for route in result.best.routes()]


def _tsp_hgs(locs: np.ndarray, settings: SolverSettings):
    (route,) = _hgs(locs, None, None, 1, settings)
    return [0, *route], False, "pyvrp-hgs"


def _cvrp_hgs(instance: Mapping[str, np.ndarray], settings: SolverSettings):
    nodes = np.vstack([instance["depot"][None, :], instance["locs"]])
    demand = np.asarray(instance["demand"])
    routes = _hgs(nodes, demand, int(instance["capacity"]), len(demand), settings)
    row = [0]
    for route in routes:
        row += [*route, 0]
    return row[:-1] if row[-1] == 0 and len(row) > 1 else row, False, "pyvrp-hgs"
