"""The one place where a training step turns the per-task losses into a parameter update.

An update rule is a :class:`LossUpdate` registered by name (:func:`register_update`); the
training loop looks it up with :func:`get_update`, hands it the run's :class:`UpdateContext`
once (:meth:`LossUpdate.bind`) and calls :meth:`LossUpdate.step` once per batch, after the losses
were checked to be finite, then :meth:`LossUpdate.after_step`; :meth:`LossUpdate.end_epoch` after
each epoch. A rule with state across steps (learned loss weights, moving averages) returns it from
:meth:`LossUpdate.state_dict`, which the training checkpoint saves, so a resumed run continues
exactly. Multi-task optimisers that combine the task gradients (PCGrad, CAGrad, Nash-MTL) or weight
the losses (uncertainty weighting, GradNorm) plug in here without touching the loop. The plain sum
of the losses (:class:`SumUpdate`, ``"sum"``) is the default.

The built-in rules beyond ``sum`` are registered on first use of the registry:
:mod:`~taskgrouping.training.aggregators` (Jacobian descent with TorchJD's aggregators),
:mod:`~taskgrouping.training.scalarizers` (TorchJD's loss weightings),
:mod:`~taskgrouping.training.gradnorm` and :mod:`~taskgrouping.training.auto_lambda`.
"""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import torch

if TYPE_CHECKING:
    from taskgrouping.benchmarks.data import Batch, DataSplit

#: Update rules by name.
UPDATES: dict[str, type[LossUpdate]] = {}

_U = TypeVar("_U", bound="type[LossUpdate]")


class UpdateError(RuntimeError):
    """An update rule could not make a step (its inner solver failed, or its update direction is
    not finite); the training loop adds the group and the step to the message."""

    #: Reported by a workflow job as its message alone (no traceback).
    one_line = True


@dataclass
class UpdateContext:
    """What a rule may use beyond one step's losses, handed to :meth:`LossUpdate.bind` once.

    Attributes
    ----------
    tasks
        The tasks of the trained network, in the order of the losses.
    model
        The network.
    optimizer
        The optimizer over ``model``'s parameters. A rule with parameters of its own that are
        trained with the network (uncertainty weighting's log-variances) adds them to it as a
        parameter group in :meth:`LossUpdate.bind`.
    losses
        ``losses(batch, model=None)``: the stacked task losses of ``model`` (default: the trained
        network; a copy of it for a rule's virtual step) on a batch, moved to the network's device
        and under the run's mixed precision, attached to the graph.
    val
        The validation split, or ``None`` when the run has none (a rule that needs one refuses
        such a run in :meth:`LossUpdate.bind`).
    batch_size
        The training batch size (also that of the validation batches a rule draws).
    seed
        The run's seed (for a generator of the rule's own).
    key
        The run's name in messages (the group).
    differentiable
        ``differentiable(batch)``: a validation batch as one whose losses are differentiable
        training losses (:meth:`Benchmark.differentiable_batch
        <taskgrouping.benchmarks.Benchmark.differentiable_batch>`; default: the batch itself).
    """

    tasks: list[str]
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    losses: Callable[..., torch.Tensor]
    val: DataSplit | None
    batch_size: int
    seed: int
    key: str
    differentiable: Callable[[Any], Any] = lambda batch: batch


