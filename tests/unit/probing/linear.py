"""A two-task linear problem whose probing steps can be computed by hand."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from taskgrouping.benchmarks.base import Benchmark, Split
from taskgrouping.models import MultiTaskNet


class _Linear(Benchmark):
    """Two regression tasks on a scalar feature w.x with scalar heads: steps computable by hand."""

    name = "linear"

    @property
    def tasks(self) -> list[str]:
        return ["a", "b"]

    def prepare(self, data_dir: Path) -> None:
        raise NotImplementedError

    def load(self, data_dir: Path) -> dict[str, Split]:
        raise NotImplementedError

    def build_model(self, tasks: Sequence[str]) -> MultiTaskNet:
        enc = nn.Linear(2, 1, bias=False)
        heads = {t: nn.Linear(1, 1, bias=False) for t in tasks}
        init = {"a": 2.0, "b": -1.5}
        with torch.no_grad():
            enc.weight.copy_(torch.tensor([[0.5, -1.0]]))
            for t, head in heads.items():
                head.weight.fill_(init[t])
        return MultiTaskNet(enc, heads)


X = torch.tensor([[1.0, 2.0], [0.5, -1.0], [2.0, 0.0]])


Y = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, -1.0]])


def _hand_losses(w: np.ndarray, h: dict[str, float]) -> dict[str, float]:
    z = X.numpy() @ w
    return {t: float(np.mean((h[t] * z - Y.numpy()[:, k]) ** 2)) for k, t in enumerate("ab")}


def _hand_grads(
    w: np.ndarray, h: dict[str, float], tasks: str
) -> tuple[np.ndarray, dict[str, float]]:
    z = X.numpy() @ w
    gw = np.zeros(2)
    gh = {}
    for t in tasks:
        r = h[t] * z - Y.numpy()[:, "ab".index(t)]
        gw += (2 * r * h[t]) @ X.numpy() / len(z)
        gh[t] = float(np.mean(2 * r * z))
    return gw, gh
