"""One probing step: every task's loss after one real optimizer step on each task combination.

This module computes the raw numbers behind the lookahead transfer gains of Wang, Pan and Yu
(2024); :mod:`taskgrouping.probe` turns them into gains. Two engines compute exactly the same
quantity:

``sequential`` (the reference)
    For every combination ``c``: deep-copy the model and the optimizer state, back-propagate
    ``sum_{t in c} L_t`` on the step's batch, call ``optimizer.step()`` on the copy, measure every
    task's loss, discard the copy.

``fast``
    Back-propagate each task's loss once (``n`` backward passes through one forward graph), form
    every combination's update from the per-task gradients in closed form (the update rule of
    ``torch.optim.SGD`` or ``torch.optim.Adam`` with the optimizer's own state, applied out of
    place), and evaluate each lookahead model with :func:`torch.func.functional_call` under
    ``no_grad``. The combinations are evaluated one after another: on CPU, batching them with
    ``vmap`` is slower for convolutional encoders. Memory is one extra copy of the parameters.

``batched``
    As ``fast``, but the lookahead models of up to ``chunk`` combinations are evaluated at once
    with ``torch.func.vmap`` over stacked parameters (BatchNorm layers of a copy of the model use
    batch statistics through ``torch.func.replace_all_batch_norm_modules_``). Faster for small
    MLPs, where per-call overhead dominates; memory is ``chunk`` parameter copies. Its numbers
    agree with the other engines to float rounding, but, unlike ``fast``, a combination's losses
    may differ in the last bits with the other combinations of its chunk, so sharded runs are
    exactly reproducible only with ``fast`` or ``sequential``.

Semantics shared by both engines (tests check they agree to 1e-6 in float64):

* A combination is a multiset of task indices: ``(j,)``, ``(i, j)``, the doubled ``(j, j)``
  (gradient ``2 g_j``) or any larger group. Its loss is ``sum_{t in c} L_t`` with multiplicity.
* The shared encoder and the heads of the tasks in ``c`` receive gradients; the other heads get no
  gradient (``None``), so the optimizer leaves them, their momentum and their weight decay alone.
* The step uses the optimizer's hyper-parameters and a copy of its state (momentum buffers, Adam
  moments and step counters); the real optimizer and model are never modified.
* **BatchNorm.** The step's gradient comes from a training-mode forward (batch statistics), as in
  the real training step. Losses before and after the step are measured with ``batchnorm``:
  ``"batch"`` (default): training-mode forward, batch statistics of the measured batch;
  ``"running"``: evaluation-mode forward with the running statistics the model has at the probing
  step. In both modes the before and after measurements use the same statistics source, and no
  running statistic of the real model changes.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from torch.func import functional_call

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.models import MultiTaskNet

Engine = Literal["fast", "batched", "sequential"]
BatchNormMode = Literal["batch", "running"]
ENGINES = ("fast", "batched", "sequential")
BATCHNORM_MODES = ("batch", "running")


@dataclass(frozen=True)
class Measure:
    """The batch on which losses are measured before and after the step (``None``: the step's)."""

    x: torch.Tensor | None = None
    y: torch.Tensor | None = None


def _check(engine: str, batchnorm: str) -> None:
    if engine not in ENGINES:
        raise ValueError(f"unknown probe engine {engine!r}; accepted: {list(ENGINES)}")
    if batchnorm not in BATCHNORM_MODES:
        raise ValueError(f"unknown batchnorm mode {batchnorm!r}; accepted: {list(BATCHNORM_MODES)}")


@contextlib.contextmanager
def preserved_buffers(model: torch.nn.Module) -> Iterator[None]:
    """Restore every buffer (BatchNorm running statistics, counters) of ``model`` on exit."""
    saved = [b.detach().clone() for b in model.buffers()]
    try:
        yield
    finally:
        with torch.no_grad():
            for b, s in zip(model.buffers(), saved, strict=True):
                b.copy_(s)


@contextlib.contextmanager
def _mode(model: torch.nn.Module, train: bool) -> Iterator[None]:
    was = model.training
    model.train(train)
    try:
        yield
    finally:
        model.train(was)


def _losses_of(
    outputs: dict[str, torch.Tensor], bench: Benchmark, y: torch.Tensor, tasks: Sequence[str]
) -> torch.Tensor:
    return torch.stack([bench.loss(outputs[t], y[:, bench.task_index(t)]) for t in tasks])


def measured_losses(
    model: MultiTaskNet,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
    batchnorm: BatchNormMode = "batch",
) -> np.ndarray:
    """Every task's loss at the model's current parameters, measured as the probe measures.

    No running statistic of ``model`` changes.
    """
    with torch.no_grad(), preserved_buffers(model), _mode(model, batchnorm == "batch"):
        out = model(x, tasks)
        return _losses_of(out, bench, y, tasks).double().cpu().numpy()


def clone_optimizer(
    optimizer: torch.optim.Optimizer, model_copy: torch.nn.Module
) -> torch.optim.Optimizer:
    """An optimizer of the same class for ``model_copy`` holding a deep copy of the state.

    ``load_state_dict`` alone copies shallowly (the new optimizer's buffers would BE the
    original's tensors, and a step on the copy would change training), so the state dict is
    deep-copied first.
    """
    clone = type(optimizer)(model_copy.parameters(), **optimizer.defaults)
    clone.load_state_dict(copy.deepcopy(optimizer.state_dict()))
    return clone


def counts(combo: Sequence[int], n_tasks: int) -> list[int]:
    """Multiplicity of every task in a combination (``(2, 2)`` gives 2 for task 2)."""
    mult = [0] * n_tasks
    for t in combo:
        if not 0 <= t < n_tasks:
            raise ValueError(f"combination {tuple(combo)} names task index {t} of {n_tasks}")
        mult[t] += 1
    return mult


def lookahead_sequential(
    model: MultiTaskNet,
    optimizer: torch.optim.Optimizer,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
    combos: Sequence[Sequence[int]],
    measure: Measure | None = None,
    batchnorm: BatchNormMode = "batch",
) -> tuple[np.ndarray, np.ndarray]:
    """Reference engine: one model and optimizer copy per combination (see module docstring)."""
    tasks = list(tasks)
    mx = x if measure is None or measure.x is None else measure.x
    my = y if measure is None or measure.y is None else measure.y
    before = measured_losses(model, bench, mx, my, tasks, batchnorm)
    after = np.empty((len(combos), len(tasks)))
    for k, combo in enumerate(combos):
        counts(combo, len(tasks))
        probe_model = copy.deepcopy(model)
        probe_opt = clone_optimizer(optimizer, probe_model)
        probe_opt.zero_grad(set_to_none=True)
        members = [tasks[i] for i in combo]
        with _mode(probe_model, True):
            out = probe_model(x, sorted(set(members), key=tasks.index))
            _losses_of(out, bench, y, members).sum().backward()
        probe_opt.step()
        # measurement statistics are the real model's (the step's forward moved the copy's)
        with torch.no_grad():
            for b, src in zip(probe_model.buffers(), model.buffers(), strict=True):
                b.copy_(src)
        after[k] = measured_losses(probe_model, bench, mx, my, tasks, batchnorm)
    return before, after


# ----------------------------------------------------------------------------------------------
# fast engine


@dataclass
class _Rule:
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

    def apply(self, grad: torch.Tensor) -> torch.Tensor:
        """The parameter after one step with gradient ``grad`` (out of place)."""
        p = self.param.detach()
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


def _signature(rule: _Rule) -> tuple:
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
    )


