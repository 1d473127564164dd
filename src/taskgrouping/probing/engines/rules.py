"""Closed forms of the optimizer updates the fast engines implement.

``torch.optim.SGD`` (momentum, dampening, Nesterov, weight decay), ``torch.optim.Adam`` (with
AMSGrad and L2 weight decay) and ``torch.optim.AdamW`` (decoupled weight decay: the parameter is
scaled by ``1 - lr * weight_decay`` before the Adam step), each applied out of place to a
parameter with a copy-free view of the optimizer's state. The updates are elementwise, so one
rule applied to a flat concatenation of parameters gives their individual updates.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: Optimizers with a closed form here (exact classes: a subclass may change ``step``).
SUPPORTED = (torch.optim.SGD, torch.optim.Adam, torch.optim.AdamW)


@dataclass
class Rule:
    """Closed form of one parameter's optimizer update as a function of its gradient."""

    kind: str
    param: torch.Tensor
    lr: float
    wd: float
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    buf: torch.Tensor | None = None
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    step: float = 0.0
    exp_avg: torch.Tensor | None = None
    exp_avg_sq: torch.Tensor | None = None
    max_exp_avg_sq: torch.Tensor | None = None
    amsgrad: bool = False
    decoupled: bool = False

    def apply(self, grad: torch.Tensor) -> torch.Tensor:
        """The parameter after one step with gradient ``grad`` (out of place)."""
        p = self.param.detach()
        if self.decoupled:
            d = grad
            if self.wd != 0:
                p = p.mul(1 - self.lr * self.wd)
        else:
            d = grad if self.wd == 0 else grad.add(p, alpha=self.wd)
        if self.kind == "sgd":
            if self.momentum != 0:
                if self.buf is None:
                    buf = d.clone()
                else:
                    buf = self.buf.mul(self.momentum).add(d, alpha=1 - self.dampening)
                d = d.add(buf, alpha=self.momentum) if self.nesterov else buf
            return p.add(d, alpha=-self.lr)
        step = self.step + 1
        m = d.mul(1 - self.beta1) if self.exp_avg is None else self.exp_avg.lerp(d, 1 - self.beta1)
        v = d.mul(d).mul_(1 - self.beta2)
        if self.exp_avg_sq is not None:
            v = v.add(self.exp_avg_sq, alpha=self.beta2)
        if self.amsgrad:
            v = v if self.max_exp_avg_sq is None else torch.maximum(self.max_exp_avg_sq, v)
        bc1 = 1 - self.beta1**step
        bc2 = 1 - self.beta2**step
        denom = (v.sqrt() / (bc2**0.5)).add_(self.eps)
        return p.addcdiv(m, denom, value=-self.lr / bc1)


def signature(rule: Rule) -> tuple:
    """What must agree for parameters to share one flat update (everything but the tensors)."""
    return (
        rule.kind,
        rule.param.dtype,
        rule.param.device,
        rule.lr,
        rule.wd,
        rule.momentum,
        rule.dampening,
        rule.nesterov,
        rule.buf is None,
        rule.beta1,
        rule.beta2,
        rule.eps,
        rule.step,
        rule.exp_avg is None,
        rule.exp_avg_sq is None,
        rule.max_exp_avg_sq is None,
        rule.amsgrad,
        rule.decoupled,
    )


def flat(tensors: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    """The tensors concatenated into one vector (``None`` when the first one is ``None``)."""
    if tensors[0] is None:
        return None
    return torch.cat([t.detach().reshape(-1) for t in tensors if t is not None])


def flat_rule(rules: Sequence[Rule]) -> Rule:
    """One rule for the concatenation of parameters whose rules share a :func:`signature`."""
    return dataclasses.replace(
        rules[0],
        param=flat([r.param for r in rules]),  # type: ignore[arg-type]
        buf=flat([r.buf for r in rules]),
        exp_avg=flat([r.exp_avg for r in rules]),
        exp_avg_sq=flat([r.exp_avg_sq for r in rules]),
        max_exp_avg_sq=flat([r.max_exp_avg_sq for r in rules]),
    )


def unsupported_reason(optimizer: torch.optim.Optimizer) -> str | None:
    """Why the fast engines cannot step ``optimizer`` in closed form (``None``: they can)."""
    if type(optimizer) not in SUPPORTED:
        return (
            f"the fast probe engines implement torch.optim.SGD, Adam and AdamW, not "
            f"{type(optimizer).__name__}"
        )
    if any(group.get("maximize", False) for group in optimizer.param_groups):
        return "the fast probe engines do not implement maximize=True"
    return None


def rules_of(optimizer: torch.optim.Optimizer) -> dict[int, Rule]:
    """Update rule of every parameter the optimizer holds, keyed by ``id(param)``.

    Raises ``ValueError`` (with :func:`unsupported_reason`) for an optimizer without a closed form.
    """
    reason = unsupported_reason(optimizer)
    if reason is not None:
        raise ValueError(f"{reason}; use engine 'sequential'")
    kind = "sgd" if type(optimizer) is torch.optim.SGD else "adam"
    rules: dict[int, Rule] = {}
    for group in optimizer.param_groups:
        lr = float(group["lr"])
        wd = float(group["weight_decay"])
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            if kind == "sgd":
                buf = state.get("momentum_buffer")
                rules[id(p)] = Rule(
                    kind,
                    p,
                    lr,
                    wd,
                    momentum=float(group["momentum"]),
                    dampening=float(group["dampening"]),
                    nesterov=bool(group["nesterov"]),
                    buf=None if buf is None else buf.detach(),
                )
            else:
                beta1, beta2 = group["betas"]
                step = state.get("step")
                rules[id(p)] = Rule(
                    kind,
                    p,
                    lr,
                    wd,
                    beta1=float(beta1),
                    beta2=float(beta2),
                    eps=float(group["eps"]),
                    step=0.0 if step is None else float(step),
                    exp_avg=state.get("exp_avg"),
                    exp_avg_sq=state.get("exp_avg_sq"),
                    max_exp_avg_sq=state.get("max_exp_avg_sq"),
                    amsgrad=bool(group["amsgrad"]),
                    decoupled=bool(group.get("decoupled_weight_decay", False))
                    or type(optimizer) is torch.optim.AdamW,
                )
    return rules
