"""The benchmark plug-in interface.

A benchmark supplies everything task-specific: its task names, a data stage that writes the data
to disk, the train/validation/test splits as :class:`~taskgrouping.benchmarks.data.DataSplit`
(held in memory, streamed from files, or generated from a seed), a model builder returning any
``nn.Module``, the per-task losses of a batch and the per-task metrics. Everything else
(probing, grouping, training, evaluation) is generic and lives outside the plug-in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn
from torch.nn import functional as F

from taskgrouping.benchmarks.data import Batch, DataSplit, Split

SPLITS = ("train", "val", "test")

__all__ = ["SPLITS", "Benchmark", "DataSplit", "Split"]


class Benchmark(ABC):
    """Base class of every benchmark plug-in.

    A subclass implements :attr:`tasks`, :meth:`prepare`, :meth:`load` and :meth:`build_model`,
    sets :attr:`name` and, outside the package, declares its config keys in
    :attr:`config_schema`.

    How a batch becomes losses and metrics is the benchmark's: :meth:`task_losses` and
    :meth:`batch_metric_sums`. Their defaults fit batches ``(x, y)`` of a :class:`Split` and a
    model called as ``model(x, tasks) -> {task: prediction}`` (a
    :class:`~taskgrouping.models.MultiTaskNet`): task ``t`` is scored on :meth:`target`
    ``(y, t)`` by :meth:`loss` and :meth:`metric_sums`, which default to the mean squared error.
    Override :meth:`task_losses` and :meth:`batch_metric_sums` for any other batch or model
    (per-task inputs, a generated problem with a reinforcement-learning loss...).

    The constructor only stores the block: it must stay cheap (no data access), because the
    config layer builds a benchmark to learn its tasks (:meth:`tasks_from_config`).

    Parameters
    ----------
    params
        The benchmark's block of the validated configuration (e.g. ``config["synthetic"]``).
    """

    #: The benchmark's name: its entry in the config's ``benchmarks`` and its block's key.
    name: ClassVar[str]

    #: JSON schema of each key of the benchmark's config block that is its own, by key; every
    #: one needs a ``default`` (and should have a ``description``). The keys every benchmark
    #: block has, ``seed``, ``budgets``, ``train`` and ``probe``, are added by the config layer.
    #: A key named ``model`` is the network's shape: changing it retrains networks but leaves the
    #: data stage alone; every other key is data. Built-in benchmarks keep theirs in the
    #: package's config schema.
    config_schema: ClassVar[Mapping[str, Any]] = {}

    #: Whether :meth:`prepare` also writes the planted partition ``data_dir / "truth.json"``
    #: (``{"groups": [[task, ...], ...]}``), which the evaluation then scores selections against.
    planted_truth: ClassVar[bool] = False

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = dict(params)

    @classmethod
    def tasks_from_config(cls, block: Mapping[str, Any]) -> list[str]:
        """Task names under the validated config ``block``, without touching any data.

        The workflow plans its jobs with these. Default: the :attr:`tasks` of a benchmark built
        from ``block``; override it where building one is not cheap.
        """
        return list(cls(block).tasks)

    # An optional hook, hence concrete and empty.
    @classmethod  # noqa: B027
    def check_config(cls, block: Mapping[str, Any]) -> None:
        """Check relations between keys of the validated ``block`` that a JSON schema cannot
        express; raise :class:`taskgrouping.config.ConfigError` with one line naming the keys,
        their values and what is accepted. No checks by default.
        """

    @property
    @abstractmethod
    def tasks(self) -> list[str]:
        """All task names of the benchmark, in a fixed order."""

    @abstractmethod
    def prepare(self, data_dir: Path) -> None:
        """Generate or download the data into ``data_dir`` (the workflow's data stage).

        Writes ``data_dir / "data.npz"`` (the file later stages depend on; any content that
        :meth:`load` reads back) and ``data_dir / "tasks.json"`` (``{"tasks": self.tasks}``), and
        ``truth.json`` when :attr:`planted_truth` is set.
        """

    @abstractmethod
    def load(self, data_dir: Path) -> Mapping[str, DataSplit]:
        """The ``train``, ``val`` and ``test`` splits of the data :meth:`prepare` wrote.

        Must stay cheap: a streamed split opens its files here and reads them per batch.
        """

    @abstractmethod
    def build_model(self, tasks: Sequence[str]) -> nn.Module:
        """A freshly initialised network for the tasks ``tasks`` (any ``nn.Module`` that
        :meth:`task_losses` can call)."""

    def task_losses(
        self, model: nn.Module, batch: Batch, tasks: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        """One scalar training loss per task of ``tasks`` on ``batch`` (already on the model's
        device), still attached to the graph.

        Default: ``batch = (x, y)``, one forward ``model(x, tasks)`` and task ``t``'s loss
        ``loss(out[t], target(y, t))``.
        """
        x, y = batch
        out = model(x, tasks)
        return {t: self.loss(out[t], self.target(y, t)) for t in tasks}

    def differentiable_batch(self, batch: Batch) -> Batch:
        """A validation batch as one whose :meth:`task_losses` are differentiable training
        losses, for update rules that differentiate a validation loss (``auto_lambda``).

        Default: the batch itself. A benchmark whose validation losses are not differentiable
        (``cop`` measures the greedy objective there) returns a batch that gives its training
        loss on the same examples.
        """
        return batch

    def batch_metric_sums(
        self, model: nn.Module, batch: Batch, tasks: Sequence[str], *, extras: bool = True
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Sums over the examples of ``batch`` of each task's metrics (lower is better).

        Returns ``{"metric": {task: sum}, <extra name>: {task: sum}, ...}``: the evaluation
        metric that selection and scoring use, and (with ``extras``) further metrics to report.
        A split's metric is the sum over its batches divided by its number of examples. Called
        without gradients, in evaluation mode. Default: ``batch = (x, y)`` and
        :meth:`metric_sums` / :meth:`extra_metric_sums` of ``model(x, tasks)[t]`` against
        :meth:`target`.
        """
        x, y = batch
        out = model(x, tasks)
        sums: dict[str, dict[str, torch.Tensor]] = {"metric": {}}
        for t in tasks:
            target = self.target(y, t)
            sums["metric"][t] = self.metric_sums(out[t], target)
            if extras:
                for name, value in self.extra_metric_sums(out[t], target).items():
                    sums.setdefault(name, {})[t] = value
        return sums

    def target(self, y: Any, task: str) -> Any:
        """Task ``task``'s targets in a batch's ``y``: ``y[task]`` for a dict of per-task
        targets, else column :meth:`task_index` of one tensor of all tasks."""
        if isinstance(y, Mapping):
            return y[task]
        return y[:, self.task_index(task)]

    def task_index(self, task: str) -> int:
        """Column of ``task`` in the targets; raises naming the task and the known ones."""
        try:
            return self.tasks.index(task)
        except ValueError:
            raise ValueError(
                f"unknown task {task!r} for benchmark {self.name!r}; known tasks: {self.tasks}"
            ) from None

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Training loss of one task on a batch (mean squared error unless overridden); used
        by the default :meth:`task_losses`."""
        return F.mse_loss(pred.reshape(target.shape), target)

    def metric_sums(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Sum over the batch of the evaluation metric (lower is better).

        Default: each sample's squared error, averaged over the target's own dimensions (a
        forecast's horizon), so that the metric over a split is its mean squared error.
        """
        err = (pred.reshape(target.shape) - target) ** 2
        return err.reshape(err.shape[0], -1).mean(dim=1).sum()

    def extra_metric_sums(
        self, pred: torch.Tensor, target: torch.Tensor
    ) -> dict[str, torch.Tensor]:
        """Sums over the batch of further metrics to report (never used to train or select).

        Maps a metric name to its batch sum, like :meth:`metric_sums`; none unless overridden.
        """
        return {}
