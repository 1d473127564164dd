"""Update rules that aggregate the task gradients on the shared parameters (Jacobian descent).

Each rule is one :class:`torchjd.aggregation.Aggregator` of TorchJD (Quinton and Rey, 2024), a
maintained library of the multi-task field: PCGrad (Yu et al. 2020), CAGrad (Liu et al. 2021),
MGDA (Désidéri 2012; Sener and Koltun 2018), IMTL-G (Liu et al. 2021), Aligned-MTL (Senushkin et
al. 2023), UPGrad (Quinton and Rey 2024), GradDrop (Chen et al. 2020), DualProj (Quinton and Rey
2024), FairGrad (Ban and Ji 2024), Nash-MTL (Navon et al. 2022) and GradVac (Wang et al. 2021).

A step works on any ``nn.Module``: one backward pass per task finds which parameters each task's
loss reaches. Parameters reached by two or more tasks are *shared*: their task gradients form the
Jacobian (one row per task, the shared parameters flattened), which the aggregator turns into one
update direction. Every other parameter (a task's head) gets the gradient of the one task that
reaches it, as TorchJD's own multi-task backward (``torchjd.autojac.mtl_backward``) does. The
optimizer then steps on these gradients. Two rules keep state across steps: Nash-MTL its last
weights and step count, GradVac its moving averages of the gradients' cosines; both are part of
the training checkpoint. GradDrop and GradVac draw from the global RNG, which the checkpoint
saves too, so a resumed run continues exactly.

The Jacobian is built here with :func:`torch.autograd.grad` rather than with ``mtl_backward``
because ``mtl_backward`` needs the shared representation as a tensor, which the update step of an
arbitrary model (a benchmark's own ``task_losses``) does not see.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar

import torch

from taskgrouping.training.update import (
    LossUpdate,
    UpdateContext,
    UpdateError,
    refuse_fp16,
    register_update,
)

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
    "nash_mtl": ("NashMTL", {"max_norm": 1.0, "update_weights_every": 1, "optim_niter": 20}),
    "gradvac": ("GradVac", {"beta": 0.5}),
}

#: The rules whose aggregator is built for a number of tasks.
_SIZED = ("nash_mtl",)


def build_aggregator(rule: str, n_tasks: int = 2) -> Any:
    """A new TorchJD aggregator of ``rule`` (see :data:`AGGREGATORS`) for ``n_tasks`` tasks
    (only Nash-MTL's depends on it)."""
    from torchjd import aggregation

    cls_name, kwargs = AGGREGATORS[rule]
    if rule in _SIZED:
        kwargs = {"n_tasks": int(n_tasks), **kwargs}
    return getattr(aggregation, cls_name)(**kwargs)


def _holder(aggregator: Any, attr: str) -> Any:
    """The submodule of a TorchJD aggregator that holds the state attribute ``attr``."""
    for module in aggregator.modules():
        if hasattr(module, attr):
            return module
    raise ValueError(f"{type(aggregator).__name__} holds no {attr!r} (another TorchJD version?)")


class _WatchedProblem:
    """A cvxpy problem that records the errors of its solves before passing them on.

    TorchJD's Nash-MTL catches a failed solve of its inner problem and silently keeps the previous
    weights; here such a step is an error (:meth:`JacobianUpdate._aggregate`)."""

    def __init__(self, problem: Any, failures: list[str]) -> None:
        self._problem, self._failures = problem, failures

    def solve(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return self._problem.solve(*args, **kwargs)
        except Exception as err:
            self._failures.append(" ".join(f"{type(err).__name__}: {err}".split()))
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._problem, name)


def watch_solver(rule: str, aggregator: Any) -> list[str]:
    """The list into which the failed inner solves of ``aggregator`` are recorded (Nash-MTL; for
    the other rules a list that stays empty: CAGrad's solver errors propagate by themselves)."""
    failures: list[str] = []
    if rule == "nash_mtl":
        w = _holder(aggregator, "prvs_alpha")
        build = w._init_optim_problem

        def init_watched() -> None:
            build()
            w.prob = _WatchedProblem(w.prob, failures)

        w._init_optim_problem = init_watched
    return failures


def aggregator_state(rule: str, aggregator: Any) -> dict[str, Any]:
    """The state a stateful TorchJD aggregator keeps across steps, as CPU tensors (empty for a
    stateless one). TorchJD has no state-dict API, so the attributes are read by name; a test
    checks that a restored aggregator continues exactly."""
    if rule == "nash_mtl":
        w = _holder(aggregator, "prvs_alpha")
        return {
            "step": float(w.step),
            "prvs_alpha": torch.from_numpy(w.prvs_alpha.copy()),
            "normalization_factor": torch.from_numpy(w.normalization_factor.copy()),
        }
    if rule == "gradvac":
        w = _holder(aggregator, "_phi_t")
        return {} if w._phi_t is None else {"phi": w._phi_t.clone()}
    return {}


def load_aggregator_state(rule: str, aggregator: Any, state: dict[str, Any]) -> None:
    """Restore :func:`aggregator_state` into a new aggregator of the same rule."""
    if not state:
        return
    if rule == "nash_mtl":
        w = _holder(aggregator, "prvs_alpha")
        w.prvs_alpha = state["prvs_alpha"].numpy().copy()
        w.normalization_factor = state["normalization_factor"].numpy().copy()
        w.step = float(state["step"])
        if w.step > 0:
            w._init_optim_problem()  # built at the first step of an uninterrupted run
    elif rule == "gradvac":
        w = _holder(aggregator, "_phi_t")
        phi = state["phi"].clone()
        w._phi_t, w._state_key = phi, (phi.shape[0], phi.dtype)
    else:
        raise ValueError(f"update {rule!r} has no state, but a checkpoint holds one")


#: The settings of each rule that are not TorchJD's defaults, and where they come from.
SETTINGS = {
    "cagrad": "c = 0.4 (the value of CAGrad's multi-task experiments)",
    "fairgrad": "alpha = 1.0 (FairGrad's proportional fairness)",
    "nash_mtl": "max_norm = 1, weights solved at every step with 20 iterations (TorchJD's "
    "defaults, those of the Nash-MTL code)",
    "gradvac": "beta = 0.5 (TorchJD's default)",
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
        self._failures: list[str] = []

    def bind(self, context: UpdateContext) -> None:
        """Build the aggregator for the run's number of tasks."""
        self._build(len(context.tasks))

    def _build(self, n_tasks: int) -> None:
        self._aggregator = build_aggregator(self.name, n_tasks)
        self._failures = watch_solver(self.name, self._aggregator)

    def state_dict(self) -> dict[str, Any]:
        """The aggregator's state (Nash-MTL, GradVac; empty for the others)."""
        if self._aggregator is None:
            return {}
        return aggregator_state(self.name, self._aggregator)

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (after :meth:`bind`)."""
        load_aggregator_state(self.name, self._aggregator, dict(state))

    def step(  # type: ignore[override]
        self,
        losses: Sequence[torch.Tensor],
        tasks: Sequence[str],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        """See :meth:`LossUpdate.step`; float16 mixed precision (a gradient scaler) is refused."""
        refuse_fp16(self.name, scaler, "aggregates unscaled task gradients")
        if self._aggregator is None:
            self._build(len(tasks))
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
            with warnings.catch_warnings():
                # Nash-MTL's problem is re-compiled at every solve, which cvxpy warns about.
                warnings.filterwarnings("ignore", message=".*not DPP", category=UserWarning)
                direction = self._aggregator(work)
        except Exception as err:
            message = " ".join(str(err).split())
            raise UpdateError(
                f"update {self.name!r}: the aggregator failed ({type(err).__name__}: {message})"
            ) from None
        if self._failures:
            failed, self._failures[:] = self._failures[0], []
            raise UpdateError(
                f"update {self.name!r}: the solver of its inner problem failed ({failed})"
            )
        if not math.isfinite(float(direction.detach().abs().sum())):
            raise UpdateError(f"update {self.name!r} gave a non-finite update direction")
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
    "aggregator_state",
    "build_aggregator",
    "jacobian_step_grads",
    "load_aggregator_state",
    "task_gradients",
    "watch_solver",
]
