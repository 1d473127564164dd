"""Performance tables: the HOA and CSV readers, scoring of chosen networks."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest

from taskgrouping.evaluation.tables import (
    TASKONOMY_TASKS,
    PerformanceTable,
    read_hoa,
    read_table_csv,
    score_selection,
    table_candidates,
    test_total,
    write_table_csv,
)
from taskgrouping.grouping import subset_masks


def shared_data(*parts: str) -> Path:
    """A path under the local data copies; the test skips when it is absent."""
    default = Path(__file__).resolve().parents[3].parent / "shared" / "data"
    path = Path(os.environ.get("TASKGROUPING_SHARED_DATA", default)).joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (set TASKGROUPING_SHARED_DATA)")
    return path


def _tiny() -> PerformanceTable:
    """Three tasks: a, b alone; a+b; a+b+c; c alone (cost 0.5)."""
    nan = np.nan
    return PerformanceTable(
        tasks=["a", "b", "c"],
        masks=np.array([[1, 0, 0], [0, 1, 0], [1, 1, 0], [1, 1, 1], [0, 0, 1]], dtype=bool),
        losses=np.array(
            [
                [1.0, nan, nan],
                [nan, 2.0, nan],
                [0.8, 2.5, nan],
                [0.9, 1.5, 3.0],
                [nan, nan, 2.0],
            ]
        ),
        costs=np.array([1.0, 1.0, 1.0, 1.0, 0.5]),
    )


def test_read_hoa_taskonomy_results() -> None:
    table = read_hoa(shared_data("hoa", "results.txt"))
    assert table.tasks == list(TASKONOMY_TASKS) == ["s", "d", "n", "k", "t"]
    assert table.n_networks == 36 and table.n_tasks == 5
    assert table.costs.tolist() == [0.5] * 5 + [1.0] * 31
    # Line 1: five half-size single-task networks, one per column.
    assert np.array_equal(table.masks[:5], np.eye(5, dtype=bool))
    assert table.losses[0, 0] == pytest.approx(0.08021) and table.losses[4, 4] == 0.03313
    # Lines 2-32: all 31 non-empty subsets, once each; blank cells are non-members.
    full = {tuple(mask) for mask in table.masks[5:].tolist()}
    assert full == {tuple(mask) for mask in subset_masks(5).tolist()}
    assert table.masks[5].tolist() == [True, False, False, False, False]
    assert table.label(10) == "s+d" and table.losses[10, 1] == pytest.approx(0.1833)
    assert table.masks[35].all()
    assert np.all(table.losses[table.masks] > 0)
    assert np.isnan(table.losses[~table.masks]).all()


def test_read_hoa_all_settings_agree_on_networks() -> None:
    folder = shared_data("hoa")
    tables = [read_hoa(path) for path in sorted(folder.glob("results*.txt"))]
    assert len(tables) == 8
    for table in tables:
        assert np.array_equal(table.masks, tables[0].masks)
        assert np.array_equal(table.costs, tables[0].costs)


def _write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def _hoa_lines() -> list[str]:
    """A valid two-task HOA file: half-size line, then {a}, {b}, {a, b}."""
    return ["0.5\t0.6", "0.4\t", "\t0.5", "0.3\t0.45"]


def test_read_hoa_small_file_and_task_names(tmp_path: Path) -> None:
    table = read_hoa(_write(tmp_path / "r.txt", _hoa_lines()), tasks=["a", "b"])
    assert table.n_networks == 2 + 3
    assert table.costs.tolist() == [0.5, 0.5, 1.0, 1.0, 1.0]
    assert [table.label(r) for r in range(5)] == ["a", "b", "a", "b", "a+b"]
    assert table.losses[4].tolist() == [0.3, 0.45]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["0.5\t0.6", "0.4\t", "\t0.5"], "3 lines; accepted: 4"),
        (["0.5\t0.6", "0.4\t\t", "\t0.5", "0.3\t0.45"], "line 2: 3 tab-separated cells"),
        (["0.5\t0.6", "0.4\t", "\tx1", "0.3\t0.45"], "line 3, column 'b': 'x1' is not"),
        (["0.5\t", "0.4\t", "\t0.5", "0.3\t0.45"], "line 1: no loss for task(s) b"),
        (["0.5\t0.6", "0.4\t", "0.2\t", "0.3\t0.45"], "line 3: the network a already"),
        (["0.5\t0.6", "\t", "\t0.5", "0.3\t0.45"], "line 2: every cell is blank"),
    ],
)
def test_read_hoa_errors_name_file_line_and_column(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = _write(tmp_path / "bad.txt", lines)
    with pytest.raises(ValueError, match=re.escape("bad.txt")) as err:
        read_hoa(path, tasks=["a", "b"])
    assert message in str(err.value)


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("nope.txt: no such HOA results file")):
        read_hoa(tmp_path / "nope.txt")
    with pytest.raises(FileNotFoundError, match=re.escape("nope.csv")):
        read_table_csv(tmp_path / "nope.csv")


def test_csv_round_trip_is_exact(tmp_path: Path) -> None:
    table = _tiny()
    write_table_csv(table, tmp_path / "t.csv")
    assert (tmp_path / "t.csv").read_text().splitlines()[:3] == [
        "network,cost,a,b,c",
        "a,1.0,1.0,,",
        "b,1.0,,2.0,",
    ]
    back = read_table_csv(tmp_path / "t.csv")
    assert back.tasks == table.tasks
    assert np.array_equal(back.masks, table.masks)
    assert np.array_equal(back.losses, table.losses, equal_nan=True)
    assert np.array_equal(back.costs, table.costs)


def test_csv_round_trip_of_the_hoa_table(tmp_path: Path) -> None:
    table = read_hoa(shared_data("hoa", "results.txt"))
    write_table_csv(table, tmp_path / "hoa.csv")
    back = read_table_csv(tmp_path / "hoa.csv")
    assert np.array_equal(back.losses, table.losses, equal_nan=True)
    assert np.array_equal(back.costs, table.costs)


def test_csv_cost_column_is_optional(tmp_path: Path) -> None:
    path = _write(tmp_path / "t.csv", ["network,x,y", "x,0.5,", "y,,0.7", "x + y,0.4,0.6"])
    table = read_table_csv(path)
    assert table.tasks == ["x", "y"]
    assert table.costs.tolist() == [1.0, 1.0, 1.0]
    assert table.masks.tolist() == [[True, False], [False, True], [True, True]]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (["net,a,b", "a,0.5,"], "no 'network' column"),
        (["network,cost", "a,1"], "has no task column"),
        (["network,cost,a,b", "a,1,0.5"], "row 2: 3 cells; accepted: 4"),
        (["network,cost,a,b", "a,1,0.5,", "a+b,1,0.4,abc"], "row 3, column 'b': 'abc' is not"),
        (["network,cost,a,b", "a,cheap,0.5,"], "row 2, column 'cost': 'cheap' is not"),
        (["network,cost,a,b", "a,-1,0.5,"], "row 2, column 'cost': cost -1.0 is negative"),
        (["network,cost,a,b", "a+b,1,0.5,"], "network 'a+b' does not match the tasks"),
        (["network,cost,a,b", "a+z,1,0.5,"], "unknown task(s) 'z'"),
    ],
)
def test_csv_errors_name_file_row_and_column(
    tmp_path: Path, lines: list[str], message: str
) -> None:
    path = _write(tmp_path / "bad.csv", lines)
    with pytest.raises(ValueError, match=re.escape("bad.csv")) as err:
        read_table_csv(path)
    assert message in str(err.value)


def test_table_rejects_losses_of_non_members() -> None:
    table = _tiny()
    losses = table.losses.copy()
    losses[0, 1] = 0.3
    with pytest.raises(ValueError, match=r"loss 0\.3 for task 'b'.*not one of its members"):
        PerformanceTable(table.tasks, table.masks, losses, table.costs)


def test_table_candidates_are_the_losses() -> None:
    table = _tiny()
    cands = table_candidates(table)
    assert np.array_equal(cands.masks, table.masks)
    assert np.array_equal(cands.values, table.losses, equal_nan=True)
    assert np.array_equal(cands.costs, table.costs)


def test_score_selection_serves_each_task_by_its_lowest_validation_loss() -> None:
    table = _tiny()
    score = score_selection(table, [0, 3], "overlap")
    # a: 1.0 alone vs 0.9 in a+b+c; b and c only in a+b+c.
    assert score["serving"] == {"a": 1, "b": 1, "c": 1}
    assert score["total"] == pytest.approx(0.9 + 1.5 + 3.0)
    assert score["cost"] == 2.0 and score["networks"] == ["a", "a+b+c"]
    score = score_selection(table, [2, 3, 4], "overlap")
    assert score["serving"] == {"a": 0, "b": 1, "c": 2}
    assert score["total"] == pytest.approx(0.8 + 1.5 + 2.0)


def test_score_selection_checks_cover_and_partition() -> None:
    table = _tiny()
    with pytest.raises(ValueError, match=re.escape("contains task(s) c")):
        score_selection(table, [0, 1], "overlap")
    with pytest.raises(ValueError, match=re.escape("share task(s) a, b")):
        score_selection(table, [2, 3], "partition")
    assert score_selection(table, [2, 4], "partition")["total"] == pytest.approx(0.8 + 2.5 + 2.0)
    with pytest.raises(ValueError, match=re.escape("rows [7] are outside 0..4")):
        score_selection(table, [0, 7])
    with pytest.raises(ValueError, match="unknown mode 'both'"):
        score_selection(table, [3], "both")


def test_test_total_serves_by_validation_and_sums_test() -> None:
    val = _tiny()
    test_losses = val.losses.copy()
    # On test, a is better alone (0.5) than in a+b+c (0.95); validation says a+b+c serves a.
    test_losses[0, 0], test_losses[3] = 0.5, [0.95, 1.4, 2.9]
    test = PerformanceTable(val.tasks, val.masks, test_losses, val.costs)
    assert test_total(val, test, [0, 3]) == pytest.approx(0.95 + 1.4 + 2.9)
    other = PerformanceTable(val.tasks, val.masks, val.losses, val.costs * 2)
    with pytest.raises(ValueError, match="network 0 differs between the tables"):
        test_total(val, other, [0, 3])
