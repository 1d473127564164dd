"""Update rules that aggregate the task gradients on the shared parameters (Jacobian descent).

Each rule is one :class:`torchjd.aggregation.Aggregator` of TorchJD (Quinton and Rey, 2024), a
maintained library of the multi-task field: PCGrad (Yu et al. 2020), CAGrad (Liu et al. 2021),
MGDA (Désidéri 2012; Sener and Koltun 2018), IMTL-G (Liu et al. 2021), Aligned-MTL (Senushkin et
al. 2023), UPGrad (Quinton and Rey 2024), GradDrop (Chen et al. 2020), DualProj (Quinton and Rey
2024) and FairGrad (Ban and Ji 2024).

A step works on any ``nn.Module``: one backward pass per task finds which parameters each task's
loss reaches. Parameters reached by two or more tasks are *shared*: their task gradients form the
Jacobian (one row per task, the shared parameters flattened), which the aggregator turns into one
update direction. Every other parameter (a task's head) gets the gradient of the one task that
reaches it, as TorchJD's own multi-task backward (``torchjd.autojac.mtl_backward``) does. The
optimizer then steps on these gradients. The rules registered here hold no state across steps
(GradDrop draws from the global RNG, which the training checkpoint saves), so a resumed run
continues exactly.

The Jacobian is built here with :func:`torch.autograd.grad` rather than with ``mtl_backward``
because ``mtl_backward`` needs the shared representation as a tensor, which the update step of an
arbitrary model (a benchmark's own ``task_losses``) does not see.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import torch

from taskgrouping.training.update import LossUpdate, register_update

#: Each rule's name and its TorchJD aggregator (class name and keyword arguments), built on the
#: first step so that importing the rules (every training job does) does not import TorchJD.
AGGREGATORS: dict[str, tuple[str, dict[str, float]]] = {
    "pcgrad": ("PCGrad", {}),
    "cagrad": ("CAGrad", {"c": 0.4}),
    "mgda": ("MGDA", {}),
    "imtl_g": ("IMTLG", {}),
    "aligned_mtl": ("AlignedMTL", {}),
    "upgrad": ("UPGrad", {}),
    "graddrop": ("GradDrop", {}),
    "dualproj": ("DualProj", {}),
    "fairgrad": ("FairGrad", {"alpha": 1.0}),
}


def build_aggregator(rule: str) -> Any:
    """A new TorchJD aggregator of ``rule`` (see :data:`AGGREGATORS`)."""
    from torchjd import aggregation

    cls_name, kwargs = AGGREGATORS[rule]
    return getattr(aggregation, cls_name)(**kwargs)


#: The settings of each rule that are not TorchJD's defaults, and where they come from.
SETTINGS = {
    "cagrad": "c = 0.4 (the value of CAGrad's multi-task experiments)",
    "fairgrad": "alpha = 1.0 (FairGrad's proportional fairness)",
}


def task_gradients(
    losses: Sequence[torch.Tensor], params: Sequence[torch.nn.Parameter]
) -> list[list[torch.Tensor | None]]:
    """Each task's gradient on ``params`` (``None`` where its loss does not reach a parameter).

    ``losses`` are separate scalars: entries of one stacked vector would all reach every
    parameter (with zero gradients through the stack).
    """
    n = len(losses)
    return [
        list(torch.autograd.grad(losses[k], params, retain_graph=k < n - 1, allow_unused=True))
        for k in range(n)
    ]


def jacobian_step_grads(
    losses: Sequence[torch.Tensor],
    params: Sequence[torch.nn.Parameter],
    aggregate: Callable[[torch.Tensor], torch.Tensor],
) -> list[torch.Tensor | None]:
    """The gradient each parameter gets from one aggregated step.

    Shared parameters (reached by two or more tasks) get their slice of ``aggregate(J)``, ``J``
    the tasks' gradients on them stacked as rows; every other parameter the gradient of the one
    task that reaches it, or ``None`` when none does.

    Parameters
    ----------
    losses
        The step's task losses, separate scalars attached to the graph.
    params
        The trainable parameters.
    aggregate
        The Jacobian (``tasks x shared parameters``) to one update direction.

    Returns
    -------
    list
        One gradient (or ``None``) per parameter of ``params``.
    """
    grads = task_gradients(losses, params)
    reached = [
        [k for k in range(len(grads)) if grads[k][i] is not None] for i in range(len(params))
    ]
    shared = [i for i, ks in enumerate(reached) if len(ks) >= 2]
    out: list[torch.Tensor | None] = [
        grads[ks[0]][i] if len(ks) == 1 else None for i, ks in enumerate(reached)
    ]
    if shared:
        rows = [
            torch.cat(
                [
                    (g if (g := grads[k][i]) is not None else torch.zeros_like(params[i])).reshape(
                        -1
                    )
                    for i in shared
                ]
            )
            for k in range(len(grads))
        ]
        direction = aggregate(torch.stack(rows))
        sizes = [params[i].numel() for i in shared]
        for i, piece in zip(shared, torch.split(direction, sizes), strict=True):
            out[i] = piece.reshape(params[i].shape)
    return out


class JacobianUpdate(LossUpdate):
    """One optimizer step on the aggregated task gradients (see the module docstring)."""

    separate_losses: ClassVar[bool] = True

    def __init__(self) -> None:
        self._aggregator: Any = None

    def step(  # type: ignore[override]
        self,
        losses: Sequence[torch.Tensor],
        tasks: Sequence[str],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        """See :meth:`LossUpdate.step`; float16 mixed precision (a gradient scaler) is refused."""
        if scaler is not None:
            raise ValueError(
                f"update {self.name!r} aggregates unscaled task gradients and does not support "
                "amp: fp16; use amp: bf16 or float32"
            )
        if self._aggregator is None:
            self._aggregator = build_aggregator(self.name)
        params = [p for p in model.parameters() if p.requires_grad]
        optimizer.zero_grad(set_to_none=True)
        grads = jacobian_step_grads(losses, params, self._aggregate)
        for p, g in zip(params, grads, strict=True):
            p.grad = None if g is None else g.detach().to(p.dtype)
        optimizer.step()

    def _aggregate(self, jacobian: torch.Tensor) -> torch.Tensor:
        """The aggregator on ``jacobian``, in float32 or wider; one line naming the rule on
        failure."""
        work = jacobian if jacobian.dtype in (torch.float32, torch.float64) else jacobian.float()
        try:
            direction = self._aggregator(work)
        except Exception as err:
            raise RuntimeError(
                f"update {self.name!r}: the aggregator failed ({type(err).__name__}: {err})"
            ) from None
        if not math.isfinite(float(direction.detach().abs().sum())):
            raise FloatingPointError(f"update {self.name!r} gave a non-finite update direction")
        return direction


def _register_all() -> None:
    for rule in AGGREGATORS:
        cls = type(
            f"{rule.title().replace('_', '')}Update",
            (JacobianUpdate,),
            {
                "name": rule,
                "__doc__": f"Jacobian descent with TorchJD's {rule} aggregator "
                f"({SETTINGS.get(rule, 'TorchJD defaults')}).",
                "__module__": __name__,
            },
        )
        register_update(cls)


_register_all()

#: The names of the rules of this module, in registry order.
RULES = tuple(AGGREGATORS)

__all__ = [
    "AGGREGATORS",
    "RULES",
    "SETTINGS",
    "JacobianUpdate",
    "build_aggregator",
    "jacobian_step_grads",
    "task_gradients",
]
