"""Atomic outputs and the gain matrix reader."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.io import atomic_write_json, atomic_write_text, read_gain_matrix

TASKS = ["depth", "normal", "edge"]


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077])
def test_outputs_get_the_mode_the_umask_gives_a_new_file(tmp_path: Path, mask: int) -> None:
    previous = os.umask(mask)
    try:
        atomic_write_json(tmp_path / "a.json", {"x": 1})
        atomic_write_text(tmp_path / "sub" / "b.txt", "x")
        (tmp_path / "plain.txt").write_text("x")
    finally:
        os.umask(previous)
    expected = stat.S_IMODE((tmp_path / "plain.txt").stat().st_mode)
    assert expected == 0o666 & ~mask
    for path in (tmp_path / "a.json", tmp_path / "sub" / "b.txt"):
        assert stat.S_IMODE(path.stat().st_mode) == expected, oct(path.stat().st_mode)


def _matrix() -> pd.DataFrame:
    values = np.arange(9, dtype=float).reshape(3, 3) / 10
    np.fill_diagonal(values, 0.0)
    return pd.DataFrame(values, index=TASKS, columns=TASKS)


def test_rows_in_another_order_are_aligned_by_name(tmp_path: Path) -> None:
    path = tmp_path / "g.csv"
    _matrix().iloc[::-1].to_csv(path)
    pd.testing.assert_frame_equal(read_gain_matrix(path), _matrix())
    # Also when the pipeline names the tasks it expects.
    pd.testing.assert_frame_equal(read_gain_matrix(path, TASKS), _matrix())


@pytest.mark.parametrize("kind", ["column", "row"])
def test_a_duplicate_task_is_named_as_written(tmp_path: Path, kind: str) -> None:
    frame = _matrix()
    if kind == "column":
        frame.columns = ["depth", "normal", "depth"]
    else:
        frame.index = ["depth", "normal", "depth"]
    frame.to_csv(tmp_path / "g.csv")
    with pytest.raises(ValueError, match=rf"has duplicate task 'depth' in its {kind}s$") as err:
        read_gain_matrix(tmp_path / "g.csv")
    assert "depth.1" not in str(err.value)


@pytest.mark.parametrize("diagonal", [np.nan, 0.7, -3.0, ""])
def test_the_diagonal_is_ignored_whatever_it_holds(tmp_path: Path, diagonal: float | str) -> None:
    frame = _matrix().astype(object)
    frame.iloc[1, 1] = diagonal
    frame.to_csv(tmp_path / "g.csv")
    read = read_gain_matrix(tmp_path / "g.csv")
    pd.testing.assert_frame_equal(read, _matrix())
    assert (np.diag(read.to_numpy()) == 0).all()


def test_off_the_diagonal_a_nan_is_still_refused(tmp_path: Path) -> None:
    frame = _matrix()
    frame.iloc[0, 1] = np.nan
    frame.to_csv(tmp_path / "g.csv")
    with pytest.raises(ValueError, match=r"entry \('depth', 'normal'\) = nan is not a finite"):
        read_gain_matrix(tmp_path / "g.csv")
