"""A benchmark plug-in on the general interface: tasks of different kinds, each with its own input.

Every task reads its own input, a point ``x`` in the plane, and has its own kind of target:

``angle``
    regression of ``sin(3 a)``, ``a`` the angle of ``x`` (a float per example);
``ring``
    classification of ``|x|`` into three rings (a class index per example, cross-entropy loss,
    error rate as metric);
``mirror``
    regression of the point mirrored at the diagonal and scaled, ``(x_2, x_1) / 2`` (two floats
    per example).

So a batch is a dict, ``{"x": {task: (b, 2)}, "y": {task: target}}``, and the network
(:class:`MixedNet`) is not a :class:`~taskgrouping.models.MultiTaskNet`: a shared ``trunk`` runs
on each task's input and a ``ModuleDict`` of heads predicts each task from its own features.

The three kinds of split of :mod:`taskgrouping.benchmarks.data` are all used:

- training examples are generated on the fly (:class:`~taskgrouping.benchmarks.GeneratedSplit`,
  fresh in every epoch, from ``seed`` and the example's index);
- validation and test examples are written by the data stage as one ``.npz`` file per example
  under ``examples/<split>/`` and streamed from disk through a ``DataLoader``
  (:class:`~taskgrouping.benchmarks.DatasetSplit`);
- ``data.npz`` holds the split sizes and the tasks, what the workflow's later stages depend on.

Declared in a config by ``plugins: ["examples/plugins/mixed_tasks.py:MixedTasks"]``, run as the
benchmark ``mixed`` (see ``examples/plugins/mixed.yaml``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import yaml
from torch import nn
from torch.nn import functional as F

from taskgrouping.benchmarks import Benchmark, DatasetSplit, DataSplit, GeneratedSplit
from taskgrouping.io import atomic_write_json, atomic_writer

TASKS = ("angle", "ring", "mirror")
#: Ring boundaries of the ``ring`` task (radii of the three classes' edges).
RINGS = (0.8, 1.4)


def make_example(seed: int, index: int, tasks: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Example ``index`` of the stream ``seed``: one input point and one target per task."""
    rng = np.random.default_rng([int(seed), int(index) % 2**63])
    x, y = {}, {}
    for task in tasks:
        point = rng.normal(size=2).astype(np.float32)
        x[task] = torch.from_numpy(point)
        y[task] = target(task, point)
    return {"x": x, "y": y}


def target(task: str, point: np.ndarray) -> torch.Tensor:
    """The noise-free target of ``task`` for one input point."""
    if task == "angle":
        return torch.tensor(math.sin(3 * math.atan2(point[1], point[0])), dtype=torch.float32)
    if task == "ring":
        return torch.tensor(int(np.searchsorted(RINGS, np.hypot(*point))), dtype=torch.int64)
    if task == "mirror":
        return torch.from_numpy(point[::-1].copy() / 2)
    raise ValueError(f"unknown task {task!r}; known: {list(TASKS)}")


def collate(examples: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, torch.Tensor]]:
    """Stack examples into a batch ``{"x": {task: ...}, "y": {task: ...}}``."""
    return torch.utils.data.default_collate(examples)


class ExampleFiles(torch.utils.data.Dataset):
    """The examples of one split, one ``<i>.npz`` file each, read when asked for."""

    def __init__(self, folder: Path, size: int, tasks: Sequence[str]) -> None:
        self.folder, self.size, self.tasks = folder, int(size), list(tasks)

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, i: int) -> dict[str, dict[str, torch.Tensor]]:
        path = self.folder / f"{i}.npz"
        if not path.is_file():
            raise FileNotFoundError(f"example file {path} is missing; run the data stage again")
        with np.load(path) as z:
            return {
                "x": {t: torch.from_numpy(z[f"x_{t}"]) for t in self.tasks},
                "y": {t: torch.from_numpy(z[f"y_{t}"]) for t in self.tasks},
            }


