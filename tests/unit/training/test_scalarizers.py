"""Loss-weighting rules: each step is TorchJD's scalarizer of the task losses, with the state
the scalarizer keeps (UW's log-variances, DWA's epoch means, FAMO's logits) carried along."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from taskgrouping.training import get_update
from taskgrouping.training.update import UpdateContext


class Quadratic(nn.Module):
    """Two tasks on one shared scalar ``w``: ``L_a = (w - 1)^2 + 1``, ``L_b = (w + 1)^2 + 1``."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.tensor(0.5))

    def losses(self, batch=None, model=None) -> torch.Tensor:
        m = self if model is None else model
        return torch.stack([(m.w - 1) ** 2 + 1, (m.w + 1) ** 2 + 1])


def bound(rule: str, lr: float = 0.1):
    model = Quadratic()
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    update = get_update(rule)
    update.bind(UpdateContext(["a", "b"], model, opt, model.losses, None, 4, 0, "a+b"))
    return model, opt, update


def test_uw_steps_on_kendall_s_loss_and_learns_its_log_variances() -> None:
    model, opt, update = bound("uw")
    losses = model.losses()
    update.step(losses, ["a", "b"], model, opt, None)
    # log-variances s = 0: loss = sum L_k / 2 + s_k / 2; dL/dw = (w - 1) + (w + 1) = 2w = 1
    assert float(model.w.detach()) == pytest.approx(0.5 - 0.1 * 1.0)
    # dL/ds_k = -L_k / 2 + 1/2, from L_a = 1.25, L_b = 3.25
    s = update.scalarizer.log_var.detach()
    torch.testing.assert_close(s, -0.1 * torch.tensor([-0.125, -1.125]))
    # the weights exp(-s)/2 fall, most for the task with the larger loss (the noisier one)
    w = update.weights
    assert 0.5 > w["a"] > w["b"]


def test_dwa_weights_follow_the_ratio_of_the_last_two_epoch_means() -> None:
    model, opt, update = bound("dwa", lr=0.0)  # the losses stay fixed
    for epoch, scale in enumerate([1.0, 0.5], start=1):
        update.scalarizer._loss_sum = None
        for _ in range(2):
            update.scalarizer(torch.tensor([2.0, 4.0]) * torch.tensor([1.0, scale]))
        update.end_epoch(epoch)
    # means: epoch 1 (2, 4), epoch 2 (2, 2); rates (1, 0.5); weights 2 softmax(rates / 2)
    e = [math.exp(1 / 2), math.exp(0.5 / 2)]
    want = [2 * v / sum(e) for v in e]
    losses = torch.tensor([1.0, 1.0], requires_grad=True)
    update.scalarizer(losses).backward()
    torch.testing.assert_close(losses.grad, torch.tensor(want))
    state = update.state_dict()
    other = get_update("dwa")
    other.bind(UpdateContext(["a", "b"], model, opt, model.losses, None, 4, 0, "a+b"))
    other.load_state_dict(state)
    again = torch.tensor([1.0, 1.0], requires_grad=True)
    other.scalarizer(again).backward()
    torch.testing.assert_close(again.grad, torch.tensor(want))


def test_famo_updates_its_weights_from_the_losses_after_the_step() -> None:
    model, opt, update = bound("famo")
    losses = model.losses()
    update.step(losses, ["a", "b"], model, opt, None)
    update.after_step(None)
    # FAMO's logits moved against the task whose log loss fell more: L_a rose, L_b fell
    w = update.weights
    assert w["a"] > 0.5 > w["b"]
    # the same, done by hand with TorchJD's FAMO
    from torchjd.scalarization import FAMO

    ref_model = Quadratic()
    famo = FAMO(2, lr=0.025, weight_decay=1e-3)
    ref_opt = torch.optim.SGD(ref_model.parameters(), lr=0.1)
    famo(ref_model.losses()).backward()
    ref_opt.step()
    with torch.no_grad():
        famo.update(ref_model.losses())
    torch.testing.assert_close(model.w.detach(), ref_model.w.detach())
    torch.testing.assert_close(update.scalarizer._w.detach(), famo._w.detach())


def test_rlw_weights_are_a_softmax_of_normal_draws() -> None:
    model, opt, update = bound("rlw", lr=1.0)
    torch.manual_seed(3)
    update.step(model.losses(), ["a", "b"], model, opt, None)
    torch.manual_seed(3)
    lam = torch.softmax(torch.randn(2), dim=0)
    # dL/dw = lam_a * 2(w - 1) + lam_b * 2(w + 1) at w = 0.5
    grad = lam[0] * (-1.0) + lam[1] * 3.0
    assert float(model.w.detach()) == pytest.approx(0.5 - float(grad), abs=1e-6)
