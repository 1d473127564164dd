"""Jacobian-descent update rules: TorchJD's aggregation of the shared parameters' Jacobian, each
task's own parameters on its own gradient, and runs that resume exactly."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from taskgrouping.benchmarks import get_benchmark
from taskgrouping.training import get_update, registered_updates, train_group
from taskgrouping.training.aggregators import RULES, jacobian_step_grads
from tests.conftest import small_synthetic


class TwoTasks(nn.Module):
    """A shared 2-vector ``w`` and one scalar head per task: ``L_k = <c_k, w> + h_k``, so the
    shared Jacobian is the matrix of the ``c_k`` and each head's gradient is 1."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))
        self.heads = nn.ParameterDict(
            {"a": nn.Parameter(torch.zeros(())), "b": nn.Parameter(torch.zeros(()))}
        )

    def losses(self, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return c[0] @ self.w + self.heads["a"], c[1] @ self.w + self.heads["b"]


# Two conflicting tasks: g_a = (1, 0), g_b = (-1, 1), <g_a, g_b> = -1.
C = torch.tensor([[1.0, 0.0], [-1.0, 1.0]])


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        # PCGrad: each gradient projected onto the normal plane of the other, then summed:
        # g_a - <g_a,g_b>/|g_b|^2 g_b = (0.5, 0.5), g_b - <g_b,g_a>/|g_a|^2 g_a = (0, 1)
        ("pcgrad", (0.5, 1.5)),
        # MGDA: the min-norm point of the hull, w g_a + (1-w) g_b at w = 0.6
        ("mgda", (0.2, 0.4)),
    ],
)
def test_known_aggregations_of_two_conflicting_tasks(rule: str, expected) -> None:
    model = TwoTasks()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    get_update(rule).step(model.losses(C), ["a", "b"], model, opt, None)
    torch.testing.assert_close(model.w.detach(), -torch.tensor(expected), atol=1e-4, rtol=0)
    # the heads step on their own task's gradient only
    assert float(model.heads["a"].detach()) == pytest.approx(-1.0) and float(
        model.heads["b"]
    ) == pytest.approx(-1.0)


# Nash-MTL's solver fails on this Jacobian (test_stateful_rules has its own case).
@pytest.mark.parametrize("rule", [r for r in RULES if r != "nash_mtl"])
def test_every_rule_steps_on_torchjd_s_aggregation_of_the_shared_jacobian(rule: str) -> None:
    from taskgrouping.training.aggregators import build_aggregator

    model = TwoTasks()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    torch.manual_seed(0)
    update = get_update(rule)
    update.step(model.losses(C), ["a", "b"], model, opt, None)
    torch.manual_seed(0)  # GradDrop draws from the global RNG
    want = build_aggregator(rule)(C.clone())
    torch.testing.assert_close(model.w.detach(), -0.5 * want, atol=1e-6, rtol=0)
    assert float(model.heads["b"].detach()) == pytest.approx(-0.5)


def test_the_jacobian_holds_only_parameters_two_tasks_reach() -> None:
    shared = nn.Parameter(torch.tensor([1.0, 2.0]))
    own = nn.Parameter(torch.tensor(3.0))
    unused = nn.Parameter(torch.tensor(4.0))
    losses = (shared.sum() * own, (shared**2).sum())
    seen = []

    def aggregate(j: torch.Tensor) -> torch.Tensor:
        seen.append(j.clone())
        return j.sum(dim=0)

    grads = jacobian_step_grads(losses, [shared, own, unused], aggregate)
    torch.testing.assert_close(seen[0], torch.tensor([[3.0, 3.0], [2.0, 4.0]]))
    torch.testing.assert_close(grads[0], torch.tensor([5.0, 7.0]))
    torch.testing.assert_close(grads[1], torch.tensor(3.0))  # d(shared.sum() * own)/d own
    assert grads[2] is None


def test_fp16_scaling_is_refused_naming_the_rule() -> None:
    model = TwoTasks()
    opt = torch.optim.SGD(model.parameters(), lr=1.0)
    with pytest.raises(ValueError, match=r"update 'upgrad' .* does not support amp: fp16"):
        get_update("upgrad").step(
            model.losses(C), ["a", "b"], model, opt, torch.amp.GradScaler("cpu")
        )


@pytest.mark.parametrize("rule", ["upgrad", "graddrop"])
def test_a_group_network_trains_with_a_rule_and_a_resumed_run_is_identical(
    rule: str, tmp_path
) -> None:
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
    plain = train_group(bench, splits, tasks, train, 5)
    assert whole.to_dict() != plain.to_dict()  # the rule changed training

    ckpt = tmp_path / "run.ckpt"
    stop_at = {"epoch": 2}

    def interrupt(restart: int, epoch: int) -> None:
        if epoch == stop_at["epoch"]:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_group(
            bench, splits, tasks, train, 5, update=rule, checkpoint=ckpt, on_epoch=interrupt
        )
    resumed = train_group(bench, splits, tasks, train, 5, update=rule, checkpoint=ckpt)
    assert resumed.to_dict() == whole.to_dict()


def test_the_registry_lists_every_rule() -> None:
    assert set(RULES) | {"sum"} <= set(registered_updates())
    assert copy.deepcopy(get_update("cagrad")).name == "cagrad"


def test_train_update_in_the_config_trains_every_group_network_of_the_workflow(tmp_path) -> None:
    import json

    from taskgrouping.benchmarks import get_benchmark as build
    from taskgrouping.config import validate_config
    from taskgrouping.training import group_seed
    from tests.helpers.sine import ROOT, run_workflow, tiny_sine_block

    spec = f"{ROOT / 'examples' / 'plugins' / 'sine_tasks.py'}:SineTasks"
    block = tiny_sine_block(["sin1", "cos1", "sin2"])
    block["train"]["update"] = "pcgrad"
    block["budgets"] = [2]
    cfg = {"plugins": [spec], "benchmarks": ["sine"], "methods": ["mtl"], "sine": block}
    run_workflow(tmp_path, cfg)
    group = "sin1+cos1+sin2"
    saved = json.loads(
        (tmp_path / "results/sine/train/pcgrad" / group / "seed0" / "metrics.json").read_text()
    )
    params = validate_config(cfg)["sine"]
    bench = build("sine", params)
    splits = bench.load(tmp_path / "results" / "sine" / "data")
    seed = group_seed(params["seed"], group, 0)
    tasks = group.split("+")
    by_rule = train_group(bench, splits, tasks, params["train"], seed, update="pcgrad")
    by_sum = train_group(bench, splits, tasks, params["train"], seed, update="sum")
    assert saved["test"] == by_rule.test != by_sum.test
