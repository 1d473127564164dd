"""The one training loop: every network of the package (group networks, the probing base run)
trains through :class:`TrainingLoop`.

The loop owns everything a resumed run needs to continue exactly as if it had not stopped: the
weights, the optimizer and gradient-scaler state, the batch-order generator, the global RNG
state, the step and epoch counters, the update rule's state and, when it early-stops, the
early-stopping state (:meth:`TrainingLoop.state_dict`). Callers add their own behaviour through
hooks: ``on_step`` before each training step (probing), ``after_epoch`` after each epoch
(logging), ``save`` for due checkpoints and ``on_epoch`` once an epoch's checkpoint is written.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.benchmarks.data import Batch, DataSplit, batch_to, chunked
from taskgrouping.training.losses import check_finite, stacked_losses
from taskgrouping.training.optim import make_optimizer, set_epoch_lr
from taskgrouping.training.update import (
    LossUpdate,
    UpdateContext,
    UpdateError,
    forward_context,
    get_update,
)

StepHook = Callable[[int, int, torch.Tensor, torch.nn.Module, torch.optim.Optimizer], None]
"""Called as ``hook(step, epoch, indices, model, optimizer)`` just before each training step.

``indices`` are the step's examples in the training split (what
:meth:`~taskgrouping.benchmarks.data.DataSplit.fetch` turns back into the batch). The hook must
leave the model, the optimizer and the global RNG state as it found them.
"""


class EarlyStopping:
    """Validation after every epoch; keeps the best weights and stops after ``patience`` epochs
    without improvement.

    Parameters
    ----------
    validate
        The validation total of the model (lower is better).
    patience
        How many epochs without a new best are tolerated; one more ends the run.
    """

    def __init__(self, validate: Callable[[torch.nn.Module], float], patience: int) -> None:
        self.validate = validate
        self.patience = int(patience)
        self.best_val = math.inf
        self.best_state: dict[str, torch.Tensor] | None = None
        self.best_epoch = -1
        self.since_best = 0
        self.last_val = math.nan

    def observe(self, epoch: int, model: torch.nn.Module) -> None:
        """Validate ``model`` after ``epoch`` and keep a copy of its weights if they are best.

        Parameters
        ----------
        epoch
            The epoch just trained.
        model
            The network after that epoch.
        """
        self.last_val = total = self.validate(model)
        if total < self.best_val:
            self.best_val, self.best_epoch, self.since_best = total, epoch, 0
            self.best_state = copy.deepcopy(model.state_dict())
        else:
            self.since_best += 1

    @property
    def should_stop(self) -> bool:
        """Whether the last ``patience + 1`` epochs brought no improvement."""
        return self.since_best > self.patience

    def state_dict(self) -> dict[str, Any]:
        """The resumable state (the best weights and the counters)."""
        return {
            "best_val": self.best_val,
            "best_state": self.best_state,
            "best_epoch": self.best_epoch,
            "since_best": self.since_best,
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a state from :meth:`state_dict`."""
        self.best_val, self.best_state = float(state["best_val"]), state["best_state"]
        self.best_epoch, self.since_best = int(state["best_epoch"]), int(state["since_best"])


