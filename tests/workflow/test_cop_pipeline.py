"""The ``cop`` benchmark through the workflow: a tiny configuration end to end (data stage with
reference solvers, probing on validation instances, every grouping method, the figures)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from tests.helpers.dry_run import planned_jobs

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.workflow

TINY = {
    "benchmarks": ["cop"],
    "methods": ["stl", "mtl", "random", "exhaustive", "ours", "tag", "uw"],
    "random": {"draws": 1},
    "cop": {
        "tasks": ["tsp6", "cvrp5", "op6"],
        "train_size": 48,
        "val_size": 8,
        "test_size": 8,
        "budgets": [1, 2],
        "solver": {"hgs_no_improvement": 200},
        "model": {"d": 16, "layers": 1, "heads": 2, "ff": 32},
        "train": {
            "optimizer": "adam",
            "lr": 0.001,
            "batch_size": 16,
            "eval_batch_size": 64,
            "max_epochs": 2,
            "restarts": 1,
            "patience": 1,
            "seeds": [0],
        },
        "probe": {"epochs": 1, "every": 1, "seeds": [0]},
    },
}


def test_tiny_cop_run_end_to_end(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(TINY))
    cmd = ["snakemake", "--snakefile", str(ROOT / "Snakefile"), "--directory", str(tmp_path)]
    proc = subprocess.run([*cmd, "--cores", "2"], capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stderr[-3000:]
    data = tmp_path / "results/cop/data"
    with np.load(data / "cvrp5_test.npz") as z:
        assert {"depot", "locs", "demand", "capacity", "reference_value"} <= set(z.files)
        assert {"reference_optimal", "reference_solver"} <= set(z.files)
        assert z["locs"].shape == (8, 5, 2)
    totals = pd.read_csv(tmp_path / "results/cop/totals.csv")
    assert set(totals.method) == set(TINY["methods"])
    # 7 subsets of 3 tasks for the exhaustive search, and one network for uw's rule.
    assert len(list((tmp_path / "results/cop/train/sum").glob("*/seed0/metrics.json"))) == 7
    gains = pd.read_csv(tmp_path / "results/cop/gains/exact.csv", index_col=0)
    assert list(gains.index) == ["tsp6", "cvrp5", "op6"]
    for name in ("gains.png", "budget_curve.png", "totals.md", "cost.png"):
        assert (tmp_path / "figures/cop" / name).stat().st_size > 0


@pytest.mark.parametrize("preset", ["cop-paper.yaml", "cop-cpu.yaml"])
def test_preset_plans_every_subset_network(preset: str, tmp_path: Path) -> None:
    jobs = planned_jobs(ROOT / "workflow" / "presets" / preset, tmp_path)
    assert jobs["train_group"] == 63  # the exhaustive search's 63 subsets, planned first
