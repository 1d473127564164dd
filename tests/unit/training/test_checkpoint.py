"""Checkpoint files: fingerprints, atomic saves, what is ignored, and checked settings."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import (
    CheckpointWriter,
    checkpoint_settings,
    fingerprint,
    load_checkpoint,
    remove_checkpoint,
    run_fingerprint,
    save_checkpoint,
)
from tests.conftest import small_synthetic


def test_run_fingerprint_ignores_checkpoint_settings_only() -> None:
    params = small_synthetic()["synthetic"]
    bench, cfg, cpu = get_benchmark("synthetic", params), params["train"], torch.device("cpu")
    base = run_fingerprint(bench, cfg, 0, cpu, group="t0")
    assert fingerprint({"a": 1, "b": [2]}) == fingerprint({"b": [2], "a": 1})
    same = {**cfg, "checkpoint_every": 7, "checkpoint_min_seconds": 0.5}
    assert run_fingerprint(bench, same, 0, cpu, group="t0") == base
    assert run_fingerprint(bench, {**cfg, "lr": 0.5}, 0, cpu, group="t0") != base
    assert run_fingerprint(bench, cfg, 1, cpu, group="t0") != base
    assert run_fingerprint(bench, cfg, 0, cpu, group="t1") != base
    assert run_fingerprint(bench, cfg, 0, torch.device("meta"), group="t0") != base


def test_saved_state_loads_and_other_files_are_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "run.ckpt"
    assert load_checkpoint(path, "k") is None
    save_checkpoint(path, "k", {"w": torch.arange(3), "epoch": 2})
    state = load_checkpoint(path, "k")
    assert state is not None and state["epoch"] == 2 and torch.equal(state["w"], torch.arange(3))
    with caplog.at_level(logging.INFO):
        assert load_checkpoint(path, "other") is None
        torch.save({"format": 0, "fingerprint": "k", "state": {}}, path)
        assert load_checkpoint(path, "k") is None
        path.write_bytes(b"not a checkpoint")
        assert load_checkpoint(path, "k") is None
    assert "another configuration" in caplog.text and "another layout" in caplog.text
    assert "unreadable checkpoint" in caplog.text
    stale = tmp_path / ".run.ckpt.x1.tmp"
    stale.write_bytes(b"")
    remove_checkpoint(path)
    assert not path.exists() and not stale.exists()
    remove_checkpoint(path)  # a missing checkpoint is no error


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "the file is empty"),
        (b"not a checkpoint", "16 bytes that are not a torch checkpoint"),
        ("half", "bytes that are not a torch checkpoint (truncated, or another file)"),
        ("object", "it holds objects other than tensors and plain values"),
    ],
)
def test_an_unreadable_checkpoint_is_one_clean_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, content: bytes | str, reason: str
) -> None:
    path = tmp_path / "run.ckpt"
    if content == "half":
        save_checkpoint(path, "k", {"w": torch.arange(1000)})
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    elif content == "object":
        torch.save({"format": 1, "state": logging.getLogger("x")}, path)
    else:
        path.write_bytes(content)
    with caplog.at_level(logging.WARNING):
        assert load_checkpoint(path, "k") is None
    (message,) = [r.getMessage() for r in caplog.records]
    assert reason in message and "\n" not in message, message
    assert "weights_only" not in message and "()" not in message, message


def test_writer_spaces_saves_and_settings_are_checked(tmp_path: Path) -> None:
    path = tmp_path / "run.ckpt"
    assert CheckpointWriter(path, "k", 0).save({"epoch": 1}) and path.exists()
    assert not CheckpointWriter(path, "k", 3600).save({"epoch": 2})
    assert load_checkpoint(path, "k") == {"epoch": 1}
    with pytest.raises(ValueError, match="checkpoint_min_seconds -1 must be >= 0"):
        CheckpointWriter(path, "k", -1)
    assert checkpoint_settings({}) == (1, 30.0)
    assert checkpoint_settings({"checkpoint_every": 0, "checkpoint_min_seconds": 2}) == (0, 2.0)
    with pytest.raises(ValueError, match="checkpoint_every -2 must be >= 0 epochs"):
        checkpoint_settings({"checkpoint_every": -2})
    with pytest.raises(ValueError, match=r"checkpoint_min_seconds -3\.0 must be >= 0 seconds"):
        checkpoint_settings({"checkpoint_min_seconds": -3})