def _flat(tensors: Sequence[torch.Tensor | None]) -> torch.Tensor | None:
    if tensors[0] is None:
        return None
    return torch.cat([t.detach().reshape(-1) for t in tensors if t is not None])


@dataclass
class _FlatGroup:
    """Encoder parameters that share one update rule, updated as one flat vector.

    The update is elementwise, so applying it to the concatenation gives bit for bit the
    parameters that applying each parameter's own rule gives; it only saves per-tensor calls.
    """

    members: list[int]  # indices into the encoder's trainable parameters
    rule: _Rule
    sizes: list[int]
    shapes: list[torch.Size]
    grads: list[torch.Tensor]  # per task: the members' gradients, concatenated


def _flat_groups(
    named: Sequence[tuple[str, torch.nn.Parameter]],
    rules: dict[int, _Rule],
    enc_grads: Sequence[Sequence[torch.Tensor]],
) -> list[_FlatGroup]:
    by_sig: dict[tuple, list[int]] = {}
    for e, (_, p) in enumerate(named):
        by_sig.setdefault(_signature(rules[id(p)]), []).append(e)
    groups = []
    for members in by_sig.values():
        rs = [rules[id(named[e][1])] for e in members]
        flat = dataclasses.replace(
            rs[0],
            param=_flat([r.param for r in rs]),  # type: ignore[arg-type]
            buf=_flat([r.buf for r in rs]),
            exp_avg=_flat([r.exp_avg for r in rs]),
            exp_avg_sq=_flat([r.exp_avg_sq for r in rs]),
            max_exp_avg_sq=_flat([r.max_exp_avg_sq for r in rs]),
        )
        groups.append(
            _FlatGroup(
                members,
                flat,
                [named[e][1].numel() for e in members],
                [named[e][1].shape for e in members],
                [_flat([g[e] for e in members]) for g in enc_grads],  # type: ignore[misc]
            )
        )
    return groups


