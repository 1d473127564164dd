"""The embedded ``synthetic`` benchmark: regression tasks with a planted grouping.

Tasks are split at random into ``n_clusters`` balanced clusters. Cluster ``k`` owns a
``latent_dim``-dimensional subspace ``W_k`` of the input space (the subspaces of different clusters
are orthogonal), and every task ``t`` of that cluster predicts

    y_t = f_t(z) + noise,    z = W_k^T x,  x ~ N(0, I),
    f(z) = sqrt(w) u^T z + sqrt(1 - w) (z^T A z - tr A),   |u| = 1, ||A||_F^2 = 1/2,

so every ``f`` has mean 0 and variance 1, ``w = linear_share`` of it linear and the rest a centred
quadratic form, which needs the whole latent subspace: no task can be served by fewer than
``latent_dim`` features. Task ``t``'s parameters ``(u, A)`` are its cluster's, mixed with a
``task_share`` of its own random ones and renormalised. Tasks of a cluster need the same features
and largely the same function, so their gradients on the shared encoder align and they pool their
labels when trained together. The model's shared encoder is a linear projection onto a bottleneck
of exactly ``latent_dim`` units: it can represent one cluster's subspace, not two, so tasks of
different clusters compete for it and hurt each other. With few, noisy training samples, the
planted partition is therefore the best grouping into ``n_clusters`` networks (each run's
``totals.csv`` says, in ``is_planted``, whether the exhaustive optimum and ``ours`` chose it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from taskgrouping.benchmarks.base import SPLITS, Benchmark, Split
from taskgrouping.config import tasks_of
from taskgrouping.io import atomic_write_json, atomic_writer, open_npz
from taskgrouping.models import MultiTaskNet, mlp


class SyntheticBenchmark(Benchmark):
    """Generated regression tasks in ``n_clusters`` clusters that share structure."""

    name = "synthetic"
    planted_truth = True

    @property
    def tasks(self) -> list[str]:
        return tasks_of({"synthetic": self.params}, "synthetic")

    def planted_groups(self) -> list[list[str]]:
        """The planted clusters as groups of task names (each sorted by task order)."""
        clusters = self._clusters(np.random.default_rng(self.params["seed"]))
        return [[self.tasks[i] for i in sorted(c)] for c in clusters]

    def _clusters(self, rng: np.random.Generator) -> list[list[int]]:
        n, k = int(self.params["n_tasks"]), int(self.params["n_clusters"])
        perm = rng.permutation(n)
        chunks = [sorted(int(i) for i in c) for c in np.array_split(perm, k)]
        return sorted(chunks, key=lambda c: c[0])

    def generate(self) -> tuple[dict[str, Split], list[list[int]]]:
        """Draw the three splits and the planted clusters from ``params['seed']``."""
        p = self.params
        rng = np.random.default_rng(p["seed"])
        clusters = self._clusters(rng)
        n_features, latent = int(p["n_features"]), int(p["latent_dim"])
        # Orthonormal columns: cluster subspaces are mutually orthogonal, so no cluster's features
        # are useful to another.
        basis, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
        subspace_of_task = {}
        for k, members in enumerate(clusters):
            w_k = basis[:, k * latent : (k + 1) * latent]
            for t in members:
                subspace_of_task[t] = w_k
        n_tasks = len(self.tasks)
        # One random function per cluster and one per task; a task mixes its cluster's function
        # (shared, so pooled labels help) with a small task-specific part of its own.
        cluster_fns = [_LatentFunction.random(rng, latent, p["linear_share"]) for _ in clusters]
        cluster_of = {t: k for k, members in enumerate(clusters) for t in members}
        task_fns = [
            cluster_fns[cluster_of[t]].mix(
                _LatentFunction.random(rng, latent, p["linear_share"]), float(p["task_share"])
            )
            for t in range(n_tasks)
        ]
        splits = {}
        for split in SPLITS:
            n = int(p[f"n_{split}"])
            x = rng.standard_normal((n, n_features))
            y = np.empty((n, n_tasks))
            for t in range(n_tasks):
                z = x @ subspace_of_task[t]
                y[:, t] = task_fns[t](z) + p["noise"] * rng.standard_normal(n)
            splits[split] = Split(torch.from_numpy(x).float(), torch.from_numpy(y).float())
        return splits, clusters

    def prepare(self, data_dir: Path) -> None:
        splits, clusters = self.generate()
        data_dir.mkdir(parents=True, exist_ok=True)
        arrays = {}
        for name, s in splits.items():
            arrays[f"x_{name}"] = s.x.numpy()
            arrays[f"y_{name}"] = s.y.numpy()
        with atomic_writer(data_dir / "data.npz", binary=True) as fh:
            np.savez(fh, **arrays)
        atomic_write_json(
            data_dir / "truth.json",
            {"groups": [[self.tasks[i] for i in c] for c in clusters]},
        )
        atomic_write_json(data_dir / "tasks.json", {"tasks": self.tasks})

    def load(self, data_dir: Path) -> dict[str, Split]:
        path = data_dir / "data.npz"
        if not path.exists():
            raise FileNotFoundError(f"synthetic data {path} is missing; run the data stage first")
        with open_npz(path) as z:
            return {
                s: Split(torch.from_numpy(z[f"x_{s}"]), torch.from_numpy(z[f"y_{s}"]))
                for s in SPLITS
            }

    def build_model(self, tasks: Sequence[str]) -> MultiTaskNet:
        m = self.params["model"]
        width = int(self.params["latent_dim"]) + int(m["bottleneck_extra"])
        encoder = mlp([int(self.params["n_features"]), *m["encoder_hidden"], width])
        heads = {t: mlp([width, int(m["head_hidden"]), 1]) for t in tasks}
        return MultiTaskNet(encoder, heads)


@dataclass(frozen=True)
class _LatentFunction:
    """``f(z) = sqrt(w) u^T z + sqrt(1 - w) (z^T A z - tr A)`` for ``z ~ N(0, I)``.

    ``|u| = 1`` and ``||A||_F^2 = 1/2`` make both parts unit-variance
    (``Var z^T A z = 2 ||A||_F^2``) and uncorrelated (odd vs even), so ``f`` has mean 0 and
    variance 1 whatever ``w``. The quadratic part has no linear component and needs every latent
    direction.
    """

    u: np.ndarray
    a: np.ndarray
    linear_share: float

    @classmethod
    def random(cls, rng: np.random.Generator, dim: int, linear_share: float) -> _LatentFunction:
        u = rng.standard_normal(dim)
        a = rng.standard_normal((dim, dim))
        return cls(u, (a + a.T) / 2, linear_share).normalised()

    def normalised(self) -> _LatentFunction:
        return _LatentFunction(
            self.u / np.linalg.norm(self.u),
            self.a / (np.sqrt(2) * np.linalg.norm(self.a)),
            self.linear_share,
        )

    def mix(self, other: _LatentFunction, share: float) -> _LatentFunction:
        """``sqrt(1 - share)`` of this function's parameters plus ``sqrt(share)`` of ``other``'s,
        renormalised, so the mix has exactly the same variance split as its parts."""
        wa, wb = np.sqrt(1 - share), np.sqrt(share)
        return _LatentFunction(
            wa * self.u + wb * other.u, wa * self.a + wb * other.a, self.linear_share
        ).normalised()

    def __call__(self, z: np.ndarray) -> np.ndarray:
        quad = np.einsum("ni,ij,nj->n", z, self.a, z) - np.trace(self.a)
        return np.sqrt(self.linear_share) * (z @ self.u) + np.sqrt(1 - self.linear_share) * quad


def read_truth(path: Path) -> list[list[str]]:
    """Read a planted partition ``{"groups": [[task, ...], ...]}``."""
    return [list(g) for g in json.loads(path.read_text())["groups"]]
