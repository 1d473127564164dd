"""Probing points: what probing needs at one training step, and the step's random draws."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

from taskgrouping.probing.options import Combo, pairs_of


@dataclass
class ProbePoint:
    """Everything probing needs at one training step (saved for sharded probing)."""

    step: int
    epoch: int
    batch: torch.Tensor
    heldout: torch.Tensor | None
    pairs: list[Combo]
    rng_state: torch.Tensor
    model_state: dict[str, torch.Tensor] = field(default_factory=dict)
    optimizer_state: dict[str, Any] = field(default_factory=dict)


@dataclass
class BaseRunStats:
    """Cost and length of the base training run (probing time excluded from ``train_seconds``)."""

    steps: int
    points: int
    train_seconds: float
    probe_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": self.steps,
            "points": self.points,
            "train_seconds": self.train_seconds,
            "probe_seconds": self.probe_seconds,
        }


def _on_cpu(obj: Any) -> Any:
    """``obj`` (nested dicts and lists of tensors) with every tensor on the CPU, so that saved
    points load on any machine; CPU tensors are returned as they are.
    """
    if isinstance(obj, torch.Tensor):
        return obj.cpu()
    if isinstance(obj, dict):
        return {k: _on_cpu(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_on_cpu(v) for v in obj]
    return obj


def _point_generator(seed: int, step: int) -> torch.Generator:
    return torch.Generator().manual_seed((int(seed) * 1_000_003 + 7 * step + 1) % (2**63 - 1))


def sample_pairs(n_tasks: int, sample: int | None, generator: torch.Generator) -> list[Combo]:
    """``sample`` pairs drawn uniformly without replacement (all pairs when ``None``)."""
    pairs = pairs_of(n_tasks)
    if sample is None or sample >= len(pairs):
        return pairs
    idx = torch.randperm(len(pairs), generator=generator)[:sample].sort().values
    return [pairs[int(k)] for k in idx]
