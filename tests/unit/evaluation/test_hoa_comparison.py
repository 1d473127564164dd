"""A run's Taskonomy subset losses beside HOA's table: matching by group, and rank agreement."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from taskgrouping.evaluation.hoa_comparison import (
    compare_with_hoa,
    hoa_subset_losses,
    rank_agreement,
    seed_mean_metrics,
)
from tests.helpers.hoa import write_hoa_table

ROOT = Path(__file__).resolve().parents[3]
HOA_TEST = ROOT.parent / "shared" / "data" / "hoa" / "results_test.txt"
TASKS = ["segment_semantic", "depth_zbuffer", "normal", "keypoints2d", "edge_texture"]


def test_subsets_are_matched_by_group_and_task(tmp_path: Path) -> None:
    hoa = hoa_subset_losses(write_hoa_table(tmp_path / "results_test.txt"))
    assert len(hoa) == sum(bin(m).count("1") for m in range(1, 32))  # half-size row left out
    pair = hoa[hoa.group == "segment_semantic+normal"].set_index("task").hoa_test
    assert pair.to_dict() == pytest.approx({"segment_semantic": 0.12, "normal": 0.32})
    metrics = {
        "segment_semantic+normal": {"test": {"segment_semantic": 1.5, "normal": 2.5}},
        "normal": {"test": {"normal": 3.0}},
    }
    both = compare_with_hoa(metrics, tmp_path / "results_test.txt", TASKS)
    assert both.values.tolist() == [
        ["normal", "normal", 3.0, pytest.approx(0.31)],
        ["segment_semantic+normal", "normal", 2.5, pytest.approx(0.32)],
        ["segment_semantic+normal", "segment_semantic", 1.5, pytest.approx(0.12)],
    ]
    with pytest.raises(ValueError, match="HOA's table has no task 'reshading'"):
        compare_with_hoa(metrics, tmp_path / "results_test.txt", ["reshading", "normal"])


def test_rank_agreement_known_answers(tmp_path: Path) -> None:
    write_hoa_table(tmp_path / "results_test.txt")
    hoa = hoa_subset_losses(tmp_path / "results_test.txt")
    same: dict = {}
    reverse: dict = {}
    for group, task, value in hoa.itertuples(index=False):
        same.setdefault(group, {"test": {}})["test"][task] = 5 * value
        reverse.setdefault(group, {"test": {}})["test"][task] = -value
    agree = rank_agreement(compare_with_hoa(same, tmp_path / "results_test.txt", TASKS))
    assert sorted(agree.task) == sorted(TASKS) and (agree.subsets == 16).all()
    assert agree.spearman.tolist() == pytest.approx([1.0] * 5)
    against = rank_agreement(compare_with_hoa(reverse, tmp_path / "results_test.txt", TASKS))
    assert against.spearman.tolist() == pytest.approx([-1.0] * 5)


@pytest.mark.skipif(not HOA_TEST.exists(), reason="HOA's table is not in ../shared/data/hoa")
def test_hoa_s_published_table_reads_as_31_subsets() -> None:
    hoa = hoa_subset_losses(HOA_TEST)
    assert hoa.group.nunique() == 31 and set(hoa.task) == set(TASKS)
    assert np.isfinite(hoa.hoa_test).all() and (hoa.hoa_test > 0).all()


def test_seed_mean_metrics_averages_each_group_over_its_seeds() -> None:
    records = [
        ("normal", {"test": {"normal": 1.0}}),
        ("normal", {"test": {"normal": 3.0}}),
        ("segment_semantic+normal", {"test": {"segment_semantic": 0.5, "normal": 4.0}}),
    ]
    assert seed_mean_metrics(records) == {
        "normal": {"test": {"normal": 2.0}},
        "segment_semantic+normal": {"test": {"segment_semantic": 0.5, "normal": 4.0}},
    }
    bad = [*records, ("normal", {"test": {"depth_zbuffer": 1.0}})]
    with pytest.raises(ValueError, match="networks of group 'normal' report different tasks"):
        seed_mean_metrics(bad)