class TrainingLoop:
    """One network trained epoch by epoch on a training split, from a seeded initialisation.

    The global RNG is seeded with ``seed`` before the network is built; batch orders come from a
    CPU generator seeded with ``seed`` too. Each step computes the task losses of a batch (under
    autocast with ``dtype``), checks that they are finite and hands them to the update rule.

    Parameters
    ----------
    bench
        The benchmark: model builder and losses.
    tasks
        The tasks of the network, in benchmark order.
    cfg
        The ``train`` config block (``optimizer``, ``lr``..., ``batch_size``).
    seed
        The seed of this run.
    device
        Where the network trains (default CPU).
    dtype
        The autocast dtype of mixed precision, or ``None`` for float32; float16 adds a gradient
        scaler.
    update
        The update rule or its registered name (:mod:`taskgrouping.training.update`).
    val
        The validation split, for update rules that draw validation batches (Auto-Lambda).
    stopping
        Validation and early stopping after every epoch, or ``None`` to train every epoch.
    key
        The name of the run in error messages (default: the tasks joined by ``+``).
    """

    def __init__(
        self,
        bench: Benchmark,
        tasks: Sequence[str],
        cfg: Mapping[str, Any],
        seed: int,
        *,
        device: torch.device | None = None,
        dtype: torch.dtype | None = None,
        update: str | LossUpdate = "sum",
        val: DataSplit | None = None,
        stopping: EarlyStopping | None = None,
        key: str | None = None,
    ) -> None:
        self.bench, self.tasks, self.cfg = bench, list(tasks), cfg
        self.key = key if key is not None else "+".join(self.tasks)
        self.device = device if device is not None else torch.device("cpu")
        self.dtype = dtype
        self.update = get_update(update)
        self.stopping = stopping
        self.scaler = torch.amp.GradScaler(self.device.type) if dtype == torch.float16 else None
        torch.manual_seed(seed)
        self.model = bench.build_model(self.tasks).to(self.device)
        self.optimizer = make_optimizer(self.model, cfg)
        self.generator = torch.Generator().manual_seed(seed)
        self.epoch = self.step = 0
        self.train_seconds = 0.0
        self.update.bind(
            UpdateContext(
                tasks=self.tasks,
                model=self.model,
                optimizer=self.optimizer,
                losses=self.batch_losses,
                val=val,
                batch_size=int(cfg["batch_size"]),
                seed=int(seed),
                key=self.key,
                differentiable=bench.differentiable_batch,
            )
        )

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue the run after the last finished epoch.

        The state holds the live tensors of the model and optimizer (on their device; RNG states
        on the CPU): serialise or copy it before training on.
        """
        cuda = self.device.type == "cuda"
        return {
            "epoch": self.epoch,
            "step": self.step,
            "train_seconds": self.train_seconds,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": None if self.scaler is None else self.scaler.state_dict(),
            "generator": self.generator.get_state(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state(self.device) if cuda else None,
            "stopping": None if self.stopping is None else self.stopping.state_dict(),
            "update": self.update.state_dict(),
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Continue from a :meth:`state_dict`, loaded onto any device."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self.scaler is not None:
            self.scaler.load_state_dict(state["scaler"])
        # RNG states are CPU byte tensors, whatever device the checkpoint was loaded onto.
        self.generator.set_state(state["generator"].cpu())
        torch.set_rng_state(state["rng"].cpu())
        if self.device.type == "cuda" and state.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), self.device)
        self.epoch, self.step = int(state["epoch"]), int(state["step"])
        self.train_seconds = float(state["train_seconds"])
        if self.stopping is not None:
            self.stopping.load_state_dict(state["stopping"])
        self.update.load_state_dict(state.get("update") or {})

    def run(
        self,
        train: DataSplit,
        epochs: int,
        *,
        on_step: StepHook | None = None,
        after_epoch: Callable[[int], None] | None = None,
        save: Callable[[dict[str, Any]], None] | None = None,
        every: int = 1,
        on_epoch: Callable[[int], None] | None = None,
    ) -> None:
        """Train the epochs after :attr:`epoch` up to ``epochs``, or until early stopping.

        After each epoch: validation (with :attr:`stopping`), ``after_epoch(epoch)``, then, unless
        the epoch ends the run, ``save(state_dict())`` every ``every``-th epoch and
        ``on_epoch(epoch)``.

        Parameters
        ----------
        train
            The training split.
        epochs
            The last epoch of the run.
        on_step
            Called before each step (see :data:`StepHook`).
        after_epoch, save, every, on_epoch
            The per-epoch hooks described above.
        """
        for epoch in range(self.epoch + 1, epochs + 1):
            self.train_epoch(train, epoch, on_step)
            if self.stopping is not None:
                self.stopping.observe(epoch, self.model)
            if after_epoch is not None:
                after_epoch(epoch)
            stopped = self.stopping is not None and self.stopping.should_stop
            if stopped or epoch == epochs:
                return
            if save is not None and epoch % every == 0:
                save(self.state_dict())
            if on_epoch is not None:
                on_epoch(epoch)

    def train_epoch(self, train: DataSplit, epoch: int, on_step: StepHook | None = None) -> None:
        """One pass over ``train`` in an order drawn from the batch-order generator
        (:meth:`~taskgrouping.benchmarks.data.DataSplit.epoch_order`).

        Parameters
        ----------
        train
            The training split.
        epoch
            The epoch's number (1-based), which sets its learning rate.
        on_step
            Called before each step (see :data:`StepHook`).
        """
        self.model.train()
        set_epoch_lr(self.optimizer, self.cfg, epoch)
        chunks = chunked(train.epoch_order(self.generator), int(self.cfg["batch_size"]))
        for idx, batch in zip(chunks, train.iter_batches(chunks), strict=True):
            if on_step is not None:
                on_step(self.step, epoch, idx, self.model, self.optimizer)
            t0 = time.perf_counter()
            self.train_step(batch)
            self.train_seconds += time.perf_counter() - t0
        self.update.end_epoch(epoch)
        self.epoch = epoch

    def train_step(self, batch: Batch) -> None:
        """One update on ``batch``; raises :class:`NonFiniteLoss` on a bad loss.

        Parameters
        ----------
        batch
            A batch of the training split, on any device (moved to the loop's).
        """
        batch = batch_to(batch, self.device, non_blocking=True)
        with _autocast(self.device, self.dtype), forward_context(self.update):
            per_task = self.bench.task_losses(self.model, batch, self.tasks)
            losses = stacked_losses(per_task, self.tasks)
        check_finite(losses, self.tasks, self.step, self.key)
        if self.update.separate_losses:
            losses = tuple(per_task[t].reshape(()) for t in self.tasks)
        try:
            self.update.step(losses, self.tasks, self.model, self.optimizer, self.scaler)
            self.update.after_step(batch)
        except UpdateError as err:
            raise UpdateError(
                f"{err} at step {self.step} while training group {self.key!r}"
            ) from None
        self.step += 1

    def batch_losses(self, batch: Batch, model: torch.nn.Module | None = None) -> torch.Tensor:
        """The stacked task losses of ``model`` (default: the trained network) on ``batch``
        (moved to the loop's device), under the run's mixed precision, attached to the graph."""
        batch = batch_to(batch, self.device, non_blocking=True)
        net = self.model if model is None else model
        with _autocast(self.device, self.dtype):
            return stacked_losses(self.bench.task_losses(net, batch, self.tasks), self.tasks)


def _autocast(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """Mixed precision for a training forward pass, or nothing (float32)."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
