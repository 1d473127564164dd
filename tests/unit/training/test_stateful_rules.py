"""Rules with state across steps: Nash-MTL and GradVac follow TorchJD step after step and continue
exactly from a saved state; a failing inner solver stops the run with one line; every stateful
rule resumes a killed training run to identical metrics."""

from __future__ import annotations

import io

import pytest
import torch

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import LossUpdate, TrainingLoop, get_update, train_group
from taskgrouping.training.aggregators import (
    aggregator_state,
    build_aggregator,
    load_aggregator_state,
)
from taskgrouping.training.update import UpdateError
from tests.conftest import small_synthetic


def jacobians(n: int, steps: int) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return [torch.randn(n, 6, generator=g) for _ in range(steps)]


@pytest.mark.parametrize("rule", ["nash_mtl", "gradvac"])
def test_a_restored_aggregator_continues_exactly(rule: str) -> None:
    js = jacobians(3, 5)
    torch.manual_seed(0)
    whole = build_aggregator(rule, 3)
    want = [whole(j) for j in js]
    torch.manual_seed(0)
    first = build_aggregator(rule, 3)
    got = [first(j) for j in js[:2]]
    state = aggregator_state(rule, first)
    assert state  # the rule has state after two steps
    rng = torch.get_rng_state()
    second = build_aggregator(rule, 3)
    load_aggregator_state(rule, second, state)
    torch.set_rng_state(rng)
    got += [second(j) for j in js[2:]]
    for a, b in zip(got, want, strict=True):
        assert torch.equal(a, b)


def test_nash_mtl_steps_on_the_bargaining_weights() -> None:
    # Nash-MTL's weights solve (G G^T) alpha = 1 / alpha up to a scale (TorchJD, like the
    # authors' code, solves a normalised version): (1 / alpha_k) / (G G^T alpha)_k is the same
    # for every task. The update is G^T alpha, scaled down to norm 1 if longer.
    j = jacobians(3, 1)[0]
    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(6))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    update = get_update("nash_mtl")
    update.step(tuple(j[k] @ model.w for k in range(3)), ["a", "b", "c"], model, opt, None)
    alpha = update.state_dict()["prvs_alpha"].double()
    gtg = (j @ j.T).double()
    ratio = (1 / alpha) / (gtg @ alpha)
    torch.testing.assert_close(ratio, ratio.mean().expand(3), atol=0, rtol=1e-3)
    direction = alpha.float() @ j
    direction = direction / max(1.0, float(direction.norm()))
    torch.testing.assert_close(-model.w.detach(), direction, atol=1e-5, rtol=1e-5)


def test_a_failing_inner_solver_stops_with_one_line_naming_the_rule() -> None:
    update = get_update("nash_mtl")
    c = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])  # G G^T 1 has a zero entry: 1 / 0 in ECOS
    model = torch.nn.Module()
    model.w = torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    with pytest.raises(
        UpdateError, match=r"update 'nash_mtl': the solver of its inner problem failed \("
    ) as err:
        update.step((c[0] @ model.w, c[1] @ model.w), ["a", "b"], model, opt, None)
    assert "\n" not in str(err.value)


STATEFUL = ["nash_mtl", "gradvac", "uw", "dwa", "famo", "rlw", "gradnorm", "auto_lambda"]


def _through_a_file(state: dict) -> dict:
    """``state`` saved and loaded the way a training checkpoint is."""
    buf = io.BytesIO()
    torch.save(state, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


@pytest.mark.parametrize("rule", STATEFUL)
def test_a_stopped_and_resumed_loop_ends_bit_identical(rule: str) -> None:
    cfg = small_synthetic()["synthetic"]
    bench = get_benchmark("synthetic", cfg)
    splits, _ = bench.generate()
    train = {**cfg["train"], "batch_size": 16}
    tasks = ["t0", "t1", "t3"]

    def loop() -> TrainingLoop:
        return TrainingLoop(bench, tasks, train, 5, update=rule, val=splits["val"])

    whole = loop()
    whole.run(splits["train"], 4)
    first = loop()
    first.run(splits["train"], 2)
    state = _through_a_file(first.state_dict())
    if rule != "rlw":  # RLW's state is the global RNG's, which the loop saves
        assert state["update"], f"{rule} saved no state"
    resumed = loop()
    resumed.load_state_dict(state)
    resumed.run(splits["train"], 4)
    for name, value in whole.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[name]), name
    plain = TrainingLoop(bench, tasks, train, 5, val=splits["val"])
    plain.run(splits["train"], 4)
    assert not torch.equal(
        plain.model.state_dict()["encoder.0.weight"], whole.model.state_dict()["encoder.0.weight"]
    ), f"{rule} trained like the plain sum"


@pytest.mark.parametrize("rule", ["uw", "dwa"])
def test_a_killed_and_resumed_group_network_has_identical_metrics(rule: str, tmp_path) -> None:
    cfg = small_synthetic()["synthetic"]
    bench = get_benchmark("synthetic", cfg)
    splits, _ = bench.generate()
    train = {
        **cfg["train"],
        "max_epochs": 4,
        "restarts": 1,
        "checkpoint_every": 1,
        "checkpoint_min_seconds": 0,
    }
    tasks = ["t0", "t1", "t3"]
    whole = train_group(bench, splits, tasks, train, 5, update=rule)
    ckpt = tmp_path / "run.ckpt"

    def interrupt(restart: int, epoch: int) -> None:
        if epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_group(
            bench, splits, tasks, train, 5, update=rule, checkpoint=ckpt, on_epoch=interrupt
        )
    resumed = train_group(bench, splits, tasks, train, 5, update=rule, checkpoint=ckpt)
    assert resumed.to_dict() == whole.to_dict()


class FailsAtStep3(LossUpdate):
    """A rule whose solver 'fails' at the fourth step."""

    name = "fails"

    def __init__(self) -> None:
        self.calls = 0

    def step(self, losses, tasks, model, optimizer, scaler) -> None:
        self.calls += 1
        if self.calls == 4:
            raise UpdateError("update 'fails': the solver of its inner problem failed (x)")
        optimizer.zero_grad()
        losses.sum().backward()
        optimizer.step()


def test_the_loop_names_the_step_and_the_group_of_a_failed_update() -> None:
    cfg = small_synthetic()["synthetic"]
    bench = get_benchmark("synthetic", cfg)
    splits, _ = bench.generate()
    loop = TrainingLoop(bench, ["t0", "t1"], cfg["train"], 5, update=FailsAtStep3())
    with pytest.raises(
        UpdateError,
        match=r"^update 'fails': the solver of its inner problem failed \(x\) at step 3 while "
        r"training group 't0\+t1'$",
    ):
        loop.run(splits["train"], 2)
