"""Seeded benchmark instances of the grouping solver."""

from __future__ import annotations

import json

from taskgrouping.grouping import benchmark_instance


def test_benchmark_instance_reports_the_solve() -> None:
    record = benchmark_instance(8, 3, 3, "overlap", 0)
    assert set(record) == {
        "n_tasks", "cap", "budget", "mode", "solver", "build_s", "solve_s", "status", "gap",
        "objective", "bound",
    }  # fmt: skip
    assert record["status"] == "optimal" and record["cap"] == 3
    assert json.loads(json.dumps(record)) == record
