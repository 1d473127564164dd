"""Random-data problems of a given size for timing and checking the probe engines.

Not a benchmark of the workflow's ``benchmarks`` list: the inputs and targets are random, so the
numbers these problems give are costs (seconds, memory) and equalities between implementations,
never accuracies. Two architectures:

``cnn``
    A small convolutional encoder for ``image_size`` x ``image_size`` RGB images (three stride-2
    3x3 convolutions with BatchNorm and ReLU, global average pooling, a linear layer), one linear
    head per task.
``mlp``
    The synthetic benchmark's network shape: an MLP encoder and a one-hidden-layer head per task.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from taskgrouping.benchmarks.base import Benchmark, Split
from taskgrouping.models import MultiTaskNet, mlp

ARCHITECTURES = ("cnn", "mlp")


def small_cnn(width: int = 32, out_dim: int = 128, batchnorm: bool = True) -> nn.Sequential:
    """Three stride-2 convolutions (``width``, ``2 width``, ``4 width`` channels), pooled."""
    layers: list[nn.Module] = []
    channels = [3, width, 2 * width, 4 * width]
    for a, b in itertools.pairwise(channels):
        layers.append(nn.Conv2d(a, b, 3, stride=2, padding=1, bias=not batchnorm))
        if batchnorm:
            layers.append(nn.BatchNorm2d(b))
        layers.append(nn.ReLU())
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(channels[-1], out_dim), nn.ReLU()]
    return nn.Sequential(*layers)


class RandomProblem(Benchmark):
    """``n_tasks`` regression tasks on random inputs for one architecture (see module docstring).

    Parameters (``params``): ``n_tasks``, ``architecture`` (``cnn`` or ``mlp``), ``image_size``
    (cnn), ``n_features``, ``hidden`` (mlp), ``batchnorm`` (cnn), ``seed``.
    """

    name: ClassVar[str] = "timing"

    def __init__(self, params: dict[str, Any]) -> None:
        defaults = {
            "n_tasks": 5,
            "architecture": "cnn",
            "image_size": 64,
            "n_features": 16,
            "hidden": 64,
            "batchnorm": True,
            "width": 32,
            "seed": 0,
        }
        unknown = sorted(set(params) - set(defaults))
        if unknown:
            raise ValueError(
                f"unknown timing-problem parameters {unknown}; known: {sorted(defaults)}"
            )
        super().__init__({**defaults, **params})
        if self.params["architecture"] not in ARCHITECTURES:
            raise ValueError(
                f"unknown architecture {self.params['architecture']!r}; "
                f"accepted: {list(ARCHITECTURES)}"
            )
        if int(self.params["n_tasks"]) < 2:
            raise ValueError(
                f"a timing problem needs at least 2 tasks, got {self.params['n_tasks']}"
            )

    @property
    def tasks(self) -> list[str]:
        return [f"t{k}" for k in range(int(self.params["n_tasks"]))]

    def prepare(self, data_dir: Path) -> None:
        raise NotImplementedError("timing problems draw their data in memory; see batch()")

    def load(self, data_dir: Path) -> dict[str, Split]:
        raise NotImplementedError("timing problems draw their data in memory; see batch()")

    def batch(self, size: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
        """A random input batch and random targets for every task."""
        gen = torch.Generator().manual_seed(int(self.params["seed"]) * 7919 + seed)
        if self.params["architecture"] == "cnn":
            s = int(self.params["image_size"])
            x = torch.randn(size, 3, s, s, generator=gen)
        else:
            x = torch.randn(size, int(self.params["n_features"]), generator=gen)
        y = torch.randn(size, len(self.tasks), generator=gen)
        return x, y

    def build_model(self, tasks: Sequence[str]) -> MultiTaskNet:
        p = self.params
        if p["architecture"] == "cnn":
            encoder: nn.Module = small_cnn(int(p["width"]), 128, bool(p["batchnorm"]))
            heads = {t: nn.Linear(128, 1) for t in tasks}
        else:
            h = int(p["hidden"])
            encoder = mlp([int(p["n_features"]), h, h])
            heads = {t: mlp([h, h, 1]) for t in tasks}
        return MultiTaskNet(encoder, heads)
