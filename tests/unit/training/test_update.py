"""The update step: the registry by name, and a custom rule plugged into the loop."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import pytest
import torch
import yaml

import taskgrouping.training.update as update_module
from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import (
    LossUpdate,
    SumUpdate,
    TrainingLoop,
    get_update,
    make_optimizer,
    register_update,
    task_losses,
    train_group,
)
from tests.conftest import small_synthetic
from tests.helpers.sine import ROOT


@pytest.fixture
def registry(monkeypatch: pytest.MonkeyPatch) -> dict[str, type[LossUpdate]]:
    """A copy of the registry that the test may extend; the real one is restored afterwards."""
    update_module.registered_updates()  # the built-in rules first, into the real registry
    copy = dict(update_module.UPDATES)
    monkeypatch.setattr(update_module, "UPDATES", copy)
    return copy


class WeightedSum(LossUpdate):
    """A step on ``sum_k w_k L_k`` with fixed weights (an MTL weighting in miniature)."""

    name = "weighted"
    weights: ClassVar[tuple[float, ...]] = (0.25, 2.0, 1.0)

    def step(
        self,
        losses: torch.Tensor,
        tasks: Sequence[str],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        optimizer.zero_grad(set_to_none=True)
        (losses * torch.tensor(self.weights[: len(tasks)])).sum().backward()
        optimizer.step()


def _bench():
    cfg = small_synthetic()["synthetic"]
    bench = get_benchmark("synthetic", cfg)
    splits, _ = bench.generate()
    return bench, splits, cfg["train"]


def _by_hand(bench, train, tasks, cfg, seed: int, weights: Sequence[float]) -> torch.nn.Module:
    """One epoch of the plain loop, written out, with the loss ``sum_k w_k L_k``."""
    torch.manual_seed(seed)
    model = bench.build_model(tasks)
    optimizer = make_optimizer(model, cfg)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for x, y in train.batches(int(cfg["batch_size"]), generator=gen):
        losses = task_losses(model, bench, (x, y), tasks)
        optimizer.zero_grad(set_to_none=True)
        (losses * torch.tensor(weights)).sum().backward()
        optimizer.step()
    return model


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize(("name", "weights"), [("sum", (1.0, 1.0, 1.0)), ("weighted", None)])
def test_the_loop_trains_with_the_update_named(registry, name: str, weights) -> None:
    register_update(WeightedSum)
    bench, splits, cfg = _bench()
    tasks, seed = ["t0", "t1", "t3"], 4
    loop = TrainingLoop(bench, tasks, cfg, seed, update=name)
    loop.run(splits["train"], 1)
    expected = _by_hand(bench, splits["train"], tasks, cfg, seed, weights or WeightedSum.weights)
    assert _same_weights(loop.model, expected)
    plain = _by_hand(bench, splits["train"], tasks, cfg, seed, (1.0, 1.0, 1.0))
    assert _same_weights(loop.model, plain) == (name == "sum")


def test_train_group_runs_every_step_through_the_update(registry) -> None:
    calls: list[int] = []

    @register_update
    class Counting(SumUpdate):
        name = "counting"

        def step(self, losses, tasks, model, optimizer, scaler) -> None:
            calls.append(len(tasks))
            super().step(losses, tasks, model, optimizer, scaler)

    bench, splits, cfg = _bench()
    counted = train_group(bench, splits, ["t0", "t2"], cfg, 1, update="counting")
    assert calls == [2] * counted.steps and counted.steps > 0
    assert counted.to_dict() == train_group(bench, splits, ["t0", "t2"], cfg, 1).to_dict()


def test_registry_refuses_unknown_duplicate_and_nameless_rules(registry) -> None:
    assert isinstance(get_update("sum"), SumUpdate)
    rule = WeightedSum()
    assert get_update(rule) is rule
    with pytest.raises(ValueError, match=r"unknown update 'nosuch'; accepted: \['aligned_mtl', "):
        get_update("nosuch")

    class Other(SumUpdate):
        name = "sum"

    with pytest.raises(ValueError, match="update 'sum' is registered already"):
        register_update(Other)

    class Nameless(SumUpdate):
        name = ""

    with pytest.raises(ValueError, match="update class Nameless has no name"):
        register_update(Nameless)
    assert register_update(SumUpdate) is SumUpdate  # registering the same class again is harmless


def test_the_config_accepts_exactly_the_registered_updates() -> None:
    from taskgrouping.config import ConfigError, validate_config

    schema = yaml.safe_load((ROOT / "workflow" / "schemas" / "config.schema.yaml").read_text())
    train = schema["$defs"]["train"]["properties"]
    assert train["update"]["enum"] == update_module.registered_updates()
    assert validate_config({})["synthetic"]["train"]["update"] == "sum"
    with pytest.raises(ConfigError, match=r"synthetic.train.update = 'nosuch'.*'pcgrad'"):
        validate_config({"synthetic": {"train": {"update": "nosuch"}}})
