"""Stage functions called by the workflow, run directly on small inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.workflow.group import select_groups

TASKS = ["a", "b", "c", "d"]
GROUPING = {"aggregate": "mean", "time_limit_s": 30, "mode": "partition", "max_group_size": None}
RANDOM = {"draws": 3, "seed": 0}


def _gains(path: Path) -> Path:
    s = np.full((4, 4), -0.3)
    s[0, 1] = s[1, 0] = 0.6
    s[2, 3] = s[3, 2] = 0.5
    s[0, 2], s[2, 0] = 0.9, 0.4  # a helps c most; c helps a less than b does
    np.fill_diagonal(s, 0)
    pd.DataFrame(s, index=TASKS, columns=TASKS).to_csv(path)
    return path


@pytest.mark.parametrize(
    ("mode", "cap", "expected"),
    [
        ("partition", None, [["a", "b"], ["c", "d"]]),
        ("partition", 1, [["a"], ["b"], ["c"], ["d"]]),
        ("overlap", 2, [["a", "b"], ["a", "c"], ["c", "d"]]),
    ],
)
def test_ours_respects_mode_and_cap(tmp_path: Path, mode: str, cap: int | None, expected) -> None:
    out = tmp_path / "g.json"
    budget = 4 if cap == 1 else (3 if mode == "overlap" else 2)
    select_groups(
        "ours",
        TASKS,
        budget,
        out,
        grouping={**GROUPING, "mode": mode, "max_group_size": cap},
        random=RANDOM,
        gains_csv=_gains(tmp_path / "S.csv"),
    )
    result = json.loads(out.read_text())
    assert sorted(result["groups"]) == expected
    assert result["solver_status"] == "optimal" and result["mode"] == mode
    assert set(result["serving"]) == set(TASKS)


def test_exhaustive_minimises_validation_loss_in_overlap_mode(tmp_path: Path) -> None:
    paths = []
    for key, val in {"a": {"a": 1.0}, "b": {"b": 1.0}, "a+b": {"a": 0.5, "b": 2.0}}.items():
        p = tmp_path / f"{key}.json"
        p.write_text(json.dumps({"group": key, "tasks": key.split("+"), "val": val, "test": val}))
        paths.append(p)
    out = tmp_path / "g.json"
    grouping = {**GROUPING, "mode": "overlap"}
    select_groups(
        "exhaustive", ["a", "b"], 2, out, grouping=grouping, random=RANDOM, metrics_jsons=paths
    )
    result = json.loads(out.read_text())
    # a is best served by a+b (0.5), b by its own network (1.0): total 1.5.
    assert sorted(result["groups"]) == [["a", "b"], ["b"]]
    assert result["objective"] == pytest.approx(1.5)
    assert result["serving"] == {"a": "a+b", "b": "b"}


def test_random_draws_are_seeded_partitions(tmp_path: Path) -> None:
    out1, out2 = tmp_path / "1.json", tmp_path / "2.json"
    for out in (out1, out2):
        select_groups("random", TASKS, 2, out, grouping=GROUPING, random=RANDOM)
    first = json.loads(out1.read_text())
    assert first == json.loads(out2.read_text())
    assert len(first["draws"]) == 3
    for draw in first["draws"]:
        assert len(draw) == 2 and sorted(t for g in draw for t in g) == TASKS
