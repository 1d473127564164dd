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
whose shared parameters are those of its ``encoder`` (a
:class:`~taskgrouping.models.MultiTaskNet`, the ``cop`` benchmark's POMO model...); the first-order
estimate also needs per-task ``heads``. Losses are the benchmark's
:meth:`~taskgrouping.benchmarks.Benchmark.task_losses`, so any batch works; TAG's losses before
and after its step are measured on a held-out batch when one is given, as the exact probe's are
with ``measure: heldout``. The exact lookahead takes any model and batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from torch.func import functional_call

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.models import MultiTaskNet
from taskgrouping.probing.engines.common import LossModule, benchmark_task_losses
from taskgrouping.training import task_losses
from taskgrouping.training.losses import stacked_losses


def require_encoder_and_heads(model: torch.nn.Module, batch: Any, estimator: str) -> None:
    """Raise one line naming ``estimator`` unless ``model`` has a shared ``encoder`` (and, for
    ``first_order``, per-task ``heads`` and batches ``(x, y)``)."""
    if not isinstance(getattr(model, "encoder", None), nn.Module):
        raise TypeError(
            f"estimator {estimator!r} needs a model whose shared parameters are those of its "
            f"'encoder' module, and {type(model).__name__} has none; use estimator 'exact', "
            "which takes any model"
        )
    if estimator != "first_order":
        return
    if not isinstance(getattr(model, "heads", None), nn.ModuleDict):
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
    model: torch.nn.Module, bench: Benchmark, batch: Any, tasks: Sequence[str]
) -> tuple[torch.Tensor, torch.Tensor]:
    """Each task's loss and its gradient on the shared encoder, flattened.

    Returns
    -------
    losses
        Shape ``(n,)``.
    grads
        Shape ``(n, p)``: row ``k`` is task ``k``'s gradient over the ``p`` encoder parameters.
    """
    losses, grads, _ = _gradients(model, bench, batch, tasks, heads=False)
    return losses, grads


def _gradients(
    model: torch.nn.Module,
    bench: Benchmark,
    batch: Any,
    tasks: Sequence[str],
    *,
    heads: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """:func:`shared_gradients` plus, with ``heads``, each task's squared gradient norm on its
    own head (``model.heads[task]``)."""
    params = [p for p in model.encoder.parameters() if p.requires_grad]
    losses = task_losses(model, bench, batch, tasks)
    rows, head_sq = [], []
    for k, task in enumerate(tasks):
        head = [p for p in model.heads[task].parameters() if p.requires_grad] if heads else []
        grads = torch.autograd.grad(
            losses[k], params + head, retain_graph=k < len(tasks) - 1, allow_unused=True
        )
        flat = [
            torch.zeros_like(p) if g is None else g
            for p, g in zip(params + head, grads, strict=True)
        ]
        rows.append(torch.cat([g.reshape(-1) for g in flat[: len(params)]]))
        if heads:
            head_sq.append(sum((g * g).sum() for g in flat[len(params) :]))
    squares = torch.stack(head_sq).to(losses.dtype) if heads else None
    return losses.detach(), torch.stack(rows), squares


def tag_affinity_step(
    model: torch.nn.Module,
    bench: Benchmark,
    batch: Any,
    tasks: Sequence[str],
    lr: float,
    measure_batch: Any = None,
) -> torch.Tensor:
    """TAG's inter-task affinity ``Z[i, j]`` at one step (row ``i`` source, column ``j`` target).

    The step is plain SGD on the ``encoder``'s parameters with task ``i``'s gradient on
    ``batch``; task ``j``'s loss is measured before and after it on ``measure_batch`` (default:
    ``batch``), the rest of the model unchanged.
    """
    tasks = list(tasks)
    before, grads = shared_gradients(model, bench, batch, tasks)
    names = [n for n, p in model.encoder.named_parameters() if p.requires_grad]
    current = dict(model.encoder.named_parameters())
    shapes = [current[n].shape for n in names]
    sizes = [current[n].numel() for n in names]
    evaluator = LossModule(model, benchmark_task_losses(bench, tasks))
    z = torch.zeros(len(tasks), len(tasks), dtype=before.dtype, device=before.device)
    with torch.no_grad():
        if measure_batch is not None:
            before = task_losses(model, bench, measure_batch, tasks).to(before.dtype)
        measure = batch if measure_batch is None else measure_batch
        for i in range(len(tasks)):
            flat = torch.split(grads[i], sizes)
            stepped = {
                f"model.encoder.{n}": current[n] - lr * g.reshape(s)
                for n, g, s in zip(names, flat, shapes, strict=True)
            }
            after = stacked_losses(functional_call(evaluator, stepped, (measure,)), tasks)
            z[i] = 1 - after.to(before.dtype) / before
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
