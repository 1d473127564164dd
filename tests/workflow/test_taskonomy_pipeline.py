"""The ``taskonomy`` benchmark through the workflow, on a generated dataset in the real layout:
data stage, probing, grouping, training, evaluation and figures."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pandas as pd
import pytest
import yaml

from taskgrouping.benchmarks.taskonomy.fixture import write_fixture
from tests.helpers.dry_run import planned_jobs
from tests.helpers.hoa import write_hoa_table

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow


def test_tiny_taskonomy_run_end_to_end(tmp_path: Path) -> None:
    data = tmp_path / "taskonomy"
    write_fixture(data, buildings=("a", "b", "c", "d"), points=2, views=2, size=32)
    write_hoa_table(tmp_path / "tables" / "hoa" / "results_test.txt")
    cfg = {
        "benchmarks": ["taskonomy"],
        "tables": {"data_dir": str(tmp_path / "tables")},
        "methods": ["stl", "mtl", "exhaustive", "ours", "tag"],
        "taskonomy": {
            "tasks": ["segment_semantic", "depth_zbuffer", "normal"],
            "local_path": str(data),
            "size": 32,
            "target_size": 16,
            "budgets": [1, 2],
            "model": {"width": 4, "blocks": 1},
            "train": {
                "optimizer": "adam",
                "lr": 0.001,
                "batch_size": 4,
                "max_epochs": 2,
                "restarts": 1,
                "patience": 1,
                "seeds": [0],
            },
            "probe": {"epochs": 1, "seeds": [0]},
        },
    }
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(work)]
    proc = subprocess.run([*cmd, "--cores", "2"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    totals = pd.read_csv(work / "results/taskonomy/totals.csv")
    assert set(totals.method) == set(cfg["methods"])
    train = work / "results/taskonomy/train/sum"
    assert len(list(train.glob("*/seed0/metrics.json"))) == 7  # every subset of 3 tasks
    gains = pd.read_csv(work / "results/taskonomy/gains/exact.csv", index_col=0)
    assert list(gains.index) == ["segment_semantic", "depth_zbuffer", "normal"]
    for name in ("gains.png", "budget_curve.png", "totals.md", "hoa_comparison.png"):
        assert (work / "figures/taskonomy" / name).stat().st_size > 0
    # Every subset network beside the table's value for that subset: (j + 1) / 10 + |S| / 100.
    both = pd.read_csv(work / "figures/taskonomy/hoa_comparison.csv")
    assert len(both) == 12  # each of the 3 tasks is in 4 of the 7 subsets
    order = {t: j for j, t in enumerate(["segment_semantic", "depth_zbuffer", "normal"])}
    expected = [
        (order[t] + 1) / 10 + (g.count("+") + 1) / 100
        for g, t in zip(both.group, both.task, strict=True)
    ]
    assert both.hoa_test.tolist() == pytest.approx(expected)
    for row in both.itertuples():
        metrics = yaml.safe_load((train / row.group / "seed0/metrics.json").read_text())
        assert row.run_test == pytest.approx(metrics["test"][row.task])
    agreement = pd.read_csv(work / "figures/taskonomy/hoa_agreement.csv")
    assert sorted(agreement.task) == sorted(order) and (agreement.subsets == 4).all()


def test_paper_preset_plans_every_job_without_the_data(tmp_path: Path) -> None:
    tables = tmp_path / "tables"
    write_hoa_table(tables / "hoa" / "results_test.txt")
    preset = ROOT / "workflow" / "presets" / "taskonomy-paper.yaml"
    jobs = planned_jobs(preset, tmp_path, env={"TASKGROUPING_SHARED_DATA": str(tables)})
    assert jobs["train_group"] == 31  # every subset of the five tasks
    assert jobs["prepare_data"] == 1
    assert jobs["compare_hoa"] == 1