class MixedNet(nn.Module):
    """A shared trunk on each task's own input, and one head per task."""

    OUTPUTS: ClassVar[dict[str, int]] = {"angle": 1, "ring": len(RINGS) + 1, "mirror": 2}

    def __init__(self, tasks: Sequence[str], hidden: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(2, hidden), nn.Tanh(), nn.Linear(hidden, hidden), nn.Tanh()
        )
        self.heads = nn.ModuleDict({t: nn.Linear(hidden, self.OUTPUTS[t]) for t in tasks})

    def forward(self, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Each task's prediction from its own input (the tasks are the keys of ``inputs``)."""
        return {t: self.heads[t](self.trunk(x)) for t, x in inputs.items()}


class MixedTasks(Benchmark):
    """Regression, classification and vector regression, each task on its own inputs."""

    name = "mixed"
    config_schema: ClassVar[Mapping[str, Any]] = yaml.safe_load(
        """
        tasks:
          description: Tasks, any of angle, ring and mirror.
          type: array
          items: {type: string, enum: [angle, ring, mirror]}
          minItems: 2
          uniqueItems: true
          default: [angle, ring, mirror]
        n_train: {description: Generated training examples per epoch., type: integer,
                  minimum: 1, default: 256}
        n_val: {description: Validation examples (files)., type: integer, minimum: 1,
                default: 128}
        n_test: {description: Test examples (files)., type: integer, minimum: 1, default: 256}
        model:
          description: Network shape.
          type: object
          additionalProperties: false
          default: {}
          properties:
            hidden: {description: Trunk width., type: integer, minimum: 1, default: 32}
        """
    )

    @property
    def tasks(self) -> list[str]:
        return [t for t in TASKS if t in self.params["tasks"]]

    def _stream(self, split: str) -> int:
        """The seed of ``split``'s example stream (splits never share examples)."""
        return int(self.params["seed"]) * 3 + ("train", "val", "test").index(split)

    def prepare(self, data_dir: Path) -> None:
        for split in ("val", "test"):
            folder = data_dir / "examples" / split
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(int(self.params[f"n_{split}"])):
                ex = make_example(self._stream(split), i, self.tasks)
                arrays = {f"x_{t}": ex["x"][t].numpy() for t in self.tasks}
                arrays.update({f"y_{t}": ex["y"][t].numpy() for t in self.tasks})
                with atomic_writer(folder / f"{i}.npz", binary=True) as fh:
                    np.savez(fh, **arrays)
        sizes = {s: int(self.params[f"n_{s}"]) for s in ("train", "val", "test")}
        with atomic_writer(data_dir / "data.npz", binary=True) as fh:
            np.savez(fh, tasks=np.array(self.tasks), **{f"n_{s}": n for s, n in sizes.items()})
        atomic_write_json(data_dir / "tasks.json", {"tasks": self.tasks})

    def load(self, data_dir: Path) -> dict[str, DataSplit]:
        with np.load(data_dir / "data.npz") as z:
            sizes = {s: int(z[f"n_{s}"]) for s in ("train", "val", "test")}
        seed, tasks = self._stream("train"), self.tasks

        def generate(indices: torch.Tensor) -> dict[str, dict[str, torch.Tensor]]:
            return collate([make_example(seed, int(i), tasks) for i in indices])

        return {
            "train": GeneratedSplit(sizes["train"], generate, fresh=True),
            **{
                s: DatasetSplit(
                    ExampleFiles(data_dir / "examples" / s, sizes[s], tasks), collate_fn=collate
                )
                for s in ("val", "test")
            },
        }

    def build_model(self, tasks: Sequence[str]) -> MixedNet:
        return MixedNet(tasks, int(self.params["model"]["hidden"]))

    def _predict(self, model: nn.Module, batch: Any, tasks: Sequence[str]) -> dict:
        return model({t: batch["x"][t] for t in tasks})

    def task_losses(
        self, model: nn.Module, batch: Any, tasks: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        out = self._predict(model, batch, tasks)
        return {t: self._per_example_loss(t, out[t], batch["y"][t]).mean() for t in tasks}

    def batch_metric_sums(
        self, model: nn.Module, batch: Any, tasks: Sequence[str], *, extras: bool = True
    ) -> dict[str, dict[str, torch.Tensor]]:
        """Metric: squared error (regression) or misclassification (``ring``); extra: the loss."""
        out = self._predict(model, batch, tasks)
        sums: dict[str, dict[str, torch.Tensor]] = {"metric": {}, "loss": {}}
        for t in tasks:
            y = batch["y"][t]
            if t == "ring":
                sums["metric"][t] = (out[t].argmax(dim=1) != y).sum().to(out[t].dtype)
            else:
                sums["metric"][t] = self._per_example_loss(t, out[t], y).sum()
            sums["loss"][t] = self._per_example_loss(t, out[t], y).sum()
        return sums if extras else {"metric": sums["metric"]}

    @staticmethod
    def _per_example_loss(task: str, pred: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if task == "ring":
            return F.cross_entropy(pred, y, reduction="none")
        err = (pred.reshape(y.shape) - y) ** 2
        return err.reshape(err.shape[0], -1).mean(dim=1)
