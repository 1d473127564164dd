"""Chosen-groups figure: valid PNG, and errors naming unknown or missing tasks."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskgrouping.report import (
    plot_groups,
)
from tests.unit.report.figure_inputs import (
    TASKS,
    _assert_png,
    _write_json,
)


def test_groups_writes_png(group_jsons: list[Path], tmp_path: Path) -> None:
    truth = _write_json(tmp_path / "truth.json", {"groups": [["t0", "t1"], ["t2", "t3"]]})
    out = tmp_path / "groups.png"
    plot_groups(group_jsons, TASKS, out, truth_json=truth)
    _assert_png(out, min_side=150)


def test_groups_rejects_unknown_task(group_jsons: list[Path], tmp_path: Path) -> None:
    bad = _write_json(
        tmp_path / "bad.json",
        {"method": "ours", "budget": 1, "groups": [["t0", "t1", "t2", "t3", "t9"]]},
    )
    with pytest.raises(ValueError, match=r"bad\.json.*'t9'"):
        plot_groups([*group_jsons, bad], TASKS, tmp_path / "groups.png")


def test_groups_rejects_missing_task(tmp_path: Path) -> None:
    bad = _write_json(
        tmp_path / "bad.json", {"method": "ours", "budget": 1, "groups": [["t0", "t1", "t2"]]}
    )
    with pytest.raises(ValueError, match=r"\['t3'\] are not in any group"):
        plot_groups([bad], TASKS, tmp_path / "groups.png")


def test_a_group_has_one_number_and_colour_in_every_row() -> None:
    from taskgrouping.report.groups import _group_codes

    tasks = ["a", "b", "c", "d"]
    ab, cd, bcd, alone = frozenset("ab"), frozenset("cd"), frozenset("bcd"), frozenset
    rows = [
        [ab, ab, cd, cd],
        [alone("a"), bcd, bcd, bcd],
        [alone("a"), alone("b"), cd, cd],
    ]
    codes = _group_codes(rows, tasks)
    # {c, d} is the same group in rows 0 and 2, so the same code; a task alone is 0.
    assert codes[0, 2] == codes[2, 2] == codes[2, 3] != 0
    assert codes[1, 0] == codes[2, 0] == codes[2, 1] == 0
    assert len({codes[0, 0], codes[0, 2], codes[1, 1]}) == 3
    # Numbered by the groups that occur, not by the rows' order.
    assert (_group_codes(rows[::-1], tasks)[::-1] == codes).all()


def test_many_tasks_put_the_columns_in_planted_clusters(tmp_path: Path) -> None:
    from taskgrouping.report.groups import MANY_TASKS, _columns_by_planted

    tasks = [f"t{i}" for i in range(MANY_TASKS + 6)]
    clusters = [tasks[k::3] for k in range(3)]  # interleaved: t0 t3 t6 ... | t1 t4 ...
    owner = {t: frozenset(c) for c in clusters for t in c}
    alone = [frozenset([t]) for t in tasks]
    ordered, rows = _columns_by_planted(
        tasks, [("planted", [owner[t] for t in tasks]), ("stl", alone)]
    )
    assert ordered == clusters[0] + clusters[1] + clusters[2]
    # every row follows its columns: each cell is still its task's group
    assert rows[0][1] == [owner[t] for t in ordered]
    assert rows[1][1] == [frozenset([t]) for t in ordered]
    truth = _write_json(tmp_path / "truth.json", {"groups": clusters})
    ours = _write_json(tmp_path / "ours.json", {"method": "ours", "budget": 3, "groups": clusters})
    out = tmp_path / "groups.png"
    plot_groups([ours], tasks, out, truth_json=truth)
    _assert_png(out, min_side=150)
