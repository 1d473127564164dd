"""A benchmark plug-in of one's own: regression of sine and cosine harmonics of an angle.

Every sample is an angle ``t`` drawn uniformly from ``[-pi, pi)``. Task ``sin<k>`` predicts
``sin(k t)`` and task ``cos<k>`` predicts ``cos(k t)`` (``k`` = 1 .. 9), each with Gaussian label
noise of standard deviation ``noise``. The network reads ``t`` through a small shared MLP encoder,
with one linear head per task; loss and reported metric are the mean squared error (the
:class:`~taskgrouping.benchmarks.Benchmark` defaults). No grouping is planted
(``planted_truth`` stays ``False``): the probed gains and the exhaustive search tell which tasks
help each other.

Declared in a config by ``plugins: ["examples/plugins/sine_tasks.py:SineTasks"]``, run as the
benchmark ``sine`` (see ``examples/plugins/config.yaml``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import yaml
from torch import nn

from taskgrouping.benchmarks import Benchmark, Split
from taskgrouping.config import ConfigError
from taskgrouping.io import atomic_write_json, atomic_writer
from taskgrouping.models import MultiTaskNet, mlp

SPLITS = ("train", "val", "test")
TASK = re.compile(r"^(sin|cos)([1-9])$")


class SineTasks(Benchmark):
    """Sine and cosine harmonics of one angle, one regression task each."""

    name = "sine"
    # The block's own keys, in the YAML of the package's schema; seed, budgets, train and probe
    # are added by the config layer.
    config_schema: ClassVar[Mapping[str, Any]] = yaml.safe_load(
        """
        tasks:
          description: Tasks, each sin<k> or cos<k> for a harmonic k of 1 .. 9.
          type: array
          items: {type: string, pattern: "^(sin|cos)[1-9]$"}
          minItems: 2
          uniqueItems: true
          default: [sin1, cos1, sin2, cos2]
        n_train: {description: Training samples., type: integer, minimum: 1, default: 256}
        n_val: {description: Validation samples., type: integer, minimum: 1, default: 256}
        n_test: {description: Test samples., type: integer, minimum: 1, default: 1024}
        noise: {description: Standard deviation of the label noise., type: number, minimum: 0,
                default: 0.1}
        model:
          description: Network shape.
          type: object
          additionalProperties: false
          default: {}
          properties:
            hidden: {description: Encoder width., type: integer, minimum: 1, default: 32}
        """
    )

    @classmethod
    def check_config(cls, block: Mapping[str, Any]) -> None:
        """A harmonic ``k`` needs more than ``2 k`` training samples per period (Nyquist)."""
        top = max(harmonic(t) for t in block["tasks"])
        if block["n_train"] <= 2 * top:
            raise ConfigError(
                f"sine.n_train = {block['n_train']} is too few for harmonic {top} of "
                f"sine.tasks: needs > {2 * top}"
            )

    @property
    def tasks(self) -> list[str]:
        return list(self.params["tasks"])

    def prepare(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for i, split in enumerate(SPLITS):
            # One stream per split: the test data stay the same whatever n_train is.
            rng = np.random.default_rng([int(self.params["seed"]), i])
            n = int(self.params[f"n_{split}"])
            t = rng.uniform(-math.pi, math.pi, n)
            clean = np.stack([wave(task, t) for task in self.tasks], axis=1)
            noise = float(self.params["noise"]) * rng.standard_normal(clean.shape)
            arrays[f"x_{split}"] = t[:, None].astype(np.float32)
            arrays[f"y_{split}"] = (clean + noise).astype(np.float32)
        # Written atomically: a killed data stage leaves no half-written file behind.
        with atomic_writer(data_dir / "data.npz", binary=True) as fh:
            np.savez(fh, **arrays)
        atomic_write_json(data_dir / "tasks.json", {"tasks": self.tasks})

    def load(self, data_dir: Path) -> dict[str, Split]:
        with np.load(data_dir / "data.npz") as z:
            return {
                s: Split(torch.from_numpy(z[f"x_{s}"]), torch.from_numpy(z[f"y_{s}"]))
                for s in SPLITS
            }

    def build_model(self, tasks: Sequence[str]) -> MultiTaskNet:
        hidden = int(self.params["model"]["hidden"])
        encoder = mlp([1, hidden, hidden], activation=nn.Tanh)
        return MultiTaskNet(encoder, {t: nn.Linear(hidden, 1) for t in tasks})


def harmonic(task: str) -> int:
    """The harmonic ``k`` of task ``sin<k>`` or ``cos<k>``."""
    match = TASK.match(task)
    if match is None:
        raise ValueError(f"task {task!r} is not sin<k> or cos<k> with k in 1 .. 9")
    return int(match[2])


def wave(task: str, t: np.ndarray) -> np.ndarray:
    """Noise-free target of ``task`` at the angles ``t``."""
    fn = np.sin if task.startswith("sin") else np.cos
    return fn(harmonic(task) * t)
