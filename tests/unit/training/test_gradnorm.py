"""GradNorm: the weights move to equalise the weighted gradient norms at the last shared layer,
with the asymmetry alpha toward tasks that train slower."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from taskgrouping.models import MultiTaskNet
from taskgrouping.training import get_update
from taskgrouping.training.gradnorm import gradnorm_weight_grad, last_shared_layer
from taskgrouping.training.update import UpdateContext


def test_the_weight_gradient_is_the_hand_computed_one() -> None:
    w = torch.tensor([1.0, 1.0])
    norms = torch.tensor([1.0, 3.0])
    losses, initial = torch.tensor([1.0, 2.0]), torch.tensor([1.0, 1.0])
    # G = (1, 3), mean 2; ratios (1, 2) / 1.5; targets 2 * (2/3, 4/3) ** 1.5
    # = (1.089, 3.079): both weighted norms fall short of their targets, so the gradients are
    # -norm: (-1, -3); with alpha = 0 the targets are the mean 2 and the signs (-, +)
    torch.testing.assert_close(
        gradnorm_weight_grad(w, norms, losses, initial), torch.tensor([-1.0, -3.0])
    )
    torch.testing.assert_close(
        gradnorm_weight_grad(w, norms, losses, initial, alpha=0.0), torch.tensor([-1.0, 3.0])
    )


class Shared(nn.Module):
    """``L_k = c_k * <w, x> `` (a shared linear layer, fixed heads): ``|grad_w L_k| = c_k |x|``."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(2, 1, bias=False))
        nn.init.constant_(self.encoder[0].weight, 0.1)

    def losses(self, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        out = self.encoder(torch.tensor([[3.0, 4.0]])).sum()
        return tuple(ck * out + 10.0 for ck in c)


def test_one_step_moves_the_weights_toward_equal_weighted_norms_and_renormalises() -> None:
    model = Shared()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    update = get_update("gradnorm")
    update.bind(UpdateContext(["a", "b"], model, opt, None, None, 1, 0, "a+b"))
    assert update.layer == [model.encoder[0].weight]
    c = torch.tensor([1.0, 3.0])
    update.step(model.losses(c), ["a", "b"], model, opt, None)
    # norms (5, 15), equal loss ratios: targets = mean = 10; weight grads (-5, +15)
    # w = (1, 1) - 0.01 * (-5, 15) = (1.05, 0.85), renormalised to sum 2
    w = torch.tensor([1.05, 0.85])
    torch.testing.assert_close(update.task_weights.detach(), 2 * w / w.sum())
    # the network stepped on L_a + L_b with the weights before the step: grad (1 + 3) * x
    torch.testing.assert_close(
        model.encoder[0].weight.detach(), torch.tensor([[0.1 - 0.04 * 3, 0.1 - 0.04 * 4]])
    )


def test_repeated_steps_equalise_the_weighted_gradient_norms() -> None:
    model = Shared()
    opt = torch.optim.SGD(model.parameters(), lr=0.002)
    update = get_update("gradnorm")
    update.bind(UpdateContext(["a", "b"], model, opt, None, None, 1, 0, "a+b"))
    c = torch.tensor([1.0, 4.0])
    for _ in range(200):
        with torch.no_grad():
            model.encoder[0].weight.fill_(0.1)  # the losses (and their ratios) stay the same
        update.step(model.losses(c), ["a", "b"], model, opt, None)
    w = update.task_weights.detach()
    # equal weighted norms: w_a * 1 = w_b * 4 with w_a + w_b = 2
    torch.testing.assert_close(w, torch.tensor([1.6, 0.4]), atol=0.05, rtol=0)


def test_the_last_shared_layer_of_a_multi_task_net_is_its_encoder_s_last_layer() -> None:
    enc = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 5))
    net = MultiTaskNet(enc, {"a": nn.Linear(5, 1), "b": nn.Linear(5, 1)})
    assert last_shared_layer(net) == [enc[2].weight, enc[2].bias]
    assert last_shared_layer(nn.Linear(2, 2)) is None


def test_a_model_without_an_encoder_uses_the_parameters_two_tasks_reach() -> None:
    shared = nn.Parameter(torch.tensor([1.0, 2.0]))
    own = nn.Parameter(torch.tensor(3.0))
    model = nn.Module()
    model.shared, model.own = shared, own
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    update = get_update("gradnorm")
    update.bind(UpdateContext(["a", "b"], model, opt, None, None, 1, 0, "a+b"))
    update.step((shared.sum() * own, (shared**2).sum()), ["a", "b"], model, opt, None)
    assert update.layer == [shared]


def test_fp16_scaling_is_refused() -> None:
    model = Shared()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    with pytest.raises(ValueError, match=r"gradnorm.*amp: fp16"):
        get_update("gradnorm").step(
            model.losses(torch.tensor([1.0, 2.0])),
            ["a", "b"],
            model,
            opt,
            torch.amp.GradScaler("cpu"),
        )
