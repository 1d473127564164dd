"""The ``cop`` benchmark: TSP, CVRP, OP and KP at any size, solved by one POMO-style network.

Data stage: per task, fixed validation and test instances with reference solutions
(:mod:`~taskgrouping.cop.references`), one file per task and split,
``<task>_<split>.npz`` (:mod:`~taskgrouping.cop.instances`), and ``data.npz``, a
summary of them (task names, instance counts, mean reference objective, the share proven optimal).
A task file already there with the same instances (same seed and count) is kept, so an
interrupted data stage resumes where it stopped.

Batches are ``(x, y)`` with ``x = {task: instance arrays}`` (float32 tensors):

* training batches are generated from their example indices (a
  :class:`~taskgrouping.benchmarks.data.GeneratedSplit`, fresh instances every epoch) and have
  ``y = None``; a task's loss is POMO's REINFORCE loss with the shared baseline
  (:meth:`~taskgrouping.benchmarks.cop.model.POMOModel.reinforce_loss`);
* validation and test batches have ``y = {task: reference objective}``; a task's metric is the
  optimality gap in percent of greedy multi-start decoding (with POMO's ×8 augmentation when
  ``augment``): ``100 (value / reference - 1)`` for TSP and CVRP, ``100 (1 - value /
  reference)`` for OP and KP; the extra metric ``objective`` is the objective itself.

Probing (``probe.measure``): the REINFORCE loss has mean zero over the starts of an instance, so it
says nothing about how good the policy is before or after a step. On a validation batch
(``measure: heldout``, the presets' choice) a task's "loss" is instead the mean objective of
greedy multi-start decoding without augmentation relative to the reference (``value / ref`` for
TSP and CVRP, ``ref / value`` for OP and KP: 1 at the optimum, lower is better), deterministic
for given weights, as the paper's code measures the greedy objective on fixed validation instances
before and after each lookahead step; the relative gain is then the relative change of the
objective. With ``measure: same`` the probe measures the REINFORCE loss of the step's own training
batch, with fresh samples before and after the step.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from taskgrouping.benchmarks.base import Benchmark
from taskgrouping.benchmarks.cop.model import POMOModel
from taskgrouping.benchmarks.data import Batch, GeneratedSplit, Split
from taskgrouping.cop.instances import make_instances, read_instances, write_instances
from taskgrouping.cop.problems import FIELDS, Task, canonical_tasks, generate, parse_task
from taskgrouping.cop.references import SolverSettings, require_solvers
from taskgrouping.io import atomic_write_json, atomic_writer, open_npz

log = logging.getLogger("taskgrouping")

#: The splits with fixed instances and references.
FIXED_SPLITS = ("val", "test")


def instance_seed(seed: int, task: str, split: str, *extra: int) -> int:
    """The generator seed of ``task``'s instances of ``split`` (and, for a training batch, of its
    example indices ``extra``) under the benchmark seed ``seed``: stable across processes."""
    entropy = [int(seed), zlib.crc32(f"{task}/{split}".encode()), *(int(e) for e in extra)]
    return int(np.random.SeedSequence(entropy).generate_state(1, np.uint64)[0] >> 1)


def to_tensors(arrays: Mapping[str, np.ndarray], task: Task) -> dict[str, torch.Tensor]:
    """The instance arrays of ``task`` as float32 tensors (the network's input)."""
    fields = FIELDS[task.problem]
    return {f: torch.as_tensor(np.asarray(arrays[f]), dtype=torch.float32) for f in fields}


def ratios(task: Task, value: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Objectives ``value`` relative to ``reference``, oriented so that lower is better and the
    optimum is 1: ``value / ref`` for minimisation, ``ref / value`` for maximisation."""
    value, reference = value.double(), reference.double()
    if task.maximise:
        return reference / value.clamp_min(torch.finfo(torch.float64).tiny)
    return value / reference


def gaps(task: Task, value: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Optimality gaps (fractions) of objectives ``value`` against ``reference``: ``value / ref -
    1`` for minimisation, ``1 - value / ref`` for maximisation."""
    ratio = value.double() / reference.double()
    return 1 - ratio if task.maximise else ratio - 1


class COPBenchmark(Benchmark):
    """Combinatorial-optimisation tasks (module docstring); config block ``cop``."""

    name = "cop"

    @property
    def tasks(self) -> list[str]:
        return canonical_tasks(self.params["tasks"])

    def _task(self, name: str) -> Task:
        return parse_task(name)

    def _settings(self) -> SolverSettings:
        return SolverSettings(**self.params.get("solver", {}))

    def _file(self, data_dir: Path, task: str, split: str) -> Path:
        return Path(data_dir) / f"{task}_{split}.npz"

    def _instances(self, task: Task, split: str) -> dict[str, np.ndarray]:
        count = int(self.params[f"{split}_size"])
        return generate(task, count, instance_seed(self.params["seed"], task.name, split))

    def _kept(self, path: Path, task: Task, split: str) -> bool:
        """Whether ``path`` already holds this split's instances with their references."""
        if not path.exists():
            return False
        try:
            arrays = read_instances(path, task)
        except ValueError as err:
            log.info("%s: recomputing (%s)", path.name, err)
            return False
        fresh = self._instances(task, split)
        return all(np.array_equal(arrays[f], fresh[f]) for f in FIELDS[task.problem])

    def prepare(self, data_dir: Path) -> None:
        data_dir = Path(data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)
        settings = self._settings()
        require_solvers([self._task(t) for t in self.tasks], settings)
        summary: dict[str, Any] = {"tasks": np.array(self.tasks)}
        for name in self.tasks:
            task = self._task(name)
            for split in FIXED_SPLITS:
                path = self._file(data_dir, name, split)
                if self._kept(path, task, split):
                    log.info("%s: kept (same instances and references)", path.name)
                else:
                    count = int(self.params[f"{split}_size"])
                    step = max(1, count // 10)

                    def progress(
                        done: int, total: int, path: Path = path, step: int = step
                    ) -> None:
                        if done % step == 0 or done == total:
                            log.info("%s: %d / %d references", path.name, done, total)

                    arrays = make_instances(
                        task,
                        count,
                        instance_seed(self.params["seed"], name, split),
                        settings,
                        progress=progress,
                    )
                    write_instances(path, arrays)
                arrays = read_instances(path, task)
                summary[f"{name}_{split}_count"] = np.array(len(arrays["reference_value"]))
                summary[f"{name}_{split}_reference_mean"] = arrays["reference_value"].mean()
                summary[f"{name}_{split}_optimal_share"] = arrays["reference_optimal"].mean()
                summary[f"{name}_{split}_solver"] = arrays["reference_solver"]
        with atomic_writer(data_dir / "data.npz", binary=True) as fh:
            np.savez(fh, **summary)
        atomic_write_json(data_dir / "tasks.json", {"tasks": self.tasks})

    def load(self, data_dir: Path) -> dict[str, Any]:
        data_dir = Path(data_dir)
        if not (data_dir / "data.npz").exists():
            raise FileNotFoundError(
                f"cop data {data_dir / 'data.npz'} is missing; run the data stage first"
            )
        with open_npz(data_dir / "data.npz") as summary:
            listed = [str(t) for t in summary["tasks"]]
        missing = [t for t in self.tasks if t not in listed]
        if missing:
            raise ValueError(
                f"{data_dir}: the data stage made tasks {listed}, not {missing}; run it again"
            )
        splits: dict[str, Any] = {
            "train": GeneratedSplit(int(self.params["train_size"]), self._make_train, fresh=True)
        }
        for split in FIXED_SPLITS:
            x, y = {}, {}
            for name in self.tasks:
                task = self._task(name)
                arrays = read_instances(self._file(data_dir, name, split), task)
                x[name] = to_tensors(arrays, task)
                y[name] = torch.as_tensor(arrays["reference_value"], dtype=torch.float64)
            splits[split] = Split(x, y)
        return splits

    def _make_train(self, indices: torch.Tensor) -> tuple[dict[str, dict[str, torch.Tensor]], None]:
        """The training batch of example ``indices``: fresh instances of every task, drawn from
        the benchmark seed and the indices alone."""
        idx = [int(i) for i in indices]
        x = {}
        for name in self.tasks:
            task = self._task(name)
            seed = instance_seed(self.params["seed"], name, "train", *idx)
            x[name] = to_tensors(generate(task, len(idx), seed), task)
        return x, None

    def build_model(self, tasks: Sequence[str]) -> POMOModel:
        problems = [self._task(t).problem for t in tasks]
        return POMOModel(problems, **self.params.get("model", {}))

    def task_losses(
        self, model: torch.nn.Module, batch: Batch, tasks: Sequence[str]
    ) -> dict[str, torch.Tensor]:
        """REINFORCE losses on a training batch; on a validation batch (the probe's held-out
        measurement) the mean objective of greedy multi-start decoding without augmentation
        relative to the reference (:func:`ratios`)."""
        x, y = batch
        out = {}
        for name in tasks:
            task = self._task(name)
            if y is None:
                out[name] = model.reinforce_loss(task.problem, x[name])
            else:
                value, _ = model.solve(task.problem, x[name], augment=False, rows=False)
                out[name] = ratios(task, value, y[name]).mean().float()
        return out

    def differentiable_batch(self, batch: Batch) -> Batch:
        """The validation instances without their references: the REINFORCE loss on them
        (:meth:`task_losses`), which Auto-Lambda's meta-gradient can differentiate; the greedy
        objective it otherwise measures there is piecewise constant in the weights."""
        x, _ = batch
        return x, None

    def batch_metric_sums(
        self, model: torch.nn.Module, batch: Batch, tasks: Sequence[str], *, extras: bool = True
    ) -> dict[str, dict[str, torch.Tensor]]:
        x, y = batch
        if y is None:
            raise ValueError("cop metrics need a validation or test batch (with references)")
        sums: dict[str, dict[str, torch.Tensor]] = {"metric": {}}
        if extras:
            sums["objective"] = {}
        for name in tasks:
            task = self._task(name)
            value, _ = model.solve(
                task.problem, x[name], augment=bool(self.params.get("augment", True)), rows=False
            )
            sums["metric"][name] = 100 * gaps(task, value, y[name]).sum()
            if extras:
                sums["objective"][name] = value.double().sum()
        return sums