class LossUpdate(ABC):
    """How one training step turns the losses of a batch into an update of the model.

    A subclass sets :attr:`name`, implements :meth:`step` and is registered with
    :func:`register_update`; it is built without arguments, once per training run. The other
    methods have defaults that do nothing: a rule overrides those it needs.
    """

    #: The rule's name in the registry.
    name: ClassVar[str]

    #: Whether :meth:`step` gets the task losses as a tuple of separate scalars (each with its
    #: own graph, so that a task's gradient reaches only the parameters its loss uses) instead
    #: of one stacked vector, whose every entry reaches every task's parameters with zeros.
    separate_losses: ClassVar[bool] = False

    #: Whether :meth:`step` differentiates the gradients of the losses (a double backward pass
    #: through the step's forward pass: GradNorm, Auto-Lambda). The training loop then runs the
    #: forward pass with PyTorch's math attention kernel (:func:`forward_context`), the one
    #: kernel of ``scaled_dot_product_attention`` with a double backward on every device.
    twice_differentiable: ClassVar[bool] = False

    @abstractmethod
    def step(
        self,
        losses: torch.Tensor,
        tasks: Sequence[str],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        """Update ``model`` in place from the step's losses.

        Parameters
        ----------
        losses
            The batch's losses in the order of ``tasks``, still attached to the graph: a vector,
            or a tuple of scalars when :attr:`separate_losses` is set.
        tasks
            The tasks of the trained network.
        model
            The network; its gradients hold whatever the previous step left there.
        optimizer
            The optimizer over ``model``'s parameters, with this epoch's learning rate.
        scaler
            The gradient scaler of float16 mixed precision, or ``None`` (float32, bfloat16).
        """

    def bind(self, context: UpdateContext) -> None:  # noqa: B027 (optional hook)
        """Called once by the training loop, before the first step and before a checkpoint's
        state is restored (:meth:`load_state_dict`).

        Parameters
        ----------
        context
            The run's model, optimizer, tasks and data (see :class:`UpdateContext`).
        """

    def after_step(self, batch: Batch) -> None:  # noqa: B027 (optional hook)
        """Called after each :meth:`step`, with the step's batch on the model's device (FAMO
        measures the losses' change across the step here)."""

    def end_epoch(self, epoch: int) -> None:  # noqa: B027 (optional hook)
        """Called after each epoch's last step, before validation (DWA closes its epoch's mean
        losses here)."""

    def state_dict(self) -> dict[str, Any]:
        """The rule's state across steps, saved in every training checkpoint (empty for a rule
        without state). Tensors are copied by the checkpoint writer."""
        return {}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (called after :meth:`bind`)."""
        if state:
            raise ValueError(f"update {self.name!r} has no state, but a checkpoint holds one")

    @property
    def weights(self) -> dict[str, float] | None:
        """The rule's current loss weights by task, for the training log (``None``: none)."""
        return None


def step_on(
    loss: torch.Tensor, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler | None
) -> None:
    """One optimizer step on the gradient of the scalar ``loss`` (through ``scaler`` if any)."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is None:
        loss.backward()
        optimizer.step()
    else:
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


def refuse_fp16(name: str, scaler: torch.amp.GradScaler | None, why: str) -> None:
    """Refuse float16 mixed precision (a gradient scaler) for a rule that needs unscaled
    gradients; ``why`` says what the rule does with them."""
    if scaler is not None:
        raise ValueError(
            f"update {name!r} {why} and does not support amp: fp16; use amp: bf16 or float32"
        )


def register_update(cls: _U) -> _U:
    """Class decorator that registers a :class:`LossUpdate` under its :attr:`~LossUpdate.name`.

    Parameters
    ----------
    cls
        The update class.

    Returns
    -------
    type
        ``cls`` itself.
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ValueError(f"update class {cls.__name__} has no name (a non-empty string)")
    if name in UPDATES and UPDATES[name] is not cls:
        raise ValueError(f"update {name!r} is registered already (by {UPDATES[name].__name__})")
    UPDATES[name] = cls
    return cls


def _load_builtins() -> None:
    """Register the built-in rules beyond ``sum`` (imported on first use, not with the training
    loop: TorchJD's import costs every training job time)."""
    import taskgrouping.training.aggregators
    import taskgrouping.training.auto_lambda
    import taskgrouping.training.gradnorm
    import taskgrouping.training.scalarizers  # noqa: F401


def registered_updates() -> list[str]:
    """The names of every registered update rule (built-in and added), sorted."""
    _load_builtins()
    return sorted(UPDATES)


def get_update(name: str | LossUpdate) -> LossUpdate:
    """A new instance of the update rule named ``name`` (an instance is returned as it is).

    Parameters
    ----------
    name
        A registered name (see :data:`UPDATES`) or a :class:`LossUpdate`.

    Returns
    -------
    LossUpdate
        The rule, ready for one training run.
    """
    if isinstance(name, LossUpdate):
        return name
    _load_builtins()
    if name not in UPDATES:
        raise ValueError(f"unknown update {name!r}; accepted: {sorted(UPDATES)}")
    return UPDATES[name]()


@register_update
class SumUpdate(LossUpdate):
    """One optimizer step on the sum of the task losses (through the gradient scaler if any)."""

    name = "sum"

    def step(
        self,
        losses: torch.Tensor,
        tasks: Sequence[str],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        """See :meth:`LossUpdate.step`."""
        step_on(losses.sum(), optimizer, scaler)


def forward_context(update: LossUpdate) -> contextlib.AbstractContextManager[None]:
    """The context the training loop runs a step's forward pass in for ``update``.

    For a rule that differentiates gradients (:attr:`LossUpdate.twice_differentiable`), the
    math kernel of ``torch.nn.functional.scaled_dot_product_attention``: the fused kernels
    PyTorch picks by default (flash attention on CPU) have no double backward, so a model with
    attention (the ETT forecaster) would fail at the rule's first step with "derivative for
    aten::_scaled_dot_product_flash_attention_for_cpu_backward is not implemented". Other
    rules: nothing changes.
    """
    if not update.twice_differentiable:
        return contextlib.nullcontext()
    from torch.nn.attention import SDPBackend, sdpa_kernel

    return sdpa_kernel([SDPBackend.MATH])