def _rules(optimizer: torch.optim.Optimizer) -> dict[int, _Rule]:
    """Update rule of every parameter the optimizer holds, keyed by ``id(param)``."""
    if isinstance(optimizer, torch.optim.SGD):
        kind = "sgd"
    elif type(optimizer) is torch.optim.Adam:
        kind = "adam"
    else:
        raise ValueError(
            f"the fast probe engine implements torch.optim.SGD and torch.optim.Adam, not "
            f"{type(optimizer).__name__}; use engine 'sequential'"
        )
    rules: dict[int, _Rule] = {}
    for group in optimizer.param_groups:
        if group.get("maximize", False) or group.get("decoupled_weight_decay", False):
            raise ValueError(
                "the fast probe engine does not implement maximize or decoupled weight decay; "
                "use engine 'sequential'"
            )
        for p in group["params"]:
            state = optimizer.state.get(p, {})
            lr = float(group["lr"])
            wd = float(group["weight_decay"])
            if kind == "sgd":
                buf = state.get("momentum_buffer")
                rules[id(p)] = _Rule(
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
                rules[id(p)] = _Rule(
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
                )
    return rules


def task_gradients(
    model: MultiTaskNet,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
) -> tuple[torch.Tensor, list[list[torch.Tensor]], list[list[torch.Tensor]]]:
    """Each task's loss and gradients from one training-mode forward and ``n`` backward passes.

    Returns ``(losses, encoder_grads, head_grads)``: ``encoder_grads[k]`` lists task ``k``'s
    gradient for every trainable encoder parameter, ``head_grads[k]`` for its own head's. No
    running statistic of ``model`` changes.
    """
    enc = [p for p in model.encoder.parameters() if p.requires_grad]
    heads = [[p for p in model.heads[t].parameters() if p.requires_grad] for t in tasks]
    with preserved_buffers(model), _mode(model, True):
        out = model(x, tasks)
        losses = _losses_of(out, bench, y, tasks)
        enc_grads, head_grads = [], []
        for k in range(len(tasks)):
            grads = torch.autograd.grad(
                losses[k], enc + heads[k], retain_graph=k < len(tasks) - 1, allow_unused=True
            )
            grads = [
                torch.zeros_like(p) if g is None else g
                for p, g in zip(enc + heads[k], grads, strict=True)
            ]
            enc_grads.append(grads[: len(enc)])
            head_grads.append(grads[len(enc) :])
    return losses.detach(), enc_grads, head_grads


@dataclass
class _Prepared:
    """What the closed-form engines share: measured batch, update rules, per-task gradients."""

    mx: torch.Tensor
    my: torch.Tensor
    rules: dict[int, _Rule]
    enc_grads: list[list[torch.Tensor]]
    head_grads: list[list[torch.Tensor]]
    before: np.ndarray
    enc_named: list[tuple[str, torch.nn.Parameter]]
    head_named: list[list[tuple[str, torch.nn.Parameter]]]
    _heads: dict[tuple[int, int], list[torch.Tensor]] = field(default_factory=dict)
    _flat: list[_FlatGroup] | None = None

    def head_step(self, t: int, mult: int) -> list[torch.Tensor]:
        """Task ``t``'s head parameters after the step with gradient ``mult`` times its own.

        A head moves only with its own task's gradient, so one version per (task, multiplicity)
        serves every combination; ``mult = 0`` gives the unchanged parameters.
        """
        if mult == 0:
            return [p.detach() for _, p in self.head_named[t]]
        if (t, mult) not in self._heads:
            self._heads[(t, mult)] = [
                self.rules[id(p)].apply(g if mult == 1 else g.mul(mult))
                for (_, p), g in zip(self.head_named[t], self.head_grads[t], strict=True)
            ]
        return self._heads[(t, mult)]

    def encoder_params(
        self, mults: Sequence[Sequence[int]], stack: bool = False
    ) -> dict[str, torch.Tensor]:
        """The encoder's parameters after the step of each combination (multiplicities
        ``mults``): stacked along a new first dimension with ``stack``, else for the one
        combination in ``mults``.

        The combination's gradient is summed over its members in task order and the update is
        applied to one flat vector per group of parameters sharing an update rule.
        """
        if self._flat is None:
            self._flat = _flat_groups(self.enc_named, self.rules, self.enc_grads)
        out: dict[str, torch.Tensor] = {}
        for group in self._flat:
            grads = []
            for mult in mults:
                grad = None
                for t, m in enumerate(mult):
                    if m:
                        g = group.grads[t] if m == 1 else group.grads[t].mul(m)
                        grad = g.clone() if grad is None else grad.add_(g)
                assert grad is not None
                grads.append(grad)
            if not stack and len(grads) != 1:
                raise ValueError(f"{len(grads)} combinations need stack=True")
            stepped = group.rule.apply(torch.stack(grads) if stack else grads[0])
            lead = (len(grads),) if stack else ()
            for e, part, shape in zip(
                group.members, stepped.split(group.sizes, dim=-1), group.shapes, strict=True
            ):
                out[self.enc_named[e][0]] = part.reshape(*lead, *shape)
        return out


def _prepare(
    model: MultiTaskNet,
    optimizer: torch.optim.Optimizer,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: list[str],
    measure: Measure | None,
    batchnorm: BatchNormMode,
) -> _Prepared:
    mx = x if measure is None or measure.x is None else measure.x
    my = y if measure is None or measure.y is None else measure.y
    rules = _rules(optimizer)
    losses, enc_grads, head_grads = task_gradients(model, bench, x, y, tasks)
    if mx is x and my is y and batchnorm == "batch":
        before = losses.double().cpu().numpy()
    else:
        before = measured_losses(model, bench, mx, my, tasks, batchnorm)
    return _Prepared(
        mx,
        my,
        rules,
        enc_grads,
        head_grads,
        before,
        [(name, p) for name, p in model.encoder.named_parameters() if p.requires_grad],
        [
            [(name, p) for name, p in model.heads[t].named_parameters() if p.requires_grad]
            for t in tasks
        ],
    )


def lookahead_fast(
    model: MultiTaskNet,
    optimizer: torch.optim.Optimizer,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
    combos: Sequence[Sequence[int]],
    measure: Measure | None = None,
    batchnorm: BatchNormMode = "batch",
) -> tuple[np.ndarray, np.ndarray]:
    """Fast engine: per-task gradients once, closed-form updates, functional evaluation."""
    tasks = list(tasks)
    n = len(tasks)
    prep = _prepare(model, optimizer, bench, x, y, tasks, measure, batchnorm)
    buffers = {name: b.detach().clone() for name, b in model.encoder.named_buffers()}
    head_buffers = [
        {name: b.detach().clone() for name, b in model.heads[t].named_buffers()} for t in tasks
    ]
    after = np.empty((len(combos), n))
    with torch.no_grad(), _mode(model, batchnorm == "batch"):
        for k, combo in enumerate(combos):
            mult = counts(combo, n)
            enc_params = prep.encoder_params([mult])
            rep = functional_call(model.encoder, {**enc_params, **buffers}, (prep.mx,))
            outputs = {}
            for t, task in enumerate(tasks):
                head = model.heads[task]
                if mult[t]:
                    names = [name for name, _ in prep.head_named[t]]
                    stepped = dict(zip(names, prep.head_step(t, mult[t]), strict=True))
                    outputs[task] = functional_call(head, {**stepped, **head_buffers[t]}, (rep,))
                else:
                    with preserved_buffers(head):
                        outputs[task] = head(rep)
            after[k] = _losses_of(outputs, bench, prep.my, tasks).double().cpu().numpy()
    return prep.before, after


def lookahead_batched(
    model: MultiTaskNet,
    optimizer: torch.optim.Optimizer,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
    combos: Sequence[Sequence[int]],
    measure: Measure | None = None,
    batchnorm: BatchNormMode = "batch",
    chunk: int = 64,
) -> tuple[np.ndarray, np.ndarray]:
    """Batched engine: as :func:`lookahead_fast`, evaluating ``chunk`` combinations per vmap."""
    tasks = list(tasks)
    n = len(tasks)
    prep = _prepare(model, optimizer, bench, x, y, tasks, measure, batchnorm)
    has_bn = any(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
    evaluator: torch.nn.Module = model
    if has_bn and batchnorm == "batch":
        evaluator = copy.deepcopy(model)
        torch.func.replace_all_batch_norm_modules_(evaluator)
    buffers = {name: b.detach().clone() for name, b in evaluator.named_buffers()}

    def combo_losses(params: dict[str, torch.Tensor]) -> torch.Tensor:
        out = functional_call(evaluator, {**params, **buffers}, (prep.mx,), {"tasks": tasks})
        return _losses_of(out, bench, prep.my, tasks)

    batched = torch.func.vmap(combo_losses)
    after = np.empty((len(combos), n))
    size = max(1, int(chunk))
    with torch.no_grad(), _mode(evaluator, batchnorm == "batch"):
        for start in range(0, len(combos), size):
            mults = [counts(c, n) for c in combos[start : start + size]]
            params: dict[str, torch.Tensor] = {}
            for name, p in prep.encoder_params(mults, stack=True).items():
                params[f"encoder.{name}"] = p
            for t, task in enumerate(tasks):
                versions = [prep.head_step(t, mult[t]) for mult in mults]
                for k, (name, _) in enumerate(prep.head_named[t]):
                    params[f"heads.{task}.{name}"] = torch.stack([v[k] for v in versions])
            after[start : start + len(mults)] = batched(params).double().cpu().numpy()
    return prep.before, after


def lookahead_losses(
    model: MultiTaskNet,
    optimizer: torch.optim.Optimizer,
    bench: Benchmark,
    x: torch.Tensor,
    y: torch.Tensor,
    tasks: Sequence[str],
    combos: Sequence[Sequence[int]],
    *,
    engine: Engine = "fast",
    measure: Measure | None = None,
    batchnorm: BatchNormMode = "batch",
) -> tuple[np.ndarray, np.ndarray]:
    """Every task's loss before the step and after one lookahead step on each combination.

    Returns
    -------
    before
        Shape ``(n,)``: losses of ``tasks`` at the current parameters.
    after
        Shape ``(len(combos), n)``: every task's loss after the step on each combination.
    """
    _check(engine, batchnorm)
    fn = {
        "fast": lookahead_fast,
        "batched": lookahead_batched,
        "sequential": lookahead_sequential,
    }[engine]
    return fn(model, optimizer, bench, x, y, tasks, combos, measure, batchnorm)
