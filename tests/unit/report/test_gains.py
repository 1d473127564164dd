"""Gain figures: valid PNGs, and errors naming what is wrong with the inputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.io import read_gain_matrix
from taskgrouping.report import (
    plot_gain_heatmap,
    plot_gains_over_time,
)
from tests.unit.report.figure_inputs import (
    _assert_png,
)


def test_gain_heatmap_writes_png(gains_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "fig" / "gains.png"
    plot_gain_heatmap(gains_csv, out, title="synthetic gains")
    _assert_png(out)


def test_gain_heatmap_rejects_non_square(tmp_path: Path) -> None:
    path = tmp_path / "gains.csv"
    pd.DataFrame(np.zeros((2, 2)), index=["a", "b"], columns=["a", "c"]).to_csv(path)
    with pytest.raises(ValueError, match=r"columns only: \['c'\]"):
        plot_gain_heatmap(path, tmp_path / "out.png")


def test_gains_over_time_writes_png_and_rejects_bad_tables(tmp_path: Path) -> None:
    rows = [
        (step, seed, a, b, 0.01 * step * (1 if {a, b} == {"t0", "t1"} else -1))
        for step in range(5)
        for seed in (0, 1)
        for a in ("t0", "t1", "t2")
        for b in ("t0", "t1", "t2")
        if a != b
    ]
    steps = tmp_path / "steps.csv"
    pd.DataFrame(rows, columns=["step", "seed", "source", "target", "gain"]).to_csv(
        steps, index=False
    )
    seeds = tmp_path / "seeds.csv"
    pd.DataFrame([(0, 1, 0.9)], columns=["seed_a", "seed_b", "spearman"]).to_csv(seeds, index=False)
    out = tmp_path / "over_time.png"
    plot_gains_over_time(steps, seeds, ["t0", "t1", "t2"], out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"step": [0], "gain": [1.0]}).to_csv(bad, index=False)
    with pytest.raises(ValueError, match="source"):
        plot_gains_over_time(bad, seeds, ["t0", "t1"], tmp_path / "x.png")


def test_gain_matrix_rows_are_put_in_the_columns_order(tmp_path: Path) -> None:
    path = tmp_path / "gains.csv"
    pd.DataFrame([[1.0, 0.0], [0.0, 2.0]], index=["b", "a"], columns=["a", "b"]).to_csv(path)
    gains = read_gain_matrix(path)
    assert list(gains.index) == list(gains.columns) == ["a", "b"]
    assert gains.to_numpy().tolist() == [[0.0, 2.0], [1.0, 0.0]]
    with pytest.raises(ValueError, match=r"duplicate task 'a' in its"):
        pd.DataFrame(np.zeros((2, 2)), index=["a", "a"], columns=["a", "b"]).to_csv(path)
        read_gain_matrix(path)


@pytest.mark.parametrize("n", range(2, 17))
def test_the_panels_of_gains_over_time_leave_at_most_one_blank(n: int) -> None:
    from taskgrouping.report.gains import _panel_grid

    rows, cols, legend_panel = _panel_grid(n)
    assert cols <= 4 and rows * cols >= n + legend_panel
    assert rows * cols - n - legend_panel <= 1
    if n in (6, 8, 9, 12):
        assert (rows * cols, legend_panel) == (n, False)


def test_many_tasks_draw_without_numbers_and_the_first_targets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from taskgrouping.report.gains import MANY_TARGETS, MANY_TASKS

    tasks = [f"t{i}" for i in range(MANY_TASKS + 2)]
    rng = np.random.default_rng(0)
    values = rng.normal(size=(len(tasks),) * 2)
    np.fill_diagonal(values, 0.0)
    matrix = pd.DataFrame(values, index=tasks, columns=tasks)
    matrix.to_csv(tmp_path / "gains.csv")
    plot_gain_heatmap(tmp_path / "gains.csv", tmp_path / "heat.png")
    assert (tmp_path / "heat.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = [
        (step, 0, a, b, float(rng.normal()))
        for step in range(3)
        for a in tasks
        for b in tasks
        if a != b
    ]
    steps = tmp_path / "steps.csv"
    pd.DataFrame(rows, columns=["step", "seed", "source", "target", "gain"]).to_csv(
        steps, index=False
    )
    seeds = tmp_path / "seeds.csv"
    pd.DataFrame(columns=["seed_a", "seed_b", "spearman"]).to_csv(seeds, index=False)
    import matplotlib.pyplot as plt

    drawn = []
    real_save = plt.Figure.savefig

    def spy(fig, *args, **kwargs):
        drawn.append(sum(ax.has_data() for ax in fig.axes))
        return real_save(fig, *args, **kwargs)

    monkeypatch.setattr(plt.Figure, "savefig", spy)
    plot_gains_over_time(steps, seeds, tasks, tmp_path / "time.png")
    assert drawn == [MANY_TARGETS]
