"""The closed-form engines: per-task gradients once, every combination's step from them.

``fast``
    Back-propagate each task's loss once (``n`` backward passes through one forward graph),
    form every combination's update from the per-task gradients in closed form
    (:mod:`~taskgrouping.probing.engines.rules`, with the optimizer's own state, out of place) and
    evaluate each lookahead model with :func:`torch.func.functional_call` under ``no_grad``, one
    combination after another (on CPU, batching them with ``vmap`` is slower for convolutional
    encoders). Memory is about one extra copy of the parameters.
``batched``
    As ``fast``, but the lookahead models of up to ``chunk`` combinations are evaluated at once with
    :func:`torch.func.vmap` over stacked parameters (BatchNorm layers of a copy of the model use
    batch statistics through ``torch.func.replace_all_batch_norm_modules_``). Faster for small MLPs;
    memory is ``chunk`` parameter copies; a combination's losses may differ in the last bits with
    the other combinations of its chunk.

**Parameter groups.** Autograd tells which tasks reach each trainable parameter
(``allow_unused=True``). Parameters sharing an update rule and the set of tasks reaching them form
one group, stepped as one flat vector (the updates are elementwise). A group's stepped value
depends only on the multiplicities of the tasks that reach it, so it is computed once per
multiplicity pattern and shared by the combinations with that pattern (a task-specific head has
one version per multiplicity of its task); a group that no member of a combination reaches, or that
the optimizer does not hold, keeps its parameters: no gradient, no momentum, no weight decay.
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch.func import functional_call

from taskgrouping.probing.engines.common import (
    LossModule,
    TaskLosses,
    measured_losses,
    no_parameter_message,
    preserved_buffers,
    stacked_losses,
    train_mode,
)
from taskgrouping.probing.engines.rules import Rule, flat, flat_rule, rules_of, signature
from taskgrouping.probing.options import counts


def task_gradients(
    model: torch.nn.Module, task_losses: TaskLosses, batch: Any, tasks: Sequence[str]
) -> tuple[torch.Tensor, list[tuple[str, torch.nn.Parameter]], list[list[torch.Tensor | None]]]:
    """Each task's loss and gradients from one training-mode forward and ``n`` backward passes.

    Returns ``(losses, named, grads)``: ``named`` lists the trainable parameters and
    ``grads[k][e]`` is task ``k``'s gradient of parameter ``e`` (``None`` where it does not reach
    it). No running statistic of ``model`` changes. Raises naming a task whose loss is missing,
    not finite, or reaches no parameter.
    """
    named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
    params = [p for _, p in named]
    grads: list[list[torch.Tensor | None]] = []
    with preserved_buffers(model), train_mode(model, True):
        out = task_losses(model, batch)
        losses = stacked_losses(out, tasks, check=True)
        for k, task in enumerate(tasks):
            if not out[task].requires_grad:
                raise ValueError(no_parameter_message(task))
            g = torch.autograd.grad(
                out[task], params, retain_graph=k < len(tasks) - 1, allow_unused=True
            )
            if all(x is None for x in g):
                raise ValueError(no_parameter_message(task))
            grads.append(list(g))
    return losses.detach(), named, grads


@dataclass
class _Group:
    """Trainable parameters sharing an update rule and the set of tasks reaching them."""

    names: list[str]
    params: list[torch.Tensor]
    reach: tuple[int, ...]
    rule: Rule | None  # None: the optimizer does not hold these parameters
    grads: dict[int, torch.Tensor]  # per reaching task: the members' gradients, concatenated
    uses: Counter = field(default_factory=Counter)  # pattern -> combinations still to evaluate
    cache: dict[tuple[int, ...], list[torch.Tensor]] = field(default_factory=dict)

    def pattern(self, mult: Sequence[int]) -> tuple[int, ...]:
        return tuple(mult[t] for t in self.reach)

    def stepped(self, mult: Sequence[int]) -> list[torch.Tensor] | None:
        """The members after the step with multiplicities ``mult`` (``None``: unchanged).

        The gradient is the sum of the reaching members' gradients in task order. A result is
        kept while combinations with the same pattern remain (:attr:`uses`), then dropped.
        """
        key = self.pattern(mult)
        if self.rule is None or not any(key):
            return None
        out = self.cache.get(key)
        if out is None:
            grad = None
            for t, m in zip(self.reach, key, strict=True):
                if m:
                    g = self.grads[t] if m == 1 else self.grads[t].mul(m)
                    grad = g.clone() if grad is None else grad.add_(g)
            assert grad is not None
            stepped = self.rule.apply(grad)
            sizes = [p.numel() for p in self.params]
            out = [
                part.reshape(p.shape)
                for part, p in zip(stepped.split(sizes), self.params, strict=True)
            ]
        self.uses[key] -= 1
        if self.uses[key] > 0:
            self.cache[key] = out
        else:
            self.cache.pop(key, None)
        return out


def _groups(
    named: Sequence[tuple[str, torch.nn.Parameter]],
    grads: Sequence[Sequence[torch.Tensor | None]],
    rules: Mapping[int, Rule],
    mults: Sequence[Sequence[int]],
) -> list[_Group]:
    members: dict[tuple, list[int]] = {}
    for e, (_, p) in enumerate(named):
        reach = tuple(k for k, g in enumerate(grads) if g[e] is not None)
        rule = rules.get(id(p))
        if reach:
            key = (None if rule is None else signature(rule), reach)
            members.setdefault(key, []).append(e)
    groups = []
    for (sig, reach), es in members.items():
        rule = None if sig is None else flat_rule([rules[id(named[e][1])] for e in es])
        group = _Group(
            [named[e][0] for e in es],
            [named[e][1] for e in es],
            reach,
            rule,
            {t: flat([grads[t][e] for e in es]) for t in reach},  # type: ignore[misc]
        )
        group.uses.update(group.pattern(m) for m in mults)
        groups.append(group)
    return groups


def _prepare(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    task_losses: TaskLosses,
    batch: Any,
    tasks: Sequence[str],
    mults: Sequence[Sequence[int]],
    measure_batch: Any,
    batchnorm: str,
) -> tuple[np.ndarray, list[_Group]]:
    """Losses before the step and the parameter groups of ``mults``' combinations."""
    rules = rules_of(optimizer)
    losses, named, grads = task_gradients(model, task_losses, batch, tasks)
    if measure_batch is None and batchnorm == "batch":
        before = losses.double().cpu().numpy()
    else:
        measure = batch if measure_batch is None else measure_batch
        before = measured_losses(model, task_losses, measure, tasks, batchnorm)
    return before, _groups(named, grads, rules, mults)


