"""Task names, the size rules of the literature, and seeded generators."""

from __future__ import annotations

import numpy as np
import pytest

from taskgrouping.cop.problems import (
    FIELDS,
    Task,
    cvrp_capacity,
    generate,
    op_max_length,
    parse_task,
)


def test_task_names() -> None:
    assert parse_task("tsp20") == Task("tsp", 20)
    assert parse_task("kp200").maximise and not parse_task("cvrp50").maximise
    assert parse_task("op50").name == "op50"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("vrp20", r"unknown problem type 'vrp'; accepted: \['tsp', 'cvrp', 'op', 'kp'\]"),
        ("tsp", r"is not <problem><size>"),
        ("tsp2", r"cannot make tsp instances of size 2; accepted: 3 to 1000"),
        ("kp5000", r"cannot make kp instances of size 5000"),
    ],
)
def test_bad_task_names_are_named(name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_task(name)


def test_size_rules_match_the_literature_at_its_sizes() -> None:
    assert [cvrp_capacity(n) for n in (10, 20, 50, 100)] == [20, 30, 40, 50]
    assert [op_max_length(n) for n in (20, 50, 100)] == [2.0, 3.0, 4.0]
    # Between the anchors: linear; beyond them: held.
    assert cvrp_capacity(35) == 35 and cvrp_capacity(5) == 20 and cvrp_capacity(200) == 50
    assert op_max_length(35) == 2.5 and op_max_length(10) == 2.0
    assert [float(generate(f"kp{n}", 1, 0)["capacity"][0]) for n in (50, 100, 200)] == [
        6.25,
        12.5,
        25.0,
    ]


@pytest.mark.parametrize("name", ["tsp20", "cvrp20", "op20", "kp50"])
def test_generators_are_seeded_and_shaped(name: str) -> None:
    task = parse_task(name)
    a, b, c = generate(task, 5, 3), generate(task, 5, 3), generate(task, 5, 4)
    assert set(a) == set(FIELDS[task.problem])
    for field in a:
        assert np.array_equal(a[field], b[field])
        assert len(a[field]) == 5
    assert not np.array_equal(a[FIELDS[task.problem][0]], c[FIELDS[task.problem][0]])
    if "locs" in a:
        assert a["locs"].shape == (5, task.size, 2)
        assert ((a["locs"] >= 0) & (a["locs"] < 1)).all()


def test_cvrp_demands_and_op_prizes() -> None:
    cvrp = generate("cvrp50", 200, 0)
    assert cvrp["demand"].min() == 1 and cvrp["demand"].max() == 9
    op = generate("op20", 50, 0)
    # Distance-based prizes: multiples of 0.01 in [0.01, 1], 1 for the node farthest from the
    # depot, growing with the distance.
    prize = op["prize"]
    assert np.allclose(prize * 100, np.rint(prize * 100))
    assert prize.min() >= 0.01 and np.allclose(prize.max(axis=1), 1.0)
    dist = np.linalg.norm(op["locs"] - op["depot"][:, None], axis=-1)
    order = np.argsort(dist[0])
    assert (np.diff(prize[0][order]) >= 0).all()


def test_bad_counts_and_seeds() -> None:
    with pytest.raises(ValueError, match="count 0"):
        generate("tsp5", 0, 0)
    with pytest.raises(ValueError, match="seed -1"):
        generate("tsp5", 1, -1)
