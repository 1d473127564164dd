"""Instance files: every stored reference is feasible and its value recomputes; bad files are
named."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taskgrouping.cop.instances import (
    instance,
    make_instances,
    read_instances,
    write_instances,
)
from taskgrouping.cop.problems import parse_task
from taskgrouping.cop.references import SolverSettings
from taskgrouping.cop.solutions import objective

SETTINGS = SolverSettings(hgs_no_improvement=200)


@pytest.mark.parametrize("name", ["tsp7", "cvrp7", "op7", "kp10"])
def test_stored_references_are_feasible_and_recompute(name: str, tmp_path: Path) -> None:
    task = parse_task(name)
    calls = []
    arrays = make_instances(task, 3, 0, SETTINGS, progress=lambda d, n: calls.append((d, n)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    path = tmp_path / f"{name}_test.npz"
    write_instances(path, arrays)
    stored = read_instances(path, task)
    for k in range(3):
        value = objective(task.problem, instance(stored, k), stored["reference_solution"][k])
        assert value == stored["reference_value"][k]
    assert stored["reference_optimal"].dtype == bool
    assert str(stored["reference_solver"]) in ("ortools-cpsat", "pyvrp-hgs")


def test_bad_files_are_named(tmp_path: Path) -> None:
    task = parse_task("kp10")
    broken = tmp_path / "kp10_val.npz"
    broken.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"kp10_val\.npz: not a readable instance file"):
        read_instances(broken, task)
    arrays = make_instances(task, 2, 0, SETTINGS)
    missing = {k: v for k, v in arrays.items() if k != "reference_value"}
    write_instances(tmp_path / "m.npz", missing)
    with pytest.raises(ValueError, match=r"\['reference_value'\] missing for task 'kp10'"):
        read_instances(tmp_path / "m.npz", task)
    write_instances(tmp_path / "s.npz", arrays)
    with pytest.raises(ValueError, match=r"'weights' has shape \(2, 10\); task 'kp12'"):
        read_instances(tmp_path / "s.npz", parse_task("kp12"))
    nan = {**arrays, "values": np.where(np.eye(2, 10, dtype=bool), np.nan, arrays["values"])}
    write_instances(tmp_path / "n.npz", nan)
    with pytest.raises(ValueError, match="'values' holds a non-finite number"):
        read_instances(tmp_path / "n.npz", task)
