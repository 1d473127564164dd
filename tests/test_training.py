"""Group training: determinism, restarts, NaN reporting, canonical group keys."""

from __future__ import annotations

import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import NonFiniteLoss, check_finite, group_key, group_seed, train_group
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
