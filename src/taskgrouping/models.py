"""Multi-task networks: one shared encoder and one prediction head per task."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn


class MultiTaskNet(nn.Module):
    """A shared encoder followed by one head per task (hard parameter sharing).

    Parameters
    ----------
    encoder
        Module mapping an input batch to a shared representation.
    heads
        Mapping from task name to the head that predicts that task from the representation.
    """

    def __init__(self, encoder: nn.Module, heads: dict[str, nn.Module]) -> None:
        super().__init__()
        if not heads:
            raise ValueError("a multi-task network needs at least one head, got none")
        self.encoder = encoder
        self.heads = nn.ModuleDict(heads)

    @property
    def tasks(self) -> list[str]:
        """Task names in head order."""
        return list(self.heads.keys())

    def forward(
        self, x: torch.Tensor, tasks: Sequence[str] | None = None
    ) -> dict[str, torch.Tensor]:
        """Predict every task in ``tasks`` (default: all heads) from one shared representation."""
        rep = self.encoder(x)
        names = self.tasks if tasks is None else list(tasks)
        return {t: self.heads[t](rep) for t in names}


def mlp(sizes: Sequence[int], activation: type[nn.Module] = nn.ReLU) -> nn.Sequential:
    """A plain multilayer perceptron with ``activation`` between (not after) the linear layers."""
    if len(sizes) < 2:
        raise ValueError(f"an MLP needs at least input and output sizes, got {list(sizes)}")
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(activation())
    return nn.Sequential(*layers)
