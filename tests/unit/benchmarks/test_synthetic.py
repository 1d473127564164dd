"""The synthetic benchmark: deterministic data, planted clusters, unit-variance signals."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.benchmarks.synthetic import read_truth
from tests.conftest import small_synthetic


def test_same_seed_same_data_and_clusters() -> None:
    cfg = small_synthetic(seed=4)
    a, ca = get_benchmark("synthetic", cfg["synthetic"]).generate()
    b, cb = get_benchmark("synthetic", cfg["synthetic"]).generate()
    assert ca == cb
    for split in a:
        assert torch.equal(a[split].x, b[split].x) and torch.equal(a[split].y, b[split].y)
    other, _ = get_benchmark("synthetic", small_synthetic(seed=5)["synthetic"]).generate()
    assert not torch.equal(a["train"].y, other["train"].y)


def test_clusters_are_a_balanced_partition() -> None:
    cfg = small_synthetic(n_tasks=7, n_clusters=3, n_features=8)
    _, clusters = get_benchmark("synthetic", cfg["synthetic"]).generate()
    members = sorted(t for c in clusters for t in c)
    assert members == list(range(7))
    assert sorted(len(c) for c in clusters) == [2, 2, 3]


def test_targets_have_unit_signal_variance_plus_noise() -> None:
    cfg = small_synthetic(n_train=20000, noise=0.5)
    splits, _ = get_benchmark("synthetic", cfg["synthetic"]).generate()
    var = splits["train"].y.double().var(dim=0).numpy()
    np.testing.assert_allclose(var, 1.0 + 0.25, rtol=0.08)
    np.testing.assert_allclose(splits["train"].y.double().mean(dim=0).numpy(), 0.0, atol=0.05)


def test_tasks_of_different_clusters_use_orthogonal_inputs() -> None:
    cfg = small_synthetic(n_train=20000, noise=0.0, linear_share=1.0, task_share=0.0)
    splits, clusters = get_benchmark("synthetic", cfg["synthetic"]).generate()
    y = splits["train"].y.double().numpy()
    corr = np.corrcoef(y.T)
    for i in clusters[0]:
        for j in clusters[1]:
            assert abs(corr[i, j]) < 0.05
    # Purely linear, shared cluster function, no task part: tasks of a cluster are identical.
    a, b = clusters[0][:2]
    assert corr[a, b] > 0.999


def test_prepare_writes_data_truth_and_tasks(tmp_path: Path) -> None:
    cfg = small_synthetic()
    bench = get_benchmark("synthetic", cfg["synthetic"])
    bench.prepare(tmp_path)
    truth = read_truth(tmp_path / "truth.json")
    assert truth == bench.planted_groups()
    loaded = bench.load(tmp_path)
    fresh, _ = bench.generate()
    assert torch.equal(loaded["test"].y, fresh["test"].y)
    model = bench.build_model(bench.tasks)
    assert model.encoder(loaded["train"].x).shape[1] == cfg["synthetic"]["latent_dim"]