def lookahead_fast(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    task_losses: TaskLosses,
    batch: Any,
    tasks: Sequence[str],
    combos: Sequence[Sequence[int]],
    measure_batch: Any = None,
    batchnorm: str = "batch",
) -> tuple[np.ndarray, np.ndarray]:
    """Fast engine: per-task gradients once, closed-form updates, functional evaluation."""
    tasks = list(tasks)
    mults = [counts(c, len(tasks)) for c in combos]
    before, groups = _prepare(
        model, optimizer, task_losses, batch, tasks, mults, measure_batch, batchnorm
    )
    measure = batch if measure_batch is None else measure_batch
    evaluator = LossModule(model, task_losses)
    buffers = {f"model.{name}": b.detach().clone() for name, b in model.named_buffers()}
    after = np.empty((len(combos), len(tasks)))
    with torch.no_grad(), train_mode(model, batchnorm == "batch"):
        for k, mult in enumerate(mults):
            params: dict[str, torch.Tensor] = {}
            for group in groups:
                stepped = group.stepped(mult)
                if stepped is not None:
                    params.update(zip((f"model.{n}" for n in group.names), stepped, strict=True))
            out = functional_call(evaluator, {**params, **buffers}, (measure,))
            after[k] = stacked_losses(out, tasks).double().cpu().numpy()
    return before, after


def lookahead_batched(
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    task_losses: TaskLosses,
    batch: Any,
    tasks: Sequence[str],
    combos: Sequence[Sequence[int]],
    measure_batch: Any = None,
    batchnorm: str = "batch",
    chunk: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched engine: as :func:`lookahead_fast`, evaluating ``chunk`` combinations per vmap."""
    tasks = list(tasks)
    mults = [counts(c, len(tasks)) for c in combos]
    before, groups = _prepare(
        model, optimizer, task_losses, batch, tasks, mults, measure_batch, batchnorm
    )
    measure = batch if measure_batch is None else measure_batch
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    target: torch.nn.Module = model
    if has_bn and batchnorm == "batch":
        target = copy.deepcopy(model)
        torch.func.replace_all_batch_norm_modules_(target)
    evaluator = LossModule(target, task_losses)
    buffers = {f"model.{name}": b.detach().clone() for name, b in target.named_buffers()}

    def combo_losses(params: dict[str, torch.Tensor]) -> torch.Tensor:
        return stacked_losses(functional_call(evaluator, {**params, **buffers}, (measure,)), tasks)

    batched = torch.func.vmap(combo_losses)
    after = np.empty((len(combos), len(tasks)))
    size = max(1, int(chunk))
    with torch.no_grad(), train_mode(target, batchnorm == "batch"):
        for start in range(0, len(mults), size):
            part = mults[start : start + size]
            params: dict[str, torch.Tensor] = {}
            for group in groups:
                versions = [group.stepped(m) or [p.detach() for p in group.params] for m in part]
                for e, name in enumerate(group.names):
                    params[f"model.{name}"] = torch.stack([v[e] for v in versions])
            after[start : start + len(part)] = batched(params).double().cpu().numpy()
    return before, after
