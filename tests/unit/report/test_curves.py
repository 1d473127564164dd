"""Budget curves: valid PNGs, reference methods, training seeds pooled."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from taskgrouping.report import (
    plot_budget_curve,
    write_totals_tables,
)
from tests.unit.report.figure_inputs import (
    _assert_png,
)


def test_budget_curve_writes_png(totals_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "budget.png"
    plot_budget_curve(totals_csv, out)
    _assert_png(out)


def test_budget_curve_rejects_repeated_reference(totals_csv: Path, tmp_path: Path) -> None:
    df = pd.read_csv(totals_csv)
    extra = df[df["method"] == "stl"].assign(budget=3)
    pd.concat([df, extra]).to_csv(totals_csv, index=False)
    with pytest.raises(ValueError, match=r"'stl'.*one budget and one draw.*\[3, 4\]"):
        plot_budget_curve(totals_csv, tmp_path / "budget.png")


def test_budget_curve_and_tables_pool_training_seeds(totals_csv: Path, tmp_path: Path) -> None:
    """Rows of several training seeds are pooled: the reference lines and tables use the mean."""
    df = pd.read_csv(totals_csv)
    seeded = df[df["method"] != "random"].assign(seed=2, total_test=lambda d: d["total_test"] + 1.0)
    pd.concat([df, seeded]).to_csv(totals_csv, index=False)
    plot_budget_curve(totals_csv, tmp_path / "budget.png")
    _assert_png(tmp_path / "budget.png")
    agg = write_totals_tables(
        totals_csv, tmp_path / "a.csv", tmp_path / "a.md", tmp_path / "a.tex"
    ).set_index(["method", "budget"])
    stl = agg.loc[("stl", 4)]
    assert (stl["n_seeds"], stl["n_draws"], stl["n_runs"]) == (2, 1, 2)
    assert stl["total_test_mean"] == pytest.approx(4.0)
    assert stl["total_test_std"] == pytest.approx(np.std([3.5, 4.5], ddof=1))
    assert agg.loc[("random", 2), "n_seeds"] == 1


def test_equal_totals_stay_visible_and_the_axis_ends_at_the_last_curve(totals_csv: Path) -> None:
    import matplotlib.pyplot as plt

    from taskgrouping.report._style import _read_totals
    from taskgrouping.report.curves import _plot_benchmark_curve

    df = _read_totals(totals_csv)
    fig, ax = plt.subplots()
    _plot_benchmark_curve(ax, df, [])
    lines = {line.get_label(): line for line in ax.get_lines()}
    ours, exhaustive = lines["ours"], lines["exhaustive"]
    # ours and exhaustive have equal totals at budgets 1 and 2: side by side, not on top.
    assert np.allclose(ours.get_ydata()[:2], exhaustive.get_ydata()[:2])
    gaps = np.asarray(ours.get_xdata()) - np.asarray(exhaustive.get_xdata())
    assert np.all(np.abs(gaps) > 0.05) and np.all(np.abs(gaps) < 0.5)
    # The curves end at budget 3: the axis does not run on to stl's budget 4, which stays a line.
    assert ax.get_xlim()[1] < 4 and list(ax.get_xticks()) == [1, 2, 3]
    assert not [line for line in ax.get_lines() if 4 in np.asarray(line.get_xdata())]
    plt.close(fig)


def test_update_rules_are_labelled_markers_in_a_panel_of_their_own(
    totals_csv: Path, tmp_path: Path
) -> None:
    import matplotlib.pyplot as plt

    from taskgrouping.report import curves
    from taskgrouping.report._style import _read_totals

    df = pd.read_csv(totals_csv)
    rules = pd.DataFrame(
        [
            ("synth", rule, 1, 0, seed, 1, 3.5, value, 5.0)
            for rule, seed, value in [
                ("pcgrad", 0, 3.2),
                ("pcgrad", 1, 3.6),
                ("cagrad", 0, 3.8),
                ("cagrad", 1, 3.8),
            ]
        ],
        columns=[
            "benchmark",
            "method",
            "budget",
            "draw",
            "seed",
            "n_groups",
            "total_val",
            "total_test",
            "delta_m_pct",
        ],
    )
    pd.concat([df, rules]).to_csv(totals_csv, index=False)
    plot_budget_curve(totals_csv, tmp_path / "budget.png")
    _assert_png(tmp_path / "budget.png")
    frame = _read_totals(totals_csv)
    fig, (main, side) = plt.subplots(1, 2)
    curves._plot_benchmark_curve(main, frame, ["cagrad", "pcgrad"])
    curves._plot_rule_panel(side, frame, ["cagrad", "pcgrad"], ["cagrad", "pcgrad"])
    # The rules are no curves of the main panel: no line carries their name.
    assert not {"pcgrad", "cagrad"} & {line.get_label() for line in main.get_lines()}
    # Beside mtl, one marker per rule at its mean, labelled on the axis.
    assert [t.get_text() for t in side.get_xticklabels()] == ["mtl", "cagrad", "pcgrad"]
    points = [line for line in side.get_lines() if line.get_marker() not in ("_", "None")]
    assert [float(p.get_ydata()[0]) for p in points] == pytest.approx([4.0, 3.8, 3.4])
    plt.close(fig)
