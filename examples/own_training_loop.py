"""Probe transfer gains inside your own PyTorch training loop, then group the tasks.

A plain model (a shared ``trunk`` and a ``heads`` ModuleDict with two regression heads and two
classification heads), its own DataLoader of dict batches and AdamW. Lazy probing: one step
drawn at random in every window of ``WINDOW`` training steps is probed, just before the real
training step on the same batch. Then the tasks are grouped into two networks from the gain
matrix. Runs in a few seconds on a CPU::

    python examples/own_training_loop.py

The data plant two clusters: ``price`` and ``demand`` depend on one direction of the input,
``segment`` and ``churn`` on another, so each cluster's tasks should help each other.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader, Dataset

from taskgrouping import GainProbe, select

REGRESSION = ("price", "demand")
CLASSIFICATION = ("segment", "churn")
TASKS = REGRESSION + CLASSIFICATION
WINDOW = 8


class Net(nn.Module):
    """A shared trunk and one head per task: linear outputs for regression, logits otherwise."""

    def __init__(self, n_features: int = 10, width: int = 32) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Linear(n_features, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU()
        )
        self.heads = nn.ModuleDict(
            {
                "price": nn.Linear(width, 1),
                "demand": nn.Linear(width, 1),
                "segment": nn.Linear(width, 3),
                "churn": nn.Linear(width, 2),
            }
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.trunk(x)
        return {name: head(z) for name, head in self.heads.items()}


class Shop(Dataset):
    """``n`` rows: features ``x``, regression targets ``y_reg`` and class labels ``y_cls``."""

    def __init__(
        self, n: int = 512, n_features: int = 10, seed: int = 0, dtype=torch.float32
    ) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.x = torch.randn(n, n_features, generator=gen, dtype=dtype)
        a, b = torch.randn(2, n_features, generator=gen, dtype=dtype)
        u, v = self.x @ a, self.x @ b
        noise = 0.1 * torch.randn(n, 2, generator=gen, dtype=dtype)
        self.y_reg = torch.stack([u, 0.8 * u + 0.3 * u.tanh()], dim=1) + noise
        segment = torch.bucketize(v, torch.tensor([-0.5, 0.5], dtype=dtype))
        churn = (v + 0.2 * torch.randn(n, generator=gen, dtype=dtype) > 0).long()
        self.y_cls = torch.stack([segment, churn], dim=1)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, k: int) -> dict[str, torch.Tensor]:
        return {"x": self.x[k], "y_reg": self.y_reg[k], "y_cls": self.y_cls[k]}


def task_losses(model: nn.Module, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """One scalar loss per task on a dict batch (what GainProbe needs from the user)."""
    out = model(batch["x"])
    losses = {
        t: F.mse_loss(out[t].squeeze(-1), batch["y_reg"][:, k]) for k, t in enumerate(REGRESSION)
    }
    for k, t in enumerate(CLASSIFICATION):
        losses[t] = F.cross_entropy(out[t], batch["y_cls"][:, k])
    return losses


def train(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader: DataLoader,
    probe: GainProbe,
    epochs: int = 3,
    seed: int = 0,
) -> int:
    """The user's training loop, probing one random step in every window of WINDOW steps.

    Returns the number of training steps.
    """
    draws = torch.Generator().manual_seed(seed)  # its own generator: training RNG unchanged
    step, probe_at = 0, -1
    for _ in range(epochs):
        for batch in loader:
            if step % WINDOW == 0:
                probe_at = step + int(torch.randint(WINDOW, (1,), generator=draws))
            if step == probe_at:
                probe.step(batch, at=step)  # the model and optimizer are left as they were
            optimizer.zero_grad(set_to_none=True)
            sum(task_losses(model, batch).values()).backward()
            optimizer.step()
            step += 1
    return step


def group_tasks(gains: pd.DataFrame, networks: int = 2) -> list[list[str]]:
    """The partition of the tasks into at most ``networks`` groups with the largest total gain."""
    result = select(gains, networks, mode="partition")
    return [list(group) for group in result.groups]


def main(seed: int = 0, dtype: torch.dtype = torch.float32) -> tuple[GainProbe, pd.DataFrame]:
    """Train with lazy probing; return the probe and its gain matrix."""
    torch.manual_seed(seed)
    model = Net().to(dtype)
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-2)
    loader = DataLoader(Shop(seed=seed, dtype=dtype), batch_size=32, shuffle=True)
    probe = GainProbe(model, optimizer, task_losses, tasks=TASKS, seed=seed)
    train(model, optimizer, loader, probe, seed=seed)
    return probe, probe.gains()


if __name__ == "__main__":
    probe, gains = main()
    print(
        f"gain matrix over {probe.records['step'].nunique()} probed steps (row i helps column j):"
    )
    print(gains.round(4).to_string())
    print("groups:", group_tasks(gains))
