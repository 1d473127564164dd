"""The one place where a training step turns the per-task losses into a parameter update.

An update rule is a :class:`LossUpdate` registered by name (:func:`register_update`); the
training loop looks it up with :func:`get_update` and calls :meth:`LossUpdate.step` once per
batch, after the losses were checked to be finite. Multi-task optimisers that combine the task
gradients (PCGrad, CAGrad, Nash-MTL) or weight the losses (uncertainty weighting) plug in here
without touching the loop. The plain sum of the losses (:class:`SumUpdate`, ``"sum"``) is the
update of every network this package trains.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import ClassVar, TypeVar

import torch

#: Update rules by name.
UPDATES: dict[str, type[LossUpdate]] = {}

_U = TypeVar("_U", bound="type[LossUpdate]")


class LossUpdate(ABC):
    """How one training step turns the losses of a batch into an update of the model.

    A subclass sets :attr:`name`, implements :meth:`step` and is registered with
    :func:`register_update`; it is built without arguments, once per training run.
    """

    #: The rule's name in the registry.
    name: ClassVar[str]

    #: Whether :meth:`step` gets the task losses as a tuple of separate scalars (each with its
    #: own graph, so that a task's gradient reaches only the parameters its loss uses) instead
    #: of one stacked vector, whose every entry reaches every task's parameters with zeros.
    separate_losses: ClassVar[bool] = False

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
    """Register the built-in rules that need TorchJD (imported on first use, not with the
    training loop)."""
    import taskgrouping.training.aggregators  # noqa: F401


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
        optimizer.zero_grad(set_to_none=True)
        if scaler is None:
            losses.sum().backward()
            optimizer.step()
        else:
            scaler.scale(losses.sum()).backward()
            scaler.step(optimizer)
            scaler.update()
