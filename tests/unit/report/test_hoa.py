"""The Taskonomy run beside HOA's table: subset labels and the figure."""

from __future__ import annotations

from pathlib import Path

import pytest

from taskgrouping.evaluation.hoa_comparison import compare_with_hoa, rank_agreement
from taskgrouping.report.hoa import plot_hoa_comparison, subset_label
from tests.helpers.hoa import write_hoa_table
from tests.unit.report.figure_inputs import _assert_png

TASKS = ["segment_semantic", "depth_zbuffer", "normal"]


def test_subset_labels_use_hoa_s_letters() -> None:
    assert subset_label("segment_semantic+normal+edge_texture") == "snt"
    assert subset_label("keypoints2d") == "k"


def test_figure_has_one_panel_per_task_and_refuses_an_empty_comparison(tmp_path: Path) -> None:
    hoa = write_hoa_table(tmp_path / "results_test.txt")
    metrics = {
        "segment_semantic": {"test": {"segment_semantic": 2.0}},
        "segment_semantic+normal": {"test": {"segment_semantic": 1.5, "normal": 2.5}},
        "segment_semantic+depth_zbuffer+normal": {
            "test": {"segment_semantic": 1.0, "depth_zbuffer": 0.2, "normal": 2.0}
        },
        "normal": {"test": {"normal": 3.0}},
    }
    comparison = compare_with_hoa(metrics, hoa, TASKS)
    agreement = rank_agreement(comparison)
    out = tmp_path / "hoa.png"
    plot_hoa_comparison(comparison, agreement, out)
    _assert_png(out)
    with pytest.raises(ValueError, match="no network of the run"):
        plot_hoa_comparison(comparison.iloc[:0], agreement, tmp_path / "empty.png")
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['hoa_test'\]"):
        plot_hoa_comparison(comparison.drop(columns="hoa_test"), agreement, out)
