"""The training loop: step hooks, early stopping, and exact resumption from its state."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import EarlyStopping, TrainingLoop
from tests.conftest import small_synthetic


def _bench(**train: Any):
    cfg = small_synthetic(train=train)["synthetic"]
    bench = get_benchmark("synthetic", cfg)
    splits, _ = bench.generate()
    return bench, splits, cfg["train"]


def _same(a: Any, b: Any) -> bool:
    """Equality of nested dicts, lists and tensors, tensors compared exactly."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _without_timing(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if k != "train_seconds"}


def test_step_hook_sees_every_example_once_per_epoch_before_its_step() -> None:
    bench, splits, cfg = _bench(batch_size=24)
    loop = TrainingLoop(bench, bench.tasks, cfg, 0)
    seen: list[tuple[int, int, torch.Tensor, int]] = []

    def hook(step, epoch, batch, model, optimizer) -> None:
        assert model is loop.model and optimizer is loop.optimizer
        seen.append((step, epoch, batch, loop.step))

    loop.run(splits["train"], 2, on_step=hook)
    n, per_epoch = len(splits["train"]), -(-len(splits["train"]) // 24)
    assert [s for s, *_ in seen] == list(range(2 * per_epoch)) == [s for *_, s in seen]
    assert [e for _, e, *_ in seen] == [1] * per_epoch + [2] * per_epoch
    for epoch in (1, 2):
        batches = [b for _, e, b, _ in seen if e == epoch]
        assert torch.equal(torch.cat(batches).sort().values, torch.arange(n))
    assert (loop.epoch, loop.step) == (2, 2 * per_epoch)


class _Interrupt(Exception):
    """Stands for a kill between two epochs."""


def _stop_after(epoch: int):
    def hook(e: int) -> None:
        if e == epoch:
            raise _Interrupt

    return hook


@pytest.mark.parametrize("stop_after", [1, 2])
def test_resumed_loop_ends_exactly_where_the_uninterrupted_one_does(stop_after: int) -> None:
    bench, splits, cfg = _bench(optimizer="adam")
    reference = TrainingLoop(bench, bench.tasks, cfg, 9)
    reference.run(splits["train"], 3)
    saved: list[dict[str, Any]] = []
    first = TrainingLoop(bench, bench.tasks, cfg, 9)

    def save(state: dict[str, Any]) -> None:
        # the state holds the live tensors: a checkpoint serialises it at once
        saved.append(copy.deepcopy(state))

    with pytest.raises(_Interrupt):
        first.run(splits["train"], 3, save=save, on_epoch=_stop_after(stop_after))
    assert [s["epoch"] for s in saved] == list(range(1, stop_after + 1))
    torch.manual_seed(1234)  # the resumed run must not depend on the global RNG it starts with
    resumed = TrainingLoop(bench, bench.tasks, cfg, 5)  # the state overrides the seed
    resumed.load_state_dict(saved[-1])
    resumed.run(splits["train"], 3)
    assert _same(_without_timing(resumed.state_dict()), _without_timing(reference.state_dict()))


def test_early_stopping_keeps_the_best_weights_and_stops_after_patience() -> None:
    bench, splits, cfg = _bench()
    totals = iter([3.0, 2.0, 2.5, 2.4, 2.6, 1.0])
    weights: dict[int, dict[str, torch.Tensor]] = {}

    def validate(model) -> float:
        weights[len(weights) + 1] = {k: v.clone() for k, v in model.state_dict().items()}
        return next(totals)

    stopping = EarlyStopping(validate, patience=2)
    loop = TrainingLoop(bench, bench.tasks, cfg, 0, stopping=stopping)
    saves, ends = [], []
    loop.run(splits["train"], 6, save=saves.append, every=2, on_epoch=ends.append)
    assert loop.epoch == 5 and stopping.should_stop  # epochs 3, 4, 5 brought nothing better
    assert (stopping.best_epoch, stopping.best_val, stopping.since_best) == (2, 2.0, 3)
    assert _same(stopping.best_state, weights[2]) and not _same(weights[2], weights[5])
    assert ends == [1, 2, 3, 4]  # not called for the epoch that ends the run
    assert [s["epoch"] for s in saves] == [2, 4]
    assert saves[1]["stopping"]["best_epoch"] == 2


def test_a_loop_without_stopping_trains_every_epoch() -> None:
    bench, splits, cfg = _bench()
    loop = TrainingLoop(bench, bench.tasks, cfg, 0)
    epochs: list[int] = []
    loop.run(splits["train"], 3, after_epoch=epochs.append)
    assert epochs == [1, 2, 3] and loop.state_dict()["stopping"] is None
    again = TrainingLoop(bench, bench.tasks, cfg, 0)
    for epoch in (1, 2, 3):
        again.train_epoch(splits["train"], epoch)
    assert _same(again.model.state_dict(), loop.model.state_dict())
