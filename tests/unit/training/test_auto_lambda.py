"""Auto-Lambda: the weights' gradient is the derivative of the validation loss after the virtual
step, checked against finite differences of that very loss; the step then uses the new weights."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from taskgrouping.benchmarks.data import Split
from taskgrouping.training import get_update
from taskgrouping.training.auto_lambda import virtual_step
from taskgrouping.training.update import UpdateContext


class Linear2(nn.Module):
    """A shared 3-vector and two linear-regression tasks on a batch ``(x, y)``."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = nn.Linear(3, 3)
        self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 1)})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        rep = torch.tanh(self.encoder(x))
        return {t: h(rep).squeeze(-1) for t, h in self.heads.items()}


def losses_of(model_default: nn.Module):
    def losses(batch, model=None) -> torch.Tensor:
        net = model_default if model is None else model
        x, y = batch
        out = net(x)
        return torch.stack([((out[t] - y[:, k]) ** 2).mean() for k, t in enumerate("ab")])

    return losses


def setup(optimizer: str = "sgd"):
    torch.manual_seed(0)
    model = Linear2()
    if optimizer == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=0.3, momentum=0.9, weight_decay=0.01)
    else:
        opt = torch.optim.Adam(model.parameters(), lr=0.05)
    val = Split(torch.randn(8, 3), torch.randn(8, 2))
    train = (torch.randn(8, 3), torch.randn(8, 2))
    update = get_update("auto_lambda")
    update.bind(UpdateContext(["a", "b"], model, opt, losses_of(model), val, 8, 0, "a+b"))
    return model, opt, update, val, train


def val_loss_after_virtual_step(model, opt, lam, train, val_batch) -> float:
    """L_val(theta - eta (m + sum lam_k g_k + wd theta)), computed from scratch."""
    losses = losses_of(model)(train)
    params = list(model.parameters())
    grads = torch.autograd.grad((lam * losses).sum(), params)
    theta = virtual_step(params, grads, opt)
    copy = Linear2()
    with torch.no_grad():
        for p, t in zip(copy.parameters(), theta, strict=True):
            p.copy_(t)
    return float(losses_of(copy)(val_batch).sum())


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_the_meta_gradient_is_the_derivative_of_the_validation_loss_after_the_virtual_step(
    optimizer: str,
) -> None:
    model, opt, update, val, train = setup(optimizer)
    if optimizer == "sgd":  # a momentum buffer enters the virtual step
        losses_of(model)(train).sum().backward()
        opt.step()
    val_batch = val.fetch(torch.arange(8))
    losses = tuple(losses_of(model)(train))
    meta = update.meta_gradient(losses, model, opt, val_batch)
    lam = update.task_weights.detach().double().float()
    eps = 1e-3
    for k in range(2):
        e = torch.zeros(2)
        e[k] = eps
        up = val_loss_after_virtual_step(model, opt, lam + e, train, val_batch)
        down = val_loss_after_virtual_step(model, opt, lam - e, train, val_batch)
        assert float(meta[k]) == pytest.approx((up - down) / (2 * eps), rel=2e-3, abs=1e-6)


def test_a_step_updates_the_weights_by_adam_on_the_meta_gradient_then_the_network() -> None:
    model, opt, update, val, train = setup()
    # the first validation batch the rule draws, drawn again by hand
    gen = torch.Generator().manual_seed(0)
    val_batch = val.fetch(val.epoch_order(gen)[:8])
    before = [p.detach().clone() for p in model.parameters()]
    meta = update.meta_gradient(tuple(losses_of(model)(train)), model, opt, val_batch)
    for p, b in zip(model.parameters(), before, strict=True):  # the virtual step left it alone
        torch.testing.assert_close(p.detach(), b)
    m2, o2, u2, _, t2 = setup()  # the same run again, now through one whole step
    u2.step(tuple(losses_of(m2)(t2)), ["a", "b"], m2, o2, None)
    # Adam's first step moves every weight by -lr * sign(grad)
    torch.testing.assert_close(
        u2.task_weights.detach(), 1.0 - 1e-4 * torch.sign(meta), atol=1e-9, rtol=0
    )
    # and the network took one step on sum lambda_k L_k with those weights
    ref = Linear2()
    ref.load_state_dict(dict(zip(ref.state_dict(), before, strict=True)))
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.3, momentum=0.9, weight_decay=0.01)
    (u2.task_weights.detach() * losses_of(ref)(t2)).sum().backward()
    ref_opt.step()
    for p, q in zip(m2.parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(p.detach(), q.detach())


def test_a_run_without_validation_split_is_refused() -> None:
    model = Linear2()
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"auto_lambda.*validation split.*'a\+b'"):
        get_update("auto_lambda").bind(
            UpdateContext(["a", "b"], model, opt, losses_of(model), None, 8, 0, "a+b")
        )


