"""Rollouts: every start's solution is feasible and its objective, recomputed in float64 by the
reference checker, equals the rollout's; the forced starts and the square's symmetries."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from taskgrouping.benchmarks.cop.benchmark import to_tensors
from taskgrouping.benchmarks.cop.envs import ENVS, SYMMETRIES, transform
from taskgrouping.benchmarks.cop.model import POMOModel
from taskgrouping.cop.problems import generate, parse_task
from taskgrouping.cop.solutions import objective

NAMES = ["tsp9", "cvrp9", "op9", "kp9", "kp5", "op20", "cvrp12"]


def _model(problem: str) -> POMOModel:
    torch.manual_seed(0)
    return POMOModel([problem], d=16, layers=1, heads=2, ff=32)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("greedy", [True, False])
def test_every_start_is_feasible_and_its_objective_recomputes(name: str, greedy: bool) -> None:
    task = parse_task(name)
    arrays = generate(task, 6, 3)
    inst = to_tensors(arrays, task)
    env = ENVS[task.problem]
    torch.manual_seed(1)
    state, logp = _model(task.problem).rollout(task.problem, inst, greedy=greedy)
    assert state.done.all()
    assert torch.isfinite(logp).all() and (logp <= 0).all()
    value = env.objective(state, inst)
    rows = env.solution_rows(torch.stack(state.actions, -1).numpy(), task.size)
    for b in range(6):
        one = {k: v[b] for k, v in arrays.items()}
        for p in range(task.size):
            recomputed = objective(task.problem, one, rows[b, p])
            assert recomputed == pytest.approx(float(value[b, p]), rel=1e-5, abs=1e-5)


def test_starts_are_forced_to_distinct_first_nodes() -> None:
    task = parse_task("cvrp8")
    inst = to_tensors(generate(task, 2, 0), task)
    state, _ = _model("cvrp").rollout("cvrp", inst, greedy=True)
    assert state.actions[0][0].tolist() == list(range(1, 9))  # customer p first, depot = 0
    tsp = parse_task("tsp8")
    state, _ = _model("tsp").rollout("tsp", to_tensors(generate(tsp, 2, 0), tsp), greedy=True)
    assert state.actions[0][1].tolist() == list(range(8))


def test_op_start_beyond_reach_collects_nothing() -> None:
    task = parse_task("op3")
    arrays = generate(task, 1, 0)
    arrays["depot"][:] = 0.0
    arrays["locs"][0] = [[1.0, 1.0], [0.1, 0.1], [0.2, 0.0]]  # node 1 is 2.83 away and back
    arrays["max_length"][:] = 2.0
    inst = to_tensors(arrays, task)
    state, _ = _model("op").rollout("op", inst, greedy=True)
    assert state.actions[0][0, 0].item() == 0  # returns at once
    assert ENVS["op"].objective(state, inst)[0, 0].item() == 0.0
    assert not state.visited[0, :, 1].any()  # no start ever reaches node 1


def test_symmetries_keep_distances() -> None:
    xy = torch.rand(5, 2, dtype=torch.float64)
    dist = torch.cdist(xy, xy)
    images = {tuple(transform(xy, s).flatten().tolist()) for s in SYMMETRIES}
    assert len(images) == 8
    for s in SYMMETRIES:
        moved = transform(xy, s)
        assert torch.allclose(torch.cdist(moved, moved), dist)
        assert ((moved >= 0) & (moved <= 1)).all()


def test_kp_solution_rows_mark_packed_items() -> None:
    actions = np.array([[[2, 0, -1, -1], [1, -1, -1, -1]]])
    rows = ENVS["kp"].solution_rows(actions, 4)
    assert rows.tolist() == [[[1, 0, 1, 0], [0, 1, 0, 0]]]
