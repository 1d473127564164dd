"""Group training: determinism, restarts, NaN reporting, canonical group keys, and resuming an
interrupted run to exactly the uninterrupted result."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import (
    NonFiniteLoss,
    checkpoint_path,
    group_key,
    group_seed,
    load_checkpoint,
    save_checkpoint,
    train_group,
    train_to_file,
)
from taskgrouping.training.group import _train_once
from tests.conftest import small_synthetic


class _Interrupt(Exception):
    """Stands for a kill between two epochs."""


def _setup(**train: Any) -> tuple[Any, Any, dict[str, Any]]:
    cfg = small_synthetic(train={"max_epochs": 3, "restarts": 1, "patience": 2, **train})
    bench = get_benchmark("synthetic", cfg["synthetic"])
    splits, _ = bench.generate()
    return bench, splits, cfg["synthetic"]["train"]


def _resumable(**train: Any) -> tuple[Any, Any, dict[str, Any]]:
    """Five epochs and two restarts, checkpoints at every due epoch."""
    base = {"max_epochs": 5, "restarts": 2, "patience": 10, "checkpoint_min_seconds": 0}
    return _setup(**{**base, **train})


def _stop_at(restart: int, epoch: int):
    def hook(r: int, e: int) -> None:
        if (r, e) == (restart, epoch):
            raise _Interrupt

    return hook


def test_same_seed_same_numbers() -> None:
    bench, splits, train = _setup()
    a = train_group(bench, splits, ["t0", "t2"], train, seed=11)
    b = train_group(bench, splits, ["t0", "t2"], train, seed=11)
    assert a.to_dict() == b.to_dict()
    c = train_group(bench, splits, ["t0", "t2"], train, seed=12)
    assert c.val != a.val


def test_restarts_keep_the_best_validation_run() -> None:
    bench, splits, train = _setup(restarts=3)
    res = train_group(bench, splits, ["t1", "t3"], train, seed=5)
    assert len(res.restart_val_totals) == 3
    assert res.restart == min(range(3), key=res.restart_val_totals.__getitem__)
    assert sum(res.val.values()) == pytest.approx(min(res.restart_val_totals), rel=1e-6)


def test_group_key_is_canonical_and_validated() -> None:
    order = ["t0", "t1", "t2"]
    assert group_key(["t2", "t0"], order) == "t0+t2"
    assert group_seed(0, "t0+t2") == group_seed(0, group_key(["t2", "t0"], order))
    with pytest.raises(ValueError, match="t9"):
        group_key(["t9"], order)
    with pytest.raises(ValueError, match="twice"):
        group_key(["t0", "t0"], order)


def test_diverging_training_names_the_group() -> None:
    bench, splits, train = _setup(lr=1e6, optimizer="sgd")
    with pytest.raises(NonFiniteLoss, match="while training group 't0\\+t1'"):
        train_group(bench, splits, ["t0", "t1"], train, seed=0)


def test_lr_schedule_acts_on_training_and_on_probing(tmp_path: Path) -> None:
    from taskgrouping.probing import ProbeOptions, load_points, save_points

    # with a vanishing learning rate after epoch 1, five epochs train what one epoch trains
    bench, splits, train = _setup(max_epochs=5, patience=5)
    one = train_group(bench, splits, ["t0", "t1"], {**train, "max_epochs": 1}, seed=3)
    free = train_group(bench, splits, ["t0", "t1"], train, seed=3)
    assert free.best_epoch > 1  # without the schedule, later epochs are better
    train = {**train, "lr_step_epochs": 1, "lr_gamma": 1e-30}
    frozen = train_group(bench, splits, ["t0", "t1"], train, seed=3)
    assert frozen.best_epoch == 1 and frozen.val == one.val and frozen.test == one.test
    # the probing base run follows the same schedule: points of epoch 2 carry the halved lr
    train = {**train, "lr_step_epochs": 1, "lr_gamma": 0.5}
    options = ProbeOptions.from_config({"epochs": 2, "every": 1})
    save_points(bench, splits, train, options, 0, tmp_path / "points.pt")
    points = load_points(tmp_path / "points.pt", bench.tasks)
    lrs = {p.epoch: p.optimizer_state["param_groups"][0]["lr"] for p in points}
    assert lrs == {1: train["lr"], 2: pytest.approx(train["lr"] / 2)}


@pytest.mark.parametrize(
    ("optimizer", "every", "stop", "first"),
    [
        ("sgd", 1, (0, 2), (0, 3)),  # inside the first restart
        ("adam", 1, (1, 3), (1, 4)),  # inside the second restart, after a finished one
        ("sgd", 1, (0, 5), (1, 1)),  # at a restart boundary
        ("adam", 2, (1, 3), (1, 3)),  # the last checkpoint is one epoch older than the stop
        ("sgd-steps", 1, (0, 2), (0, 3)),  # with a learning-rate schedule
    ],
)
def test_interrupted_training_resumes_to_the_identical_result(
    tmp_path: Path, optimizer: str, every: int, stop: tuple[int, int], first: tuple[int, int]
) -> None:
    schedule = {"lr_step_epochs": 2, "lr_gamma": 0.5} if optimizer.endswith("-steps") else {}
    optimizer = optimizer.removesuffix("-steps")
    bench, splits, cfg = _resumable(optimizer=optimizer, checkpoint_every=every, **schedule)
    tasks, seed = ["t0", "t2", "t3"], 3
    reference = train_group(bench, splits, tasks, cfg, seed).to_dict()
    ckpt = tmp_path / "metrics.ckpt"
    with pytest.raises(_Interrupt):
        train_group(bench, splits, tasks, cfg, seed, checkpoint=ckpt, on_epoch=_stop_at(*stop))
    assert ckpt.exists()
    epochs: list[tuple[int, int]] = []
    torch.manual_seed(1234)  # the resumed run must not depend on the global RNG it starts with
    resumed = train_group(
        bench,
        splits,
        tasks,
        cfg,
        seed,
        checkpoint=ckpt,
        on_epoch=lambda r, e: epochs.append((r, e)),
    )
    assert resumed.to_dict() == reference
    assert epochs[0] == first, "the resumed run repeated or skipped epochs"


def test_job_writes_the_result_then_deletes_its_checkpoint(tmp_path: Path) -> None:
    bench, splits, cfg = _resumable()
    out = tmp_path / "seed0" / "metrics.json"
    assert checkpoint_path(out) == tmp_path / "seed0" / "metrics.ckpt"
    with pytest.raises(_Interrupt):
        train_to_file(bench, splits, ["t1", "t2"], cfg, 0, out, on_epoch=_stop_at(0, 3))
    assert checkpoint_path(out).exists() and not out.exists()
    result = train_to_file(bench, splits, ["t1", "t2"], cfg, 0, out)
    assert out.exists() and not checkpoint_path(out).exists()
    assert result.to_dict() == train_group(bench, splits, ["t1", "t2"], cfg, 0).to_dict()
    assert [p.name for p in out.parent.iterdir()] == ["metrics.json"]


def test_checkpoint_of_another_configuration_is_ignored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bench, splits, cfg = _resumable()
    ckpt = tmp_path / "metrics.ckpt"
    with pytest.raises(_Interrupt):
        train_group(bench, splits, ["t0", "t1"], cfg, 0, checkpoint=ckpt, on_epoch=_stop_at(1, 2))
    other = {**cfg, "lr": 0.03}
    epochs: list[tuple[int, int]] = []
    with caplog.at_level(logging.INFO):
        res = train_group(
            bench,
            splits,
            ["t0", "t1"],
            other,
            0,
            checkpoint=ckpt,
            on_epoch=lambda r, e: epochs.append((r, e)),
        )
    assert "written for another configuration" in caplog.text
    assert epochs[0] == (0, 1)
    assert res.to_dict() == train_group(bench, splits, ["t0", "t1"], other, 0).to_dict()
    # checkpoint_every changes no result, so it does not invalidate a checkpoint
    with pytest.raises(_Interrupt):
        train_group(bench, splits, ["t0", "t1"], cfg, 0, checkpoint=ckpt, on_epoch=_stop_at(0, 2))
    epochs.clear()
    train_group(
        bench,
        splits,
        ["t0", "t1"],
        {**cfg, "checkpoint_every": 3},
        0,
        checkpoint=ckpt,
        on_epoch=lambda r, e: epochs.append((r, e)),
    )
    assert epochs[0] == (0, 3)


def test_checkpoints_are_spaced_in_wall_time(tmp_path: Path) -> None:
    bench, splits, cfg = _resumable(checkpoint_min_seconds=3600)
    ckpt = tmp_path / "metrics.ckpt"
    with pytest.raises(_Interrupt):
        train_group(bench, splits, ["t0", "t3"], cfg, 0, checkpoint=ckpt, on_epoch=_stop_at(1, 2))
    assert not ckpt.exists(), "a save came sooner than checkpoint_min_seconds after the start"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_mixed_precision_state_resumes_exactly(tmp_path: Path, dtype: torch.dtype) -> None:
    # CPU autocast runs the code path of GPU mixed precision (fp16 with its gradient scaler),
    # which train_group only enables on a GPU.
    bench, splits, cfg = _resumable()
    cpu, tasks = torch.device("cpu"), ["t0", "t1"]
    reference = _train_once(bench, splits, tasks, "t0+t1", cfg, 3, device=cpu, dtype=dtype)
    ckpt = tmp_path / "run.ckpt"

    def save(state: dict[str, Any]) -> None:
        save_checkpoint(ckpt, "k", state)

    with pytest.raises(_Interrupt):
        _train_once(
            bench,
            splits,
            tasks,
            "t0+t1",
            cfg,
            3,
            device=cpu,
            dtype=dtype,
            save=save,
            on_epoch=_stop_at(0, 2),
        )
    state = load_checkpoint(ckpt, "k")
    assert state is not None and (state["scaler"] is not None) == (dtype == torch.float16)
    resumed = _train_once(
        bench, splits, tasks, "t0+t1", cfg, 3, device=cpu, dtype=dtype, resume=state
    )
    assert resumed.val_total == reference.val_total
    assert resumed.summary() == reference.summary()
    for name, tensor in reference.best_state.items():
        assert torch.equal(resumed.best_state[name], tensor), name