def test_it_trains_a_network_with_attention(monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop runs Auto-Lambda's forward pass with the math attention kernel: the default CPU
    kernel (flash attention) has no double backward, and the rule's first step failed on the
    ETT forecaster."""
    from taskgrouping.benchmarks import get_benchmark
    from taskgrouping.training import TrainingLoop
    from taskgrouping.training.auto_lambda import AutoLambda
    from taskgrouping.training.update import forward_context
    from tests.unit.benchmarks.test_ett import ett_block

    bench = get_benchmark("ett", ett_block(tasks=["HUFL", "OT"]))
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(16, 24, 7, generator=gen), torch.randn(16, 2, 6, generator=gen)
    cfg = {"optimizer": "adam", "lr": 1e-3, "weight_decay": 0.0, "batch_size": 8}

    def loop() -> TrainingLoop:
        return TrainingLoop(bench, ["HUFL", "OT"], cfg, 0, update="auto_lambda", val=Split(x, y))

    run = loop()
    before = run.update.task_weights.detach().clone()
    run.train_step((x[:8], y[:8]))
    assert not torch.equal(run.update.task_weights.detach(), before)
    assert type(forward_context(get_update("sum"))).__name__ == "nullcontext"
    # The same step with the default kernel: the failure this guards against.
    monkeypatch.setattr(AutoLambda, "twice_differentiable", False)
    with pytest.raises(RuntimeError, match=r"derivative for .* is not implemented"):
        loop().train_step((x[:8], y[:8]))


def test_a_validation_loss_without_gradient_is_refused_and_the_benchmark_view_used() -> None:
    """Losses measured without a gradient on validation batches (cop's greedy objective) cannot
    give the meta-gradient: the rule names the fix, and differentiates what the benchmark's
    differentiable_batch gives."""
    from taskgrouping.training.update import UpdateError

    torch.manual_seed(0)
    model = Linear2()
    opt = torch.optim.SGD(model.parameters(), lr=0.3)
    plain = losses_of(model)

    def measured(batch, net=None):  # no gradient on a batch marked "val", as cop's greedy one
        x, y, kind = batch
        out = plain((x, y), net)
        return out.detach() if kind == "val" else out

    val = Split(torch.randn(8, 3), torch.randn(8, 2))
    train = (torch.randn(8, 3), torch.randn(8, 2), "train")
    val_batch = (*val.fetch(torch.arange(8)), "val")
    update = get_update("auto_lambda")
    update.bind(UpdateContext(["a", "b"], model, opt, measured, val, 8, 0, "a+b"))
    with pytest.raises(UpdateError, match="differentiable_batch"):
        update.meta_gradient(tuple(measured(train)), model, opt, val_batch)
    update = get_update("auto_lambda")
    context = UpdateContext(
        ["a", "b"], model, opt, measured, val, 8, 0, "a+b", lambda b: (b[0], b[1], "train")
    )
    update.bind(context)
    meta = update.meta_gradient(tuple(measured(train)), model, opt, val_batch)
    reference = get_update("auto_lambda")
    reference.bind(UpdateContext(["a", "b"], model, opt, plain, val, 8, 0, "a+b"))
    expected = reference.meta_gradient(tuple(plain(train[:2])), model, opt, val_batch[:2])
    torch.testing.assert_close(meta, expected)
