"""``gradnorm``: GradNorm (Chen et al., ICML 2018), loss weights that balance the tasks' gradient
norms at the last shared layer.

No maintained library has GradNorm for an arbitrary network (TorchJD has none; LibMTL's needs its
own trainer), so it is written here, after the paper's Algorithm 1. At every step, with task
weights ``w_k`` (starting at 1) and losses ``L_k``:

- ``G_k = w_k * |grad_W L_k|``, the weighted gradient norm of task ``k`` on the parameters ``W``
  of the last shared layer;
- ``r_k = (L_k / L_k(0)) / mean_j (L_j / L_j(0))``, the task's relative inverse training rate
  (``L_k(0)``: its loss at the first step);
- ``L_grad = sum_k |G_k - mean_j(G_j) * r_k ** alpha|`` with the target held constant; its
  gradient ``sign(G_k - target_k) * |grad_W L_k|`` is the gradient of ``w_k``;
- the network steps on ``sum_k w_k L_k`` (the weights before this step) and the weights on their
  gradient, in one step of the network's optimizer (they are a parameter group of it, without
  weight decay); then the weights are renormalised to sum to the number of tasks.

The asymmetry ``alpha`` is 1.5 (the paper's value for NYUv2, LibMTL's default). The last shared
layer is the last module, in registration order, of the model's ``encoder`` that holds parameters
(the last layer of a :class:`~taskgrouping.models.MultiTaskNet`'s encoder); a model without an
``encoder`` uses every parameter that two or more tasks' losses reach. The weights and the first
losses are state across steps, part of the training checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from taskgrouping.training.update import (
    LossUpdate,
    UpdateContext,
    UpdateError,
    refuse_fp16,
    register_update,
)

#: GradNorm's asymmetry.
ALPHA = 1.5


def last_shared_layer(model: torch.nn.Module) -> list[torch.nn.Parameter] | None:
    """The trainable parameters of the last module of ``model.encoder`` (registration order) that
    holds parameters of its own, or ``None`` when ``model`` has no ``encoder`` module."""
    encoder = getattr(model, "encoder", None)
    if not isinstance(encoder, torch.nn.Module):
        return None
    layers = [
        own
        for module in encoder.modules()
        if (own := [p for p in module.parameters(recurse=False) if p.requires_grad])
    ]
    return layers[-1] if layers else None


def gradnorm_weight_grad(
    weights: torch.Tensor,
    norms: torch.Tensor,
    losses: torch.Tensor,
    initial: torch.Tensor,
    alpha: float = ALPHA,
) -> torch.Tensor:
    """The gradient of GradNorm's ``L_grad`` with respect to the task weights.

    Parameters
    ----------
    weights
        The task weights ``w``.
    norms
        ``|grad_W L_k|`` per task, the unweighted gradient norms on the last shared layer.
    losses
        The step's task losses ``L_k``.
    initial
        The task losses of the first step ``L_k(0)``.
    alpha
        The asymmetry.

    Returns
    -------
    torch.Tensor
        ``sign(w_k |g_k| - mean_j(w_j |g_j|) r_k ** alpha) * |g_k|`` per task.
    """
    weighted = weights * norms
    ratio = losses / initial
    target = weighted.mean() * (ratio / ratio.mean()) ** alpha
    return torch.sign(weighted - target) * norms


@register_update
class GradNorm(LossUpdate):
    """GradNorm's update (see the module docstring)."""

    name: ClassVar[str] = "gradnorm"
    separate_losses: ClassVar[bool] = True

    def __init__(self, alpha: float = ALPHA) -> None:
        self.alpha = float(alpha)
        self.tasks: list[str] = []
        self.task_weights: torch.nn.Parameter | None = None
        self.initial: torch.Tensor | None = None
        self.layer: list[torch.nn.Parameter] | None = None

    def bind(self, context: UpdateContext) -> None:
        """Create the weights (in the network's optimizer) and find the last shared layer."""
        self._setup(context.tasks, context.model, context.optimizer)

    def _setup(
        self, tasks: Sequence[str], model: torch.nn.Module, optimizer: torch.optim.Optimizer
    ) -> None:
        param = next(model.parameters())
        self.tasks = list(tasks)
        self.task_weights = torch.nn.Parameter(torch.ones(len(tasks), device=param.device))
        optimizer.add_param_group({"params": [self.task_weights], "weight_decay": 0.0})
        self.layer = last_shared_layer(model)

    def step(  # type: ignore[override]
        self,
        losses: Sequence[torch.Tensor],
        tasks: Sequence[str],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        """See :meth:`LossUpdate.step`; float16 mixed precision (a gradient scaler) is refused."""
        refuse_fp16(self.name, scaler, "needs unscaled gradient norms")
        if self.task_weights is None:
            self._setup(tasks, model, optimizer)
        assert self.task_weights is not None
        stacked = torch.stack([loss.float() for loss in losses])
        values = stacked.detach()
        if self.initial is None:
            self.initial = values.clone()
        if self.layer is None:
            self.layer = _shared_parameters(losses, model)
        norms = torch.stack([_norm(loss, self.layer) for loss in losses])
        if not bool(torch.isfinite(norms).all()):
            raise UpdateError("update 'gradnorm': a task's gradient norm is not finite")
        w = self.task_weights.detach()
        w_grad = gradnorm_weight_grad(w, norms, values, self.initial, self.alpha)
        optimizer.zero_grad(set_to_none=True)
        (w * stacked).sum().backward()
        self.task_weights.grad = w_grad.to(self.task_weights.dtype)
        optimizer.step()
        with torch.no_grad():
            clamped = self.task_weights.clamp_(min=1e-6)
            clamped.mul_(len(self.tasks) / clamped.sum())

    def state_dict(self) -> dict[str, Any]:
        """The weights and the first step's losses."""
        if self.task_weights is None:
            return {}
        return {"weights": self.task_weights.detach(), "initial": self.initial}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` in place (the optimizer holds the same weights)."""
        if not state:
            return
        assert self.task_weights is not None
        with torch.no_grad():
            self.task_weights.copy_(state["weights"])
        self.initial = None if state["initial"] is None else state["initial"].clone()

    @property
    def weights(self) -> dict[str, float] | None:
        """The task weights by task."""
        if self.task_weights is None:
            return None
        return dict(zip(self.tasks, map(float, self.task_weights.detach().tolist()), strict=True))


def _norm(loss: torch.Tensor, params: Sequence[torch.nn.Parameter]) -> torch.Tensor:
    """``|grad_params loss|`` (the graph is kept for the step's backward pass)."""
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.sqrt(
        sum(((g.float() ** 2).sum() for g in grads if g is not None), loss.new_zeros(()))
    )


def _shared_parameters(
    losses: Sequence[torch.Tensor], model: torch.nn.Module
) -> list[torch.nn.Parameter]:
    """The trainable parameters of ``model`` that two or more of ``losses`` reach."""
    params = [p for p in model.parameters() if p.requires_grad]
    reached = [0] * len(params)
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        for i, g in enumerate(grads):
            reached[i] += g is not None
    shared = [p for p, n in zip(params, reached, strict=True) if n >= 2]
    if not shared:
        raise UpdateError("update 'gradnorm': no parameter is shared by two or more tasks")
    return shared


__all__ = ["ALPHA", "GradNorm", "gradnorm_weight_grad", "last_shared_layer"]
