"""Reference solvers against brute force on instances small enough to enumerate."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from taskgrouping.cop.instances import instance
from taskgrouping.cop.problems import generate, parse_task
from taskgrouping.cop.references import SolverSettings, solve
from taskgrouping.cop.solutions import PAD, objective

SETTINGS = SolverSettings(hgs_no_improvement=300)


def _tour_length(points: np.ndarray) -> float:
    return float(np.linalg.norm(points - np.roll(points, -1, axis=0), axis=1).sum())


def _brute_tsp(locs: np.ndarray) -> float:
    n = len(locs)
    return min(_tour_length(locs[[0, *p]]) for p in itertools.permutations(range(1, n)))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tsp_cpsat_is_the_brute_force_optimum(seed: int) -> None:
    inst = instance(generate("tsp8", 1, seed), 0)
    ref = solve(parse_task("tsp8"), inst, SETTINGS)
    assert ref.optimal and ref.solver == "ortools-cpsat"
    assert ref.value == pytest.approx(_brute_tsp(inst["locs"]), rel=1e-5)


def test_hgs_reaches_the_proven_tsp_optimum_on_small_instances() -> None:
    task = parse_task("tsp12")
    arrays = generate(task, 3, 7)
    for k in range(3):
        inst = instance(arrays, k)
        exact = solve(task, inst, SETTINGS)
        hgs = solve(task, inst, SolverSettings(exact_max_nodes=0, hgs_no_improvement=300))
        assert hgs.solver == "pyvrp-hgs" and not hgs.optimal
        assert hgs.value == pytest.approx(exact.value, rel=1e-4)


def _brute_op(inst: dict) -> float:
    nodes = np.vstack([inst["depot"][None], inst["locs"]])
    best = 0.0
    n = len(inst["locs"])
    for r in range(1, n + 1):
        for subset in itertools.combinations(range(1, n + 1), r):
            prize = float(inst["prize"][np.array(subset) - 1].sum())
            if prize <= best:
                continue
            for order in itertools.permutations(subset):
                if _tour_length(nodes[[0, *order]]) <= inst["max_length"]:
                    best = prize
                    break
    return best


@pytest.mark.parametrize("seed", [0, 1])
def test_op_cpsat_is_the_brute_force_optimum(seed: int) -> None:
    inst = instance(generate("op6", 1, seed), 0)
    # A tight limit, so that the choice of nodes matters.
    inst["max_length"] = np.float64(1.2)
    ref = solve(parse_task("op6"), inst, SETTINGS)
    assert ref.optimal
    assert ref.value == pytest.approx(_brute_op(inst), abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kp_cpsat_is_the_brute_force_optimum(seed: int) -> None:
    inst = instance(generate("kp12", 1, seed), 0)
    inst["capacity"] = np.float64(3.0)
    best = max(
        float(inst["values"][list(s)].sum())
        for r in range(13)
        for s in itertools.combinations(range(12), r)
        if inst["weights"][list(s)].sum() <= 3.0
    )
    ref = solve(parse_task("kp12"), inst, SETTINGS)
    assert ref.optimal and ref.value == pytest.approx(best, abs=1e-5)


def test_cvrp_reference_is_feasible_and_its_value_recomputes() -> None:
    task = parse_task("cvrp12")
    arrays = generate(task, 2, 0)
    for k in range(2):
        inst = instance(arrays, k)
        ref = solve(task, inst, SETTINGS)
        assert ref.solver == "pyvrp-hgs" and not ref.optimal
        assert objective("cvrp", inst, ref.solution) == ref.value
        # At least as many routes as the demand needs.
        routes = (ref.solution == 0).sum()
        assert routes >= np.ceil(inst["demand"].sum() / inst["capacity"])


def test_objective_refuses_infeasible_solutions() -> None:
    tsp = instance(generate("tsp4", 1, 0), 0)
    with pytest.raises(ValueError, match="each of the 4 nodes once"):
        objective("tsp", tsp, np.array([0, 1, 1, 2]))
    cvrp = instance(generate("cvrp3", 1, 0), 0)
    cvrp["demand"] = np.array([20, 15, 1])
    with pytest.raises(ValueError, match=r"carries 35, over the capacity 20"):
        objective("cvrp", cvrp, np.array([0, 1, 2, 0, 3, PAD, PAD]))
    assert objective("cvrp", cvrp, np.array([0, 1, 0, 2, 3, PAD, PAD])) > 0
    op = instance(generate("op3", 1, 0), 0)
    op["max_length"] = np.float64(0.01)
    with pytest.raises(ValueError, match=r"over 0\.01"):
        objective("op", op, np.array([1, PAD, PAD]))
    assert objective("op", op, np.array([PAD, PAD, PAD])) == 0.0
    kp = instance(generate("kp3", 1, 0), 0)
    kp["capacity"] = np.float64(0.0)
    with pytest.raises(ValueError, match="exceed the capacity 0"):
        objective("kp", kp, np.array([1, 0, 0]))
    with pytest.raises(ValueError, match="entries after the padding"):
        objective("tsp", tsp, np.array([0, PAD, 1, 2]))


def test_a_missing_reference_solver_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pyvrp" else real(name, *a)
    )
    inst = instance(generate("cvrp5", 1, 0), 0)
    with pytest.raises(RuntimeError, match=r"solver 'pyvrp' is not installed.*pyvrp==0\.14\.1"):
        solve(parse_task("cvrp5"), inst, SETTINGS)
