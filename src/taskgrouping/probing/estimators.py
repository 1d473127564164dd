"""Cheaper transfer estimates, to compare with the exact lookahead gains (:mod:`.engines`).

* **TAG inter-task affinity** (Fifty et al., 2021): a plain SGD step of learning rate ``lr`` on the
  *shared* parameters only, using task ``i``'s loss, and the relative change of task ``j``'s loss:
  ``Z[i, j] = 1 - L_j(theta_s - lr * grad_s L_i, theta_j) / L_j(theta_s, theta_j)``.
  Heads are not updated; the optimizer's state plays no part.
* **TAG cosine variant**: ``cos(grad_s L_i, grad_s L_j)`` on the shared parameters.
* **First-order lookahead estimate**: the exact gain ``S[i, j]`` compares task ``j``'s loss after
  an optimizer step on ``{j}`` with one on ``{i, j}``. For SGD (with or without momentum and
  weight decay) the two steps differ only by ``-lr * g_i`` on the shared parameters (task ``i``'s
  head does not enter ``L_j``), so to first order in ``lr``
  ``S[i, j] ~ lr * <grad_s L_i, grad_s L_j> / L_j``: no extra forward pass. It is not exact for
  Adam, whose step is not linear in the gradient.

All three use the gradients of every task on the shared encoder at the current parameters, one
backward pass per task. They need to know which parameters are shared, so they take a model
with a shared ``encoder`` and per-task ``heads`` (a :class:`~taskgrouping.models.MultiTaskNet`)
and batches ``(x, y)``; the exact lookahead takes any model and batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.models import MultiTaskNet
from taskgrouping.training import task_losses


def require_encoder_and_heads(model: torch.nn.Module, batch: Any, estimator: str) -> None:
    """Raise one line naming ``estimator`` unless ``model`` has a shared ``encoder`` and
    per-task ``heads`` and ``batch`` is ``(x, y)``."""
    if not (hasattr(model, "encoder") and isinstance(getattr(model, "heads", None), nn.ModuleDict)):
        raise TypeError(
            f"estimator {estimator!r} needs a model with a shared 'encoder' and per-task 'heads' "
            f"(a MultiTaskNet), and {type(model).__name__} has not; use estimator 'exact', "
            "which takes any model"
        )
    if not (isinstance(batch, tuple | list) and len(batch) == 2):
        raise TypeError(
            f"estimator {estimator!r} needs batches (x, y), got a {type(batch).__name__}; use "
            "estimator 'exact', which takes any batch"
        )


def shared_gradients(
    model: MultiTaskNet, bench: Benchmark, batch: Any, tasks: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each task's loss and its gradient on the shared encoder, flattened.

    Returns
    -------
    losses
        Shape ``(n,)``.
    grads
        Shape ``(n, p)``: row ``k`` is task ``k``'s gradient over the ``p`` encoder parameters.
    """
    losses, grads, _ = _gradients(model, bench, batch, tasks)
    return losses, grads


def _gradients(
    model: MultiTaskNet, bench: Benchmark, batch: Any, tasks: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`shared_gradients` plus each task's squared gradient norm on its own head."""
    params = [p for p in model.encoder.parameters() if p.requires_grad]
    losses = task_losses(model, bench, batch, tasks)
    rows, head_sq = [], []
    for k, task in enumerate(tasks):
        head = [p for p in model.heads[task].parameters() if p.requires_grad]
        grads = torch.autograd.grad(
            losses[k], params + head, retain_graph=k < len(tasks) - 1, allow_unused=True
        )
        flat = [
            torch.zeros_like(p) if g is None else g
            for p, g in zip(params + head, grads, strict=True)
        ]
        rows.append(torch.cat([g.reshape(-1) for g in flat[: len(params)]]))
        head_sq.append(sum((g * g).sum() for g in flat[len(params) :]))
    return losses.detach(), torch.stack(rows), torch.stack(head_sq).to(losses.dtype)


def tag_affinity_step(
    model: MultiTaskNet,
    bench: Benchmark,
    batch: Any,
    tasks: Sequence[str],
    lr: float,
) -> torch.Tensor:
    """TAG's inter-task affinity ``Z[i, j]`` at one step (row ``i`` source, column ``j`` target)."""
    tasks = list(tasks)
    x, y = batch
    before, grads = shared_gradients(model, bench, batch, tasks)
    names = [n for n, p in model.encoder.named_parameters() if p.requires_grad]
    current = dict(model.encoder.named_parameters())
    shapes = [current[n].shape for n in names]
    sizes = [current[n].numel() for n in names]
    z = torch.zeros(len(tasks), len(tasks), dtype=before.dtype, device=before.device)
    with torch.no_grad():
        for i in range(len(tasks)):
            flat = torch.split(grads[i], sizes)
            stepped = {
                n: current[n] - lr * g.reshape(s)
                for n, g, s in zip(names, flat, shapes, strict=True)
            }
            rep = functional_call(model.encoder, stepped, (x,))
            for j, t in enumerate(tasks):
                after = bench.loss(model.heads[t](rep), bench.target(y, t))
                z[i, j] = 1 - after / before[j]
    return z


def tag_cosine_step(
    model: MultiTaskNet, bench: Benchmark, batch: Any, tasks: Sequence[str]
) -> torch.Tensor:
    """Cosine similarity of the tasks' shared-parameter gradients at one step."""
    _, grads = shared_gradients(model, bench, batch, tasks)
    unit = grads / grads.norm(dim=1, keepdim=True).clamp_min(torch.finfo(grads.dtype).tiny)
    return unit @ unit.T


def first_order_gains_step(
    model: MultiTaskNet,
    bench: Benchmark,
    batch: Any,
    tasks: Sequence[str],
    lr: float,
    reference: str = "single",
) -> torch.Tensor:
    """First-order estimate of the lookahead gains (zero diagonal).

    ``lr <g_i, g_j> / L_j`` against the single reference step ``{j}`` (shared-encoder
    gradients). Against the doubled step ``(j, j)`` the encoder steps differ by
    ``-lr (g_i - g_j)`` and task ``j``'s head step by ``-lr h_j`` (its head gradient), giving
    ``lr (<g_i - g_j, g_j> - |h_j|^2) / L_j``.
    """
    if reference not in ("single", "doubled"):
        raise ValueError(f"reference {reference!r} is not one of ['single', 'doubled']")
    losses, grads, head_sq = _gradients(model, bench, batch, tasks)
    inner = grads @ grads.T
    if reference == "doubled":
        inner = inner - (inner.diagonal() + head_sq).unsqueeze(0)
    gains = lr * inner / losses.unsqueeze(0)
    gains.fill_diagonal_(0.0)
    return gains
