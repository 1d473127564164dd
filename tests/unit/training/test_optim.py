"""Optimizer choice and the epoch-wise learning rate."""

from __future__ import annotations

import pytest
import torch

from taskgrouping.training import epoch_lr, make_optimizer, set_epoch_lr
from tests.conftest import small_synthetic


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


def test_optimizers_by_name_and_an_unknown_name_is_refused() -> None:
    model = torch.nn.Linear(2, 1)
    cfg = {"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4}
    sgd = make_optimizer(model, {**cfg, "optimizer": "sgd"})
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == 0.9
    assert isinstance(make_optimizer(model, {**cfg, "optimizer": "adam"}), torch.optim.Adam)
    with pytest.raises(ValueError, match=r"unknown optimizer 'lbfgs'; accepted: \['sgd', 'adam'\]"):
        make_optimizer(model, {**cfg, "optimizer": "lbfgs"})
    set_epoch_lr(sgd, {"lr": 0.1, "lr_step_epochs": 1, "lr_gamma": 0.5}, 3)
    assert sgd.param_groups[0]["lr"] == pytest.approx(0.025)
