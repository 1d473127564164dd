"""Update rules that weight the task losses (loss scalarization), each one of TorchJD's
:mod:`torchjd.scalarization` scalarizers.

- ``uw``: uncertainty weighting (Kendall et al. 2018), ``sum_k exp(-s_k) L_k / 2 + s_k / 2`` with
  learned log-variances ``s_k``, trained by the network's own optimizer (an extra parameter
  group without weight decay).
- ``dwa``: dynamic weight average (Liu et al. 2019), weights from the ratio of each task's mean
  loss over the two previous epochs, temperature 2.
- ``famo``: fast adaptive multitask optimisation (Liu et al. 2023): the weighted sum of the log
  losses, its weights learned from how much each loss fell across a step (the losses of the same
  batch measured again after the update: one more forward pass per step).
- ``rlw``: random loss weighting (Lin et al. 2022), weights drawn from a softmax of standard
  normals at every step (from the global RNG, which the training checkpoint saves).

A step is one backward pass of the scalarized loss, so these cost what the plain sum costs. The
weights of UW, DWA and FAMO are state across steps and part of the training checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import torch

from taskgrouping.benchmarks.data import Batch
from taskgrouping.training.update import LossUpdate, UpdateContext, register_update, step_on

#: The settings of each rule, and where they come from.
SETTINGS = {
    "uw": "log-variances start at 0 (the paper's initialisation)",
    "dwa": "temperature 2 (the paper's)",
    "famo": "weight learning rate 0.025, weight decay 0.001 (the paper's Algorithm 2)",
    "rlw": "weights softmax(z), z standard normal, drawn at every step (the paper's Algorithm 2)",
}


class ScalarizedUpdate(LossUpdate):
    """One optimizer step on a TorchJD scalarizer of the task losses (see the module docstring).

    A subclass sets :attr:`name` and builds its scalarizer in :meth:`make`.
    """

    def __init__(self) -> None:
        self.scalarizer: Any = None
        self.tasks: list[str] = []

    def make(self, n_tasks: int) -> Any:
        """A new scalarizer for ``n_tasks`` losses."""
        raise NotImplementedError

    def bind(self, context: UpdateContext) -> None:
        """Build the scalarizer for the run's tasks, on the model's device."""
        self.tasks = list(context.tasks)
        self._build(len(context.tasks), _device_of(context.model))

    def _build(self, n_tasks: int, device: torch.device) -> None:
        self.scalarizer = self.make(n_tasks).to(device)

    def step(
        self,
        losses: torch.Tensor,
        tasks: Sequence[str],
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        scaler: torch.amp.GradScaler | None,
    ) -> None:
        """See :meth:`LossUpdate.step`: a step on ``scalarizer(losses)``."""
        if self.scalarizer is None:
            self.tasks = list(tasks)
            self._build(len(tasks), losses.device)
        step_on(self.scalarizer(losses.float()), optimizer, scaler)


def _device_of(model: torch.nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return torch.device("cpu") if param is None else param.device


@register_update
class UncertaintyWeighting(ScalarizedUpdate):
    """``uw``: TorchJD's ``UW``; its log-variances train with the network's optimizer."""

    name: ClassVar[str] = "uw"

    def make(self, n_tasks: int) -> Any:
        """TorchJD's ``UW`` with one log-variance per task."""
        from torchjd.scalarization import UW

        return UW(n_tasks)

    def bind(self, context: UpdateContext) -> None:
        """Build the scalarizer and add its log-variances to the network's optimizer."""
        super().bind(context)
        context.optimizer.add_param_group(
            {"params": list(self.scalarizer.parameters()), "weight_decay": 0.0}
        )

    def state_dict(self) -> dict[str, Any]:
        """The log-variances (their optimizer state is in the optimizer's)."""
        return {} if self.scalarizer is None else {"log_var": self.scalarizer.log_var.detach()}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore the log-variances in place (the optimizer holds the same tensor)."""
        if state:
            with torch.no_grad():
                self.scalarizer.log_var.copy_(state["log_var"])

    @property
    def weights(self) -> dict[str, float] | None:
        """``exp(-s_k) / 2`` by task."""
        if self.scalarizer is None:
            return None
        w = (0.5 * torch.exp(-self.scalarizer.log_var.detach())).tolist()
        return dict(zip(self.tasks, map(float, w), strict=True))


@register_update
class DynamicWeightAverage(ScalarizedUpdate):
    """``dwa``: TorchJD's ``DWA``, its epoch closed after each epoch's last step."""

    name: ClassVar[str] = "dwa"

    def make(self, n_tasks: int) -> Any:
        """TorchJD's ``DWA`` with temperature 2."""
        from torchjd.scalarization import DWA

        return DWA(temperature=2.0)

    def end_epoch(self, epoch: int) -> None:
        """Close the epoch's mean losses (``DWA.step``)."""
        if self.scalarizer is not None:
            self.scalarizer.step()

    def state_dict(self) -> dict[str, Any]:
        """The running sum of this epoch's losses and the two previous epochs' means."""
        dwa = self.scalarizer
        if dwa is None:
            return {}
        return {
            "loss_sum": dwa._loss_sum,
            "n_batches": int(dwa._n_batches),
            "previous": list(dwa._previous_averages),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (TorchJD's ``DWA`` has no state-dict API of its own)."""
        if state:
            dwa = self.scalarizer
            dwa._loss_sum = state["loss_sum"]
            dwa._n_batches = int(state["n_batches"])
            dwa._previous_averages = list(state["previous"])


@register_update
class FastAdaptiveMultitask(ScalarizedUpdate):
    """``famo``: TorchJD's ``FAMO``; after each step the same batch's losses update its weights."""

    name: ClassVar[str] = "famo"

    def __init__(self) -> None:
        super().__init__()
        self._losses: Any = None

    def make(self, n_tasks: int) -> Any:
        """TorchJD's ``FAMO`` with the paper's weight learning rate and decay."""
        from torchjd.scalarization import FAMO

        return FAMO(n_tasks, lr=0.025, weight_decay=1e-3)

    def bind(self, context: UpdateContext) -> None:
        """Build the scalarizer; keep the loss function for the second forward pass."""
        super().bind(context)
        self._losses = context.losses

    def after_step(self, batch: Batch) -> None:
        """``FAMO.update`` with the batch's losses after the step, measured like FAMO's code
        does: without gradients, the network still in training mode."""
        with torch.no_grad():
            self.scalarizer.update(self._losses(batch).float())

    def state_dict(self) -> dict[str, Any]:
        """The weight logits and their Adam state."""
        famo = self.scalarizer
        if famo is None:
            return {}
        return {
            "logits": famo._w.detach().clone(),
            "adam": None if famo._optimizer is None else famo._optimizer.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore :meth:`state_dict` (TorchJD's ``FAMO`` has no state-dict API of its own)."""
        if not state:
            return
        famo = self.scalarizer
        with torch.no_grad():
            famo._w.copy_(state["logits"])
        if state["adam"] is not None:
            famo._optimizer = torch.optim.Adam(
                [famo._w], lr=famo.lr, weight_decay=famo.weight_decay
            )
            famo._optimizer.load_state_dict(state["adam"])

    @property
    def weights(self) -> dict[str, float] | None:
        """``softmax(logits)`` by task."""
        if self.scalarizer is None:
            return None
        w = torch.softmax(self.scalarizer._w.detach(), dim=0).tolist()
        return dict(zip(self.tasks, map(float, w), strict=True))


@register_update
class RandomLossWeighting(ScalarizedUpdate):
    """``rlw``: TorchJD's ``Random`` scalarizer (new weights at every step)."""

    name: ClassVar[str] = "rlw"

    def make(self, n_tasks: int) -> Any:
        """TorchJD's ``Random``."""
        from torchjd.scalarization import Random

        return Random()


#: The names of the rules of this module.
RULES = ("uw", "dwa", "famo", "rlw")

__all__ = [
    "RULES",
    "SETTINGS",
    "DynamicWeightAverage",
    "FastAdaptiveMultitask",
    "RandomLossWeighting",
    "ScalarizedUpdate",
    "UncertaintyWeighting",
]
