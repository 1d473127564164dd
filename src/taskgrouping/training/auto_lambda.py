"""``auto_lambda``: Auto-Lambda (Liu, Li, Kuang, Xue, Chen, Yang, Liao and Zhang, TMLR 2022), task
weights learned by the meta-gradient of the validation loss after a virtual training step.

No maintained library has Auto-Lambda for an arbitrary network (its authors' code is a training
script), so it is written here, after the paper and that code, with every task primary (the
grouping comparison scores all tasks). At every step, with task weights ``lambda_k`` and the
batch's task losses ``L_k`` with gradients ``g_k`` on the network's parameters ``theta``:

1. The virtual step: ``theta' = theta - eta * (m + sum_k lambda_k g_k + wd * theta)``, the
   learning rate ``eta``, weight decay ``wd`` and SGD momentum ``m`` (zero for Adam) of the
   network's optimizer, taken on a copy of the network, as the authors' code does.
2. The validation loss ``L_val = sum_k L_k^val(theta')`` on the next validation batch (batches
   of the training batch size, in an order drawn from a generator of the rule's own).
3. Its meta-gradient ``dL_val / dlambda_k = -eta * <grad L_val(theta'), g_k>``, exact: it is
   obtained as the derivative of ``<sum_k lambda_k g_k, grad L_val(theta')>`` by ``lambda``
   (one double-backward pass), where the authors' code approximates the same inner products by
   finite differences.
4. One Adam step of the weights on it (learning rate 1e-4, the authors' default), then the
   network's step on ``sum_k lambda_k L_k`` with the new weights.

The weights start at 1 (the authors use 0.1 with their own recipes; 1 makes the first steps the
plain sum that this package's training recipes were set for). The weights, their Adam state and
the validation order are state across steps, part of the training checkpoint. A step costs about
four times a plain one (the double-backward pass and the virtual step's forward and backward
passes).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch

from taskgrouping.benchmarks.data import DataSplit
from taskgrouping.training.update import (
    LossUpdate,
    UpdateContext,
    UpdateError,
    refuse_fp16,
    register_update,
)

#: The learning rate of the weights' Adam (the authors' ``autol_lr`` default).
META_LR = 1e-4
#: The initial task weight.
INIT = 1.0


def virtual_step(
    params: Sequence[torch.nn.Parameter],
    grads: Sequence[torch.Tensor],
    optimizer: torch.optim.Optimizer,
) -> list[torch.Tensor]:
    """The parameters after Auto-Lambda's virtual step ``theta - eta * (m + g + wd * theta)``.

    Parameters
    ----------
    params
        The network's parameters ``theta`` (all in the optimizer's first parameter group).
    grads
        The weighted loss's gradient on each parameter.
    optimizer
        The network's optimizer: learning rate ``eta`` and weight decay ``wd`` of its first
        group, and each parameter's SGD momentum buffer times the momentum, if any.

    Returns
    -------
    list[torch.Tensor]
        The virtual parameters, detached.
    """
    group = optimizer.param_groups[0]
    lr, wd = float(group["lr"]), float(group.get("weight_decay", 0.0))
    momentum = float(group.get("momentum", 0.0) or 0.0)
    out = []
    with torch.no_grad():
        for p, g in zip(params, grads, strict=True):
            buf = optimizer.state.get(p, {}).get("momentum_buffer")
            m = momentum * buf if (buf is not None and momentum) else 0.0
            out.append(p - lr * (m + g + wd * p))
    return out


class _ValBatches:
    """Validation batches in an endless sequence of shuffled passes, resumable."""

    def __init__(self, split: DataSplit, batch_size: int, seed: int) -> None:
        self.split, self.batch_size = split, int(batch_size)
        self.generator = torch.Generator().manual_seed(int(seed))
        self.order = torch.empty(0, dtype=torch.int64)
        self.offset = 0

    def next(self) -> Any:
        if self.offset >= len(self.order):
            self.order, self.offset = self.split.epoch_order(self.generator), 0
        idx = self.order[self.offset : self.offset + self.batch_size]
        self.offset += len(idx)
        return self.split.fetch(idx)

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self.generator.get_state(), "order": self.order, "offset": self.offset}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        self.generator.set_state(state["generator"].cpu())
        self.order, self.offset = state["order"].cpu(), int(state["offset"])


@register_update
class AutoLambda(LossUpdate):
    """Auto-Lambda's update (see the module docstring)."""

    name: ClassVar[str] = "auto_lambda"
    separate_losses: ClassVar[bool] = True
    twice_differentiable: ClassVar[bool] = True

    def __init__(self, meta_lr: float = META_LR, init: float = INIT) -> None:
        self.meta_lr, self.init = float(meta_lr), float(init)
        self.tasks: list[str] = []
        self.task_weights: torch.Tensor | None = None
        self.meta_optimizer: torch.optim.Adam | None = None
        self.virtual: torch.nn.Module | None = None
        self.val: _ValBatches | None = None
        self._losses: Callable[..., torch.Tensor] | None = None
        self._differentiable: Callable[[Any], Any] = lambda batch: batch

    def bind(self, context: UpdateContext) -> None:
        """Create the weights, their optimizer, the virtual copy of the network and the
        validation batches; a run without a validation split is refused."""
        if context.val is None or len(context.val) == 0:
            raise ValueError(
                f"update 'auto_lambda' needs a validation split, and the run of {context.key!r} "
                "has none"
            )
        device = next(context.model.parameters()).device
        self.tasks = list(context.tasks)
        self.task_weights = torch.full(
            (len(self.tasks),), self.init, device=device, requires_grad=True
        )
        self.meta_optimizer = torch.optim.Adam([self.task_weights], lr=self.meta_lr)
        self.virtual = copy.deepcopy(context.model)
        self.val = _ValBatches(context.val, context.batch_size, context.seed)
        self._losses = context.losses
        self._differentiable = context.differentiable

    def meta_gradient(
        self,
        losses: Sequence[torch.Tensor],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        val_batch: Any,
    ) -> torch.Tensor:
        """``dL_val(theta') / dlambda`` of one step (see the module docstring).

        Parameters
        ----------
        losses
            The step's task losses (separate scalars, attached to the graph, which is kept).
        model
            The network at ``theta``.
        optimizer
            Its optimizer (learning rate, weight decay, momentum of the virtual step).
        val_batch
            The validation batch of ``L_val``.

        Returns
        -------
        torch.Tensor
            One derivative per task.
        """
        assert self.task_weights is not None and self.virtual is not None
        assert self._losses is not None
        params = [p for p in model.parameters() if p.requires_grad]
        weighted = (self.task_weights * torch.stack([loss.float() for loss in losses])).sum()
        grads = torch.autograd.grad(
            weighted, params, create_graph=True, retain_graph=True, allow_unused=True
        )
        grads = [
            torch.zeros_like(p) if g is None else g for p, g in zip(params, grads, strict=True)
        ]
        theta = virtual_step(params, [g.detach() for g in grads], optimizer)
        virtual_params = [p for p in self.virtual.parameters() if p.requires_grad]
        with torch.no_grad():
            for vp, t in zip(virtual_params, theta, strict=True):
                vp.copy_(t)
            for vb, b in zip(self.virtual.buffers(), model.buffers(), strict=True):
                vb.copy_(b)
        self.virtual.train(model.training)
        val_loss = self._losses(self._differentiable(val_batch), self.virtual).float().sum()
        if not val_loss.requires_grad:
            raise UpdateError(
                "update 'auto_lambda' differentiates the validation loss after its virtual step, "
                "but this benchmark's validation losses carry no gradient; its "
                "differentiable_batch must give a batch with differentiable losses"
            )
        if not bool(torch.isfinite(val_loss)):
            raise UpdateError(
                "update 'auto_lambda': the validation loss after the virtual step is not finite"
            )
        d = torch.autograd.grad(val_loss, virtual_params, allow_unused=True)
        inner = sum(
            ((g * dv).sum() for g, dv in zip(grads, d, strict=True) if dv is not None),
            weighted.new_zeros(()),
        )
        lr = float(optimizer.param_groups[0]["lr"])
        (dot,) = torch.autograd.grad(inner, self.task_weights, retain_graph=True, allow_unused=True)
        if dot is None:
            dot = torch.zeros_like(self.task_weights)
        return -lr * dot.detach()

    def step(  # type: ignore[override]
        self,
        losses: Sequence[torch.Tensor],
        tasks: Sequence[str],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        """See :meth:`LossUpdate.step`; float16 mixed precision (a gradient scaler) is refused."""
        refuse_fp16(self.name, scaler, "differentiates unscaled gradients")
        if self.task_weights is None or self.val is None or self.meta_optimizer is None:
            raise ValueError("update 'auto_lambda' is used without a training run (bind it first)")
        meta = self.meta_gradient(losses, model, optimizer, self.val.next())
        self.meta_optimizer.zero_grad(set_to_none=True)
        self.task_weights.grad = meta
        self.meta_optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        w = self.task_weights.detach()
        (w * torch.stack([loss.float() for loss in losses])).sum().backward()
        optimizer.step()

    def state_dict(self) -> dict[str, Any]:
        """The weights, their Adam state and the validation order."""
        if self.task_weights is None or self.meta_optimizer is None or self.val is None:
            return {}
        return {
            "weights": self.task_weights.detach(),
            "adam": self.meta_optimizer.state_dict(),
            "val": self.val.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (after :meth:`bind`)."""
        if not state:
            return
        assert self.task_weights is not None and self.meta_optimizer is not None
        assert self.val is not None
        with torch.no_grad():
            self.task_weights.copy_(state["weights"])
        self.meta_optimizer.load_state_dict(state["adam"])
        self.val.load_state_dict(state["val"])

    @property
    def weights(self) -> dict[str, float] | None:
        """The task weights by task."""
        if self.task_weights is None:
            return None
        return dict(zip(self.tasks, map(float, self.task_weights.detach().tolist()), strict=True))


__all__ = ["INIT", "META_LR", "AutoLambda", "virtual_step"]
