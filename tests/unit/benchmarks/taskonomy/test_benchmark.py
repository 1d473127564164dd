"""The ``taskonomy`` benchmark on the fixture: data stage, interface check, losses, bad inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.benchmarks.checks import check_benchmark, check_data
from taskgrouping.benchmarks.taskonomy.fixture import write_fixture
from taskgrouping.benchmarks.taskonomy.losses import per_sample_loss
from taskgrouping.benchmarks.taskonomy.model import taskonomy_net
from taskgrouping.config import ConfigError, tasks_of, validate_config


def block(root: Path, **overrides: Any) -> dict[str, Any]:
    raw = {
        "local_path": str(root),
        "size": 32,
        "target_size": 16,
        "model": {"width": 4, "blocks": 1},
        **overrides,
    }
    return validate_config({"benchmarks": ["taskonomy"], "taskonomy": raw})["taskonomy"]


def test_data_stage_and_interface_on_the_fixture(root: Path, tmp_path: Path) -> None:
    bench = get_benchmark("taskonomy", block(root))
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    bench.prepare(tmp_path)
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # never written into
    assert check_data(bench, tmp_path)["splits"] == {"train": 8, "val": 4, "test": 4}
    summary = check_benchmark(bench, tmp_path)
    assert summary["model"] == "MultiTaskNet"
    x, _ = bench.load(tmp_path)["train"].fetch(torch.arange(2))
    out = bench.build_model(bench.tasks)(x, bench.tasks)
    for t in bench.tasks:
        assert out[t].shape[-2:] == (16, 16)


def test_losses_by_hand() -> None:
    pred = torch.zeros(1, 3, 1, 2)
    pred[0, 1, 0, 0] = 10.0  # confident class 1 at pixel 0
    target = torch.tensor([[[[1, 0]]]])  # pixel 1 is unlabelled: ignored
    ce = per_sample_loss("segment_semantic", pred[:, :3], target)
    expected = -torch.log_softmax(torch.tensor([0.0, 10.0, 0.0]), 0)[1]
    assert ce.item() == pytest.approx(expected.item())
    depth_pred, depth = torch.tensor([[[[1.0, 5.0]]]]), torch.tensor([[[[0.0, 0.0]]]])
    mask = torch.tensor([[[[True, False]]]])
    assert per_sample_loss("depth_zbuffer", depth_pred, depth, mask).item() == 0.5
    assert per_sample_loss("keypoints2d", depth_pred, depth).item() == 3.0
    with pytest.raises(ValueError, match="needs the depth validity mask"):
        per_sample_loss("normal", depth_pred, depth)


def test_network_shape_checks() -> None:
    net = taskonomy_net(["normal", "segment_semantic"], size=32, target_size=32, width=2, blocks=1)
    out = net(torch.rand(2, 3, 32, 32))
    assert out["normal"].shape == (2, 3, 32, 32) and out["segment_semantic"].shape[1] == 18
    with pytest.raises(ValueError, match=r"not 2 .* times a power of two"):
        taskonomy_net(["normal"], size=32, target_size=24)


def test_config(root: Path) -> None:
    cfg = validate_config({"benchmarks": ["taskonomy"]})
    tasks = tasks_of(cfg, "taskonomy")
    assert tasks[0] == "segment_semantic" and len(tasks) == 5
    with pytest.raises(ConfigError, match=r"taskonomy\.size = 40 is not a multiple of 16"):
        block(root, size=40)
    with pytest.raises(ConfigError, match=r"taskonomy\.tasks\.0 = 'rgb': must be one of"):
        block(root, tasks=["rgb", "normal"])


def test_a_missing_task_file_stops_the_data_stage_naming_it(root: Path, tmp_path: Path) -> None:
    data = tmp_path / "copy"
    write_fixture(data, buildings=("a", "b", "c"), points=1, views=1, size=32)
    (data / "normal" / "b" / "point_0_view_0_domain_normal.png").unlink()
    bench = get_benchmark("taskonomy", block(data))
    with pytest.raises(FileNotFoundError, match=r"point_0_view_0_domain_normal\.png: missing"):
        bench.prepare(tmp_path / "out")
    assert not (tmp_path / "out" / "data.npz").exists()
    with pytest.raises(FileNotFoundError, match="no Taskonomy data folder"):
        get_benchmark("taskonomy", block(tmp_path / "nowhere")).prepare(tmp_path / "out")
