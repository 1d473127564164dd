"""Group training: determinism, restarts, NaN reporting, canonical group keys."""

from __future__ import annotations

import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import (
    NonFiniteLoss,
    check_finite,
    epoch_lr,
    group_key,
    group_seed,
    train_group,
)
from tests.conftest import small_synthetic


def _setup(**train):
    cfg = small_synthetic(train={"max_epochs": 3, "restarts": 1, "patience": 2, **train})
    bench = get_benchmark("synthetic", cfg["synthetic"])
    splits, _ = bench.generate()
    return bench, splits, cfg["synthetic"]["train"]


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


def test_non_finite_loss_names_task_step_and_group() -> None:
    with pytest.raises(
        NonFiniteLoss, match="task 't1' is nan at step 7 while training group 't0\\+t1'"
    ):
        check_finite(torch.tensor([0.5, float("nan")]), ["t0", "t1"], 7, "t0+t1")
    bench, splits, train = _setup(lr=1e6, optimizer="sgd")
    with pytest.raises(NonFiniteLoss, match="while training group 't0\\+t1'"):
        train_group(bench, splits, ["t0", "t1"], train, seed=0)


def test_lr_steps_like_steplr_and_is_off_by_default() -> None:
    cfg = {"lr": 0.1, "lr_step_epochs": 15, "lr_gamma": 0.5}
    lrs = [epoch_lr(cfg, e) for e in range(1, 47)]
    assert lrs[:15] == [0.1] * 15 and lrs[15:30] == [0.05] * 15 and lrs[30] == 0.025
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=15, gamma=0.5)
    for e in range(1, 47):
        assert epoch_lr(cfg, e) == pytest.approx(scheduler.get_last_lr()[0])
        optimizer.step()
        scheduler.step()
    assert epoch_lr({"lr": 0.1, "lr_step_epochs": None}, 40) == 0.1
    assert small_synthetic()["synthetic"]["train"]["lr_step_epochs"] is None


def test_lr_schedule_acts_on_training_and_on_probing(tmp_path) -> None:
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
