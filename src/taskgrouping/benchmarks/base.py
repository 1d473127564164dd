"""The benchmark plug-in interface.

A benchmark supplies everything task-specific: its task names, a data stage that writes the data
to disk, a loader for the train/validation/test splits, a model builder (shared encoder + one head
per task) and the per-task loss and evaluation metric. Everything else (probing, grouping,
training, evaluation) is generic and lives outside the plug-in.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch.nn import functional as F

from taskgrouping.models import MultiTaskNet

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Split:
    """One data split held in memory.

    Attributes
    ----------
    x
        Inputs, first dimension = samples.
    y
        Targets of every task of the benchmark, shape ``(samples, n_tasks, *target_shape)``:
        ``(samples, n_tasks)`` for scalar targets, ``(samples, n_tasks, pred_len)`` for
        forecasts; ``y[:, k]`` belongs to the benchmark's ``k``-th task.

    Either tensor may be a strided view (overlapping sliding windows of one series); indexing a
    batch copies only that batch.
    """

    x: torch.Tensor
    y: torch.Tensor

    def __post_init__(self) -> None:
        if self.x.shape[0] != self.y.shape[0]:
            raise ValueError(
                f"inputs have {self.x.shape[0]} samples but targets have {self.y.shape[0]}"
            )

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def batches(
        self, batch_size: int, *, generator: torch.Generator | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield minibatches; shuffled with ``generator`` when one is given, in order otherwise."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
        for start in range(0, n, batch_size):
            idx = order[start : start + batch_size]
            yield self.x[idx], self.y[idx]


class Benchmark(ABC):
    """Base class of every benchmark plug-in.

    A subclass implements :attr:`tasks`, :meth:`prepare`, :meth:`load` and :meth:`build_model`,
    sets :attr:`name` and, outside the package, declares its config keys in
    :attr:`config_schema`; :meth:`loss` and :meth:`metric_sums` default to the mean squared
    error. The constructor only stores the block: it must stay cheap (no data access), because
    the config layer builds a benchmark to learn its tasks (:meth:`tasks_from_config`).

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
    def load(self, data_dir: Path) -> dict[str, Split]:
        """Load the ``train``, ``val`` and ``test`` splits written by :meth:`prepare`."""

    @abstractmethod
    def build_model(self, tasks: Sequence[str]) -> MultiTaskNet:
        """A freshly initialised network with one head per task in ``tasks``."""

    def task_index(self, task: str) -> int:
        """Column of ``task`` in the targets; raises naming the task and the known ones."""
        try:
            return self.tasks.index(task)
        except ValueError:
            raise ValueError(
                f"unknown task {task!r} for benchmark {self.name!r}; known tasks: {self.tasks}"
            ) from None

    def loss(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Training loss of one task on a batch (mean squared error unless overridden)."""
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
