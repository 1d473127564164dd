"""The Taskonomy step harness on a small network."""

from __future__ import annotations

from pathlib import Path

import torch
import yaml

from taskgrouping.harness.taskonomy_step import main, random_batch


def test_random_batch_has_the_target_shapes() -> None:
    x, y = random_batch(["segment_semantic", "normal"], 2, 32, 16, torch.Generator().manual_seed(0))
    assert x.shape == (2, 3, 32, 32)
    assert y["segment_semantic"].dtype == torch.int64 and y["segment_semantic"].max() < 18
    assert y["normal"].shape == (2, 3, 16, 16) and y["mask"].dtype == torch.bool


def test_harness_prints_its_measurements(tmp_path: Path, capsys) -> None:
    preset = tmp_path / "p.yaml"
    cfg = {
        "benchmarks": ["taskonomy"],
        "taskonomy": {
            "tasks": ["depth_zbuffer", "keypoints2d"],
            "size": 32,
            "target_size": 16,
            "model": {"width": 2, "blocks": 1},
        },
    }
    preset.write_text(yaml.safe_dump(cfg))
    main(["--preset", str(preset), "--batch", "2", "--steps", "2", "--threads", "1"])
    out = capsys.readouterr().out
    assert "2 tasks, 32² inputs, 16² targets" in out
    assert out.count("CPU s") == 2 and "peak resident memory" in out
