"""examples/plugins/mixed_tasks.py: a benchmark on the general interface (per-task inputs and
targets of different kinds, generated and streamed splits, a model that is not a MultiTaskNet)
runs through the whole workflow, and its mistakes stop the data stage with one line."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from taskgrouping import plugins
from taskgrouping.benchmarks import DatasetSplit, GeneratedSplit
from taskgrouping.benchmarks.checks import check_benchmark
from taskgrouping.config import validate_config
from taskgrouping.probing import run_probe
from taskgrouping.training import probe_run_seed, split_metrics, train_group
from tests.helpers.sine import ROOT, run_workflow

SNAKEMAKE = ["snakemake", "--snakefile", str(ROOT / "Snakefile")]
SPEC = f"{ROOT / 'examples' / 'plugins' / 'mixed_tasks.py'}:MixedTasks"


def _block() -> dict[str, Any]:
    return {
        "n_train": 48,
        "n_val": 24,
        "n_test": 24,
        "budgets": [2],
        "model": {"hidden": 8},
        "train": {
            "optimizer": "adam",
            "lr": 1e-2,
            "batch_size": 16,
            "max_epochs": 2,
            "restarts": 1,
            "patience": 0,
            "checkpoint_every": 0,
        },
        "probe": {"epochs": 1, "every": 2, "seeds": [0]},
    }


def _config() -> dict[str, Any]:
    return {
        "plugins": [SPEC],
        "benchmarks": ["mixed"],
        "methods": ["stl", "mtl", "ours"],
        "mixed": _block(),
    }


@pytest.fixture
def bench_and_dir(tmp_path: Path):
    from taskgrouping.benchmarks import get_benchmark

    params = validate_config(_config())["mixed"]
    bench = get_benchmark("mixed", params)
    bench.prepare(tmp_path)
    return bench, tmp_path, params


def test_splits_are_generated_and_streamed_and_targets_differ_per_task(bench_and_dir) -> None:
    bench, data_dir, _ = bench_and_dir
    splits = bench.load(data_dir)
    assert isinstance(splits["train"], GeneratedSplit) and splits["train"].fresh
    assert all(isinstance(splits[s], DatasetSplit) for s in ("val", "test"))
    batch = splits["val"].fetch(torch.arange(5))
    assert {t: (v.dtype, tuple(v.shape)) for t, v in batch["y"].items()} == {
        "angle": (torch.float32, (5,)),
        "ring": (torch.int64, (5,)),
        "mirror": (torch.float32, (5, 2)),
    }
    # each task has its own inputs, and a target that is a function of them
    assert not torch.equal(batch["x"]["angle"], batch["x"]["mirror"])
    torch.testing.assert_close(batch["y"]["mirror"], batch["x"]["mirror"].flip(1) / 2)
    # the data stage wrote the files streamed later, one per example
    assert len(list((data_dir / "examples" / "val").glob("*.npz"))) == 24
    summary = check_benchmark(bench, data_dir)
    assert summary["model"] == "MixedNet" and summary["splits"]["train"] == 48


def test_training_and_probing_run_on_the_general_interface(bench_and_dir) -> None:
    bench, data_dir, params = bench_and_dir
    splits = bench.load(data_dir)
    result = train_group(bench, splits, ["angle", "ring"], params["train"], seed=3)
    assert set(result.val) == {"angle", "ring"} and 0 <= result.val["ring"] <= 1
    again = train_group(bench, bench.load(data_dir), ["angle", "ring"], params["train"], seed=3)
    assert result.test == again.test  # generated epochs and streamed reads are deterministic
    model = bench.build_model(bench.tasks)
    metrics = split_metrics(model, bench, splits["test"], bench.tasks, 7)
    assert set(metrics) == {"metric", "loss"} and set(metrics["metric"]) == set(bench.tasks)


def test_the_workflow_runs_the_plugin_and_its_gains_equal_an_in_process_probe(
    tmp_path: Path,
) -> None:
    run_workflow(tmp_path, _config())
    results = tmp_path / "results" / "mixed"
    totals = pd.read_csv(results / "totals.csv")
    assert set(totals.method) == {"stl", "mtl", "ours"}
    assert np.isfinite(totals.total_test).all()
    interface = json.loads((results / "data" / "interface.json").read_text())
    assert interface["model"] == "MixedNet" and interface["tasks"] == ["angle", "ring", "mirror"]
    # the pipeline's saved probing points (generated batches re-made from their indices) give the
    # gains of probing the same base run in one process
    from taskgrouping.benchmarks import get_benchmark

    params = validate_config(_config())["mixed"]
    bench = get_benchmark("mixed", params)
    _, gains = run_probe(
        bench,
        bench.load(results / "data"),
        params["train"],
        params["probe"],
        probe_run_seed(params["seed"], 0),
    )
    saved = pd.read_csv(results / "gains" / "exact.csv", index_col=0)
    np.testing.assert_allclose(saved.to_numpy(), gains.to_numpy(), rtol=0, atol=1e-12)


BROKEN = """
import torch
from mixed_tasks import MixedTasks
from taskgrouping.benchmarks import Split


class Broken(MixedTasks):
    name = "broken"

    def load(self, data_dir):
        x = torch.zeros(4, 2)
        return {s: Split(x, torch.zeros(4, len(self.tasks) + 1)) for s in ("train", "val", "test")}
"""


def test_a_plugin_with_the_wrong_target_count_stops_the_data_stage_naming_load(
    tmp_path: Path,
) -> None:
    (tmp_path / "broken.py").write_text(BROKEN)
    cfg = {
        "plugins": [f"{tmp_path / 'broken.py'}:Broken"],
        "benchmarks": ["broken"],
        "methods": ["stl", "mtl"],
        "broken": _block(),
    }
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(cfg))
    env = {k: v for k, v in os.environ.items() if k != plugins.PLUGINS_ENV}
    env["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "examples" / "plugins"), env.get("PYTHONPATH", "")]
    )
    proc = subprocess.run(
        [*SNAKEMAKE, "--directory", str(tmp_path), "--cores", "1"],
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
    )
    assert proc.returncode != 0
    log = (tmp_path / "logs" / "prepare_data" / "broken.log").read_text()
    errors = [line for line in log.splitlines() if " ERROR " in line]
    assert len(errors) == 1, log
    assert (
        "Broken.load(): split 'train' has targets of shape (4, 4) (4 tasks), but Broken.tasks "
        "lists 3 tasks" in errors[0]
    )
    # no training job started
    assert not (tmp_path / "results" / "broken" / "train").exists()
